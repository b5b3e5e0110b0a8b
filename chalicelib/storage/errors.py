"""The one place where DynamoDB's failures become domain errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pynamodb.exceptions import PynamoDBException, TransactWriteError

from chalicelib.domain.errors import ConcurrentUpdate, DomainError, DuplicateDelivery, StorageBusy
from chalicelib.services.ports import IDEMPOTENCY_LABEL

# Labels of transaction items whose failed condition means "delivered before"
# (IDEMPOTENCY_LABEL: a request with the same Idempotency-Key finished first).
DUPLICATE_LABELS = ("receipt", "payment", "posting", IDEMPOTENCY_LABEL)
THROTTLING_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingError",
    "TransactionInProgressException",
}


@contextmanager
def translated(labels: Sequence[str] = ()) -> Iterator[None]:
    """Run storage calls; raise DomainErrors only.

    `labels` names the transaction's items in request order, so a failed
    condition can say which rule stopped the write.
    """
    try:
        yield
    except DomainError:
        raise
    except TransactWriteError as exc:
        raise _from_transaction(exc, labels) from exc
    except PynamoDBException as exc:
        if _code(exc) in THROTTLING_CODES:
            raise StorageBusy("The database is busy") from exc
        if _code(exc) == "ConditionalCheckFailedException":
            raise ConcurrentUpdate("A condition on the write no longer holds") from exc
        raise StorageBusy("The database did not answer") from exc


def _code(exc: PynamoDBException) -> str | None:
    """The DynamoDB error code, or None when DynamoDB never answered (a timeout, a dropped
    connection: botocore's error then has `response` None, which PynamoDB's own
    cause_response_code does not survive)."""
    response = getattr(exc.cause, "response", None)
    code = (response or {}).get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _from_transaction(exc: TransactWriteError, labels: Sequence[str]) -> DomainError:
    reasons = exc.cancellation_reasons or []
    codes = [(labels[i] if i < len(labels) else "?", r.code) for i, r in enumerate(reasons) if r]
    for label, code in codes:
        if code == "ConditionalCheckFailed":
            if label.startswith(DUPLICATE_LABELS):
                return DuplicateDelivery(f"{label} exists already", label=label)
            return ConcurrentUpdate(f"{label} changed concurrently", label=label)
    if any(code in THROTTLING_CODES for _, code in codes):
        return StorageBusy("The database is busy")
    conflicts = [label for label, code in codes if code == "TransactionConflict"]
    if conflicts or _code(exc) == "TransactionConflictException":
        # The label says which item another transaction was writing at that moment.
        return ConcurrentUpdate("Another transaction touched the same item", label=(conflicts or ["?"])[0])
    return StorageBusy("The database did not complete the write")

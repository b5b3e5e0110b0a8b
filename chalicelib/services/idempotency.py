"""Idempotency-Key semantics of the IETF httpapi idempotency-key draft, for every state-changing call.

Same key and same request: the first response again. Same key, different
request: 422. Same key while the first is still being processed: 409.
Keys are scoped to the caller, so two institutions never collide.

A use case reads the key's record in its own first read, decides with
`IdempotentRequest.decide`, and writes the completed record (the answer
itself) inside its own TransactWriteItems, on condition that the key is free;
`commit_keyed` turns the outcomes of that write into replay, 409 or a retry.
There is no separate "in flight" write (it would cost a round trip): two
requests with one key race to the same conditional put, and the loser
re-reads and replays the winner's answer. Refusals decided by the rules are
stored afterwards by the pipeline with `remember`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from chalicelib.domain.errors import ConcurrentUpdate, DomainError, DuplicateDelivery

from .ports import IDEMPOTENCY_LABEL, IdempotencyRecord, IdempotencyStore

# How long a finished request's response is replayed (also the DynamoDB TTL).
RETENTION_SECONDS = 24 * 3600
# How long an unfinished request holds its key before a retry may take over
# (longer than the Lambda timeout, so a live request is never overtaken).
LOCK_SECONDS = 60
MAX_KEY_LENGTH = 255

T = TypeVar("T")


class IdempotencyKeyMissing(DomainError):
    status = 400
    slug = "idempotency-key-missing"
    title = "This request needs an Idempotency-Key header"


class IdempotencyKeyInvalid(DomainError):
    status = 400
    slug = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


class IdempotencyKeyInUse(DomainError):
    status = 409
    slug = "idempotency-key-in-use"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(DomainError):
    status = 422
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


@dataclass(frozen=True)
class IdempotentRequest:
    """A request's Idempotency-Key scoped to its caller, the request's fingerprint, and its time."""

    scope_key: str  # f"{caller_id}#{key}"
    fingerprint: str
    now: int  # epoch seconds

    def decide(self, record: IdempotencyRecord | None) -> StoredResponse | None:
        """None: the key is free. Else the first answer to replay, or 422/409 as the draft says."""
        if record is None or record.expires_at < self.now:
            return None  # DynamoDB's TTL deletes expired records late; they count as gone
        if record.in_flight and record.locked_until < self.now:
            return None  # abandoned by a request that died
        if record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused("The Idempotency-Key was first used with another request")
        if record.in_flight or record.status is None or record.body is None:
            raise IdempotencyKeyInUse("The first request with this key has not finished")
        return StoredResponse(record.status, record.body)

    def completed(self, response: StoredResponse) -> IdempotencyRecord:
        return IdempotencyRecord(
            scope_key=self.scope_key,
            fingerprint=self.fingerprint,
            in_flight=False,
            expires_at=self.now + RETENTION_SECONDS,
            locked_until=0,
            status=response.status,
            body=response.body,
        )


def keyed(caller_id: str, key: str, fingerprint: str, now: int) -> IdempotentRequest:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyInvalid(f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters")
    return IdempotentRequest(f"{caller_id}#{key}", fingerprint, now)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    response: StoredResponse  # the answer as the API sends it (rendered by the caller's `render`)
    replayed: bool  # the first answer under this key, given again
    result: T | None = None  # what this call did (None when replayed)


def replayed(response: StoredResponse) -> Outcome[T]:
    return Outcome(response, replayed=True)


def commit_keyed(
    key: IdempotentRequest | None,
    result: T,
    render: Callable[[T], StoredResponse],
    commit: Callable[[IdempotencyRecord | None], None],
) -> Outcome[T]:
    """Render the answer, then commit it with the use case's writes (the completed key record
    goes into the same transaction). The key taken meanwhile by another request with the key
    raises ConcurrentUpdate, so the backoff loop reads again and replays that request's answer;
    a transaction conflict on the key's item means that request is being written: 409."""
    response = render(result)
    try:
        commit(key.completed(response) if key is not None else None)
    except DuplicateDelivery as duplicate:
        if key is None or duplicate.extra.get("label") != IDEMPOTENCY_LABEL:
            raise
        raise ConcurrentUpdate("Another request with this key finished first") from duplicate
    except ConcurrentUpdate as conflict:
        if key is not None and conflict.extra.get("label") == IDEMPOTENCY_LABEL:
            raise IdempotencyKeyInUse("A request with this key is being written right now") from conflict
        raise
    return Outcome(response, replayed=False, result=result)


def remember(store: IdempotencyStore, key: IdempotentRequest, response: StoredResponse) -> Outcome[None]:
    """Store a refusal (a 4xx decided by the rules) under the key unless a live record exists;
    else replay the stored answer."""
    for _ in range(2):  # a record that expires between the put and the read: one more try decides
        if store.reserve(key.completed(response), key.now):
            return Outcome(response, replayed=False)
        stored = key.decide(store.get(key.scope_key))
        if stored is not None:
            return Outcome(stored, replayed=True)
    raise IdempotencyKeyInUse("Retry the request")

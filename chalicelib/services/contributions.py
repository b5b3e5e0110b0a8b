"""Contribution posting (the queue worker's use case) and the holder's contribution views.

Each message is decided on its own, so one bad message never holds back the
others of its batch:

- posted: one transaction wrote the posting, the holder's month, one shard of
  its fund book and any personal-account credit (ContributionStore.post);
- duplicate: its contribution_id posted before with the same body (a
  redelivery, or the same message in two batches at once): nothing is written
  twice;
- rejected: it can never succeed (invalid, unknown holder, ineligible, or a
  contribution_id that posted before with another body). The
  reason is recorded where an operator lists it (`sscard contributions
  rejected`), and the message is reported failed so that the queue's redrive
  policy moves it, unchanged, to the dead-letter queue after maxReceiveCount
  receives. We let SQS do the moving rather than sending to the DLQ ourselves:
  the worker needs no second queue client or permission, the DLQ gets the
  original message (not a copy that could diverge), and a holder enrolled
  between two receives is posted after all instead of being dead-lettered;
  each later receive re-decides it and refreshes the same rejection record;
- retry: a passing failure (throttling, a transaction conflict that outlived
  the in-process retries, an outage): reported failed, redelivered later.

Holders are read once per batch (two BatchGetItem calls for the whole batch,
none for holders seen in the last few minutes), so the common path costs one
TransactWriteItems per message; a contribution_id that posted before costs one
GetItem more, to compare the bodies (Posting.differences says what is compared).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache

from chalicelib.domain import contributions as rules
from chalicelib.domain import coverage as continuity
from chalicelib.domain.contribution_policy import ContributionPolicy, personal_account_share
from chalicelib.domain.contributions import Contribution, FundBook, InsuranceType
from chalicelib.domain.coverage import Coverage, SeriousIllnessEligibility
from chalicelib.domain.eligibility import check_eligible
from chalicelib.domain.errors import (
    ConcurrentUpdate,
    ContributionIdReused,
    ContributionIneligible,
    DomainError,
    DuplicateDelivery,
    HolderNotFound,
    InvalidContribution,
    InvalidInput,
)
from chalicelib.domain.holders import Holder
from chalicelib.domain.identifiers import mask_ssn
from chalicelib.domain.periods import china_date
from chalicelib.logs import get_logger

from .backoff import Backoff, with_backoff_numbered
from .contribution_ports import BookTotal, ContributionStore, MonthRecord, Posting, Rejection
from .digests import ssn_digest
from .ttl_cache import TtlCache

log = get_logger("sscard.contributions")

# Errors that no redelivery can cure.
PERMANENT: tuple[type[DomainError], ...] = (
    InvalidInput,
    HolderNotFound,
    ContributionIneligible,
    ContributionIdReused,
)
# In-process attempts at a posting that conflicted with another or was throttled (each on
# another shard); after these the message is retried by redelivery.
POST_BACKOFF = Backoff(attempts=3, base_seconds=0.01, cap_seconds=0.04)
# A payment time this far ahead of our clock is an error, not clock skew.
FUTURE_TOLERANCE = timedelta(days=1)


@cache
def load_policy(raw: str) -> ContributionPolicy:
    """The CONTRIBUTION_POLICY setting (JSON overrides of the defaults; empty: the defaults)."""
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("CONTRIBUTION_POLICY is a JSON object")
    return ContributionPolicy.from_mapping(data)


@dataclass(frozen=True)
class Delivery:
    """One queue message as the worker received it."""

    message_id: str
    body: str
    source: str | None = None


class Outcome(StrEnum):
    POSTED = "posted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True)
class DeliveryResult:
    message_id: str
    outcome: Outcome
    contribution_id: str | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        """Report it to the queue as failed: retried later, dead-lettered after maxReceiveCount."""
        return self.outcome in (Outcome.REJECTED, Outcome.RETRY)


class HolderCache(TtlCache[str, Holder]):
    """Holders by SSN digest for a few minutes: a monthly run brings each holder several
    messages (types, employer and employee shares), and birth date, sex and participation
    rarely change. Unknown SSNs are not cached: the holder may be enrolled any moment."""

    def __init__(
        self,
        ttl_seconds: float = 300,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl_seconds, max_entries, clock)


def post_batch(
    deliveries: Sequence[Delivery],
    *,
    store: ContributionStore,
    hashing_key: bytes,
    policy: ContributionPolicy,
    at: datetime,
    holders: HolderCache | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Decide and post every message of a batch; the results are in the deliveries' order."""
    parsed = [(d, *_parse(d.body, at)) for d in deliveries]
    digests = {
        c.contribution_id: ssn_digest(hashing_key, c.ssn.value)
        for _, _, c in parsed
        if isinstance(c, Contribution)
    }
    try:
        found = _holders(store, set(digests.values()), holders)
    except Exception as exc:
        # Nothing can be decided without the holders: the whole batch comes back later.
        log.warning("contribution_holders_unavailable", extra={"error_type": type(exc).__name__})
        found = None

    results = []
    for delivery, raw, contribution in parsed:
        if isinstance(contribution, DomainError):
            results.append(_reject(store, delivery, contribution, raw, at))
        elif found is None:
            results.append(_result(delivery, Outcome.RETRY, contribution, "temporarily-unavailable"))
        else:
            holder = found.get(digests[contribution.contribution_id])
            results.append(_decide(store, delivery, contribution, holder, policy, at, sleep))
    _log_batch(results)
    return results


def validate(data: object, at: datetime) -> Contribution:
    """A contribution message as both the API and the worker accept it (InvalidInput if not)."""
    contribution = rules.parse_contribution(data)
    if contribution.paid_at > at + FUTURE_TOLERANCE:
        raise InvalidContribution("paid_at is in the future")
    return contribution


def _parse(body: str, at: datetime) -> tuple[object, Contribution | DomainError]:
    """The decoded body (for the rejection record) and the contribution, or why it is invalid."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, InvalidContribution("The message body is not JSON")
    try:
        return data, validate(data, at)
    except DomainError as refusal:
        return data, refusal


def _holders(store: ContributionStore, digests: set[str], holders: HolderCache | None) -> dict[str, Holder]:
    found = holders.get_many(digests) if holders else {}
    missing = digests - found.keys()
    if missing:
        fetched = store.holders_by_ssn(missing)
        if holders:
            holders.put_many(fetched)
        found.update(fetched)
    return found


def _decide(
    store: ContributionStore,
    delivery: Delivery,
    contribution: Contribution,
    holder: Holder | None,
    policy: ContributionPolicy,
    at: datetime,
    sleep: Callable[[float], None],
) -> DeliveryResult:
    try:
        if holder is None:
            first = store.get_posting(contribution.contribution_id)
            if first is not None:  # posted for an enrolled holder: this body names another person
                raise _reused(first, ["ssn"])
            raise HolderNotFound("No holder is enrolled with this social security number")
        posting = Posting(
            contribution_id=contribution.contribution_id,
            person_id=holder.person_id,
            insurance=contribution.insurance,
            period=contribution.period,
            payer=contribution.payer,
            employer_id=contribution.employer_id,
            amount_fen=contribution.amount_fen,
            personal_account_fen=personal_account_share(contribution, policy),
            paid_at=contribution.paid_at,
            posted_at=at,
            source=delivery.source,
        )
        try:
            check_eligible(holder.participation, holder.birth_date, holder.sex, contribution, policy)
        except ContributionIneligible:
            # A redelivery decided under rules changed since (policy, participation) stays a duplicate.
            if _posted_before(store, posting):
                return _result(delivery, Outcome.DUPLICATE, contribution)
            raise
        try:
            _post(store, posting, sleep)
        except DuplicateDelivery:
            if not _posted_before(store, posting):  # never deleted: only a read racing the write
                raise ConcurrentUpdate("The posting of this contribution_id is not readable yet") from None
            return _result(delivery, Outcome.DUPLICATE, contribution)
    except PERMANENT as refusal:
        return _reject(store, delivery, refusal, contribution, at)
    except DomainError as exc:
        return _result(delivery, Outcome.RETRY, contribution, exc.slug)
    except Exception as exc:
        log.exception("contribution_post_failed", extra={"contribution_id": contribution.contribution_id})
        return _result(delivery, Outcome.RETRY, contribution, type(exc).__name__)
    return _result(delivery, Outcome.POSTED, contribution)


def _post(store: ContributionStore, posting: Posting, sleep: Callable[[float], None]) -> None:
    with_backoff_numbered(lambda attempt: store.post(posting, attempt), replace(POST_BACKOFF, sleep=sleep))


def _posted_before(store: ContributionStore, posting: Posting) -> bool:
    """Whether this contribution_id posted before with the same body (a redelivery).
    Posted with another body: ContributionIdReused."""
    first = store.get_posting(posting.contribution_id)
    if first is None:
        return False
    differences = first.differences(posting)
    if differences:
        raise _reused(first, differences)
    return True


def _reused(first: Posting, differences: list[str]) -> ContributionIdReused:
    return ContributionIdReused(
        f"contribution_id {first.contribution_id} posted on {china_date(first.posted_at).isoformat()} "
        f"with another {', '.join(differences)}; this message changed nothing"
    )


def _reject(
    store: ContributionStore,
    delivery: Delivery,
    refusal: DomainError,
    message: Contribution | object,
    at: datetime,
) -> DeliveryResult:
    """Record why the message can never post; `message` is the contribution or the raw body."""
    contribution = message if isinstance(message, Contribution) else None
    contribution_id = contribution.contribution_id if contribution else rules.contribution_id_of(message)
    fields = message if isinstance(message, dict) else {}
    ssn = contribution.ssn.value if contribution else fields.get("ssn")
    rejection = Rejection(
        key=contribution_id or f"message:{delivery.message_id}",
        contribution_id=contribution_id,
        message_id=delivery.message_id,
        reason=refusal.slug,
        detail=refusal.detail,
        at=at,
        ssn_masked=mask_ssn(ssn[:32]) if isinstance(ssn, str) else None,
        period=_short(contribution.period if contribution else fields.get("period")),
        insurance=_short(contribution.insurance if contribution else fields.get("insurance")),
        source=delivery.source,
    )
    try:
        store.reject(rejection)
    except Exception as exc:
        # Not recorded: report it failed anyway; the next receive decides and records it again.
        log.warning("contribution_rejection_not_recorded", extra={"error_type": type(exc).__name__})
        return DeliveryResult(delivery.message_id, Outcome.RETRY, contribution_id, refusal.slug)
    log.info(
        "contribution_rejected",
        extra={"contribution_id": contribution_id, "message_id": delivery.message_id, "reason": refusal.slug},
    )
    return DeliveryResult(delivery.message_id, Outcome.REJECTED, contribution_id, refusal.slug)


def _short(value: object) -> str | None:
    return str(value)[:32] if value is not None else None


def _result(
    delivery: Delivery, outcome: Outcome, contribution: Contribution, reason: str | None = None
) -> DeliveryResult:
    return DeliveryResult(delivery.message_id, outcome, contribution.contribution_id, reason)


def _log_batch(results: list[DeliveryResult]) -> None:
    counts = {o.value: 0 for o in Outcome}
    for r in results:
        counts[r.outcome.value] += 1
    log.info("contribution_batch", extra={"messages": len(results), **counts})


# --- what the holder and the operator see --------------------------------------------


@dataclass(frozen=True)
class CoverageReport:
    on: date
    types: list[Coverage]
    serious_illness: SeriousIllnessEligibility


def coverage_of(
    store: ContributionStore, person_id: str, on: date, policy: ContributionPolicy
) -> CoverageReport:
    months = [m.paid_month() for m in store.months(person_id)]
    grace = policy.late_payment_grace_months
    return CoverageReport(
        on=on,
        types=[continuity.coverage(t, months, on, grace) for t in InsuranceType],
        serious_illness=continuity.serious_illness_eligibility(months, on, grace),
    )


def history(
    store: ContributionStore, person_id: str, limit: int, before: str | None
) -> tuple[list[MonthRecord], str | None]:
    return store.months_page(person_id, limit, before)


@dataclass(frozen=True)
class BookCheck:
    book: FundBook
    books: BookTotal  # summed over the book's shards
    postings: BookTotal  # derived from the postings

    @property
    def balanced(self) -> bool:
        return (self.books.total_fen, self.books.postings, self.books.personal_account_fen) == (
            self.postings.total_fen,
            self.postings.postings,
            self.postings.personal_account_fen,
        )


def check_books(store: ContributionStore) -> list[BookCheck]:
    """The invariant: every book equals the sum of the postings that name it."""
    books = store.book_totals()
    postings = store.postings_by_book()
    return [BookCheck(b, books.get(b, BookTotal(b)), postings.get(b, BookTotal(b))) for b in FundBook]


def rejected(
    store: ContributionStore, limit: int, cursor: str | None = None
) -> tuple[list[tuple[Rejection, bool]], str | None]:
    """Rejections for the operator, each with whether its contribution has posted since (never
    for a reused contribution_id: the posting is the first body's, the rejected one never posts)."""
    page, next_cursor = store.rejections(limit, cursor)
    posted = store.posted({r.contribution_id for r in page if r.contribution_id})
    reused = ContributionIdReused.slug
    return [(r, r.contribution_id in posted and r.reason != reused) for r in page], next_cursor


class ContributionState(StrEnum):
    POSTED = "posted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # neither yet (queued, or never sent), or another collection system's


@dataclass(frozen=True)
class ContributionStatus:
    """A contribution as the collection system that sent it sees it."""

    contribution_id: str
    state: ContributionState
    reason: str | None = None  # the rejection's problem slug
    detail: str | None = None
    posted_at: datetime | None = None  # when it posted (also when a later reuse of its id was rejected)


def contribution_status(store: ContributionStore, contribution_id: str, sender: str) -> ContributionStatus:
    """Posted, rejected (reason, detail) or unknown, for the collection system `sender` (its
    institution id). What another system sent reads as unknown. A rejection that the
    contribution has posted since (its holder was enrolled later) no longer counts; a
    contribution-id-reused rejection does: the sender's later body changed nothing. Two
    consistent GetItems. InvalidContribution for an id no message could carry."""
    contribution_id = rules.parse_contribution_id(contribution_id)
    posting = store.get_posting(contribution_id)
    rejection = store.get_rejection(contribution_id)
    posted = posting if posting is not None and posting.source == sender else None
    refused = rejection if rejection is not None and rejection.source == sender else None
    posted_at = posted.posted_at if posted else None
    if refused is not None and (posted is None or refused.reason == ContributionIdReused.slug):
        return ContributionStatus(
            contribution_id, ContributionState.REJECTED, refused.reason, refused.detail, posted_at
        )
    if posted is not None:
        return ContributionStatus(contribution_id, ContributionState.POSTED, posted_at=posted_at)
    return ContributionStatus(contribution_id, ContributionState.UNKNOWN)


def repeated_ids(ids: Collection[str]) -> list[str]:
    """The ids that appear more than once (a batch must not name a contribution twice)."""
    seen: set[str] = set()
    twice: list[str] = []
    for i in ids:
        if i in seen and i not in twice:
            twice.append(i)
        seen.add(i)
    return twice

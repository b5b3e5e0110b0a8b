"""What contribution posting needs from storage and the queue. Storage implements these; tests fake them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from chalicelib.domain.contributions import BOOK_OF, FundBook, InsuranceType, Payer
from chalicelib.domain.coverage import PaidMonth
from chalicelib.domain.holders import Holder
from chalicelib.domain.periods import Period


@dataclass(frozen=True)
class Posting:
    """One contribution posted: into exactly one fund book, the holder's month, and for
    basic medical the personal-account share. Never carries the SSN, only the person id."""

    contribution_id: str
    person_id: str
    insurance: InsuranceType
    period: Period
    payer: Payer
    employer_id: str | None
    amount_fen: int
    personal_account_fen: int  # part of amount_fen, credited to the personal account
    paid_at: datetime
    posted_at: datetime
    source: str | None = None  # the collection system that queued it, when known

    @property
    def book(self) -> FundBook:
        return BOOK_OF[self.insurance]

    def differences(self, other: Posting) -> list[str]:
        """The message fields in which `other` says something else than this posting.

        A message's content is who (the SSN, compared as the person it names), period,
        insurance, payer, employer_id, amount_fen and paid_at (compared as an instant, so
        the same time written in another offset is the same). Not compared: what the
        service derived or recorded (personal-account share, posting time, the sender)."""
        mine, theirs = _content(self), _content(other)
        return [name for name in mine if mine[name] != theirs[name]]


def _content(p: Posting) -> dict[str, object]:
    return {
        "ssn": p.person_id,
        "period": p.period,
        "insurance": p.insurance,
        "payer": p.payer,
        "employer_id": p.employer_id,
        "amount_fen": p.amount_fen,
        "paid_at": p.paid_at,
    }


@dataclass(frozen=True)
class MonthRecord:
    """A holder's payments for one insurance type and month (employer and employee shares add up)."""

    person_id: str
    insurance: InsuranceType
    period: Period
    amount_fen: int
    postings: int
    personal_account_fen: int
    paid_on: tuple[date, ...]  # China dates of the payments, ascending
    contribution_ids: tuple[str, ...]

    @property
    def book(self) -> FundBook:
        return BOOK_OF[self.insurance]

    def paid_month(self) -> PaidMonth:
        return PaidMonth(self.insurance, self.period, self.amount_fen, min(self.paid_on))


@dataclass(frozen=True)
class BookTotal:
    book: FundBook
    total_fen: int = 0
    postings: int = 0
    personal_account_fen: int = 0  # the part credited to personal accounts (medical only)

    def plus(self, amount_fen: int, postings: int, personal_account_fen: int) -> BookTotal:
        return BookTotal(
            self.book,
            self.total_fen + amount_fen,
            self.postings + postings,
            self.personal_account_fen + personal_account_fen,
        )


@dataclass(frozen=True)
class Rejection:
    """A contribution message that can never post, with its reason, for the operator."""

    key: str  # the contribution_id, or "message:<SQS message id>" when it has none
    contribution_id: str | None
    message_id: str
    reason: str  # the problem slug: invalid-contribution, holder-not-found, contribution-id-reused...
    detail: str
    at: datetime  # this rejection
    ssn_masked: str | None = None
    period: str | None = None
    insurance: str | None = None
    source: str | None = None
    first_at: datetime | None = None  # the first rejection (set by the store)
    receives: int = 1  # how many deliveries were rejected (set by the store)


class ContributionStore(Protocol):
    """Postings, the holders' months, the fund books' sharded totals, and rejections."""

    def holders_by_ssn(self, ssn_digests: Collection[str]) -> dict[str, Holder]:
        """The enrolled holders among these SSN digests (consistent reads), by digest."""
        ...

    def post(self, posting: Posting, attempt: int = 0) -> None:
        """Write the posting, its month, its book's shard and any personal-account credit as one
        transaction. DuplicateDelivery if this contribution_id posted before; ConcurrentUpdate or
        StorageBusy when a retry may succeed (`attempt` lets the store pick another shard)."""
        ...

    def get_posting(self, contribution_id: str) -> Posting | None:
        """The posting of this contribution_id (a consistent read), if it posted."""
        ...

    def reject(self, rejection: Rejection) -> None: ...

    def get_rejection(self, key: str) -> Rejection | None:
        """The rejection recorded under this key (a contribution_id), if any (a consistent read)."""
        ...

    def rejections(self, limit: int, cursor: str | None = None) -> tuple[list[Rejection], str | None]: ...
    def posted(self, contribution_ids: Collection[str]) -> set[str]: ...
    def months(self, person_id: str) -> list[MonthRecord]: ...

    def months_page(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[MonthRecord], str | None]:
        """Newest first; `before` is the key the previous page ended with."""
        ...

    def book_totals(self) -> dict[FundBook, BookTotal]:
        """Each book's total, summed over its shards."""
        ...

    def postings_by_book(self) -> dict[FundBook, BookTotal]:
        """Each book's total derived from the postings themselves (the invariant's other side)."""
        ...


@dataclass(frozen=True)
class QueuedContribution:
    contribution_id: str
    body: str  # the contribution message, JSON
    source: str | None = None  # the institution that sent it


class ContributionQueue(Protocol):
    def send(self, messages: Sequence[QueuedContribution]) -> None:
        """Queue every message or raise StorageBusy (resending is safe: contribution_id)."""
        ...

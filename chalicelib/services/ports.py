"""What the services need from storage and secrets. Storage implements these; tests fake them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from chalicelib.domain.cards import Card, CardEvent
from chalicelib.domain.contributions import BOOK_OF, FundBook, InsuranceType, PaidMonth, Payer, Period
from chalicelib.domain.holders import Account, Bank, Credential, Holder, Institution


@dataclass(frozen=True)
class WebhookReceipt:
    """A bank webhook we have acted on; its id makes redelivery a no-op."""

    bank_code: str
    webhook_id: str
    outcome: str
    card_no: str | None
    reason: str | None
    received_at: datetime


@dataclass(frozen=True)
class Registration:
    registration_id: str
    card_no: str
    person_id: str
    institution_id: str
    visit: str
    at: datetime
    card_activated: bool


@dataclass(frozen=True)
class CardChange:
    """Everything one card use case writes, committed atomically or not at all.

    Each card and the account are written on condition that their version is
    still the one that was read (version - 1), so concurrent changes cannot
    both win.
    """

    cards: Sequence[Card] = ()
    events: Sequence[CardEvent] = ()
    account: Account | None = None
    receipt: WebhookReceipt | None = None
    registration: Registration | None = None
    # Cards whose state must still be the read one though they are not written.
    unchanged_cards: Sequence[Card] = field(default_factory=tuple)
    # The request's completed idempotency record, written unless a live one exists (one that
    # expired or was abandoned before `now`, epoch seconds, may be replaced).
    key_record: IdempotencyRecord | None = None
    now: int = 0

    @property
    def writes_items(self) -> bool:
        """Whether it writes anything (a change of nothing needs no round trip without a key)."""
        return bool(self.cards or self.events or self.account or self.receipt or self.registration)


# The transaction label of the idempotency record: a failed condition on it means
# another request with the same key finished first (DuplicateDelivery), a
# transaction conflict on it that one is still being written (ConcurrentUpdate).
IDEMPOTENCY_LABEL = "idempotency"


@dataclass(frozen=True)
class IdempotencyRecord:
    scope_key: str  # institution or holder, then the client's key
    fingerprint: str
    in_flight: bool
    expires_at: int  # epoch seconds, the table's TTL attribute
    locked_until: int
    status: int | None = None
    body: str | None = None


@dataclass(frozen=True)
class HolderRead:
    """A holder and their personal account, read together."""

    holder: Holder | None
    account: Account | None


@dataclass(frozen=True)
class CardRead:
    """The first read of a card use case, one consistent round trip: the card, and with it
    whatever is stored under the request's key and the webhook's receipt (when asked for),
    and the card's holder and account when the store already knew whose card it is."""

    card: Card | None
    key_record: IdempotencyRecord | None = None
    receipt: WebhookReceipt | None = None
    holder: HolderRead | None = None  # None: not read with the card (read_holder reads it)


@dataclass(frozen=True)
class HolderCards:
    """What a holder sees of their cards: the account and each card with its history."""

    account: Account | None
    cards: dict[str, Card]  # by card number
    events: dict[str, list[CardEvent]]  # by card number, oldest first


class CardStore(Protocol):
    """Reads and atomic writes for holders, cards, accounts and institutions."""

    def read_card(
        self, card_no: str, scope_key: str | None = None, receipt: tuple[str, str] | None = None
    ) -> CardRead:
        """One consistent round trip; `receipt` is (bank code, webhook id)."""
        ...

    def read_holder(self, person_id: str) -> HolderRead:
        """The holder and the account in one round trip."""
        ...

    def holder_cards(self, person_id: str) -> HolderCards:
        """The account, then every card of the holder with its history: two round trips."""
        ...

    def get_card(self, card_no: str) -> Card | None: ...
    def get_account(self, person_id: str) -> Account | None: ...
    def get_holder(self, person_id: str) -> Holder | None: ...
    def person_by_ssn(self, ssn_digest: str) -> str | None: ...
    def get_institution(self, institution_id: str) -> Institution | None: ...
    def get_bank(self, bank_code: str) -> Bank | None: ...
    def get_credential(self, token_digest: str) -> Credential | None: ...
    def get_receipt(self, bank_code: str, webhook_id: str) -> WebhookReceipt | None: ...
    def card_events(self, card_no: str) -> list[CardEvent]: ...

    def commit(self, change: CardChange) -> None:
        """Apply all of it or nothing. Raises ConcurrentUpdate or DuplicateDelivery (with the
        item's label: "receipt", "registration", IDEMPOTENCY_LABEL)."""
        ...

    # Operator writes (ops CLI and seed); each refuses to overwrite (AlreadyExists).
    def add_institution(self, institution: Institution) -> None: ...
    def add_bank(self, bank: Bank) -> None: ...
    def add_credential(self, credential: Credential) -> None: ...
    def enroll(self, holder: Holder, account: Account) -> None: ...
    def issue(self, card: Card, account: Account, event: CardEvent) -> None: ...


class IdempotencyStore(Protocol):
    def get(self, scope_key: str) -> IdempotencyRecord | None: ...

    def reserve(self, record: IdempotencyRecord, now: int) -> bool:
        """Write the record unless a live one exists (absent, expired or abandoned before `now`).
        True if it was written."""
        ...


class SecretSource(Protocol):
    def hashing_key(self) -> bytes: ...
    def bank_secrets(self, bank_code: str) -> list[str]: ...
    def mobile_jwks(self) -> dict[str, Any]: ...


# --- Contribution posting -----------------------------------------------------------


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
    reason: str  # the problem slug: invalid-contribution, holder-not-found, ...
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

    def get_posting(self, contribution_id: str) -> Posting | None: ...
    def reject(self, rejection: Rejection) -> None: ...
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

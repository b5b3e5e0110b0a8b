"""What the services need from storage and secrets. Storage implements these; tests fake them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.cards import Card, CardEvent
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

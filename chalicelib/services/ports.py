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


@dataclass(frozen=True)
class IdempotencyRecord:
    scope_key: str  # institution or holder, then the client's key
    fingerprint: str
    in_flight: bool
    expires_at: int  # epoch seconds, the table's TTL attribute
    locked_until: int
    status: int | None = None
    body: str | None = None


class CardStore(Protocol):
    """Reads and atomic writes for holders, cards, accounts and institutions."""

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
        """Apply all of it or nothing. Raises ConcurrentUpdate or DuplicateDelivery."""
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
        """Create the in-flight record unless a live one exists. True if we own the key."""
        ...

    def complete(self, record: IdempotencyRecord) -> None: ...
    def release(self, scope_key: str) -> None: ...


class SecretSource(Protocol):
    def hashing_key(self) -> bytes: ...
    def bank_secrets(self, bank_code: str) -> list[str]: ...
    def mobile_jwks(self) -> dict[str, Any]: ...

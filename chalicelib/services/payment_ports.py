"""What the payment use cases need from storage. DynamoDB implements it; tests fake it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from chalicelib.domain.cards import Card
from chalicelib.domain.coverage import PaidMonth
from chalicelib.domain.holders import Account
from chalicelib.domain.ledger import DayEntry
from chalicelib.domain.payments import Payment
from chalicelib.domain.settlement import YearCounters
from chalicelib.domain.stays import Stay

from .ports import CardChange, IdempotencyRecord
from .stay_ports import StayClosing


@dataclass(frozen=True)
class PaymentRead:
    """What one payment decides on, read in one consistent round trip where possible."""

    card: Card | None
    account: Account | None  # the account of the card's holder
    key_record: IdempotencyRecord | None  # whatever is stored under the request's key
    previous: Card | None = None  # a pharmacy's first use: the original card, when asked for
    # The holder's year counters of the bill's year (zero when the year has no bill yet) and
    # their version (0: none stored), and the medical and serious-illness months paid.
    counters: YearCounters = field(default_factory=YearCounters)
    counters_version: int = 0
    paid_months: tuple[PaidMonth, ...] = ()


@dataclass(frozen=True)
class PaymentWrite:
    """Everything one payment writes: one TransactWriteItems, all of it or nothing.

    - the account: debited by `payment.account_paid_fen` on condition that its
      version is still the one read (`account.version - 1`), its balance covers
      the debit, and (unless `activation` moves it) it is normal and on the card;
    - the card: still active (`card_guard`), or activated by `activation`;
    - the payment record, which must not exist yet;
    - the idempotency record, completed with the response, unless a live one exists;
    - for a pharmacy's first use, the activation's cards and events. The
      activation's account move is merged into `account`: DynamoDB refuses two
      operations on one item in a transaction.
    """

    payment: Payment
    account: Account  # as it will be: debited, version + 1 (and moved to the card on first use)
    key_record: IdempotencyRecord  # completed: status and body of the answer
    now: int  # epoch seconds; an expired or abandoned key record may be replaced
    card_guard: Card | None = None
    activation: CardChange | None = None
    # The year counters are written as payment.counters_delta added, on condition that their
    # version is still this one (0: none stored yet), so two bills of one holder never both
    # count against the same deductible or cap.
    counters_version: int = 0
    # A discharge: the stay closed in the same transaction, if it is still as it was settled.
    stay_closing: StayClosing | None = None


@dataclass(frozen=True)
class DischargeRead:
    """What a discharge decides on: the stay, the record under the request's key, and the
    stay's card with its holder's items as a payment reads them (None when there is no such
    registration). One round trip when this process has seen the stay, two otherwise."""

    stay: Stay | None
    key_record: IdempotencyRecord | None
    payment: PaymentRead | None


@dataclass(frozen=True)
class CancelRead:
    """What a cancellation decides on, read in one consistent round trip."""

    payment: Payment | None
    key_record: IdempotencyRecord | None  # whatever is stored under the request's key


@dataclass(frozen=True)
class CancelWrite:
    """One TransactWriteItems: the payment's cancellation recorded on condition that it has
    none yet (the payment itself is never changed: its state is whether a cancellation
    exists); every part it took given back by exactly what it took (the account credited,
    the year counters' delta taken off, the medical fund book's outflow reversed); its
    cancellation's negative entry booked on the day of the cancellation; and the key's record
    completed with the answer (unless a live one exists)."""

    cancelled: Payment
    key_record: IdempotencyRecord | None = None
    now: int = 0  # epoch seconds; an expired or abandoned key record may be replaced


class PaymentStore(Protocol):
    def read_for_payment(
        self, card_no: str, scope_key: str | None, year: int, previous_card_no: str | None = None
    ) -> PaymentRead:
        """The card, its holder's account, year counters of `year` and paid months, the
        record under `scope_key` (None: a quote, no key) and the original card of a first use."""
        ...

    def commit_payment(self, write: PaymentWrite) -> None:
        """All or nothing. DuplicateDelivery (ports.IDEMPOTENCY_LABEL) when the key was taken
        meanwhile; ConcurrentUpdate when the card or account changed, or another
        transaction holds one of the items; StorageBusy when throttled."""
        ...

    def read_for_discharge(self, registration_id: str, scope_key: str, year: int) -> DischargeRead:
        """The stay, its key record, and its card and holder's account, year counters of `year`
        and paid months, read consistently together when the stay's card is known."""
        ...

    def get_payment(self, payment_id: str) -> Payment | None:
        """The payment with its state (cancelled when its cancellation exists): one round trip."""
        ...

    def read_for_cancel(self, payment_id: str, scope_key: str | None) -> CancelRead: ...

    def cancel_payment(self, write: CancelWrite) -> None:
        """Record the cancellation and credit `account_paid_fen` back, atomically, on condition
        that it has no cancellation yet (ConcurrentUpdate otherwise), with the key's record
        (DuplicateDelivery labelled ports.IDEMPOTENCY_LABEL when the key was taken meanwhile)."""
        ...

    def payments_of_holder(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[Payment], str | None]:
        """Newest first, at most `limit`, each with its state; `before` is the page key the
        previous page ended with, and the second value is this page's last key when more may
        follow. Two round trips at most: the page, then its cancellations."""
        ...

    def day_entries(self, institution_id: str, day: date) -> Iterator[DayEntry]:
        """The institution's entries of that business day (payments, and cancellations made
        that day), in time order, streamed a page at a time: a day of any size fits."""
        ...

    def day_entries_page(
        self, institution_id: str, day: date, limit: int, after: str | None = None
    ) -> tuple[list[DayEntry], str | None]:
        """At most `limit` entries after the page key `after`, and this page's last key when
        more may follow."""
        ...

"""Card swipes: how an amount is split between the personal account and the holder,
the limits a payment must respect, cancellation, and a day's reconciliation.

Money is integer fen everywhere. The limits are policy configuration with a
documented default (PaymentPolicy), not constants buried in the use cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from .cursors import time_ordered_key
from .errors import DomainError, InvalidInput, NotFound
from .ledger import DayEntry
from .settlement import AmountOutOfRange, Note, SelfPay, Visit, YearCounters

# 50,000 yuan: above any single counter payment a designated pharmacy or an
# outpatient desk takes; inpatient settlements larger than this are split.
DEFAULT_MAX_AMOUNT_FEN = 5_000_000
# Institutions reconcile by their own calendar day. China keeps one time zone
# and no daylight saving time, so a fixed offset is exact (and needs no tz database).
BUSINESS_TIMEZONE = timezone(timedelta(hours=8), "China Standard Time")


class PaymentNotFound(NotFound):
    slug = "payment-not-found"
    title = "No such payment"


class PaymentAlreadyCancelled(DomainError):
    slug = "payment-already-cancelled"
    status = 409
    title = "The payment is cancelled already"


class PaymentState(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PaymentPolicy:
    """Limits on one payment. `max_amount_fen` defaults to DEFAULT_MAX_AMOUNT_FEN."""

    max_amount_fen: int = DEFAULT_MAX_AMOUNT_FEN

    @classmethod
    def from_setting(cls, max_amount_fen: str) -> PaymentPolicy:
        """The PAYMENT_MAX_AMOUNT_FEN setting: a whole number of fen; empty for the default."""
        if not max_amount_fen.strip():
            return cls()
        if not max_amount_fen.strip().isdigit() or int(max_amount_fen) < 1:
            raise ValueError("PAYMENT_MAX_AMOUNT_FEN is a whole number of fen, at least 1")
        return cls(max_amount_fen=int(max_amount_fen))

    def check_amount(self, amount_fen: object) -> int:
        # bool is an int in Python; a payment of True fen is not a payment.
        if type(amount_fen) is not int:
            raise AmountOutOfRange("An amount is a whole number of fen (an integer, not a decimal)")
        if not 1 <= amount_fen <= self.max_amount_fen:
            raise AmountOutOfRange(
                f"An amount is from 1 to {self.max_amount_fen} fen",
                minimum_fen=1,
                maximum_fen=self.max_amount_fen,
            )
        return amount_fen


DEFAULT_POLICY = PaymentPolicy()


def business_day(at: datetime) -> date:
    return at.astimezone(BUSINESS_TIMEZONE).date()


@dataclass(frozen=True)
class Payment:
    payment_id: str
    institution_id: str
    institution_name: str
    card_no: str
    person_id: str
    amount_fen: int
    account_paid_fen: int
    self_pay_fen: int
    self_pay: SelfPay
    paid_at: datetime
    balance_after_fen: int  # the account's balance right after this payment
    card_activated: bool = False  # this payment was the card's first use at a pharmacy
    state: PaymentState = PaymentState.COMPLETED
    cancelled_at: datetime | None = None
    # The settlement split (settlement.py): the funds' parts and why a part paid nothing.
    visit: Visit = Visit.PHARMACY
    in_scope_fen: int | None = None  # None: all of amount_fen
    fund_paid_fen: int = 0
    serious_illness_paid_fen: int = 0
    deductible_fen: int = 0
    notes: tuple[Note, ...] = ()
    # What the payment added to its holder's year counters (its cancellation gives it back).
    counters_year: int | None = None
    counters_delta: YearCounters = field(default_factory=YearCounters)
    registration_id: str | None = None  # the inpatient stay this payment settled at discharge

    @property
    def day(self) -> date:
        return business_day(self.paid_at)

    @property
    def cancelled_day(self) -> date | None:
        return business_day(self.cancelled_at) if self.cancelled_at else None

    @property
    def out_of_scope_fen(self) -> int:
        return self.amount_fen - (self.amount_fen if self.in_scope_fen is None else self.in_scope_fen)

    @property
    def outflow_fen(self) -> int:
        """What the medical fund book paid out for it: pooled fund and serious illness."""
        return self.fund_paid_fen + self.serious_illness_paid_fen

    @property
    def sort_key(self) -> str:
        """Orders a holder's or a day's payments by time; unique, so paging never skips or repeats."""
        return time_ordered_key(self.paid_at, self.payment_id)

    def entry(self) -> DayEntry:
        """The payment booked on the business day it was made."""
        return DayEntry(
            self.institution_id,
            self.day,
            self.payment_id,
            self.account_paid_fen,
            self.fund_paid_fen,
            self.serious_illness_paid_fen,
            amount_fen=self.amount_fen,
            self_pay_fen=self.self_pay_fen,
            at=self.paid_at,
        )

    def cancellation_entry(self) -> DayEntry:
        """Its cancellation, every part negative, booked on the business day it was made."""
        if self.cancelled_at is None or self.cancelled_day is None:
            raise ValueError("the payment is not cancelled")
        return DayEntry(
            self.institution_id,
            self.cancelled_day,
            self.payment_id,
            -self.account_paid_fen,
            -self.fund_paid_fen,
            -self.serious_illness_paid_fen,
            cancellation=True,
            amount_fen=-self.amount_fen,
            self_pay_fen=-self.self_pay_fen,
            at=self.cancelled_at,
        )

    def cancel(self, at: datetime) -> Payment:
        """A payment is reversed at most once; the account gets back what it paid."""
        if self.state is PaymentState.CANCELLED:
            raise PaymentAlreadyCancelled("The payment was cancelled before; nothing was credited twice")
        return replace(self, state=PaymentState.CANCELLED, cancelled_at=at)


# --- reconciliation ----------------------------------------------------------------


class Reason(StrEnum):
    ONLY_OURS = "only_ours"  # we booked it that day; the institution's list lacks it
    ONLY_THEIRS = "only_theirs"  # the institution lists it; we booked no such entry that day
    AMOUNT_DIFFERS = "amount_differs"
    CANCELLED = "cancelled"  # the institution counts it, but it was cancelled the same day


@dataclass(frozen=True)
class DayFigures:
    """A business day's totals: entries net (a cancellation counts -1 and negative fen).
    The three fund parts are compared only when the institution sends them."""

    count: int
    total_fen: int  # the sum of account_paid_fen: what the personal accounts paid
    fund_paid_fen: int | None = None
    serious_illness_paid_fen: int | None = None


@dataclass(frozen=True)
class Difference:
    payment_id: str
    reason: Reason
    ours_fen: int | None
    theirs_fen: int | None


@dataclass(frozen=True)
class Reconciliation:
    day: date
    matched: bool
    ours: DayFigures
    theirs: DayFigures
    differences: tuple[Difference, ...]
    sample: tuple[DayEntry, ...]  # our first entries of the day, to compare when unmatched


SAMPLE_ENTRIES = 100


def reconcile(
    day: date,
    ours: Iterable[DayEntry],
    theirs: DayFigures,
    their_payments: Sequence[tuple[str, int]] | None = None,
) -> Reconciliation:
    """Compare an institution's day with our entries of that day, read once as a stream.

    Each payment is booked on the day it was made and each cancellation, negative, on the
    day it was made, so a day once matched stays matched. When the institution lists its
    payments (id, net account_paid_fen of the day), each one that differs is named; the
    per-payment comparison keeps one small record per payment of the day in memory.
    """
    listed: dict[str, int] | None = None
    if their_payments is not None:
        listed = dict(their_payments)
        if len(listed) != len(their_payments):
            raise InvalidInput("A payment is listed twice")
        if (len(listed), sum(listed.values())) != (theirs.count, theirs.total_fen):
            raise InvalidInput("The listed payments do not add up to count and total_fen")
    count = total = fund = serious = 0
    net: dict[str, tuple[int, int]] = {}  # payment id -> (entries net, account fen net)
    sample: list[DayEntry] = []
    for entry in ours:
        sign = -1 if entry.cancellation else 1
        count += sign
        total += entry.account_paid_fen
        fund += entry.fund_paid_fen
        serious += entry.serious_illness_paid_fen
        if len(sample) < SAMPLE_ENTRIES:
            sample.append(entry)
        if listed is not None:
            n, fen = net.get(entry.payment_id, (0, 0))
            net[entry.payment_id] = (n + sign, fen + entry.account_paid_fen)
    figures = DayFigures(
        count,
        total,
        fund if theirs.fund_paid_fen is not None else None,
        serious if theirs.serious_illness_paid_fen is not None else None,
    )
    differences: list[Difference] = []
    if listed is not None:
        for payment_id, (n, fen) in net.items():
            their_fen = listed.get(payment_id)
            if n == 0:  # paid and cancelled the same day: nothing stands
                if their_fen is not None:
                    differences.append(Difference(payment_id, Reason.CANCELLED, 0, their_fen))
            elif their_fen is None:
                differences.append(Difference(payment_id, Reason.ONLY_OURS, fen, None))
            elif their_fen != fen:
                differences.append(Difference(payment_id, Reason.AMOUNT_DIFFERS, fen, their_fen))
        differences.extend(
            Difference(payment_id, Reason.ONLY_THEIRS, None, fen)
            for payment_id, fen in their_payments or ()
            if payment_id not in net
        )
    matched = figures == theirs and not differences
    return Reconciliation(
        day, matched, figures, theirs, tuple(differences), tuple(sample) if not matched else ()
    )

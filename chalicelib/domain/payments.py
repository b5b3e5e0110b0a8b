"""Card swipes: how an amount is split between the personal account and the holder,
the limits a payment must respect, cancellation, and a day's reconciliation.

Money is integer fen everywhere. The limits are policy configuration with a
documented default (PaymentPolicy), not constants buried in the use cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

from .errors import DomainError, InvalidInput, NotFound

# 50,000 yuan: above any single counter payment a designated pharmacy or an
# outpatient desk takes; inpatient settlements larger than this are split.
DEFAULT_MAX_AMOUNT_FEN = 5_000_000
# Institutions reconcile by their own calendar day. China keeps one time zone
# and no daylight saving time, so a fixed offset is exact (and needs no tz database).
BUSINESS_TIMEZONE = timezone(timedelta(hours=8), "China Standard Time")


class AmountOutOfRange(InvalidInput):
    slug = "amount-out-of-range"
    title = "The amount is not a whole number of fen within the allowed range"


class InsufficientBalance(DomainError):
    slug = "insufficient-balance"
    status = 409
    title = "The personal account cannot cover the amount and self-pay was refused"


class PaymentNotFound(NotFound):
    slug = "payment-not-found"
    title = "No such payment"


class PaymentAlreadyCancelled(DomainError):
    slug = "payment-already-cancelled"
    status = 409
    title = "The payment is cancelled already"


class SelfPay(StrEnum):
    ALLOWED = "allowed"  # the account pays what it can, the holder pays the rest
    REFUSED = "refused"  # all from the account, or nothing


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


@dataclass(frozen=True)
class Split:
    account_paid_fen: int
    self_pay_fen: int


def split(amount_fen: int, balance_fen: int, self_pay: SelfPay) -> Split:
    """The personal account pays what it can; the rest is self-paid unless the terminal refused that."""
    paid = min(amount_fen, max(balance_fen, 0))
    if paid < amount_fen and self_pay is SelfPay.REFUSED:
        raise InsufficientBalance(
            f"The account holds {balance_fen} fen of the {amount_fen} fen asked; nothing was paid",
            balance_fen=balance_fen,
            amount_fen=amount_fen,
        )
    return Split(paid, amount_fen - paid)


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

    @property
    def day(self) -> date:
        return business_day(self.paid_at)

    @property
    def sort_key(self) -> str:
        """Orders a holder's or a day's payments by time; unique, so paging never skips or repeats."""
        return f"{self.paid_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}#{self.payment_id}"

    def cancel(self, at: datetime) -> Payment:
        """A payment is reversed at most once; the account gets back what it paid."""
        if self.state is PaymentState.CANCELLED:
            raise PaymentAlreadyCancelled("The payment was cancelled before; nothing was credited twice")
        return replace(self, state=PaymentState.CANCELLED, cancelled_at=at)


# --- reconciliation ----------------------------------------------------------------


class Reason(StrEnum):
    ONLY_OURS = "only_ours"  # we took it; the institution's list lacks it
    ONLY_THEIRS = "only_theirs"  # the institution lists it; we have no such payment of that day
    AMOUNT_DIFFERS = "amount_differs"
    CANCELLED = "cancelled"  # the institution counts it, but it was cancelled


@dataclass(frozen=True)
class DayFigures:
    count: int
    total_fen: int  # the sum of account_paid_fen: what the personal accounts paid


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
    payments: tuple[Payment, ...]  # every payment of ours that day, cancelled ones included


def reconcile(
    day: date,
    ours: Sequence[Payment],
    theirs: DayFigures,
    their_payments: Sequence[tuple[str, int]] | None = None,
) -> Reconciliation:
    """Compare an institution's day with ours.

    Our figures count the day's payments that stand (not cancelled). When the
    institution lists its payments (id, account_paid_fen), each one that differs
    is named; without a list only the figures can be compared.
    """
    standing = [p for p in ours if p.state is PaymentState.COMPLETED]
    figures = DayFigures(len(standing), sum(p.account_paid_fen for p in standing))
    differences: list[Difference] = []
    if their_payments is not None:
        listed = dict(their_payments)
        if len(listed) != len(their_payments):
            raise InvalidInput("A payment is listed twice")
        if (len(listed), sum(listed.values())) != (theirs.count, theirs.total_fen):
            raise InvalidInput("The listed payments do not add up to count and total_fen")
        by_id = {p.payment_id: p for p in ours}
        for payment in ours:
            their_fen = listed.get(payment.payment_id)
            if payment.state is PaymentState.CANCELLED:
                if their_fen is not None:
                    differences.append(
                        Difference(payment.payment_id, Reason.CANCELLED, payment.account_paid_fen, their_fen)
                    )
            elif their_fen is None:
                differences.append(
                    Difference(payment.payment_id, Reason.ONLY_OURS, payment.account_paid_fen, None)
                )
            elif their_fen != payment.account_paid_fen:
                differences.append(
                    Difference(payment.payment_id, Reason.AMOUNT_DIFFERS, payment.account_paid_fen, their_fen)
                )
        differences.extend(
            Difference(payment_id, Reason.ONLY_THEIRS, None, fen)
            for payment_id, fen in their_payments
            if payment_id not in by_id
        )
    matched = figures == theirs and not differences
    return Reconciliation(day, matched, figures, theirs, tuple(differences), tuple(ours))

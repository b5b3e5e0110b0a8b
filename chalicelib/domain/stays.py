"""Inpatient stays: the inpatient registration is the stay; the hospital uploads charges to it.

- A stay is open from admission until discharge (settled in one inpatient payment, which
  closes it) or withdrawal (an open stay with no live charges). Cancelling the discharge
  payment reopens it.
- A charge is applied once per charge_id: the same id with the same body is the same charge
  (its first answer again), with another body it is refused (`charge-id-reused`).
- Charges are taken only while the stay is open, and cancelled only while it is open.
- The running totals (amount, in scope, live charge count) live on the stay, so discharge
  reads one item however many charges it had. Each change adds to them (commutative), and
  every change bumps the stay's version, so a discharge that settled the totals it read can
  be conditioned on nothing having changed since.
- The stay's total may not exceed `max_total_fen`: the settlement policy's per-stay maximum
  (`max_stay_fen`, default 100,000,000 fen = 1,000,000 yuan) is passed in, so a stay never
  grows beyond what a discharge may settle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from .errors import DomainError, InvalidInput, NotFound

INPATIENT = "inpatient"  # the registration visit that opens a stay
MAX_DESCRIPTION = 200


class StayState(StrEnum):
    OPEN = "open"
    DISCHARGED = "discharged"
    WITHDRAWN = "withdrawn"


class ChargeState(StrEnum):
    APPLIED = "applied"
    CANCELLED = "cancelled"


class StayNotFound(NotFound):
    """No such stay for this hospital: unknown, an outpatient registration, or another's."""

    slug = "stay-not-found"
    title = "No such inpatient stay"


class ChargeNotFound(NotFound):
    slug = "charge-not-found"
    title = "No such charge on this stay"


class StayClosed(DomainError):
    slug = "stay-closed"
    status = 409
    title = "The stay is closed (discharged or withdrawn): it takes no charges or changes"


class StayHasCharges(DomainError):
    slug = "stay-has-charges"
    status = 409
    title = "Only a stay with no live charges may be withdrawn"


class StayTotalExceeded(DomainError):
    slug = "stay-total-exceeded"
    status = 409
    title = "This charge would take the stay's total above the per-stay maximum"


class ChargeAlreadyCancelled(DomainError):
    slug = "charge-already-cancelled"
    status = 409
    title = "The charge was cancelled already"


class ChargeIdReused(DomainError):
    slug = "charge-id-reused"
    status = 422
    title = "This charge_id was applied before with another body"


class InvalidCharge(InvalidInput):
    slug = "invalid-charge"
    title = "The charge is not valid"


class StayNotReopenable(DomainError):
    slug = "stay-not-reopenable"
    status = 409
    title = "The stay was not closed by this payment"


@dataclass(frozen=True)
class Totals:
    """A stay's running totals over its live (applied) charges."""

    amount_fen: int = 0
    in_scope_fen: int = 0
    charge_count: int = 0

    @property
    def out_of_scope_fen(self) -> int:
        return self.amount_fen - self.in_scope_fen

    def plus(self, charge: Charge) -> Totals:
        return Totals(
            self.amount_fen + charge.amount_fen,
            self.in_scope_fen + charge.in_scope_fen,
            self.charge_count + 1,
        )

    def minus(self, charge: Charge) -> Totals:
        return Totals(
            self.amount_fen - charge.amount_fen,
            self.in_scope_fen - charge.in_scope_fen,
            self.charge_count - 1,
        )


@dataclass(frozen=True)
class Charge:
    registration_id: str
    charge_id: str
    hospital_id: str  # the institution that uploaded it (the stay's hospital)
    amount_fen: int
    in_scope_fen: int
    description: str
    applied_at: datetime
    state: ChargeState = ChargeState.APPLIED
    cancelled_at: datetime | None = None

    @staticmethod
    def new(
        registration_id: str,
        charge_id: str,
        hospital_id: str,
        amount_fen: int,
        in_scope_fen: int,
        description: str,
        at: datetime,
    ) -> Charge:
        if type(amount_fen) is not int or amount_fen < 1:
            raise InvalidCharge("amount_fen is a whole number of fen, at least 1")
        if type(in_scope_fen) is not int or not 0 <= in_scope_fen <= amount_fen:
            raise InvalidCharge("in_scope_fen is from 0 to amount_fen")
        if not description.strip() or len(description) > MAX_DESCRIPTION:
            raise InvalidCharge(f"description is 1 to {MAX_DESCRIPTION} characters")
        return Charge(registration_id, charge_id, hospital_id, amount_fen, in_scope_fen, description, at)

    def same_request(self, other: Charge) -> bool:
        """The same upload again (a retry), whenever it arrives: same stay, id and body."""
        return (
            self.registration_id,
            self.charge_id,
            self.amount_fen,
            self.in_scope_fen,
            self.description,
        ) == (
            other.registration_id,
            other.charge_id,
            other.amount_fen,
            other.in_scope_fen,
            other.description,
        )

    def cancelled(self, at: datetime) -> Charge:
        if self.state is ChargeState.CANCELLED:
            raise ChargeAlreadyCancelled(f"Charge {self.charge_id} was cancelled already")
        return replace(self, state=ChargeState.CANCELLED, cancelled_at=at)


def applied_once(first: Charge, again: Charge) -> Charge:
    """A charge_id met twice: the first charge is the answer if the body is the same."""
    if not first.same_request(again):
        raise ChargeIdReused(f"charge_id {again.charge_id} was applied with another amount or description")
    return first


@dataclass(frozen=True)
class Stay:
    registration_id: str
    card_no: str
    person_id: str
    hospital_id: str
    admitted_at: datetime
    state: StayState = StayState.OPEN
    totals: Totals = Totals()
    version: int = 0  # bumped by every change: charges, cancels, discharge, reopening
    discharge_payment_id: str | None = None
    closed_at: datetime | None = None

    def ensure_hospital(self, hospital_id: str) -> Stay:
        """Only the hospital that registered the stay sees it; to anyone else it does not exist."""
        if self.hospital_id != hospital_id:
            raise StayNotFound(f"No stay {self.registration_id}")
        return self

    def ensure_open(self) -> Stay:
        if self.state is not StayState.OPEN:
            raise StayClosed(f"Stay {self.registration_id} is {self.state.value}")
        return self

    def charged(self, charge: Charge, max_total_fen: int) -> Stay:
        """The stay with the charge applied, if the rules take it."""
        self.ensure_open()
        if self.totals.amount_fen + charge.amount_fen > max_total_fen:
            raise StayTotalExceeded(
                f"The stay's total may be at most {max_total_fen} fen",
                maximum_fen=max_total_fen,
                total_fen=self.totals.amount_fen,
            )
        return replace(self, totals=self.totals.plus(charge), version=self.version + 1)

    def uncharged(self, charge: Charge) -> Stay:
        """The stay with a live charge taken back (cancellable only while open)."""
        self.ensure_open()
        if charge.state is ChargeState.CANCELLED:
            raise ChargeAlreadyCancelled(f"Charge {charge.charge_id} was cancelled already")
        return replace(self, totals=self.totals.minus(charge), version=self.version + 1)

    def withdrawn(self, at: datetime) -> Stay:
        self.ensure_open()
        if self.totals.charge_count:
            raise StayHasCharges(f"Stay {self.registration_id} has {self.totals.charge_count} live charges")
        return replace(self, state=StayState.WITHDRAWN, version=self.version + 1, closed_at=at)

    def discharged(self, payment_id: str, at: datetime) -> Stay:
        """Closed by the discharge payment that settled exactly these totals."""
        self.ensure_open()
        return replace(
            self,
            state=StayState.DISCHARGED,
            version=self.version + 1,
            discharge_payment_id=payment_id,
            closed_at=at,
        )

    def reopened(self, payment_id: str) -> Stay:
        """The discharge payment was cancelled: open again, same charges, same totals."""
        if self.state is not StayState.DISCHARGED or self.discharge_payment_id != payment_id:
            raise StayNotReopenable(f"Stay {self.registration_id} was not discharged by payment {payment_id}")
        return replace(
            self, state=StayState.OPEN, version=self.version + 1, discharge_payment_id=None, closed_at=None
        )

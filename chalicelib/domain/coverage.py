"""Coverage on a date: continuity judged by when each month was paid, serious-illness eligibility,
and whether medical insurance is in force.

Pure rules, standard library only. On a date D, counting only payments made by D:

- a month's **deadline** is the last day of the `grace_months`-th month after it
  (default 3: January's is 30 April). Paid by its deadline, a month is on time.
- a month **interrupts** continuity once its deadline has passed (before D) and it
  was not paid by then: unpaid, or paid later. A late payment fills the record
  (it counts for history and months paid) but the interruption stands.
- the **current run** is the paid months after the latest interruption (all of
  them when there is none); its first payment is the earliest payment date among
  them, so the waiting period starts again from the first payment after a gap.
  An unpaid month still inside its grace does not break the run.
- **serious illness** is eligible on D when the run's first payment is more than
  six months before D (SERIOUS_ILLNESS_WAITING_MONTHS, the source's number).
- **in force** (insured): a contribution covers D's month or one of the
  `grace_months` months before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from .contribution_policy import DEFAULT_GRACE_MONTHS
from .contributions import InsuranceType
from .periods import Period, add_months, months_between

# Given by the source: serious-illness benefits start once the first payment is over 6 months old.
SERIOUS_ILLNESS_WAITING_MONTHS = 6


@dataclass(frozen=True)
class PaidMonth:
    """What was paid for one insurance type and month (possibly several postings)."""

    insurance: InsuranceType
    period: Period
    amount_fen: int
    first_paid_on: date  # the earliest payment for the month (China date)


@dataclass(frozen=True)
class Coverage:
    insurance: InsuranceType
    months_paid: int
    first_paid_on: date | None
    first_period: Period | None
    last_period: Period | None
    # The run of paid months since the latest interruption, and when its first payment was.
    continuous_since: Period | None
    run_first_paid_on: date | None
    missing: tuple[Period, ...]  # unpaid months since the first, up to the month before the date
    interruptions: tuple[Period, ...]  # months not paid by their deadline, whose deadline has passed
    insured: bool  # in force: the month of the date or one of the grace months before it is paid


class SeriousIllnessStatus(StrEnum):
    """Why serious-illness insurance pays or not; the two refusals are settlement note codes."""

    ELIGIBLE = "eligible"
    WAITING = "serious-illness-waiting"  # no payment yet, or the run's first is not 6 months old
    INTERRUPTED = "serious-illness-interrupted"  # no payment since the latest interruption


@dataclass(frozen=True)
class SeriousIllnessEligibility:
    status: SeriousIllnessStatus
    reason: str  # the same in words, for the holder
    waiting_since: date | None  # the first payment of the current run
    eligible_from: date | None  # the first day benefits apply, if payment stays unbroken

    @property
    def eligible(self) -> bool:
        return self.status is SeriousIllnessStatus.ELIGIBLE


def deadline(period: Period, grace_months: int = DEFAULT_GRACE_MONTHS) -> date:
    """The last day a payment for `period` still counts as on time."""
    return period.shift(grace_months).last_day


def coverage(
    insurance: InsuranceType,
    months: Iterable[PaidMonth],
    on: date,
    grace_months: int = DEFAULT_GRACE_MONTHS,
) -> Coverage:
    """Coverage of one type on a date, counting only payments made by that date for months
    up to the date's month (see the module's docstring for the rules)."""
    current = Period.of(on)
    paid = _paid_by(insurance, months, on)
    if not paid:
        return Coverage(insurance, 0, None, None, None, None, None, (), (), False)
    first = min(paid)
    interruptions = tuple(
        p
        for p in months_between(first, current)
        if deadline(p, grace_months) < on and not (p in paid and paid[p] <= deadline(p, grace_months))
    )
    run = [p for p in paid if not interruptions or p > interruptions[-1]]
    return Coverage(
        insurance=insurance,
        months_paid=len(paid),
        first_paid_on=min(paid.values()),
        first_period=first,
        last_period=max(paid),
        continuous_since=min(run) if run else None,
        run_first_paid_on=min(paid[p] for p in run) if run else None,
        missing=tuple(p for p in months_between(first, current.prev()) if p not in paid),
        interruptions=interruptions,
        insured=_in_force(paid, current, grace_months),
    )


def serious_illness_eligibility(
    months: Iterable[PaidMonth], on: date, grace_months: int = DEFAULT_GRACE_MONTHS
) -> SeriousIllnessEligibility:
    """Whether serious-illness insurance pays for expenses incurred on `on`, and why."""
    cov = coverage(InsuranceType.SERIOUS_ILLNESS, months, on, grace_months)
    waiting, interrupted = SeriousIllnessStatus.WAITING, SeriousIllnessStatus.INTERRUPTED
    if cov.months_paid == 0:
        return SeriousIllnessEligibility(waiting, "No serious-illness contribution has been paid", None, None)
    # The latest interruption, in words (there is one whenever no month is paid since it).
    gap = cov.interruptions[-1] if cov.interruptions else None
    broken = f"{gap} was not paid by {deadline(gap, grace_months).isoformat()}" if gap else None
    if cov.run_first_paid_on is None:
        return SeriousIllnessEligibility(
            interrupted, f"Serious-illness payment is interrupted: {broken}", None, None
        )
    since = cov.run_first_paid_on
    eligible_from = add_months(since, SERIOUS_ILLNESS_WAITING_MONTHS) + timedelta(days=1)
    if on >= eligible_from:
        return SeriousIllnessEligibility(
            SeriousIllnessStatus.ELIGIBLE,
            f"Paid without a gap since {cov.continuous_since}",
            since,
            eligible_from,
        )
    restarted = f"; the wait started again because {broken}" if broken else ""
    return SeriousIllnessEligibility(
        waiting,
        f"The first payment of the current run ({since.isoformat()}) is not yet more than "
        f"{SERIOUS_ILLNESS_WAITING_MONTHS} months before {on.isoformat()}{restarted}",
        since,
        eligible_from,
    )


def medical_in_force(
    months: Iterable[PaidMonth], day: date, grace_months: int = DEFAULT_GRACE_MONTHS
) -> bool:
    """Basic medical insurance is in force on `day`: a medical contribution paid by then covers
    that month or one of the `grace_months` months before it."""
    return _in_force(_paid_by(InsuranceType.MEDICAL, months, day), Period.of(day), grace_months)


def _paid_by(insurance: InsuranceType, months: Iterable[PaidMonth], on: date) -> dict[Period, date]:
    """Each month of the type up to `on`'s month paid by `on`, with its first payment date."""
    current = Period.of(on)
    paid: dict[Period, date] = {}
    for m in months:
        if m.insurance is insurance and m.first_paid_on <= on and m.period <= current:
            paid[m.period] = min(m.first_paid_on, paid.get(m.period, m.first_paid_on))
    return paid


def _in_force(paid: dict[Period, date], current: Period, grace_months: int) -> bool:
    return any(p in paid for p in months_between(current.shift(-grace_months), current))

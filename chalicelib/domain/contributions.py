"""Contribution rules: insurance types, fund books, eligibility, and coverage continuity.

Pure rules, standard library only. Numbers the source document does not give
(retirement ages, the personal-account share) live in `ContributionPolicy`,
which is configuration (the CONTRIBUTION_POLICY setting) with documented
defaults, never a constant buried in a rule. docs/contributions.md explains
each default and where it comes from.

Fund books (Social Insurance Law, Art. 64): pension, medical, work injury and
unemployment are accounted separately; basic medical and maternity are one
book, and serious-illness insurance, which supplements basic medical, is part
of the medical book. Every contribution names exactly one book through
`BOOK_OF`, and nothing here or anywhere else moves money between books.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from .errors import ContributionIneligible, InvalidContribution
from .holders import Participation
from .identifiers import Ssn

# China keeps one civil time, UTC+8, without daylight saving: a payment's date is its date there.
CHINA = timezone(timedelta(hours=8), "CST")
# Given by the source: serious-illness benefits start once the first payment is over 6 months old.
SERIOUS_ILLNESS_WAITING_MONTHS = 6
# A single month's contribution of one type is far below this (1,000,000 yuan).
MAX_AMOUNT_FEN = 100_000_000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_EMPLOYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
E = TypeVar("E", bound=StrEnum)


class InsuranceType(StrEnum):
    PENSION = "pension"  # basic pension (endowment) insurance
    MEDICAL = "medical"  # basic medical insurance
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"
    MATERNITY = "maternity"
    SERIOUS_ILLNESS = "serious_illness"  # supplements basic medical


class FundBook(StrEnum):
    PENSION = "pension"
    MEDICAL = "medical"  # basic medical + maternity (+ serious illness), accounted together
    WORK_INJURY = "work_injury"
    UNEMPLOYMENT = "unemployment"


# The one mapping from an insurance type to the book its money is posted to.
BOOK_OF: Mapping[InsuranceType, FundBook] = MappingProxyType(
    {
        InsuranceType.PENSION: FundBook.PENSION,
        InsuranceType.MEDICAL: FundBook.MEDICAL,
        InsuranceType.MATERNITY: FundBook.MEDICAL,
        InsuranceType.SERIOUS_ILLNESS: FundBook.MEDICAL,
        InsuranceType.WORK_INJURY: FundBook.WORK_INJURY,
        InsuranceType.UNEMPLOYMENT: FundBook.UNEMPLOYMENT,
    }
)


class Payer(StrEnum):
    EMPLOYER = "employer"  # the employer's share for an employee
    EMPLOYEE = "employee"  # the employee's own share, withheld from wages
    INDIVIDUAL = "individual"  # an individual worker or freelancer paying for themselves


# Individual workers and freelancers may join only pension, unemployment and medical
# (serious illness is part of medical); employees may join every type.
ALLOWED_TYPES: Mapping[Participation, frozenset[InsuranceType]] = MappingProxyType(
    {
        Participation.EMPLOYEE: frozenset(InsuranceType),
        Participation.INDIVIDUAL: frozenset(
            {
                InsuranceType.PENSION,
                InsuranceType.UNEMPLOYMENT,
                InsuranceType.MEDICAL,
                InsuranceType.SERIOUS_ILLNESS,
            }
        ),
        Participation.FREELANCER: frozenset(
            {
                InsuranceType.PENSION,
                InsuranceType.UNEMPLOYMENT,
                InsuranceType.MEDICAL,
                InsuranceType.SERIOUS_ILLNESS,
            }
        ),
    }
)

# Who may pay for whom. An employee of an individual household may have the household pay
# (as its employer); a freelancer has, by definition, no employer.
ALLOWED_PAYERS: Mapping[Participation, frozenset[Payer]] = MappingProxyType(
    {
        Participation.EMPLOYEE: frozenset({Payer.EMPLOYER, Payer.EMPLOYEE}),
        Participation.INDIVIDUAL: frozenset({Payer.INDIVIDUAL, Payer.EMPLOYER}),
        Participation.FREELANCER: frozenset({Payer.INDIVIDUAL}),
    }
)

# Social Insurance Law Arts. 33 and 53: employees do not pay work-injury or maternity
# insurance themselves; their employer pays it.
EMPLOYER_ONLY: frozenset[InsuranceType] = frozenset({InsuranceType.WORK_INJURY, InsuranceType.MATERNITY})

# Working age is checked for those who join on their own account.
AGE_CHECKED: frozenset[Participation] = frozenset({Participation.INDIVIDUAL, Participation.FREELANCER})


# --- months ------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, the unit contributions are paid for."""

    year: int
    month: int

    @classmethod
    def parse(cls, raw: object) -> Period:
        match = _PERIOD.match(raw) if isinstance(raw, str) else None
        if not match:
            raise InvalidContribution("period is a month written YYYY-MM")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    @classmethod
    def from_index(cls, index: int) -> Period:
        return cls(index // 12, index % 12 + 1)

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    def shift(self, months: int) -> Period:
        return Period.from_index(self.index + months)

    def next(self) -> Period:
        return self.shift(1)

    def prev(self) -> Period:
        return self.shift(-1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the 31st of a shorter month becomes its last day."""
    target = Period.of(day).shift(months)
    return date(target.year, target.month, min(day.day, target.last_day.day))


def age_on(birth: date, on: date) -> int:
    """Completed years of age on a date (a 29 February birthday completes a year on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def china_date(at: datetime) -> date:
    return at.astimezone(CHINA).date()


# --- policy ------------------------------------------------------------------------


def _default_shares() -> dict[Payer, int]:
    return {Payer.EMPLOYEE: 10_000, Payer.EMPLOYER: 0, Payer.INDIVIDUAL: 2_500}


@dataclass(frozen=True)
class ContributionPolicy:
    """Numbers the source leaves to policy. Defaults, and why (see docs/contributions.md):

    - min_working_age 16: the Labour Law (Art. 15) forbids employing anyone younger.
    - retirement ages 60 for men and 55 for women: the statutory ages of State Council
      Guofa [1978] No. 104 (men 60; women cadres 55, women workers 50) before the gradual
      rise decided by the NPC Standing Committee in September 2024 (from 2025 over 15
      years: men to 63, women to 55 or 58). The holder record does not say cadre or
      worker, so women default to 55. A deployment sets the ages its region applies.
    - personal_account_bp, basis points of a basic medical contribution credited to the
      holder's personal account, by payer: the employee's own share in full and nothing
      of the employer's, as the 2021 reform of employee medical insurance (Guobanfa
      [2021] No. 14) does; for an individual worker or freelancer, who pays both shares,
      the employee-equivalent part: 2 of the 8 points of Guofa [1998] No. 44's 6% + 2%
      rates, 25%. Only basic medical contributions feed the account; maternity and
      serious illness do not. The credit stays inside the medical book: the personal
      account is part of the basic medical insurance fund.
    """

    min_working_age: int = 16
    retirement_age_male: int = 60
    retirement_age_female: int = 55
    personal_account_bp: Mapping[Payer, int] = field(default_factory=_default_shares)

    def __post_init__(self) -> None:
        ages = (self.min_working_age, self.retirement_age_male, self.retirement_age_female)
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in ages):
            raise ValueError("ages are whole years")
        if not 0 < self.min_working_age < min(self.retirement_age_male, self.retirement_age_female) <= 100:
            raise ValueError("the minimum working age must be below both retirement ages")
        shares = dict(_default_shares())
        shares.update({Payer(k): v for k, v in self.personal_account_bp.items()})
        for payer, bp in shares.items():
            if not isinstance(bp, int) or isinstance(bp, bool) or not 0 <= bp <= 10_000:
                raise ValueError(f"personal_account_bp.{payer.value} is 0 to 10000 basis points")
        object.__setattr__(self, "personal_account_bp", MappingProxyType(shares))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ContributionPolicy:
        """Defaults overridden by `data` (the CONTRIBUTION_POLICY JSON). Unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown contribution policy keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "personal_account_bp" in values:
            raw = values["personal_account_bp"]
            if not isinstance(raw, Mapping):
                raise ValueError("personal_account_bp maps a payer to basis points")
            try:
                values["personal_account_bp"] = {Payer(k): v for k, v in raw.items()}
            except ValueError as exc:
                raise ValueError(f"personal_account_bp: {exc}") from exc
        return cls(**values)

    def retirement_age(self, sex: str) -> int:
        return self.retirement_age_female if sex == "female" else self.retirement_age_male


# --- the message -------------------------------------------------------------------


@dataclass(frozen=True)
class Contribution:
    """One validated contribution message: one payer's payment for one type and month."""

    contribution_id: str
    ssn: Ssn
    period: Period
    insurance: InsuranceType
    payer: Payer
    employer_id: str | None
    amount_fen: int
    paid_at: datetime  # aware

    @property
    def book(self) -> FundBook:
        return BOOK_OF[self.insurance]

    @property
    def paid_on(self) -> date:
        return china_date(self.paid_at)


def contribution_id_of(data: object) -> str | None:
    """The message's contribution_id when it has a well-formed one (for rejection records)."""
    value = data.get("contribution_id") if isinstance(data, Mapping) else None
    return value if isinstance(value, str) and _ID.match(value) else None


def parse_contribution(data: object) -> Contribution:
    """Validate a contribution message (queue body or HTTP body). Unknown fields are ignored."""
    if not isinstance(data, Mapping):
        raise InvalidContribution("A contribution message is a JSON object")
    contribution_id = contribution_id_of(data)
    if contribution_id is None:
        raise InvalidContribution("contribution_id is 1 to 128 letters, digits, '.', '_', ':' or '-'")
    raw_ssn = data.get("ssn")
    ssn = Ssn.parse(raw_ssn if isinstance(raw_ssn, str) else "")
    period = Period.parse(data.get("period"))
    insurance = _enum(InsuranceType, data.get("insurance"), "insurance")
    payer = _enum(Payer, data.get("payer"), "payer")
    employer_id = data.get("employer_id")
    if employer_id is not None and not (isinstance(employer_id, str) and _EMPLOYER_ID.match(employer_id)):
        raise InvalidContribution("employer_id is 1 to 64 letters, digits, '.', '_', ':' or '-'")
    if payer is Payer.EMPLOYER and employer_id is None:
        raise InvalidContribution("employer_id is required when the employer pays")
    amount = data.get("amount_fen")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT_FEN:
        raise InvalidContribution(f"amount_fen is a whole number of fen from 1 to {MAX_AMOUNT_FEN}")
    return Contribution(
        contribution_id=contribution_id,
        ssn=ssn,
        period=period,
        insurance=insurance,
        payer=payer,
        employer_id=employer_id,
        amount_fen=amount,
        paid_at=parse_paid_at(data.get("paid_at")),
    )


def parse_paid_at(raw: object) -> datetime:
    """ISO 8601 date or date-time; without an offset it is China time (UTC+8)."""
    if not isinstance(raw, str) or not 10 <= len(raw) <= 40:
        raise InvalidContribution("paid_at is an ISO 8601 date-time")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidContribution("paid_at is an ISO 8601 date-time") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=CHINA)
    return at.astimezone(UTC)


def _enum(kind: type[E], raw: object, name: str) -> E:
    try:
        if isinstance(raw, str):
            return kind(raw)
    except ValueError:
        pass
    allowed = ", ".join(e.value for e in kind)
    raise InvalidContribution(f"{name} is one of: {allowed}")


# --- eligibility -------------------------------------------------------------------


def within_working_age(birth: date, sex: str, period: Period, policy: ContributionPolicy) -> bool:
    """Of working age on at least one day of the month: the minimum age reached by its last
    day, and the retirement age not yet reached on its first day."""
    return age_on(birth, period.last_day) >= policy.min_working_age and age_on(
        birth, period.first_day
    ) < policy.retirement_age(sex)


_WHO = {
    Participation.EMPLOYEE: "An employee",
    Participation.INDIVIDUAL: "An individual worker",
    Participation.FREELANCER: "A freelancer",
}


def check_eligible(
    participation: Participation,
    birth: date,
    sex: str,
    contribution: Contribution,
    policy: ContributionPolicy,
) -> None:
    """Refuse, with the reason, a contribution this holder may not make."""
    who = _WHO[participation]
    if contribution.insurance not in ALLOWED_TYPES[participation]:
        raise ContributionIneligible(f"{who} may not join {contribution.insurance.value} insurance")
    if contribution.payer not in ALLOWED_PAYERS[participation]:
        raise ContributionIneligible(f"{who}'s contribution is not paid by the {contribution.payer.value}")
    if (
        participation is Participation.EMPLOYEE
        and contribution.insurance in EMPLOYER_ONLY
        and contribution.payer is not Payer.EMPLOYER
    ):
        raise ContributionIneligible(f"Only the employer pays {contribution.insurance.value} insurance")
    if participation in AGE_CHECKED and not within_working_age(birth, sex, contribution.period, policy):
        raise ContributionIneligible(
            f"In {contribution.period} the holder is not within working age "
            f"({policy.min_working_age} to {policy.retirement_age(sex)})"
        )


def personal_account_share(contribution: Contribution, policy: ContributionPolicy) -> int:
    """Fen of this contribution credited to the personal account (rounded down; the rest pools)."""
    if contribution.insurance is not InsuranceType.MEDICAL:
        return 0
    return contribution.amount_fen * policy.personal_account_bp[contribution.payer] // 10_000


# --- coverage ----------------------------------------------------------------------


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
    # The unbroken run of paid months still current on the date, and when its first payment was.
    continuous_since: Period | None
    run_first_paid_on: date | None
    missing: tuple[Period, ...]  # unpaid months since the first, up to the month before the date
    insured: bool  # the month of the date or the one before is paid


@dataclass(frozen=True)
class SeriousIllnessEligibility:
    eligible: bool
    reason: str
    waiting_since: date | None  # the first payment of the current unbroken run
    eligible_from: date | None  # the first day benefits apply, if payment stays unbroken


def coverage(insurance: InsuranceType, months: Iterable[PaidMonth], on: date) -> Coverage:
    """Coverage of one type on a date, counting only payments made by that date.

    A month is missing once it has ended unpaid: on a date in month M, every month from
    the first paid one through M-1 must be paid; M itself may still be paid during M.
    """
    paid = {m.period: m for m in months if m.insurance is insurance and m.first_paid_on <= on}
    current = Period.of(on)
    upto = [p for p in paid if p <= current]
    if not upto:
        return Coverage(insurance, 0, None, None, None, None, None, (), False)
    first = min(upto)
    last = max(upto)
    missing = tuple(
        Period.from_index(i) for i in range(first.index, current.index) if Period.from_index(i) not in paid
    )
    run = _current_run(set(upto), current)
    run_first_paid = min(paid[p].first_paid_on for p in _months(*run)) if run else None
    return Coverage(
        insurance=insurance,
        months_paid=len(upto),
        first_paid_on=min(paid[p].first_paid_on for p in upto),
        first_period=first,
        last_period=last,
        continuous_since=run[0] if run else None,
        run_first_paid_on=run_first_paid,
        missing=missing,
        insured=run is not None,
    )


def serious_illness_eligibility(months: Iterable[PaidMonth], on: date) -> SeriousIllnessEligibility:
    """Serious-illness benefits apply on `on` only when the first payment is more than six
    months before it and no month since is missing; a gap restarts the wait from the
    first payment after it."""
    cov = coverage(InsuranceType.SERIOUS_ILLNESS, months, on)
    if cov.months_paid == 0:
        return SeriousIllnessEligibility(False, "No serious-illness contribution has been paid", None, None)
    if cov.continuous_since is None or cov.run_first_paid_on is None:
        gap = Period.of(on).prev()
        return SeriousIllnessEligibility(
            False, f"Serious-illness payment is broken: {gap} is not paid", None, None
        )
    since = cov.run_first_paid_on
    waiting_ends = add_months(since, SERIOUS_ILLNESS_WAITING_MONTHS)
    eligible_from = waiting_ends + timedelta(days=1)
    if on > waiting_ends:
        return SeriousIllnessEligibility(
            True, f"Paid without a gap since {cov.continuous_since}", since, eligible_from
        )
    return SeriousIllnessEligibility(
        False,
        f"The first payment of the unbroken run ({since.isoformat()}) is not yet more than "
        f"{SERIOUS_ILLNESS_WAITING_MONTHS} months before {on.isoformat()}",
        since,
        eligible_from,
    )


def _current_run(paid: set[Period], current: Period) -> tuple[Period, Period] | None:
    """The unbroken run of paid months that reaches the month of the date or the one before."""
    if current in paid:
        end = current
    elif current.prev() in paid:
        end = current.prev()
    else:
        return None
    start = end
    while start.prev() in paid:
        start = start.prev()
    return start, end


def _months(start: Period, end: Period) -> list[Period]:
    return [Period.from_index(i) for i in range(start.index, end.index + 1)]

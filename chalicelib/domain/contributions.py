"""Contributions: the insurance types, the fund books they post to, and the message that carries one.

Pure rules, standard library only. The rest of the subject has a module each:
months and dates in `periods`, who may contribute what in `eligibility`, the
numbers left to policy in `contribution_policy`, continuity and serious-illness
eligibility in `coverage`. docs/contributions.md explains each rule.

Fund books (Social Insurance Law, Art. 64): pension, medical, work injury and
unemployment are accounted separately; basic medical and maternity are one
book, and serious-illness insurance, which supplements basic medical, is part
of the medical book. Every contribution names exactly one book through
`BOOK_OF`, and nothing here or anywhere else moves money between books.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeGuard, TypeVar

from .errors import InvalidContribution
from .identifiers import Ssn
from .periods import CHINA, Period, china_date

# A single month's contribution of one type is far below this (1,000,000 yuan).
MAX_AMOUNT_FEN = 100_000_000
CONTRIBUTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_EMPLOYER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
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


def is_contribution_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and CONTRIBUTION_ID.fullmatch(value) is not None


def parse_contribution_id(raw: object) -> str:
    if not is_contribution_id(raw):
        raise InvalidContribution("contribution_id is 1 to 128 letters, digits, '.', '_', ':' or '-'")
    return raw


def contribution_id_of(data: object) -> str | None:
    """The message's contribution_id when it has a well-formed one (for rejection records)."""
    value = data.get("contribution_id") if isinstance(data, Mapping) else None
    return value if is_contribution_id(value) else None


def parse_contribution(data: object) -> Contribution:
    """Validate a contribution message (queue body or HTTP body). Unknown fields are ignored."""
    if not isinstance(data, Mapping):
        raise InvalidContribution("A contribution message is a JSON object")
    contribution_id = parse_contribution_id(data.get("contribution_id"))
    raw_ssn = data.get("ssn")
    ssn = Ssn.parse(raw_ssn if isinstance(raw_ssn, str) else "")
    period = Period.parse(data.get("period"))
    insurance = _enum(InsuranceType, data.get("insurance"), "insurance")
    payer = _enum(Payer, data.get("payer"), "payer")
    employer_id = data.get("employer_id")
    if employer_id is not None and not (isinstance(employer_id, str) and _EMPLOYER_ID.fullmatch(employer_id)):
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
    if not isinstance(raw, str) or not 10 <= len(raw) <= 40 or not raw.isascii():
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

"""Medical-insurance settlement: how one bill is split between the pooled medical fund, the
serious-illness insurance, the holder's personal account and cash (DESIGN.md section 2,
Settlement). Pure rules, standard library only; every number is `SettlementPolicy`
configuration (the SETTLEMENT_POLICY setting, JSON) with the documented defaults.

The order of a bill's split:
1. in force: without medical insurance in force on the bill's day both funds pay 0;
2. deductible (of in-scope fen): outpatient, used up across the year's outpatient bills;
   inpatient, per stay (the year's first stay, then each later one); pharmacy none;
3. pooled fund: rate of the in-scope fen above the deductible, within the outpatient and
   the all-visits caps of the year;
4. serious illness: the holder's in-scope share after the pooled fund adds to the year's
   base; of the part of this share above the threshold it pays the rate, within its cap;
5. personal account, then cash (`self_pay_fen`).
Each fund's pay is rounded down to whole fen; the holder's share takes the remainder, so
fund + serious illness + account + cash = amount always.

Decisions DESIGN.md leaves open, taken here:
- Not in force: the bill touches no year counter at all (no deductible used, no stay
  counted, nothing added to the serious-illness base): an uninsured bill is not part of
  the insured year. `deductible_fen` is then 0 and the only note is medical-not-in-force
  (serious illness supplements medical insurance; it is not in force either).
- An inpatient settlement (a discharge) is one stay: `inpatient_stays` + 1, and its
  deductible is the first-stay one when no stay of the year was counted before it.
- Serious illness applies to every visit, pharmacy included: DESIGN.md does not limit it
  by visit, and a pharmacy bill's in-scope share is borne by the holder like any other.
- A serious-illness-ineligible holder's note distinguishes: `serious-illness-waiting`
  (the first unbroken run is not yet over the waiting months), `serious-illness-interrupted`
  (a month is missing now, or an earlier gap restarted the wait), and
  `serious-illness-not-insured` (no serious-illness contribution ever).
- Caps reached give a note: `fund-cap-reached` (pooled; the detail names the cap) and
  `serious-illness-cap-reached`. A bill whose fund pays 0 only because of the deductible or
  the visit's rate (pharmacy 0 %) has no note: `deductible_fen` and `visit` say why.
- Counters above a cap (a policy lowered mid-year) leave no room: the fund pays 0.
- A payment's counter delta belongs to the calendar year (China time) of the bill; a
  cancellation undoes it from that year's counters, even when cancelled in a later year.
- `max_stay_fen` bounds one stay's total for a discharge settlement (1,000,000 yuan);
  PaymentPolicy.max_amount_fen still bounds counter payments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

from .contributions import InsuranceType
from .coverage import PaidMonth, SeriousIllnessStatus, coverage, medical_in_force, serious_illness_eligibility
from .errors import DomainError, InvalidInput
from .holders import InstitutionKind


class SelfPay(StrEnum):
    """Rule 5: whether the holder's share may fall to cash when the account runs short."""

    ALLOWED = "allowed"  # the account pays what it can, the holder pays the rest
    REFUSED = "refused"  # the holder's share wholly from the account, or nothing


class AmountOutOfRange(InvalidInput):
    slug = "amount-out-of-range"
    title = "The amount is not a whole number of fen within the allowed range"


class InsufficientBalance(DomainError):
    slug = "insufficient-balance"
    status = 409
    title = "The personal account cannot cover the holder's share and self-pay was refused"


_BP = 10_000  # basis points in one whole


class Visit(StrEnum):
    PHARMACY = "pharmacy"
    OUTPATIENT = "outpatient"
    INPATIENT = "inpatient"


class VisitNotAllowed(InvalidInput):
    slug = "visit-not-allowed"
    title = "This institution may not settle this kind of visit"


class InScopeOutOfRange(InvalidInput):
    slug = "in-scope-out-of-range"
    title = "in_scope_fen is a whole number of fen from 0 to amount_fen"


# A hospital settles outpatient and inpatient bills (and its own dispensary's); a pharmacy only its own.
_VISITS_OF: Mapping[InstitutionKind, tuple[Visit, frozenset[Visit]]] = {
    InstitutionKind.PHARMACY: (Visit.PHARMACY, frozenset({Visit.PHARMACY})),
    InstitutionKind.HOSPITAL: (Visit.OUTPATIENT, frozenset(Visit)),
}


def visit_for(kind: InstitutionKind, requested: str | None) -> Visit:
    """The visit a bill is settled as: the one sent, or the institution's default (API.md)."""
    if kind not in _VISITS_OF:
        raise VisitNotAllowed(f"A {kind.value} does not settle bills")
    default, allowed = _VISITS_OF[kind]
    if requested is None:
        return default
    try:
        visit = Visit(requested)
    except ValueError:
        raise VisitNotAllowed(
            f"visit is one of: {', '.join(v.value for v in Visit)}", visit=requested
        ) from None
    if visit not in allowed:
        raise VisitNotAllowed(f"A {kind.value} may not settle a {visit.value} bill", visit=visit.value)
    return visit


# --- policy ------------------------------------------------------------------------------


class Unit(StrEnum):
    FEN = "fen"
    BASIS_POINTS = "basis points"
    MONTHS = "months"


def _setting(default: int, unit: Unit, meaning: str) -> Any:
    return field(default=default, metadata={"unit": unit, "meaning": meaning})


@dataclass(frozen=True)
class PolicyEntry:
    """One number of the policy, for `sscard settlements policy`."""

    name: str
    value: int
    unit: Unit
    meaning: str


@dataclass(frozen=True)
class SettlementPolicy:
    """Every number of the settlement rules. Defaults: DESIGN.md section 2 (Settlement),
    modelled on a typical city's employee scheme; regions configure their own.
    Rates are basis points (5,000 = 50 %), amounts fen."""

    in_force_grace_months: int = _setting(
        3,
        Unit.MONTHS,
        "medical is in force when a contribution covers the bill's month or one this many before",
    )
    outpatient_deductible_fen: int = _setting(
        180_000, Unit.FEN, "outpatient deductible a year, used up across the year's outpatient bills"
    )
    inpatient_first_stay_deductible_fen: int = _setting(
        130_000, Unit.FEN, "inpatient deductible of the year's first stay"
    )
    inpatient_later_stay_deductible_fen: int = _setting(
        65_000, Unit.FEN, "inpatient deductible of each later stay of the year"
    )
    pharmacy_fund_rate_bp: int = _setting(
        0, Unit.BASIS_POINTS, "pooled fund share of a pharmacy bill's in-scope fen (no deductible)"
    )
    outpatient_fund_rate_bp: int = _setting(
        5_000, Unit.BASIS_POINTS, "pooled fund share of outpatient in-scope fen above the deductible"
    )
    inpatient_fund_rate_bp: int = _setting(
        8_500, Unit.BASIS_POINTS, "pooled fund share of inpatient in-scope fen above the deductible"
    )
    outpatient_fund_cap_fen: int = _setting(2_000_000, Unit.FEN, "most outpatient pooled pay a year")
    annual_fund_cap_fen: int = _setting(30_000_000, Unit.FEN, "most pooled pay a year, every visit")
    serious_illness_threshold_fen: int = _setting(
        1_500_000, Unit.FEN, "serious-illness base above which the serious-illness insurance pays"
    )
    serious_illness_rate_bp: int = _setting(
        6_000, Unit.BASIS_POINTS, "serious-illness share of the base above the threshold"
    )
    serious_illness_cap_fen: int = _setting(40_000_000, Unit.FEN, "most serious-illness pay a year")
    max_stay_fen: int = _setting(100_000_000, Unit.FEN, "largest total of one stay settled at discharge")

    def __post_init__(self) -> None:
        for entry in self.entries():
            if type(entry.value) is not int or entry.value < 0:
                raise ValueError(f"{entry.name} is a whole number, at least 0")
            if entry.unit is Unit.BASIS_POINTS and entry.value > _BP:
                raise ValueError(f"{entry.name} is 0 to {_BP} basis points")
        if self.max_stay_fen < 1:
            raise ValueError("max_stay_fen is at least 1")

    def entries(self) -> Iterator[PolicyEntry]:
        for f in fields(self):
            yield PolicyEntry(f.name, getattr(self, f.name), f.metadata["unit"], f.metadata["meaning"])

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SettlementPolicy:
        """Defaults overridden by `data`. Unknown keys are an error, never ignored."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown settlement policy keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def from_json(cls, raw: str) -> SettlementPolicy:
        """The SETTLEMENT_POLICY setting: a JSON object of overrides; empty for the defaults."""
        if not raw.strip():
            return cls()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"SETTLEMENT_POLICY is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("SETTLEMENT_POLICY is a JSON object")
        return cls.from_mapping(data)

    def fund_rate_bp(self, visit: Visit) -> int:
        match visit:
            case Visit.PHARMACY:
                return self.pharmacy_fund_rate_bp
            case Visit.OUTPATIENT:
                return self.outpatient_fund_rate_bp
            case Visit.INPATIENT:
                return self.inpatient_fund_rate_bp

    def medical_in_force(self, months: Iterable[PaidMonth], on: date) -> bool:
        """A medical contribution paid by `on` covers its month or one of the grace months before."""
        return medical_in_force(months, on, self.in_force_grace_months)

    def check_stay_amount(self, amount_fen: int) -> int:
        """A discharge settles the stay's total in one payment, up to max_stay_fen."""
        if type(amount_fen) is not int or not 1 <= amount_fen <= self.max_stay_fen:
            raise AmountOutOfRange(
                f"A stay's total is from 1 to {self.max_stay_fen} fen",
                minimum_fen=1,
                maximum_fen=self.max_stay_fen,
            )
        return amount_fen


DEFAULT_SETTLEMENT_POLICY = SettlementPolicy()


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearCounters:
    """What a holder's bills of one calendar year (China time) used. A settlement's delta is
    also a YearCounters: what that bill added, and what its cancellation gives back."""

    outpatient_deductible_used_fen: int = 0
    inpatient_stays: int = 0
    fund_paid_fen: int = 0
    outpatient_fund_paid_fen: int = 0
    serious_illness_base_fen: int = 0
    serious_illness_paid_fen: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if type(value) is not int or value < 0:
                raise ValueError(f"year counter {name} is a whole number, at least 0 (got {value!r})")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> YearCounters:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown year counters: {', '.join(sorted(unknown))}")
        return cls(**data)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def plus(self, delta: YearCounters) -> YearCounters:
        return YearCounters(**{k: v + getattr(delta, k) for k, v in asdict(self).items()})

    def minus(self, delta: YearCounters) -> YearCounters:
        """Undo a settlement's delta (its cancellation). Counters are sums of the year's deltas,
        so one going below 0 means the delta is not of these counters: ValueError."""
        return YearCounters(**{k: v - getattr(delta, k) for k, v in asdict(self).items()})


class SeriousIllnessStanding(StrEnum):
    ELIGIBLE = "eligible"
    WAITING = "waiting"  # the first unbroken run's first payment is not yet old enough
    INTERRUPTED = "interrupted"  # a month is missing, or a gap restarted the wait
    NOT_INSURED = "not-insured"  # no serious-illness contribution at all


@dataclass(frozen=True)
class SeriousIllnessOnDay:
    """The holder's serious-illness eligibility on the bill's day, with its reason."""

    standing: SeriousIllnessStanding
    reason: str

    @property
    def eligible(self) -> bool:
        return self.standing is SeriousIllnessStanding.ELIGIBLE

    @classmethod
    def of(cls, months: Iterable[PaidMonth], on: date) -> SeriousIllnessOnDay:
        """From the holder's paid months, by the contribution rules (domain/coverage.py)."""
        paid = list(months)
        verdict = serious_illness_eligibility(paid, on)
        if verdict.status is SeriousIllnessStatus.ELIGIBLE:
            return cls(SeriousIllnessStanding.ELIGIBLE, verdict.reason)
        if verdict.status is SeriousIllnessStatus.INTERRUPTED:
            return cls(SeriousIllnessStanding.INTERRUPTED, verdict.reason)
        if coverage(InsuranceType.SERIOUS_ILLNESS, paid, on).months_paid == 0:
            return cls(SeriousIllnessStanding.NOT_INSURED, verdict.reason)
        return cls(SeriousIllnessStanding.WAITING, verdict.reason)


ELIGIBLE = SeriousIllnessOnDay(SeriousIllnessStanding.ELIGIBLE, "eligible")


@dataclass(frozen=True)
class Bill:
    visit: Visit
    amount_fen: int
    in_scope_fen: int

    def __post_init__(self) -> None:
        if type(self.amount_fen) is not int or self.amount_fen < 0:
            raise AmountOutOfRange("An amount is a whole number of fen, at least 0")
        if type(self.in_scope_fen) is not int or not 0 <= self.in_scope_fen <= self.amount_fen:
            raise InScopeOutOfRange(
                f"in_scope_fen is a whole number of fen from 0 to amount_fen ({self.amount_fen})",
                in_scope_fen=self.in_scope_fen,
                amount_fen=self.amount_fen,
            )


# --- the split ---------------------------------------------------------------------------


class NoteCode(StrEnum):
    MEDICAL_NOT_IN_FORCE = "medical-not-in-force"
    FUND_CAP_REACHED = "fund-cap-reached"
    SERIOUS_ILLNESS_WAITING = "serious-illness-waiting"
    SERIOUS_ILLNESS_INTERRUPTED = "serious-illness-interrupted"
    SERIOUS_ILLNESS_NOT_INSURED = "serious-illness-not-insured"
    SERIOUS_ILLNESS_CAP_REACHED = "serious-illness-cap-reached"


class Note(NamedTuple):
    code: NoteCode
    detail: str


_NOTE_OF_STANDING: Mapping[SeriousIllnessStanding, NoteCode] = {
    SeriousIllnessStanding.WAITING: NoteCode.SERIOUS_ILLNESS_WAITING,
    SeriousIllnessStanding.INTERRUPTED: NoteCode.SERIOUS_ILLNESS_INTERRUPTED,
    SeriousIllnessStanding.NOT_INSURED: NoteCode.SERIOUS_ILLNESS_NOT_INSURED,
}


@dataclass(frozen=True)
class Settlement:
    """A bill's split. fund + serious illness + account + cash = amount, always."""

    visit: Visit
    amount_fen: int
    in_scope_fen: int
    fund_paid_fen: int  # pooled medical fund
    serious_illness_paid_fen: int
    account_paid_fen: int
    self_pay_fen: int  # cash
    deductible_fen: int  # in-scope fen this bill counted against the deductible
    out_of_scope_fen: int
    notes: tuple[Note, ...]
    counters_before: YearCounters
    counters_after: YearCounters
    delta: YearCounters  # counters_after - counters_before; a cancellation undoes exactly this

    @property
    def holder_share_fen(self) -> int:
        """What the holder bears after both funds: the account's pay plus cash."""
        return self.account_paid_fen + self.self_pay_fen

    @property
    def note_codes(self) -> tuple[str, ...]:
        return tuple(n.code.value for n in self.notes)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


def _deductible(bill: Bill, counters: YearCounters, policy: SettlementPolicy) -> int:
    match bill.visit:
        case Visit.PHARMACY:
            return 0
        case Visit.OUTPATIENT:
            left = max(0, policy.outpatient_deductible_fen - counters.outpatient_deductible_used_fen)
            return min(bill.in_scope_fen, left)
        case Visit.INPATIENT:
            stay = (
                policy.inpatient_first_stay_deductible_fen
                if counters.inpatient_stays == 0
                else policy.inpatient_later_stay_deductible_fen
            )
            return min(bill.in_scope_fen, stay)


def _pooled(
    bill: Bill, deductible: int, counters: YearCounters, policy: SettlementPolicy
) -> tuple[int, Note | None]:
    by_rate = (bill.in_scope_fen - deductible) * policy.fund_rate_bp(bill.visit) // _BP
    rooms = [("pooled pay of the year", policy.annual_fund_cap_fen, counters.fund_paid_fen)]
    if bill.visit is Visit.OUTPATIENT:
        rooms.append(
            (
                "outpatient pooled pay of the year",
                policy.outpatient_fund_cap_fen,
                counters.outpatient_fund_paid_fen,
            )
        )
    label, cap, used = min(rooms, key=lambda r: r[1] - r[2])
    room = max(0, cap - used)
    if by_rate <= room:
        return by_rate, None
    detail = f"The {label} reached its cap of {_yuan(cap)}; the fund paid {_yuan(room)} of {_yuan(by_rate)}"
    return room, Note(NoteCode.FUND_CAP_REACHED, detail)


def _serious_illness(share: int, counters: YearCounters, policy: SettlementPolicy) -> tuple[int, Note | None]:
    before = counters.serious_illness_base_fen
    above = max(0, before + share - max(before, policy.serious_illness_threshold_fen))
    by_rate = above * policy.serious_illness_rate_bp // _BP
    room = max(0, policy.serious_illness_cap_fen - counters.serious_illness_paid_fen)
    if by_rate <= room:
        return by_rate, None
    detail = (
        f"Serious-illness pay of the year reached its cap of {_yuan(policy.serious_illness_cap_fen)}; "
        f"it paid {_yuan(room)} of {_yuan(by_rate)}"
    )
    return room, Note(NoteCode.SERIOUS_ILLNESS_CAP_REACHED, detail)


def settle(
    bill: Bill,
    *,
    balance_fen: int,
    self_pay: SelfPay,
    counters: YearCounters,
    in_force: bool,
    serious_illness: SeriousIllnessOnDay,
    policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
) -> Settlement:
    """Split `bill` by the rules of DESIGN.md section 2 (Settlement), given the holder's year
    counters before it. The same call answers a quote and a payment; it changes nothing.
    Raises InsufficientBalance when self-pay is refused and the account cannot cover the
    holder's whole share after both funds."""
    notes: list[Note] = []
    delta = YearCounters()
    fund = serious = deductible = 0
    if not in_force:
        notes.append(
            Note(
                NoteCode.MEDICAL_NOT_IN_FORCE,
                "No medical contribution covers the bill's month or the "
                f"{policy.in_force_grace_months} months before it; only the personal account pays",
            )
        )
    else:
        deductible = _deductible(bill, counters, policy)
        fund, cap_note = _pooled(bill, deductible, counters, policy)
        notes.extend([cap_note] if cap_note else [])
        share = bill.in_scope_fen - fund
        if serious_illness.eligible:
            serious, si_note = _serious_illness(share, counters, policy)
            notes.extend([si_note] if si_note else [])
        else:
            notes.append(Note(_NOTE_OF_STANDING[serious_illness.standing], serious_illness.reason))
        outpatient = bill.visit is Visit.OUTPATIENT
        delta = YearCounters(
            outpatient_deductible_used_fen=deductible if outpatient else 0,
            inpatient_stays=1 if bill.visit is Visit.INPATIENT else 0,
            fund_paid_fen=fund,
            outpatient_fund_paid_fen=fund if outpatient else 0,
            serious_illness_base_fen=share if serious_illness.eligible else 0,
            serious_illness_paid_fen=serious,
        )
    holder_share = bill.amount_fen - fund - serious
    account = min(holder_share, max(balance_fen, 0))
    if account < holder_share and self_pay is SelfPay.REFUSED:
        raise InsufficientBalance(
            f"The account holds {balance_fen} fen of the holder's share of {holder_share} fen "
            "after the funds; self-pay was refused, nothing was paid",
            balance_fen=balance_fen,
            amount_fen=holder_share,
        )
    return Settlement(
        visit=bill.visit,
        amount_fen=bill.amount_fen,
        in_scope_fen=bill.in_scope_fen,
        fund_paid_fen=fund,
        serious_illness_paid_fen=serious,
        account_paid_fen=account,
        self_pay_fen=holder_share - account,
        deductible_fen=deductible,
        out_of_scope_fen=bill.amount_fen - bill.in_scope_fen,
        notes=tuple(notes),
        counters_before=counters,
        counters_after=counters.plus(delta),
        delta=delta,
    )


def undo(counters: YearCounters, settlement_delta: YearCounters) -> YearCounters:
    """The year's counters once a settlement is cancelled: its delta given back exactly.
    Later bills of the year are not recomputed (DESIGN.md rule 7)."""
    return counters.minus(settlement_delta)

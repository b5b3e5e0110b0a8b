"""Settlement rules (DESIGN.md section 2, Settlement): a table of bills worked by hand, the
policy and its loader, eligibility inputs, and properties over random bills. No AWS.

Default policy, in fen: outpatient deductible 180,000 a year; inpatient 130,000 for the
first stay, 65,000 for a later one; pooled 50 % outpatient, 85 % inpatient, 0 % pharmacy;
caps 2,000,000 outpatient and 30,000,000 all pooled pay a year; serious illness 60 % of
the share above a base of 1,500,000, at most 40,000,000 a year.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.contributions import InsuranceType
from chalicelib.domain.coverage import PaidMonth
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.periods import Period
from chalicelib.domain.settlement import (
    DEFAULT_SETTLEMENT_POLICY,
    ELIGIBLE,
    AmountOutOfRange,
    Bill,
    InScopeOutOfRange,
    InsufficientBalance,
    NoteCode,
    SelfPay,
    SeriousIllnessOnDay,
    SeriousIllnessStanding,
    SettlementPolicy,
    Unit,
    Visit,
    VisitNotAllowed,
    YearCounters,
    settle,
    undo,
    visit_for,
)

PH, OUT, IN = Visit.PHARMACY, Visit.OUTPATIENT, Visit.INPATIENT
WAITING = SeriousIllnessOnDay(SeriousIllnessStanding.WAITING, "first payment 2026-09-01 is recent")
INTERRUPTED = SeriousIllnessOnDay(SeriousIllnessStanding.INTERRUPTED, "2026-08 is not paid")
NOT_INSURED = SeriousIllnessOnDay(SeriousIllnessStanding.NOT_INSURED, "never paid")
RICH = 1_000_000  # a balance that covers every holder share below it
C = YearCounters


@dataclass(frozen=True)
class Row:
    name: str
    visit: Visit
    amount: int
    in_scope: int
    before: YearCounters
    # expected split: fund, serious illness, account, cash, deductible
    fund: int
    serious: int
    account: int
    cash: int
    deductible: int
    after: YearCounters
    notes: tuple[NoteCode, ...] = ()
    balance: int = RICH
    self_pay: SelfPay = SelfPay.ALLOWED
    in_force: bool = True
    si: SeriousIllnessOnDay = ELIGIBLE


USED = C(outpatient_deductible_used_fen=180_000)  # the outpatient deductible used up already
CAP = NoteCode.FUND_CAP_REACHED

ROWS = [
    # --- pharmacy: no deductible, pooled 0 %, the share counts towards the serious-illness base
    Row("pharmacy plain", PH, 5_000, 5_000, C(), 0, 0, 5_000, 0, 0, C(serious_illness_base_fen=5_000)),
    Row(
        "pharmacy, account short, cash pays the rest",
        *(PH, 8_000, 8_000, C()),
        *(0, 0, 3_000, 5_000, 0),
        C(serious_illness_base_fen=8_000),
        balance=3_000,
    ),
    Row(
        "pharmacy with out-of-scope fen",
        *(PH, 10_000, 6_000, C()),
        *(0, 0, 10_000, 0, 0),
        C(serious_illness_base_fen=6_000),
    ),
    Row(
        "pharmacy, waiting holder adds nothing to the base",
        *(PH, 5_000, 5_000, C()),
        *(0, 0, 5_000, 0, 0),
        C(),
        (NoteCode.SERIOUS_ILLNESS_WAITING,),
        si=WAITING,
    ),
    # --- outpatient: the deductible used up across two bills
    Row(
        "outpatient 1st bill inside the deductible",
        *(OUT, 100_000, 100_000, C()),
        *(0, 0, 100_000, 0, 100_000),
        C(outpatient_deductible_used_fen=100_000, serious_illness_base_fen=100_000),
    ),
    Row(
        "outpatient 2nd bill uses up the deductible (80,000 left), 50 % above",
        *(OUT, 200_000, 200_000, C(outpatient_deductible_used_fen=100_000, serious_illness_base_fen=100_000)),
        *(60_000, 0, 140_000, 0, 80_000),
        C(180_000, 0, 60_000, 60_000, 240_000, 0),
    ),
    Row(
        "outpatient odd fen: the fund rounds down, the holder takes the remainder",
        *(OUT, 12_345, 12_345, USED),
        *(6_172, 0, 6_173, 0, 0),
        C(180_000, 0, 6_172, 6_172, 6_173, 0),
    ),
    Row(
        "outpatient with out-of-scope fen crossing the deductible, account short",
        *(OUT, 100_000, 60_000, C(outpatient_deductible_used_fen=150_000)),
        *(15_000, 0, 20_000, 65_000, 30_000),
        C(180_000, 0, 15_000, 15_000, 45_000, 0),
        balance=20_000,
    ),
    Row(
        "outpatient wholly out of scope: nothing counts",
        *(OUT, 50_000, 0, C()),
        *(0, 0, 50_000, 0, 0),
        C(),
    ),
    # --- inpatient: a stay each, 1,300 yuan for the first, 650 yuan for later ones
    Row(
        "inpatient 1st stay, out-of-scope fen, account short",
        *(IN, 1_000_000, 900_000, C()),
        *(654_500, 0, 50_000, 295_500, 130_000),
        C(0, 1, 654_500, 0, 245_500, 0),
        balance=50_000,
    ),
    Row(
        "inpatient 2nd stay of the year at 650 yuan",
        *(IN, 500_000, 500_000, C(0, 1, 654_500, 0, 245_500, 0)),
        *(369_750, 0, 0, 130_250, 65_000),
        C(0, 2, 1_024_250, 0, 375_750, 0),
        balance=0,
    ),
    Row(
        "inpatient 3rd stay, odd fen round down at 85 %",
        *(IN, 100_001, 100_001, C(inpatient_stays=2)),
        *(29_750, 0, 70_251, 0, 65_000),
        C(0, 3, 29_750, 0, 70_251, 0),
    ),
    Row(
        "inpatient bill below the stay's deductible",
        *(IN, 80_000, 80_000, C()),
        *(0, 0, 80_000, 0, 80_000),
        C(0, 1, 0, 0, 80_000, 0),
    ),
    Row(
        "inpatient 1st stay crossing the serious-illness threshold within the bill",
        *(IN, 12_000_000, 12_000_000, C()),
        # 11,870,000 x 85 % = 10,089,500; share 1,910,500, of which 410,500 above: 60 % = 246,300
        *(10_089_500, 246_300, 100_000, 1_564_200, 130_000),
        C(0, 1, 10_089_500, 0, 1_910_500, 246_300),
        balance=100_000,
    ),
    # --- caps
    Row(
        "outpatient cap reached mid-bill: 10,000 of 50,000 left",
        *(OUT, 100_000, 100_000, C(180_000, 0, 1_990_000, 1_990_000, 0, 0)),
        *(10_000, 0, 90_000, 0, 0),
        C(180_000, 0, 2_000_000, 2_000_000, 90_000, 0),
        (CAP,),
    ),
    Row(
        "outpatient cap reached before the bill",
        *(OUT, 40_000, 40_000, C(180_000, 0, 2_000_000, 2_000_000, 0, 0)),
        *(0, 0, 40_000, 0, 0),
        C(180_000, 0, 2_000_000, 2_000_000, 40_000, 0),
        (CAP,),
    ),
    Row(
        "annual cap reached mid-bill by a stay, the serious-illness insurance pays on",
        *(IN, 1_065_000, 1_065_000, C(0, 3, 29_900_000, 0, 5_000_000, 2_100_000)),
        *(100_000, 579_000, 386_000, 0, 65_000),
        C(0, 4, 30_000_000, 0, 5_965_000, 2_679_000),
        (CAP,),
    ),
    Row(
        "annual cap binds before the outpatient cap; no serious-illness insurance",
        *(OUT, 20_000, 20_000, C(180_000, 0, 29_995_000, 500_000, 0, 0)),
        *(5_000, 0, 15_000, 0, 0),
        C(180_000, 0, 30_000_000, 505_000, 0, 0),
        (CAP, NoteCode.SERIOUS_ILLNESS_NOT_INSURED),
        si=NOT_INSURED,
    ),
    # --- serious illness
    Row(
        "DESIGN's worked example: base 14,000 yuan, share 3,000 yuan: pays 1,200 yuan",
        *(OUT, 600_000, 600_000, C(180_000, 0, 0, 0, 1_400_000, 0)),
        *(300_000, 120_000, 180_000, 0, 0),
        C(180_000, 0, 300_000, 300_000, 1_700_000, 120_000),
    ),
    Row(
        "DESIGN's worked example at a pharmacy",
        *(PH, 300_000, 300_000, C(serious_illness_base_fen=1_400_000)),
        *(0, 120_000, 180_000, 0, 0),
        C(serious_illness_base_fen=1_700_000, serious_illness_paid_fen=120_000),
    ),
    Row(
        "above the threshold already, odd fen round down at 60 %",
        *(PH, 1_001, 1_001, C(serious_illness_base_fen=2_000_000)),
        *(0, 600, 401, 0, 0),
        C(serious_illness_base_fen=2_001_001, serious_illness_paid_fen=600),
    ),
    Row(
        "serious-illness cap reached mid-bill",
        *(PH, 500_000, 500_000, C(serious_illness_base_fen=68_000_000, serious_illness_paid_fen=39_900_000)),
        *(0, 100_000, 400_000, 0, 0),
        C(serious_illness_base_fen=68_500_000, serious_illness_paid_fen=40_000_000),
        (NoteCode.SERIOUS_ILLNESS_CAP_REACHED,),
    ),
    Row(
        "holder in the waiting period: the pooled fund pays, serious illness does not",
        *(OUT, 600_000, 600_000, C(180_000, 0, 0, 0, 1_400_000, 0)),
        *(300_000, 0, 300_000, 0, 0),
        C(180_000, 0, 300_000, 300_000, 1_400_000, 0),
        (NoteCode.SERIOUS_ILLNESS_WAITING,),
        si=WAITING,
    ),
    Row(
        "interrupted holder",
        *(OUT, 600_000, 600_000, C(180_000, 0, 0, 0, 1_400_000, 0)),
        *(300_000, 0, 300_000, 0, 0),
        C(180_000, 0, 300_000, 300_000, 1_400_000, 0),
        (NoteCode.SERIOUS_ILLNESS_INTERRUPTED,),
        si=INTERRUPTED,
    ),
    # --- in force
    Row(
        "medical not in force: only the account pays, no counter moves",
        *(OUT, 600_000, 600_000, C(180_000, 0, 0, 0, 1_400_000, 0)),
        *(0, 0, 600_000, 0, 0),
        C(180_000, 0, 0, 0, 1_400_000, 0),
        (NoteCode.MEDICAL_NOT_IN_FORCE,),
        in_force=False,
    ),
    Row(
        "medical not in force, inpatient: no stay counted, cash for what the account lacks",
        *(IN, 200_000, 200_000, C()),
        *(0, 0, 50_000, 150_000, 0),
        C(),
        (NoteCode.MEDICAL_NOT_IN_FORCE,),
        balance=50_000,
        in_force=False,
    ),
    # --- self-pay refused: the holder's share after both funds must come wholly from the account
    Row(
        "self-pay refused, the account covers the share after the fund",
        *(OUT, 600_000, 600_000, USED),
        *(300_000, 0, 300_000, 0, 0),
        C(180_000, 0, 300_000, 300_000, 300_000, 0),
        balance=300_000,
        self_pay=SelfPay.REFUSED,
    ),
    Row(
        "self-pay refused, the account covers the share after both funds",
        *(PH, 300_000, 300_000, C(serious_illness_base_fen=1_400_000)),
        *(0, 120_000, 180_000, 0, 0),
        C(serious_illness_base_fen=1_700_000, serious_illness_paid_fen=120_000),
        balance=180_000,
        self_pay=SelfPay.REFUSED,
    ),
]

# Refused, and the account is one fen short of the holder's share: nothing is paid.
REFUSED_SHORT = [
    ("outpatient share 300,000, balance 299,999", Bill(OUT, 600_000, 600_000), USED, 299_999, ELIGIBLE, True),
    ("pharmacy share after serious illness 180,000", Bill(PH, 300_000, 300_000), C(0, 0, 0, 0, 1_400_000, 0),
     179_999, ELIGIBLE, True),
    ("not in force: the whole bill from the account", Bill(OUT, 10_000, 10_000), C(), 9_999, ELIGIBLE, False),
]  # fmt: skip


def test_the_table_has_the_bills_the_issue_asks_for():
    assert len(ROWS) + len(REFUSED_SHORT) >= 25
    assert len({r.name for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_worked_bill(row: Row):
    s = settle(
        Bill(row.visit, row.amount, row.in_scope),
        balance_fen=row.balance,
        self_pay=row.self_pay,
        counters=row.before,
        in_force=row.in_force,
        serious_illness=row.si,
    )
    got = (s.fund_paid_fen, s.serious_illness_paid_fen, s.account_paid_fen, s.self_pay_fen, s.deductible_fen)
    assert got == (row.fund, row.serious, row.account, row.cash, row.deductible)
    assert s.out_of_scope_fen == row.amount - row.in_scope
    assert tuple(n.code for n in s.notes) == row.notes
    assert s.counters_before == row.before
    assert s.counters_after == row.after
    assert undo(s.counters_after, s.delta) == row.before
    # the hand-computed parts add up, so the table itself is checked
    assert row.fund + row.serious + row.account + row.cash == row.amount


@pytest.mark.parametrize(
    ("bill", "counters", "balance", "si", "in_force"),
    [r[1:] for r in REFUSED_SHORT],
    ids=[r[0] for r in REFUSED_SHORT],
)
def test_refused_self_pay_with_the_account_short_pays_nothing(bill, counters, balance, si, in_force):
    with pytest.raises(InsufficientBalance) as caught:
        settle(
            bill,
            balance_fen=balance,
            self_pay=SelfPay.REFUSED,
            counters=counters,
            in_force=in_force,
            serious_illness=si,
        )
    assert caught.value.slug == "insufficient-balance"
    assert caught.value.extra["balance_fen"] == balance
    assert caught.value.extra["amount_fen"] == balance + 1  # the share it could not cover


def test_notes_say_why_in_words():
    s = settle(
        Bill(OUT, 100_000, 100_000),
        balance_fen=RICH,
        self_pay=SelfPay.ALLOWED,
        counters=C(180_000, 0, 1_990_000, 1_990_000, 0, 0),
        in_force=True,
        serious_illness=INTERRUPTED,
    )
    cap, si = s.notes
    assert cap.code == "fund-cap-reached" and "20,000.00 yuan" in cap.detail and "outpatient" in cap.detail
    assert si == (NoteCode.SERIOUS_ILLNESS_INTERRUPTED, "2026-08 is not paid")
    assert s.note_codes == ("fund-cap-reached", "serious-illness-interrupted")


def test_cancelling_a_bill_in_the_middle_of_the_year_gives_back_exactly_its_delta():
    counters = C()
    settled = []
    for bill in (Bill(OUT, 100_000, 100_000), Bill(OUT, 200_000, 150_000), Bill(IN, 900_000, 800_000)):
        s = settle(
            bill,
            balance_fen=RICH,
            self_pay=SelfPay.ALLOWED,
            counters=counters,
            in_force=True,
            serious_illness=ELIGIBLE,
        )
        settled.append(s)
        counters = s.counters_after
    after_cancel = undo(counters, settled[1].delta)
    assert after_cancel == settled[0].delta.plus(settled[2].delta)
    assert after_cancel.outpatient_deductible_used_fen == 100_000  # later bills are not recomputed


def test_undoing_a_delta_that_is_not_in_the_counters_is_refused():
    with pytest.raises(ValueError, match="fund_paid_fen"):
        undo(C(fund_paid_fen=10), C(fund_paid_fen=11))


# --- inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "in_scope"), [(100, 101), (100, -1), (100, 1.5), (100, True)])
def test_in_scope_must_lie_within_the_amount(amount, in_scope):
    with pytest.raises(InScopeOutOfRange) as caught:
        Bill(OUT, amount, in_scope)
    assert caught.value.slug == "in-scope-out-of-range"


@pytest.mark.parametrize("amount", [-1, 10.0, "10", False])
def test_an_amount_is_whole_fen(amount):
    with pytest.raises(AmountOutOfRange):
        Bill(PH, amount, 0)


@pytest.mark.parametrize("bad", [{"fund_paid_fen": -1}, {"inpatient_stays": 1.0}, {"stays": 1}])
def test_year_counters_are_whole_non_negative_and_named(bad):
    with pytest.raises(ValueError):
        YearCounters.from_mapping(bad)


def test_year_counters_round_trip_as_a_mapping():
    counters = C(1, 2, 3, 4, 5, 6)
    assert YearCounters.from_mapping(counters.as_dict()) == counters


@pytest.mark.parametrize(
    ("kind", "sent", "visit"),
    [
        (InstitutionKind.PHARMACY, None, PH),
        (InstitutionKind.PHARMACY, "pharmacy", PH),
        (InstitutionKind.HOSPITAL, None, OUT),
        (InstitutionKind.HOSPITAL, "inpatient", IN),
        (InstitutionKind.HOSPITAL, "pharmacy", PH),
    ],
)
def test_the_visit_sent_or_the_institutions_default(kind, sent, visit):
    assert visit_for(kind, sent) is visit


@pytest.mark.parametrize(
    ("kind", "sent"),
    [
        (InstitutionKind.PHARMACY, "outpatient"),
        (InstitutionKind.PHARMACY, "inpatient"),
        (InstitutionKind.HOSPITAL, "dental"),
        (InstitutionKind.SERVICE_CENTER, None),
    ],
)
def test_a_visit_the_institution_may_not_settle_is_refused(kind, sent):
    with pytest.raises(VisitNotAllowed) as caught:
        visit_for(kind, sent)
    assert caught.value.slug == "visit-not-allowed"


def medical(period: str, paid_on: date, insurance: InsuranceType = InsuranceType.MEDICAL) -> PaidMonth:
    return PaidMonth(insurance, Period.parse(period), 10_000, paid_on)


def test_medical_in_force_within_the_grace_and_not_after_four_months_without():
    on = date(2026, 11, 20)
    assert DEFAULT_SETTLEMENT_POLICY.medical_in_force([medical("2026-11", date(2026, 11, 5))], on)
    assert DEFAULT_SETTLEMENT_POLICY.medical_in_force([medical("2026-08", date(2026, 8, 5))], on)
    assert not DEFAULT_SETTLEMENT_POLICY.medical_in_force([medical("2026-07", date(2026, 7, 5))], on)
    # paid after the bill's day, for another type, or for a later month: not in force on it
    assert not DEFAULT_SETTLEMENT_POLICY.medical_in_force([medical("2026-11", date(2026, 11, 21))], on)
    maternity = medical("2026-11", date(2026, 11, 5), InsuranceType.MATERNITY)
    assert not DEFAULT_SETTLEMENT_POLICY.medical_in_force([maternity], on)
    assert not DEFAULT_SETTLEMENT_POLICY.medical_in_force([medical("2026-12", date(2026, 11, 5))], on)
    one_month = SettlementPolicy(in_force_grace_months=1)
    assert not one_month.medical_in_force([medical("2026-09", date(2026, 9, 5))], on)
    assert one_month.medical_in_force([medical("2026-10", date(2026, 10, 5))], on)


def serious(first: str, count: int, skip: str | None = None, day: int = 5) -> list[PaidMonth]:
    start = Period.parse(first)
    months = [start.shift(i) for i in range(count)]
    return [
        PaidMonth(InsuranceType.SERIOUS_ILLNESS, p, 1_000, p.first_day.replace(day=day))
        for p in months
        if str(p) != skip
    ]


@pytest.mark.parametrize(
    ("months", "on", "standing"),
    [
        ([], date(2026, 1, 1), SeriousIllnessStanding.NOT_INSURED),
        (serious("2026-01", 12), date(2026, 5, 1), SeriousIllnessStanding.WAITING),
        (serious("2026-01", 12), date(2026, 7, 6), SeriousIllnessStanding.ELIGIBLE),
        # September unpaid, but still within its grace (paid by the end of December counts)
        (serious("2025-01", 24, skip="2025-09"), date(2025, 10, 4), SeriousIllnessStanding.ELIGIBLE),
        # past its grace, with payments since: the wait started again from October's payment
        (serious("2025-01", 24, skip="2025-09"), date(2026, 1, 5), SeriousIllnessStanding.WAITING),
        (serious("2025-01", 24, skip="2025-09"), date(2026, 4, 6), SeriousIllnessStanding.ELIGIBLE),
        # nothing paid since September's grace ran out: interrupted
        (serious("2025-01", 8), date(2026, 1, 5), SeriousIllnessStanding.INTERRUPTED),
    ],
)
def test_serious_illness_standing_from_the_contribution_rules(months, on, standing):
    day = SeriousIllnessOnDay.of(months, on)
    assert day.standing is standing
    assert day.eligible is (standing is SeriousIllnessStanding.ELIGIBLE)
    assert day.reason


# --- policy ------------------------------------------------------------------------------


def test_the_default_policy_is_design_mds():
    p = DEFAULT_SETTLEMENT_POLICY
    assert p.in_force_grace_months == 3
    assert (
        p.outpatient_deductible_fen,
        p.inpatient_first_stay_deductible_fen,
        p.inpatient_later_stay_deductible_fen,
    ) == (180_000, 130_000, 65_000)
    assert (p.pharmacy_fund_rate_bp, p.outpatient_fund_rate_bp, p.inpatient_fund_rate_bp) == (0, 5_000, 8_500)
    assert (p.outpatient_fund_cap_fen, p.annual_fund_cap_fen) == (2_000_000, 30_000_000)
    assert (p.serious_illness_threshold_fen, p.serious_illness_rate_bp, p.serious_illness_cap_fen) == (
        1_500_000,
        6_000,
        40_000_000,
    )
    assert p.max_stay_fen == 100_000_000


def test_the_policy_loads_overrides_from_json_and_empty_is_the_default():
    assert SettlementPolicy.from_json("") == DEFAULT_SETTLEMENT_POLICY
    assert SettlementPolicy.from_json("  {} ") == DEFAULT_SETTLEMENT_POLICY
    regional = SettlementPolicy.from_json('{"outpatient_fund_rate_bp": 6000, "in_force_grace_months": 1}')
    assert regional.outpatient_fund_rate_bp == 6_000 and regional.in_force_grace_months == 1
    assert regional.inpatient_fund_rate_bp == 8_500
    s = settle(
        Bill(OUT, 10_000, 10_000),
        balance_fen=RICH,
        self_pay=SelfPay.ALLOWED,
        counters=USED,
        in_force=True,
        serious_illness=ELIGIBLE,
        policy=regional,
    )
    assert s.fund_paid_fen == 6_000  # the policy decides, not a constant


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"outpatient_rate_bp": 6000}', "unknown settlement policy keys: outpatient_rate_bp"),
        ('{"outpatient_fund_rate_bp": 10001}', "0 to 10000"),
        ('{"outpatient_fund_rate_bp": 0.5}', "whole number"),
        ('{"annual_fund_cap_fen": "30000000"}', "whole number"),
        ('{"annual_fund_cap_fen": true}', "whole number"),
        ('{"annual_fund_cap_fen": -1}', "at least 0"),
        ('{"max_stay_fen": 0}', "at least 1"),
        ("[1]", "JSON object"),
        ("{oops", "not JSON"),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason(raw, message):
    with pytest.raises(ValueError, match=message):
        SettlementPolicy.from_json(raw)


def test_every_policy_number_is_listed_with_its_unit_and_meaning():
    entries = list(DEFAULT_SETTLEMENT_POLICY.entries())
    assert [e.name for e in entries] == [f.name for f in fields(SettlementPolicy)]
    assert {e.unit for e in entries} == set(Unit)
    assert all(e.meaning for e in entries)


def test_a_stay_total_is_bounded_by_the_policy():
    assert DEFAULT_SETTLEMENT_POLICY.check_stay_amount(100_000_000) == 100_000_000
    for bad in (0, 100_000_001, 5.0):
        with pytest.raises(AmountOutOfRange):
            DEFAULT_SETTLEMENT_POLICY.check_stay_amount(bad)  # type: ignore[arg-type]


# --- properties --------------------------------------------------------------------------

money = st.integers(0, 50_000_000)
counters_st = st.builds(
    YearCounters,
    outpatient_deductible_used_fen=st.integers(0, 300_000),
    inpatient_stays=st.integers(0, 5),
    fund_paid_fen=st.integers(0, 31_000_000),
    outpatient_fund_paid_fen=st.integers(0, 2_100_000),
    serious_illness_base_fen=st.integers(0, 80_000_000),
    serious_illness_paid_fen=st.integers(0, 41_000_000),
)
policy_st = st.one_of(
    st.just(DEFAULT_SETTLEMENT_POLICY),
    st.builds(
        SettlementPolicy,
        outpatient_deductible_fen=money,
        inpatient_first_stay_deductible_fen=money,
        inpatient_later_stay_deductible_fen=money,
        pharmacy_fund_rate_bp=st.integers(0, 10_000),
        outpatient_fund_rate_bp=st.integers(0, 10_000),
        inpatient_fund_rate_bp=st.integers(0, 10_000),
        outpatient_fund_cap_fen=money,
        annual_fund_cap_fen=money,
        serious_illness_threshold_fen=money,
        serious_illness_rate_bp=st.integers(0, 10_000),
        serious_illness_cap_fen=money,
    ),
)
standing_st = st.sampled_from(list(SeriousIllnessStanding)).map(lambda s: SeriousIllnessOnDay(s, s.value))


@st.composite
def bills(draw: st.DrawFn) -> Bill:
    amount = draw(st.integers(0, 20_000_000))
    return Bill(draw(st.sampled_from(list(Visit))), amount, draw(st.integers(0, amount)))


@dataclass
class Drawn:
    bill: Bill
    counters: YearCounters
    balance: int
    in_force: bool
    si: SeriousIllnessOnDay
    policy: SettlementPolicy = field(default=DEFAULT_SETTLEMENT_POLICY)


drawn_st = st.builds(
    Drawn, bills(), counters_st, st.integers(0, 30_000_000), st.booleans(), standing_st, policy_st
)


@given(drawn_st, st.sampled_from(list(SelfPay)))
def test_parts_add_up_none_negative_no_fund_beyond_its_rule_and_undo_restores(d: Drawn, self_pay: SelfPay):
    bill, before, p = d.bill, d.counters, d.policy
    try:
        s = settle(
            bill,
            balance_fen=d.balance,
            self_pay=self_pay,
            counters=before,
            in_force=d.in_force,
            serious_illness=d.si,
            policy=p,
        )
    except InsufficientBalance as refused:
        assert self_pay is SelfPay.REFUSED and refused.extra["amount_fen"] > d.balance  # type: ignore[operator]
        return
    parts = (s.fund_paid_fen, s.serious_illness_paid_fen, s.account_paid_fen, s.self_pay_fen)
    assert sum(parts) == bill.amount_fen
    assert min((*parts, s.deductible_fen, s.out_of_scope_fen)) >= 0
    assert s.out_of_scope_fen == bill.amount_fen - bill.in_scope_fen
    assert s.account_paid_fen <= d.balance
    if self_pay is SelfPay.REFUSED:
        assert s.self_pay_fen == 0
    elif s.self_pay_fen:
        assert s.account_paid_fen == d.balance  # cash only for what the account could not pay
    if not d.in_force:
        assert (s.fund_paid_fen, s.serious_illness_paid_fen, s.deductible_fen) == (0, 0, 0)
        assert s.counters_after == before
    # deductible: none at a pharmacy, what is left of the year's at an outpatient desk, the stay's
    limit = {
        Visit.PHARMACY: 0,
        Visit.OUTPATIENT: max(0, p.outpatient_deductible_fen - before.outpatient_deductible_used_fen),
        Visit.INPATIENT: p.inpatient_first_stay_deductible_fen
        if before.inpatient_stays == 0
        else p.inpatient_later_stay_deductible_fen,
    }[bill.visit]
    assert s.deductible_fen <= min(limit, bill.in_scope_fen)
    # pooled fund: its rate of the in-scope fen above the deductible, within both caps
    assert s.fund_paid_fen * 10_000 <= (bill.in_scope_fen - s.deductible_fen) * p.fund_rate_bp(bill.visit)
    assert s.fund_paid_fen <= max(0, p.annual_fund_cap_fen - before.fund_paid_fen)
    if bill.visit is Visit.OUTPATIENT:
        assert s.fund_paid_fen <= max(0, p.outpatient_fund_cap_fen - before.outpatient_fund_paid_fen)
    # serious illness: only when eligible, its rate of the share above the threshold, within its cap
    share = bill.in_scope_fen - s.fund_paid_fen
    above = max(
        0,
        before.serious_illness_base_fen
        + share
        - max(before.serious_illness_base_fen, p.serious_illness_threshold_fen),
    )
    assert s.serious_illness_paid_fen * 10_000 <= above * p.serious_illness_rate_bp
    assert s.serious_illness_paid_fen <= max(0, p.serious_illness_cap_fen - before.serious_illness_paid_fen)
    if not d.si.eligible:
        assert s.serious_illness_paid_fen == 0
        assert s.counters_after.serious_illness_base_fen == before.serious_illness_base_fen
    # counters: after = before + delta, and a cancellation restores them exactly
    assert s.counters_after == before.plus(s.delta)
    assert undo(s.counters_after, s.delta) == before
    assert s.delta.fund_paid_fen == s.fund_paid_fen
    assert s.delta.serious_illness_paid_fen == s.serious_illness_paid_fen


@given(st.lists(st.tuples(bills(), st.booleans()), max_size=12), st.data())
def test_counters_are_the_sum_of_the_standing_bills_deltas(history, data):
    """A year of bills, some cancelled later: the counters are the sum of the others' deltas,
    and the pooled pay never passes its caps while every bill is settled on the counters."""
    counters = YearCounters()
    settled = []
    for bill, in_force in history:
        s = settle(
            bill,
            balance_fen=RICH,
            self_pay=SelfPay.ALLOWED,
            counters=counters,
            in_force=in_force,
            serious_illness=ELIGIBLE,
        )
        settled.append(s)
        counters = s.counters_after
        assert counters.fund_paid_fen <= DEFAULT_SETTLEMENT_POLICY.annual_fund_cap_fen
        assert counters.outpatient_fund_paid_fen <= DEFAULT_SETTLEMENT_POLICY.outpatient_fund_cap_fen
        assert counters.serious_illness_paid_fen <= DEFAULT_SETTLEMENT_POLICY.serious_illness_cap_fen
    cancelled = data.draw(st.sets(st.sampled_from(range(len(settled)))) if settled else st.just(set()))
    for i in cancelled:
        counters = undo(counters, settled[i].delta)
    expected = YearCounters()
    for i, s in enumerate(settled):
        if i not in cancelled:
            expected = expected.plus(s.delta)
    assert counters == expected

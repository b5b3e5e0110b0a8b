"""Contribution rules: pure, no AWS. Eligibility table, working age, books, serious illness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.domain import contributions as rules
from chalicelib.domain import coverage as continuity
from chalicelib.domain.contribution_policy import ContributionPolicy, personal_account_share
from chalicelib.domain.contributions import BOOK_OF, Contribution, FundBook, InsuranceType, Payer
from chalicelib.domain.coverage import PaidMonth, SeriousIllnessStatus
from chalicelib.domain.eligibility import ALLOWED_TYPES, check_eligible, within_working_age
from chalicelib.domain.errors import ContributionIneligible, InvalidContribution, InvalidSsn
from chalicelib.domain.holders import Participation
from chalicelib.domain.identifiers import Ssn
from chalicelib.domain.periods import Period, add_months, months_between
from sscard_ops.seed import make_ssn

SSN = make_ssn("11010519900307123")
POLICY = ContributionPolicy()
ADULT = date(1990, 3, 7)
SI = InsuranceType.SERIOUS_ILLNESS


def message(**overrides):
    body = {
        "contribution_id": "c-1",
        "ssn": SSN,
        "period": "2026-01",
        "insurance": "pension",
        "payer": "employer",
        "employer_id": "EMP-1",
        "amount_fen": 80_000,
        "paid_at": "2026-01-15T10:00:00+08:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def contribution(insurance: InsuranceType, payer: Payer, period: str = "2026-01", amount: int = 10_000):
    return Contribution(
        "c-1",
        Ssn.parse(SSN),
        Period.parse(period),
        insurance,
        payer,
        "EMP-1" if payer is Payer.EMPLOYER else None,
        amount,
        datetime(2026, 1, 15, tzinfo=UTC),
    )


# --- books --------------------------------------------------------------------------


def test_every_insurance_type_posts_to_exactly_one_book():
    assert set(BOOK_OF) == set(InsuranceType)
    assert {t for t, b in BOOK_OF.items() if b is FundBook.MEDICAL} == {
        InsuranceType.MEDICAL,
        InsuranceType.MATERNITY,
        InsuranceType.SERIOUS_ILLNESS,
    }
    for kind in (InsuranceType.PENSION, InsuranceType.WORK_INJURY, InsuranceType.UNEMPLOYMENT):
        assert BOOK_OF[kind].value == kind.value  # accounted separately, each in its own book
    assert set(BOOK_OF.values()) == set(FundBook)


def test_the_book_mapping_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        BOOK_OF[InsuranceType.PENSION] = FundBook.MEDICAL  # type: ignore[index]


# --- the eligibility table: each participant kind x each insurance type -----------------

EXPECTED = {
    Participation.EMPLOYEE: set(InsuranceType),
    Participation.INDIVIDUAL: {"pension", "unemployment", "medical", "serious_illness"},
    Participation.FREELANCER: {"pension", "unemployment", "medical", "serious_illness"},
}
PAYER_FOR = {
    Participation.EMPLOYEE: Payer.EMPLOYER,
    Participation.INDIVIDUAL: Payer.INDIVIDUAL,
    Participation.FREELANCER: Payer.INDIVIDUAL,
}


@pytest.mark.parametrize("participation", list(Participation))
@pytest.mark.parametrize("insurance", list(InsuranceType))
def test_eligibility_table(participation, insurance):
    c = contribution(insurance, PAYER_FOR[participation])
    allowed = insurance.value in {str(t) for t in EXPECTED[participation]}
    assert (insurance in ALLOWED_TYPES[participation]) is allowed
    if allowed:
        check_eligible(participation, ADULT, "male", c, POLICY)
    else:
        with pytest.raises(ContributionIneligible, match=insurance.value):
            check_eligible(participation, ADULT, "male", c, POLICY)


@pytest.mark.parametrize(
    ("participation", "payer", "insurance", "ok"),
    [
        (Participation.EMPLOYEE, Payer.EMPLOYEE, InsuranceType.PENSION, True),
        (Participation.EMPLOYEE, Payer.EMPLOYEE, InsuranceType.MEDICAL, True),
        (Participation.EMPLOYEE, Payer.EMPLOYEE, InsuranceType.WORK_INJURY, False),  # the employer's alone
        (Participation.EMPLOYEE, Payer.EMPLOYEE, InsuranceType.MATERNITY, False),
        (Participation.EMPLOYEE, Payer.INDIVIDUAL, InsuranceType.PENSION, False),
        (Participation.FREELANCER, Payer.EMPLOYER, InsuranceType.PENSION, False),  # no employer
        (Participation.FREELANCER, Payer.EMPLOYEE, InsuranceType.PENSION, False),
        (Participation.INDIVIDUAL, Payer.EMPLOYER, InsuranceType.PENSION, True),  # the household pays
    ],
)
def test_who_may_pay(participation, payer, insurance, ok):
    c = contribution(insurance, payer)
    if ok:
        check_eligible(participation, ADULT, "female", c, POLICY)
    else:
        with pytest.raises(ContributionIneligible):
            check_eligible(participation, ADULT, "female", c, POLICY)


# --- working age, at its edges ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "birth", "period", "within"),
    [
        # A man reaching 60 on 15 March 2026 is of working age for March, not for April.
        ("male", date(1966, 3, 15), "2026-03", True),
        ("male", date(1966, 3, 15), "2026-04", False),
        # Turning 60 on the first of the month: that month is already past working age.
        ("male", date(1966, 3, 1), "2026-03", False),
        ("male", date(1966, 3, 1), "2026-02", True),
        ("male", date(1966, 3, 2), "2026-03", True),
        # A woman retires at 55 by default.
        ("female", date(1971, 3, 1), "2026-03", False),
        ("female", date(1971, 3, 2), "2026-03", True),
        ("female", date(1966, 3, 15), "2026-03", False),
        # The minimum age (16) reached on the month's last day counts for that month.
        ("male", date(2010, 3, 31), "2026-03", True),
        ("male", date(2010, 4, 1), "2026-03", False),
        ("male", date(2010, 4, 1), "2026-04", True),
        # A 29 February birthday completes its year on 1 March in a common year.
        ("female", date(1968, 2, 29), "2023-02", True),
        ("female", date(1968, 2, 29), "2023-03", False),
        ("female", date(2008, 2, 29), "2024-02", True),
        ("female", date(2009, 3, 1), "2025-02", False),
    ],
)
def test_working_age_edges(sex, birth, period, within):
    assert within_working_age(birth, sex, Period.parse(period), POLICY) is within
    c = contribution(InsuranceType.PENSION, Payer.INDIVIDUAL, period)
    for participation in (Participation.INDIVIDUAL, Participation.FREELANCER):
        if within:
            check_eligible(participation, birth, sex, c, POLICY)
        else:
            with pytest.raises(ContributionIneligible, match="working age"):
                check_eligible(participation, birth, sex, c, POLICY)
    check_eligible(
        Participation.EMPLOYEE,
        birth,
        sex,
        contribution(InsuranceType.PENSION, Payer.EMPLOYER, period),
        POLICY,
    )


def test_retirement_ages_are_configuration():
    later = ContributionPolicy.from_mapping({"retirement_age_male": 63, "retirement_age_female": 58})
    c = contribution(InsuranceType.PENSION, Payer.INDIVIDUAL, "2026-04")
    born = date(1966, 3, 15)
    with pytest.raises(ContributionIneligible):
        check_eligible(Participation.FREELANCER, born, "male", c, POLICY)
    check_eligible(Participation.FREELANCER, born, "male", c, later)


@pytest.mark.parametrize(
    "bad",
    [
        {"retirement_age_male": 10},
        {"min_working_age": 0},
        {"retirement_age_female": "55"},
        {"personal_account_bp": {"employee": 10_001}},
        {"personal_account_bp": {"boss": 1}},
        {"personal_account_bp": 3},
        {"pension_age": 60},
    ],
)
def test_a_bad_policy_is_refused_at_load(bad):
    with pytest.raises(ValueError):
        ContributionPolicy.from_mapping(bad)


# --- personal-account share ------------------------------------------------------------


def test_personal_account_share_defaults():
    assert (
        personal_account_share(contribution(InsuranceType.MEDICAL, Payer.EMPLOYEE, amount=4_001), POLICY)
        == 4_001
    )
    assert personal_account_share(contribution(InsuranceType.MEDICAL, Payer.EMPLOYER), POLICY) == 0
    assert (
        personal_account_share(contribution(InsuranceType.MEDICAL, Payer.INDIVIDUAL, amount=10_003), POLICY)
        == 2_500
    )
    for other in (InsuranceType.MATERNITY, InsuranceType.SERIOUS_ILLNESS, InsuranceType.PENSION):
        assert personal_account_share(contribution(other, Payer.INDIVIDUAL), POLICY) == 0
    thirty = ContributionPolicy.from_mapping({"personal_account_bp": {"employer": 3_000}})
    assert personal_account_share(contribution(InsuranceType.MEDICAL, Payer.EMPLOYER), thirty) == 3_000
    assert thirty.personal_account_bp[Payer.EMPLOYEE] == 10_000  # the others keep their defaults


@given(amount=st.integers(1, rules.MAX_AMOUNT_FEN), bp=st.integers(0, 10_000))
def test_the_share_is_whole_fen_and_never_more_than_paid(amount, bp):
    policy = ContributionPolicy.from_mapping({"personal_account_bp": {"individual": bp}})
    share = personal_account_share(
        contribution(InsuranceType.MEDICAL, Payer.INDIVIDUAL, amount=amount), policy
    )
    assert isinstance(share, int) and 0 <= share <= amount


# --- parsing the message ---------------------------------------------------------------


def test_a_valid_message_parses():
    c = rules.parse_contribution(message(unknown_field="ignored"))
    assert c.book is FundBook.PENSION and c.period == Period(2026, 1)
    assert c.paid_at == datetime(2026, 1, 15, 2, tzinfo=UTC)
    assert c.paid_on == date(2026, 1, 15)
    naive = rules.parse_contribution(message(paid_at="2026-01-31T23:30:00"))
    assert naive.paid_on == date(2026, 1, 31)  # no offset: China time
    assert rules.parse_contribution(message(paid_at="2026-01-31")).paid_on == date(2026, 1, 31)


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"contribution_id": ""}, InvalidContribution),
        ({"contribution_id": "a b"}, InvalidContribution),
        ({"contribution_id": 7}, InvalidContribution),
        ({"ssn": SSN[:17] + ("0" if SSN[17] != "0" else "1")}, InvalidSsn),
        ({"period": "2026-13"}, InvalidContribution),
        ({"period": "2026-1"}, InvalidContribution),
        ({"insurance": "dental"}, InvalidContribution),
        ({"payer": "state"}, InvalidContribution),
        ({"employer_id": None}, InvalidContribution),  # the employer pays: who?
        ({"amount_fen": 0}, InvalidContribution),
        ({"amount_fen": 1.5}, InvalidContribution),
        ({"amount_fen": True}, InvalidContribution),
        ({"amount_fen": "100"}, InvalidContribution),
        ({"amount_fen": rules.MAX_AMOUNT_FEN + 1}, InvalidContribution),
        ({"paid_at": "yesterday"}, InvalidContribution),
        ({"paid_at": 1767225600}, InvalidContribution),
    ],
)
def test_invalid_messages_say_why(override, error):
    with pytest.raises(error):
        rules.parse_contribution(message(**override))


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_a_message_that_is_not_an_object_is_invalid(raw):
    with pytest.raises(InvalidContribution):
        rules.parse_contribution(raw)


# --- months ----------------------------------------------------------------------------


@given(st.integers(1900 * 12, 2200 * 12), st.integers(-600, 600))
def test_period_arithmetic(index, shift):
    p = Period.from_index(index)
    assert p.shift(shift).index == index + shift
    assert Period.parse(str(p)) == p
    assert p.next().prev() == p
    assert p.first_day <= p.last_day and Period.of(p.last_day) == p


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 15), 6, date(2026, 7, 15)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 12, 31), 6, date(2027, 6, 30)),
    ],
)
def test_add_months_clamps_to_the_month_end(day, months, expected):
    assert add_months(day, months) == expected


# --- serious illness: 6 months, continuity judged by when each month was paid -----------

WAITING, INTERRUPTED = SeriousIllnessStatus.WAITING, SeriousIllnessStatus.INTERRUPTED


def paid(*months: tuple[str, date], insurance: InsuranceType = SI) -> list[PaidMonth]:
    return [PaidMonth(insurance, Period.parse(p), 1_000, on) for p, on in months]


def run(first: str, count: int, day: int = 10) -> list[PaidMonth]:
    start = Period.parse(first)
    return [
        PaidMonth(SI, start.shift(i), 1_000, start.shift(i).first_day.replace(day=day)) for i in range(count)
    ]


def eligibility(months, on, grace=3):
    return continuity.serious_illness_eligibility(months, on, grace)


def test_six_month_boundary_exactly():
    months = run("2026-01", 12, day=15)  # first payment 2026-01-15, then every month
    on_boundary = eligibility(months, date(2026, 7, 15))
    assert not on_boundary.eligible  # exactly six months is not MORE than six months
    assert on_boundary.status is WAITING and on_boundary.eligible_from == date(2026, 7, 16)
    assert eligibility(months, date(2026, 7, 16)).status is SeriousIllnessStatus.ELIGIBLE
    assert not eligibility(months, date(2026, 1, 14)).eligible


def test_a_back_paid_gap_leaves_the_interruption_standing():
    """Issue #14: January paid on 2025-01-05, February to September unpaid, monthly from
    October, then February to September back-paid on 2025-12-01."""
    months = paid(
        ("2025-01", date(2025, 1, 5)),
        *[(f"2025-{m:02d}", date(2025, 12, 1)) for m in range(2, 10)],
        *[(f"2025-{m:02d}", date(2025, m, 5)) for m in range(10, 13)],
        *[(f"2026-{m:02d}", date(2026, m, 5)) for m in range(1, 6)],
    )
    on = eligibility(months, date(2025, 12, 2))
    assert not on.eligible and on.status is WAITING
    # February to August were paid more than 3 months after their end: each an interruption;
    # September (due by 31 December) was paid in time. The wait restarts at October's payment.
    assert on.waiting_since == date(2025, 10, 5) and on.eligible_from == date(2026, 4, 6)
    assert "2025-08" in on.reason
    cov = continuity.coverage(SI, months, date(2025, 12, 2))
    assert cov.months_paid == 11 and cov.missing == ()  # the record is filled...
    assert cov.interruptions == tuple(Period(2025, m) for m in range(2, 9))  # ...the interruptions stand
    assert cov.continuous_since == Period(2025, 9)
    assert not eligibility(months, date(2026, 4, 5)).eligible
    assert eligibility(months, date(2026, 4, 6)).eligible
    # Before the back payment the holder was interrupted, with nothing paid since the gap.
    gap = eligibility(months, date(2025, 6, 1))
    assert gap.status is INTERRUPTED and "2025-02" in gap.reason and gap.waiting_since is None


def quarter_end_payer() -> list[PaidMonth]:
    """Each quarter's three months paid on the 20th of its last month, from Q1 2025."""
    return [
        PaidMonth(SI, Period(year, q * 3 + k), 1_000, date(year, q * 3 + 3, 20))
        for year in (2025, 2026)
        for q in range(4)
        for k in (1, 2, 3)
    ]


def test_a_quarter_end_payer_in_arrears_stays_continuous():
    """Issue #14: January to March paid on 03-20 is not 'broken: 2026-01 is not paid' on 02-10."""
    months = quarter_end_payer()
    for day in (date(2026, 2, 10), date(2026, 3, 20), date(2026, 4, 30), date(2026, 12, 31)):
        result = eligibility(months, day)
        assert result.eligible, (day, result)
        assert result.waiting_since == date(2025, 3, 20)
    assert eligibility(months, date(2025, 9, 20)).status is WAITING  # 6 months from 2025-03-20
    assert eligibility(months, date(2025, 9, 21)).eligible
    cov = continuity.coverage(SI, months, date(2026, 2, 10))
    assert cov.missing == (Period(2026, 1),) and cov.interruptions == ()


def test_the_grace_is_policy():
    months = quarter_end_payer()
    strict = eligibility(months, date(2026, 2, 10), grace=0)  # due within its own month
    assert strict.status is INTERRUPTED and "2026-01" in strict.reason
    # With one month, each quarter's first month is paid late: the wait restarts every quarter.
    assert eligibility(months, date(2026, 2, 10), grace=1).status is WAITING
    assert eligibility(months, date(2026, 2, 10), grace=2).eligible  # the first month due by the 3rd's end
    assert ContributionPolicy().late_payment_grace_months == 3
    assert ContributionPolicy.from_mapping({"late_payment_grace_months": 1}).late_payment_grace_months == 1


def test_an_unpaid_month_interrupts_when_its_grace_ends_and_the_wait_restarts():
    months = [m for m in run("2025-01", 24, day=5) if m.period != Period(2025, 9)]
    assert eligibility(months, date(2025, 10, 4)).eligible  # September may still be paid
    assert eligibility(months, date(2025, 12, 31)).eligible  # ...until 31 December
    restarted = eligibility(months, date(2026, 1, 1))
    assert restarted.status is WAITING and "2025-09" in restarted.reason
    assert restarted.waiting_since == date(2025, 10, 5)  # the first payment after the gap
    assert not eligibility(months, date(2026, 4, 5)).eligible
    assert eligibility(months, date(2026, 4, 6)).eligible


def test_a_payer_who_stops_is_interrupted_once_the_grace_of_the_first_unpaid_month_ends():
    months = run("2025-01", 10)  # January to October 2025
    assert eligibility(months, date(2026, 2, 28)).eligible  # November due by 28 February
    lapsed = eligibility(months, date(2026, 3, 1))
    assert lapsed.status is INTERRUPTED and "2025-11" in lapsed.reason
    assert (lapsed.waiting_since, lapsed.eligible_from) == (None, None)


def test_payments_made_after_the_date_do_not_count_on_it():
    months = paid(("2026-01", date(2026, 1, 10)), ("2026-02", date(2026, 3, 20)))
    assert continuity.coverage(SI, months, date(2026, 3, 1)).missing == (Period(2026, 2),)
    assert continuity.coverage(SI, months, date(2026, 3, 21)).missing == ()


def test_no_payment_no_coverage():
    none = eligibility([], date(2026, 1, 1))
    assert none.status is WAITING and none.waiting_since is None
    cov = continuity.coverage(InsuranceType.PENSION, [], date(2026, 1, 1))
    assert cov.months_paid == 0 and not cov.insured


def test_coverage_reports_months_first_payment_and_gaps():
    months = paid(
        ("2025-11", date(2025, 11, 3)),
        ("2025-12", date(2025, 12, 2)),
        ("2026-02", date(2026, 2, 4)),
        ("2026-03", date(2026, 3, 1)),
    )
    cov = continuity.coverage(SI, months, date(2026, 3, 10))
    assert cov.months_paid == 4 and cov.first_paid_on == date(2025, 11, 3)
    assert (cov.first_period, cov.last_period) == (Period(2025, 11), Period(2026, 3))
    assert cov.missing == (Period(2026, 1),) and cov.interruptions == ()  # January: due by 30 April
    assert cov.continuous_since == Period(2025, 11) and cov.run_first_paid_on == date(2025, 11, 3)
    assert cov.insured
    later = continuity.coverage(SI, months, date(2026, 5, 1))
    assert later.interruptions == (Period(2026, 1),)
    assert later.continuous_since == Period(2026, 2) and later.run_first_paid_on == date(2026, 2, 4)


@pytest.mark.parametrize(
    ("day", "in_force"),
    [
        (date(2026, 1, 9), False),  # before the payment
        (date(2026, 1, 10), True),
        (date(2026, 4, 30), True),  # January covers three months after it
        (date(2026, 5, 1), False),
    ],
)
def test_medical_in_force_covers_the_month_and_three_after(day, in_force):
    months = paid(("2026-01", date(2026, 1, 10)), insurance=InsuranceType.MEDICAL)
    assert continuity.medical_in_force(months, day) is in_force
    assert continuity.coverage(InsuranceType.MEDICAL, months, day).insured is in_force


def test_medical_in_force_counts_only_medical_and_months_up_to_the_day():
    ahead = paid(("2026-06", date(2026, 1, 10)), insurance=InsuranceType.MEDICAL)  # paid ahead
    assert not continuity.medical_in_force(ahead, date(2026, 1, 15))
    assert continuity.medical_in_force(ahead, date(2026, 6, 1))
    other = paid(("2026-01", date(2026, 1, 10)), insurance=InsuranceType.MATERNITY)
    assert not continuity.medical_in_force(other, date(2026, 1, 15))
    january = paid(("2026-01", date(2026, 1, 10)), insurance=InsuranceType.MEDICAL)
    assert not continuity.medical_in_force(january, date(2026, 2, 1), grace_months=0)


# --- serious illness: properties ---------------------------------------------------------


@st.composite
def payment_histories(draw):
    """Months paid from a start, each 0 to 8 months after its own month, some never paid."""
    start = Period(2020, 1).shift(draw(st.integers(0, 60)))
    length = draw(st.integers(1, 30))
    skipped = draw(st.sets(st.integers(0, length - 1), max_size=4))
    months = []
    for i in range(length):
        if i in skipped:
            continue
        period = start.shift(i)
        paid_in = period.shift(draw(st.integers(0, 8)))
        months.append(PaidMonth(SI, period, 1_000, paid_in.first_day.replace(day=draw(st.integers(1, 28)))))
    assume(months)
    return months


@given(payment_histories(), st.integers(0, 40 * 31), st.integers(0, 6))
def test_a_month_paid_after_its_grace_changes_nothing_about_eligibility(months, days, grace):
    first = min(m.first_paid_on for m in months)
    on = first + timedelta(days=days)
    before = eligibility(months, on, grace)
    # The months paid by `on` (a month paid later does not count on it, nor may it be back-paid
    # before the first counted one: that would move the first payment, not back-pay a gap).
    paid_periods = {m.period for m in months if m.first_paid_on <= on}
    assume(paid_periods)
    # Back-pay every unpaid month since the first, each the day after its grace ended (by `on`).
    late = [
        PaidMonth(SI, p, 1_000, continuity.deadline(p, grace) + timedelta(days=1))
        for p in months_between(min(paid_periods), Period.of(on))
        if p not in paid_periods and continuity.deadline(p, grace) < on
    ]
    assert eligibility([*months, *late], on, grace) == before


@given(payment_histories(), st.integers(0, 40 * 31), st.integers(1, 400))
def test_payments_made_after_the_day_change_nothing_on_it(months, days, after):
    on = min(m.first_paid_on for m in months) + timedelta(days=days)
    counted = [m for m in months if m.first_paid_on <= on]
    assert eligibility(months, on) == eligibility(counted, on)
    later = PaidMonth(SI, Period.of(on), 1_000, on + timedelta(days=after))
    assert eligibility([*counted, later], on) == eligibility(counted, on)


@given(
    st.integers(2020 * 12, 2030 * 12),
    st.lists(st.integers(0, 3), min_size=1, max_size=30),
    st.integers(1, 28),
    st.integers(0, 40 * 31),
)
def test_a_payer_within_the_grace_is_eligible_exactly_six_months_after_the_first_payment(
    start, lateness, day, days
):
    first_month = Period.from_index(start)
    months = [
        PaidMonth(SI, first_month.shift(i), 1_000, first_month.shift(i + late).first_day.replace(day=day))
        for i, late in enumerate(lateness)
    ]
    first_paid = min(m.first_paid_on for m in months)
    on = first_paid + timedelta(days=days)
    # While every month so far is paid within its grace (or may still be), nothing interrupts.
    assume(on <= continuity.deadline(first_month.shift(len(lateness))))
    result = eligibility(months, on)
    assert result.status is not INTERRUPTED
    assert result.eligible is (on > add_months(first_paid, 6))
    assert result.waiting_since == first_paid


@given(payment_histories())
def test_eligibility_starts_the_day_after_six_months_for_an_unbroken_payer(months):
    start = min(m.period for m in months)
    steady = run(str(start), 40, day=months[0].first_paid_on.day)
    result = eligibility(steady, steady[0].first_paid_on)
    boundary = add_months(steady[0].first_paid_on, 6)
    assert result.eligible_from == boundary + timedelta(days=1)
    assert not eligibility(steady, boundary).eligible
    assert eligibility(steady, boundary + timedelta(days=1)).eligible

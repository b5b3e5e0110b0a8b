"""Contribution rules: pure, no AWS. Eligibility table, working age, books, serious illness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.domain import contributions as rules
from chalicelib.domain.contributions import (
    ALLOWED_TYPES,
    BOOK_OF,
    Contribution,
    ContributionPolicy,
    FundBook,
    InsuranceType,
    PaidMonth,
    Payer,
    Period,
    add_months,
)
from chalicelib.domain.errors import ContributionIneligible, InvalidContribution, InvalidSsn
from chalicelib.domain.holders import Participation
from chalicelib.domain.identifiers import Ssn
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
        rules.check_eligible(participation, ADULT, "male", c, POLICY)
    else:
        with pytest.raises(ContributionIneligible, match=insurance.value):
            rules.check_eligible(participation, ADULT, "male", c, POLICY)


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
        rules.check_eligible(participation, ADULT, "female", c, POLICY)
    else:
        with pytest.raises(ContributionIneligible):
            rules.check_eligible(participation, ADULT, "female", c, POLICY)


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
    assert rules.within_working_age(birth, sex, Period.parse(period), POLICY) is within
    c = contribution(InsuranceType.PENSION, Payer.INDIVIDUAL, period)
    for participation in (Participation.INDIVIDUAL, Participation.FREELANCER):
        if within:
            rules.check_eligible(participation, birth, sex, c, POLICY)
        else:
            with pytest.raises(ContributionIneligible, match="working age"):
                rules.check_eligible(participation, birth, sex, c, POLICY)
    rules.check_eligible(
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
        rules.check_eligible(Participation.FREELANCER, born, "male", c, POLICY)
    rules.check_eligible(Participation.FREELANCER, born, "male", c, later)


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
        rules.personal_account_share(
            contribution(InsuranceType.MEDICAL, Payer.EMPLOYEE, amount=4_001), POLICY
        )
        == 4_001
    )
    assert rules.personal_account_share(contribution(InsuranceType.MEDICAL, Payer.EMPLOYER), POLICY) == 0
    assert (
        rules.personal_account_share(
            contribution(InsuranceType.MEDICAL, Payer.INDIVIDUAL, amount=10_003), POLICY
        )
        == 2_500
    )
    for other in (InsuranceType.MATERNITY, InsuranceType.SERIOUS_ILLNESS, InsuranceType.PENSION):
        assert rules.personal_account_share(contribution(other, Payer.INDIVIDUAL), POLICY) == 0
    thirty = ContributionPolicy.from_mapping({"personal_account_bp": {"employer": 3_000}})
    assert rules.personal_account_share(contribution(InsuranceType.MEDICAL, Payer.EMPLOYER), thirty) == 3_000
    assert thirty.personal_account_bp[Payer.EMPLOYEE] == 10_000  # the others keep their defaults


@given(amount=st.integers(1, rules.MAX_AMOUNT_FEN), bp=st.integers(0, 10_000))
def test_the_share_is_whole_fen_and_never_more_than_paid(amount, bp):
    policy = ContributionPolicy.from_mapping({"personal_account_bp": {"individual": bp}})
    share = rules.personal_account_share(
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


# --- serious illness: 6 months, continuity, gaps --------------------------------------


def paid(*months: tuple[str, date]) -> list[PaidMonth]:
    return [PaidMonth(SI, Period.parse(p), 1_000, on) for p, on in months]


def run(first: str, count: int, day: int = 10) -> list[PaidMonth]:
    start = Period.parse(first)
    return [
        PaidMonth(SI, start.shift(i), 1_000, start.shift(i).first_day.replace(day=day)) for i in range(count)
    ]


def test_six_month_boundary_exactly():
    months = run("2026-01", 12, day=15)  # first payment 2026-01-15, then every month
    on_boundary = rules.serious_illness_eligibility(months, date(2026, 7, 15))
    assert not on_boundary.eligible  # exactly six months is not MORE than six months
    assert on_boundary.eligible_from == date(2026, 7, 16)
    assert rules.serious_illness_eligibility(months, date(2026, 7, 16)).eligible
    assert not rules.serious_illness_eligibility(months, date(2026, 1, 14)).eligible


def test_a_gap_restarts_the_wait_from_the_next_payment():
    months = [m for m in run("2025-01", 24, day=5) if m.period != Period(2025, 9)]
    before_gap = rules.serious_illness_eligibility(months, date(2025, 9, 20))
    assert before_gap.eligible  # September is still payable during September
    broken = rules.serious_illness_eligibility(months, date(2025, 10, 4))
    assert not broken.eligible and "2025-09" in broken.reason  # October 4: September ended unpaid
    restarted = rules.serious_illness_eligibility(months, date(2025, 10, 5))
    assert not restarted.eligible and restarted.waiting_since == date(2025, 10, 5)
    assert not rules.serious_illness_eligibility(months, date(2026, 4, 5)).eligible
    assert rules.serious_illness_eligibility(months, date(2026, 4, 6)).eligible


def test_the_current_month_may_still_be_paid_but_the_previous_one_must_be():
    months = run("2025-01", 10)  # January to October 2025
    assert rules.serious_illness_eligibility(months, date(2025, 11, 30)).eligible
    lapsed = rules.serious_illness_eligibility(months, date(2025, 12, 1))
    assert not lapsed.eligible and "2025-11" in lapsed.reason


def test_payments_made_after_the_date_do_not_count_on_it():
    months = paid(("2026-01", date(2026, 1, 10)), ("2026-02", date(2026, 3, 20)))
    assert rules.coverage(SI, months, date(2026, 3, 1)).missing == (Period(2026, 2),)
    assert rules.coverage(SI, months, date(2026, 3, 21)).missing == ()


def test_no_payment_no_coverage():
    none = rules.serious_illness_eligibility([], date(2026, 1, 1))
    assert not none.eligible and none.waiting_since is None
    cov = rules.coverage(InsuranceType.PENSION, [], date(2026, 1, 1))
    assert cov.months_paid == 0 and not cov.insured


def test_coverage_reports_months_first_payment_and_gaps():
    months = paid(
        ("2025-11", date(2025, 11, 3)),
        ("2025-12", date(2025, 12, 2)),
        ("2026-02", date(2026, 2, 4)),
        ("2026-03", date(2026, 3, 1)),
    )
    cov = rules.coverage(SI, months, date(2026, 3, 10))
    assert cov.months_paid == 4 and cov.first_paid_on == date(2025, 11, 3)
    assert (cov.first_period, cov.last_period) == (Period(2025, 11), Period(2026, 3))
    assert cov.missing == (Period(2026, 1),)
    assert cov.continuous_since == Period(2026, 2) and cov.run_first_paid_on == date(2026, 2, 4)
    assert cov.insured


@st.composite
def payment_histories(draw):
    """Months paid from a start, each on a day of its own month, with some months skipped."""
    start = Period(2020, 1).shift(draw(st.integers(0, 60)))
    length = draw(st.integers(1, 30))
    skipped = draw(st.sets(st.integers(0, length - 1), max_size=4))
    months = [
        PaidMonth(SI, start.shift(i), 1_000, start.shift(i).first_day.replace(day=draw(st.integers(1, 28))))
        for i in range(length)
        if i not in skipped
    ]
    assume(months)
    return months


@given(payment_histories(), st.integers(0, 40 * 31))
def test_eligible_exactly_when_unbroken_and_the_first_payment_of_the_run_is_over_six_months_old(months, days):
    first = min(m.first_paid_on for m in months)
    on = first + timedelta(days=days)
    by_period = {m.period: m for m in months if m.first_paid_on <= on}
    current = Period.of(on)
    # The run that reaches the date's month or the one before, walked back to its first month.
    end = current if current in by_period else current.prev()
    expected = False
    if end in by_period:
        start = end
        while start.prev() in by_period:
            start = start.prev()
        waiting_since = min(
            by_period[start.shift(i)].first_paid_on for i in range(end.index - start.index + 1)
        )
        expected = on > add_months(waiting_since, 6)
        # Every month from the run's start up to the month before the date is paid.
        assert all(start.shift(i) in by_period for i in range(current.index - start.index))
    assert rules.serious_illness_eligibility(months, on).eligible is expected


@given(payment_histories())
def test_eligibility_starts_the_day_after_six_months_for_an_unbroken_payer(months):
    start = min(m.period for m in months)
    steady = run(str(start), 40, day=months[0].first_paid_on.day)
    result = rules.serious_illness_eligibility(steady, steady[0].first_paid_on)
    boundary = add_months(steady[0].first_paid_on, 6)
    assert result.eligible_from == boundary + timedelta(days=1)
    assert not rules.serious_illness_eligibility(steady, boundary).eligible
    assert rules.serious_illness_eligibility(steady, boundary + timedelta(days=1)).eligible

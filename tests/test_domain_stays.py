"""The stay rules, pure: charges once and only while open, cancels, withdrawal, discharge, reopening."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import error_kinds
from chalicelib.domain.stays import (
    Charge,
    ChargeAlreadyCancelled,
    ChargeIdReused,
    ChargeState,
    InvalidCharge,
    Stay,
    StayClosed,
    StayHasCharges,
    StayNotFound,
    StayNotReopenable,
    StayState,
    StayTotalExceeded,
    Totals,
    applied_once,
)

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
MAX = 100_000


def a_stay(**kw) -> Stay:
    return Stay("R-1", "6222020000000000001", "P-1", "HOSPITAL", AT, **kw)


def a_charge(charge_id="C-1", amount=1_000, in_scope=800, description="Ward, day 1") -> Charge:
    return Charge.new("R-1", charge_id, "HOSPITAL", amount, in_scope, description, AT)


def test_charges_add_up_on_the_stay_and_bump_its_version():
    stay = a_stay().charged(a_charge(), MAX).charged(a_charge("C-2", 500, 0, "Meals"), MAX)
    assert stay.totals == Totals(amount_fen=1_500, in_scope_fen=800, charge_count=2)
    assert stay.totals.out_of_scope_fen == 700
    assert stay.version == 2


def test_a_cancelled_charge_leaves_the_totals():
    charge = a_charge()
    stay = a_stay().charged(charge, MAX).charged(a_charge("C-2", 500, 0, "Meals"), MAX)
    stay = stay.uncharged(charge)
    assert stay.totals == Totals(500, 0, 1)
    assert stay.version == 3
    cancelled = charge.cancelled(LATER)
    assert (cancelled.state, cancelled.cancelled_at) == (ChargeState.CANCELLED, LATER)
    with pytest.raises(ChargeAlreadyCancelled):
        cancelled.cancelled(LATER)
    with pytest.raises(ChargeAlreadyCancelled):
        stay.uncharged(cancelled)


@pytest.mark.parametrize(
    ("amount", "in_scope", "description"),
    [
        (0, 0, "x"),
        (-5, 0, "x"),
        (100, 101, "x"),
        (100, -1, "x"),
        (100, 0, ""),
        (100, 0, "   "),
        (100, 0, "d" * 201),
    ],
)
def test_a_charge_must_be_whole_positive_fen_with_in_scope_within_it(amount, in_scope, description):
    with pytest.raises(InvalidCharge):
        Charge.new("R-1", "C-1", "HOSPITAL", amount, in_scope, description, AT)


def test_the_same_charge_id_and_body_is_the_first_charge_another_body_is_refused():
    first = a_charge()
    again = Charge.new("R-1", "C-1", "HOSPITAL", 1_000, 800, "Ward, day 1", LATER)  # a retry, later
    assert applied_once(first, again) is first
    for other in (a_charge(amount=1_001), a_charge(in_scope=0), a_charge(description="Ward, day 2")):
        with pytest.raises(ChargeIdReused) as refused:
            applied_once(first, other)
        assert refused.value.status == 422 and refused.value.slug == "charge-id-reused"


@pytest.mark.parametrize("closed", [StayState.DISCHARGED, StayState.WITHDRAWN])
def test_a_closed_stay_takes_no_charge_no_cancel_and_no_withdrawal(closed):
    stay = a_stay(state=closed)
    with pytest.raises(StayClosed) as refused:
        stay.charged(a_charge(), MAX)
    assert (refused.value.status, refused.value.slug) == (409, "stay-closed")
    with pytest.raises(StayClosed):
        stay.uncharged(a_charge())
    with pytest.raises(StayClosed):
        stay.withdrawn(LATER)
    with pytest.raises(StayClosed):
        stay.discharged("pay-1", LATER)


def test_the_stay_total_may_reach_the_maximum_but_not_pass_it():
    stay = a_stay().charged(a_charge(amount=MAX - 1, in_scope=0), MAX)
    full = stay.charged(a_charge("C-2", 1, 1, "Last"), MAX)
    assert full.totals.amount_fen == MAX
    with pytest.raises(StayTotalExceeded) as refused:
        full.charged(a_charge("C-3", 1, 1, "One too many"), MAX)
    assert refused.value.extra["maximum_fen"] == MAX


def test_only_an_open_stay_with_no_live_charges_is_withdrawn():
    charge = a_charge()
    with pytest.raises(StayHasCharges):
        a_stay().charged(charge, MAX).withdrawn(LATER)
    emptied = a_stay().charged(charge, MAX).uncharged(charge)
    withdrawn = emptied.withdrawn(LATER)
    assert (withdrawn.state, withdrawn.closed_at, withdrawn.version) == (StayState.WITHDRAWN, LATER, 3)


def test_discharge_closes_and_cancelling_that_payment_reopens_with_the_same_totals():
    stay = a_stay().charged(a_charge(), MAX)
    closed = stay.discharged("pay-1", LATER)
    assert (closed.state, closed.discharge_payment_id, closed.version) == (StayState.DISCHARGED, "pay-1", 2)
    with pytest.raises(StayNotReopenable):
        closed.reopened("pay-2")
    with pytest.raises(StayNotReopenable):
        stay.reopened("pay-1")
    reopened = closed.reopened("pay-1")
    assert (reopened.state, reopened.discharge_payment_id, reopened.totals) == (
        StayState.OPEN,
        None,
        stay.totals,
    )
    assert reopened.version == 3
    assert reopened.charged(a_charge("C-2", 10, 10, "After reopening"), MAX).totals.charge_count == 2


def test_another_hospital_does_not_see_the_stay():
    assert a_stay().ensure_hospital("HOSPITAL").hospital_id == "HOSPITAL"
    with pytest.raises(StayNotFound) as refused:
        a_stay().ensure_hospital("HOSPITAL-2")
    assert (refused.value.status, refused.value.slug) == (404, "stay-not-found")


def test_every_stay_error_has_its_own_problem_type():
    import chalicelib.domain.stays as stays

    kinds = [k for k in error_kinds() if k.__module__ == stays.__name__]
    assert len(kinds) == 9
    assert len({k.slug for k in kinds}) == len(kinds)
    assert all(k.slug.startswith(("stay-", "charge-", "invalid-charge")) for k in kinds)

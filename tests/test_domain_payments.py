"""Payment rules: the amount bounds, cancellation, reconciliation (the split: test_domain_settlement.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from chalicelib.api.me_payments import PAYMENT_PAGE_KEY
from chalicelib.api.payments import ENTRY_PAGE_KEY
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.payments import (
    DEFAULT_MAX_AMOUNT_FEN,
    DayFigures,
    Payment,
    PaymentAlreadyCancelled,
    PaymentPolicy,
    PaymentState,
    Reason,
    business_day,
    reconcile,
)
from chalicelib.domain.settlement import AmountOutOfRange, SelfPay

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def payment(pid: str, paid: int, *, state=PaymentState.COMPLETED, at=AT) -> Payment:
    return Payment(
        payment_id=pid,
        institution_id="PHARMACY",
        institution_name="P",
        card_no="6217000000000000001",
        person_id="P-1",
        amount_fen=paid + 100,
        account_paid_fen=paid,
        self_pay_fen=100,
        self_pay=SelfPay.ALLOWED,
        paid_at=at,
        balance_after_fen=0,
        state=state,
    )


@pytest.mark.parametrize(
    "amount", [0, -1, DEFAULT_MAX_AMOUNT_FEN + 1, 10**30, 1.0, 100.5, "100", True, False, None]
)
def test_amounts_outside_the_policy_are_refused(amount):
    with pytest.raises(AmountOutOfRange):
        PaymentPolicy().check_amount(amount)


def test_the_bound_is_configuration_with_a_documented_default():
    assert PaymentPolicy().check_amount(DEFAULT_MAX_AMOUNT_FEN) == DEFAULT_MAX_AMOUNT_FEN == 5_000_000
    with pytest.raises(AmountOutOfRange) as refused:
        PaymentPolicy(max_amount_fen=10_000).check_amount(10_001)
    assert refused.value.extra["maximum_fen"] == 10_000


def test_the_bound_is_read_from_its_setting():
    assert PaymentPolicy.from_setting("") == PaymentPolicy()
    assert PaymentPolicy.from_setting("120000").max_amount_fen == 120_000
    for bad in ("0", "-5", "1.5", "lots"):
        with pytest.raises(ValueError):
            PaymentPolicy.from_setting(bad)


def test_a_payment_is_cancelled_once():
    cancelled = payment("a", 100).cancel(AT)
    assert cancelled.state is PaymentState.CANCELLED and cancelled.cancelled_at == AT
    with pytest.raises(PaymentAlreadyCancelled):
        cancelled.cancel(AT)


def test_the_business_day_is_chinas():
    assert business_day(datetime(2026, 11, 24, 16, 30, tzinfo=UTC)) == date(2026, 11, 25)
    assert business_day(datetime(2026, 11, 24, 15, 59, tzinfo=UTC)) == date(2026, 11, 24)


def test_sort_keys_order_by_time_then_id():
    early, late = payment("b", 1, at=AT), payment("a", 1, at=AT.replace(second=1))
    assert early.sort_key < late.sort_key


def test_page_keys_order_by_the_instant_whatever_the_zone_and_are_what_a_cursor_accepts():
    beijing = timezone(timedelta(hours=8))
    # 16:59:59.5 in Beijing is 08:59:59.5 UTC: before AT (09:00 UTC), though its wall clock is later.
    earlier = payment("z", 1, at=datetime(2026, 11, 25, 16, 59, 59, 500_000, tzinfo=beijing))
    later = payment("a", 1, at=AT)
    assert earlier.sort_key < later.sort_key
    assert earlier.entry().page_key < later.entry().page_key
    assert PAYMENT_PAGE_KEY.fullmatch(earlier.sort_key)
    assert ENTRY_PAGE_KEY.fullmatch(later.entry().page_key)


def day_of(*payments: Payment) -> list:
    """The day's entries: each payment, and its cancellation when it was cancelled that day."""
    entries = [p.entry() for p in payments]
    entries += [p.cancellation_entry() for p in payments if p.cancelled_at is not None]
    return sorted(entries, key=lambda e: (e.at, e.cancellation))


def test_reconcile_matches_a_day_with_the_same_figures():
    ours = day_of(payment("a", 100), payment("b", 200), payment("c", 50).cancel(AT))
    result = reconcile(AT.date(), ours, DayFigures(2, 300))
    assert result.matched and result.ours == DayFigures(2, 300) and not result.differences


def test_reconcile_names_a_missing_an_extra_and_a_cancelled_payment():
    ours = day_of(payment("a", 100), payment("b", 200), payment("c", 50).cancel(AT))
    theirs = [("a", 100), ("x", 70), ("c", 50)]
    result = reconcile(AT.date(), ours, DayFigures(3, 220), theirs)
    assert not result.matched
    assert {(d.payment_id, d.reason) for d in result.differences} == {
        ("b", Reason.ONLY_OURS),
        ("x", Reason.ONLY_THEIRS),
        ("c", Reason.CANCELLED),
    }


def test_a_cancellation_on_a_later_day_leaves_the_paid_day_matched_and_books_a_negative_entry():
    paid = payment("a", 100)
    next_day = AT + timedelta(days=1)
    cancelled = paid.cancel(next_day)
    assert reconcile(AT.date(), [cancelled.entry()], DayFigures(1, 100)).matched
    later = reconcile(next_day.date(), [cancelled.cancellation_entry()], DayFigures(-1, -100))
    assert later.matched and later.ours == DayFigures(-1, -100)


def test_fund_totals_are_compared_when_sent():
    bill = replace(payment("a", 100), fund_paid_fen=700, serious_illness_paid_fen=30)
    assert reconcile(AT.date(), [bill.entry()], DayFigures(1, 100, 700, 30)).matched
    wrong = reconcile(AT.date(), [bill.entry()], DayFigures(1, 100, 600, 30))
    assert not wrong.matched and wrong.ours.fund_paid_fen == 700


def test_reconcile_refuses_a_list_that_does_not_add_up():
    with pytest.raises(InvalidInput):
        reconcile(AT.date(), [], DayFigures(2, 100), [("a", 100)])
    with pytest.raises(InvalidInput):
        reconcile(AT.date(), [], DayFigures(2, 200), [("a", 100), ("a", 100)])

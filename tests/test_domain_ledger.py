"""Money conservation rules: a consistent ledger passes every rule; each corrupted record
fails the rule it breaks, and only that one. No AWS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.contributions import FundBook
from chalicelib.domain.ledger import (
    MAX_LISTED,
    BookTotal,
    DayEntry,
    DayTotal,
    Outflow,
    PaymentRecord,
    Posting,
    Rule,
    RuleResult,
    book_balance,
    institution_days,
    outflows_settled,
    payment_parts,
    personal_accounts,
)

D1, D2 = date(2026, 11, 24), date(2026, 11, 25)
MED, PEN = FundBook.MEDICAL, FundBook.PENSION


@dataclass
class Records:
    payments: list[PaymentRecord]
    postings: list[Posting]
    outflows: list[Outflow]
    books: list[BookTotal]
    balances: list[int]
    entries: list[DayEntry]
    day_totals: list[DayTotal] = field(default_factory=list)


def consistent() -> Records:
    return Records(
        payments=[
            # a hospital bill the pooled fund and the serious-illness insurance paid into
            PaymentRecord("A", "H1", D1, 600_000, 300_000, 120_000, 50_000, 130_000),
            # a pharmacy payment cancelled the next day
            PaymentRecord("B", "PH", D1, 5_000, 0, 0, 5_000, 0, cancelled_day=D2),
            # all cash: an entry that owes nothing
            PaymentRecord("C", "H1", D2, 1_000, 0, 0, 0, 1_000),
            # a hospital bill with pooled pay, cancelled the next day
            PaymentRecord("D", "H1", D1, 100_000, 50_000, 0, 50_000, 0, cancelled_day=D2),
        ],
        postings=[
            Posting("c-1", MED, 1_000_000, 2_500),
            Posting("c-2", PEN, 20_000, 0),
            Posting("opening-carol", MED, 52_300, 52_300, opening_balance=True),
            Posting("c-3", MED, 8_000, 8_000),
        ],
        outflows=[
            Outflow("A", MED, 300_000),
            Outflow("A", MED, 120_000),
            Outflow("D", MED, 50_000),
            Outflow("D", MED, -50_000),
        ],
        books=[BookTotal(MED, 1_060_300, 420_000, 640_300), BookTotal(PEN, 20_000, 0, 20_000)],
        # 52,300 + 10,500 - 105,000 + 55,000
        balances=[10_000, 2_800],
        entries=[
            DayEntry("H1", D1, "A", 50_000, 300_000, 120_000),
            DayEntry("PH", D1, "B", 5_000, 0, 0),
            DayEntry("PH", D2, "B", -5_000, 0, 0, cancellation=True),
            DayEntry("H1", D2, "C", 0, 0, 0),
            DayEntry("H1", D1, "D", 50_000, 50_000, 0),
            DayEntry("H1", D2, "D", -50_000, -50_000, 0, cancellation=True),
        ],
        day_totals=[
            DayTotal("H1", D1, 2, 100_000, 350_000, 120_000),
            DayTotal("PH", D1, 1, 5_000, 0, 0),
            DayTotal("PH", D2, 1, -5_000, 0, 0),
            DayTotal("H1", D2, 2, -50_000, -50_000, 0),
        ],
    )


def check(r: Records) -> dict[Rule, RuleResult]:
    results = [
        payment_parts(r.payments),
        book_balance(r.books, r.postings, r.outflows),
        outflows_settled(r.outflows, r.payments),
        personal_accounts(r.balances, r.postings, r.payments),
        institution_days(r.payments, r.entries, r.day_totals),
    ]
    return {result.rule: result for result in results}


def failing(r: Records) -> set[Rule]:
    return {rule for rule, result in check(r).items() if not result.passed}


def test_a_consistent_ledger_passes_every_rule_with_its_figures():
    results = check(consistent())
    assert set(results) == set(Rule)
    assert all(r.passed and r.failures == () and r.failure_count == 0 for r in results.values())
    assert all(r.title for r in results.values())
    assert results[Rule.PAYMENT_PARTS].figure("amount_fen") == 706_000
    assert results[Rule.BOOK_BALANCE].figure("medical.balance_fen") == 640_300
    assert results[Rule.BOOK_BALANCE].figure("medical.outflows_fen") == 420_000
    accounts = dict(results[Rule.PERSONAL_ACCOUNTS].figures)
    assert accounts == {
        "accounts": 2,
        "balances_fen": 12_800,
        "opening_balances_fen": 52_300,
        "contributions_share_fen": 10_500,
        "account_paid_fen": 105_000,
        "given_back_fen": 55_000,
        "expected_fen": 12_800,
    }
    days = dict(results[Rule.INSTITUTION_DAYS].figures)
    assert days == {"payments": 4, "days": 4, "owed_fen": 470_000, "day_totals": 4}


def _payment(r: Records, pid: str, **changes: Any) -> Records:
    r.payments = [replace(p, **changes) if p.payment_id == pid else p for p in r.payments]
    return r


def _book(r: Records, book: FundBook, **changes: Any) -> Records:
    r.books = [replace(b, **changes) if b.book is book else b for b in r.books]
    return r


def _without_outflow(r: Records, index: int) -> Records:
    del r.outflows[index]
    return r


def _misplaced_cancellation(r: Records) -> Records:
    # the cancellation rewrites the day it cancels instead of counting on its own day
    r.entries = [replace(e, day=D1) if e.cancellation and e.payment_id == "B" else e for e in r.entries]
    r.day_totals = [
        DayTotal("H1", D1, 2, 100_000, 350_000, 120_000),
        DayTotal("PH", D1, 2, 0, 0, 0),
        DayTotal("H1", D2, 2, -50_000, -50_000, 0),
    ]
    return r


def _missing_give_back(r: Records) -> Records:
    _without_outflow(r, 3)
    return _book(r, MED, outflows_fen=470_000, balance_fen=590_300)


def _stray_outflow(r: Records) -> Records:
    r.outflows.append(Outflow("Z", MED, 7))
    return _book(r, MED, outflows_fen=420_007, balance_fen=640_293)


def _outflow_from_pension(r: Records) -> Records:
    r.outflows[1] = Outflow("A", PEN, 120_000)
    _book(r, MED, outflows_fen=300_000, balance_fen=760_300)
    return _book(r, PEN, outflows_fen=120_000, balance_fen=-100_000)


def _opening_balance_not_posted(r: Records) -> Records:
    r.postings = [p for p in r.postings if not p.opening_balance]
    return _book(r, MED, postings_in_fen=1_008_000, balance_fen=588_000)


def _duplicate_entry(r: Records) -> Records:
    r.entries.append(r.entries[0])
    r.day_totals[0] = DayTotal("H1", D1, 3, 150_000, 650_000, 240_000)
    return r


def _missing_cancellation_entry(r: Records) -> Records:
    r.entries = [e for e in r.entries if not (e.cancellation and e.payment_id == "B")]
    r.day_totals = [t for t in r.day_totals if (t.institution_id, t.day) != ("PH", D2)]
    return r


CORRUPTIONS: list[tuple[str, Callable[[Records], Records], set[Rule]]] = [
    (
        "a payment's parts do not add up",
        lambda r: _payment(r, "A", self_pay_fen=129_999),
        {Rule.PAYMENT_PARTS},
    ),
    (
        "a negative part makes the sum right",
        lambda r: _payment(r, "C", self_pay_fen=2_000, fund_paid_fen=-1_000),
        {Rule.PAYMENT_PARTS, Rule.OUTFLOWS_SETTLED, Rule.INSTITUTION_DAYS},
    ),
    ("a book's stored outflows are off", lambda r: _book(r, MED, outflows_fen=419_999), {Rule.BOOK_BALANCE}),
    ("a book's balance is off", lambda r: _book(r, PEN, balance_fen=20_001), {Rule.BOOK_BALANCE}),
    (
        "an outflow record is lost",
        lambda r: _without_outflow(r, 1),
        {Rule.BOOK_BALANCE, Rule.OUTFLOWS_SETTLED},
    ),
    ("a cancellation's outflow is not given back", _missing_give_back, {Rule.OUTFLOWS_SETTLED}),
    ("an outflow names no payment", _stray_outflow, {Rule.OUTFLOWS_SETTLED}),
    ("an outflow from another book than medical", _outflow_from_pension, {Rule.OUTFLOWS_SETTLED}),
    (
        "an account balance is off by a fen",
        lambda r: replace(r, balances=[10_001, 2_800]),
        {Rule.PERSONAL_ACCOUNTS},
    ),
    ("an opening balance without its posting", _opening_balance_not_posted, {Rule.PERSONAL_ACCOUNTS}),
    (
        "a cancellation not credited back to the account",
        lambda r: replace(r, balances=[10_000 - 5_000, 2_800]),
        {Rule.PERSONAL_ACCOUNTS},
    ),
    ("a cancellation booked on the day it cancels", _misplaced_cancellation, {Rule.INSTITUTION_DAYS}),
    ("a cancellation without its negative entry", _missing_cancellation_entry, {Rule.INSTITUTION_DAYS}),
    ("an entry twice", _duplicate_entry, {Rule.INSTITUTION_DAYS}),
    (
        "a stored day total is off",
        lambda r: replace(r, day_totals=[replace(r.day_totals[0], fund_paid_fen=1), *r.day_totals[1:]]),
        {Rule.INSTITUTION_DAYS},
    ),
    (
        "a day without its stored total",
        lambda r: replace(r, day_totals=r.day_totals[1:]),
        {Rule.INSTITUTION_DAYS},
    ),
]


@pytest.mark.parametrize(("corrupt", "rules"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_a_corrupted_record_fails_the_rule_it_breaks(corrupt, rules):
    records = corrupt(consistent())
    assert failing(records) == rules
    for rule in rules:
        result = check(records)[rule]
        assert result.failure_count >= 1 and result.failures


def test_without_stored_day_totals_the_entries_are_still_checked_against_the_payments():
    r = consistent()
    assert institution_days(r.payments, r.entries).passed
    assert "day_totals" not in dict(institution_days(r.payments, r.entries).figures)
    assert not institution_days(r.payments, r.entries[1:]).passed


def test_failures_are_counted_all_but_listed_up_to_a_limit():
    payments = [PaymentRecord(f"p{i}", "PH", D1, 10, 0, 0, 0, 9) for i in range(MAX_LISTED + 5)]
    result = payment_parts(payments)
    assert not result.passed
    assert result.failure_count == MAX_LISTED + 5 and len(result.failures) == MAX_LISTED
    assert "payment p0" in result.failures[0]


def test_the_rules_read_streams_once():
    r = consistent()
    results = [
        payment_parts(iter(r.payments)),
        book_balance(iter(r.books), iter(r.postings), iter(r.outflows)),
        outflows_settled(iter(r.outflows), iter(r.payments)),
        personal_accounts(iter(r.balances), iter(r.postings), iter(r.payments)),
        institution_days(iter(r.payments), iter(r.entries), iter(r.day_totals)),
    ]
    assert all(result.passed for result in results)

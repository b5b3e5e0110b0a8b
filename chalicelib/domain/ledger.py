"""Money conservation (DESIGN.md section 2): each rule as a pure function over plain records,
returning a named result with its figures and whether it holds. `sscard ledger check` reads
the stored records into these shapes and prints every result; one failing rule fails it.

The rules:
- payment-parts: every payment's parts add up to its amount, none negative;
- book-balance: a book's stored totals equal its postings in and its settlement outflows out,
  and its balance is the one minus the other;
- outflows-settled: every outflow names a payment; a completed settlement's outflows add up to
  its pooled plus serious-illness pay, a cancelled one's to 0 (given back); only the medical
  book pays out;
- personal-accounts: the sum of balances = opening balances + the accounts' share of
  contributions - account pay + account pay given back by cancellations;
- institution-days: per institution and business day, the stored day totals (when kept) equal
  the sum of the day's entries, and the entries are exactly the payments (positive, on the
  day paid) and the cancellations (negative, on the day cancelled).

Each function reads each of its inputs once, so a caller may stream records from storage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from .contributions import FundBook
from .cursors import time_ordered_key

MAX_LISTED = 20  # failures named in a result; the count says how many there were


class Rule(StrEnum):
    PAYMENT_PARTS = "payment-parts"
    BOOK_BALANCE = "book-balance"
    OUTFLOWS_SETTLED = "outflows-settled"
    PERSONAL_ACCOUNTS = "personal-accounts"
    INSTITUTION_DAYS = "institution-days"


TITLES = {
    Rule.PAYMENT_PARTS: "Every payment's parts add up to its amount",
    Rule.BOOK_BALANCE: "Every book's balance = its postings in - its settlement outflows out",
    Rule.OUTFLOWS_SETTLED: (
        "Every outflow belongs to a completed settlement (a cancelled one's is given back)"
    ),
    Rule.PERSONAL_ACCOUNTS: (
        "Sum of account balances = opening balances + accounts' share of contributions "
        "- account pay + account pay given back"
    ),
    Rule.INSTITUTION_DAYS: "Per institution and business day: what is owed = the sum of the day's entries",
}
# Pooled and serious-illness pay are outflows of the medical book; no other book pays out.
PAYING_BOOK = FundBook.MEDICAL


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRecord:
    payment_id: str
    institution_id: str
    day: date  # the business day it was made
    amount_fen: int
    fund_paid_fen: int
    serious_illness_paid_fen: int
    account_paid_fen: int
    self_pay_fen: int
    cancelled_day: date | None = None  # the business day of its cancellation

    @property
    def cancelled(self) -> bool:
        return self.cancelled_day is not None

    @property
    def outflow_fen(self) -> int:
        return self.fund_paid_fen + self.serious_illness_paid_fen


@dataclass(frozen=True)
class Posting:
    """Money into a book: a contribution, or an opening balance carried over from the old system."""

    posting_id: str
    book: FundBook
    amount_fen: int
    personal_account_fen: int  # of it, credited to a personal account
    opening_balance: bool = False


@dataclass(frozen=True)
class Outflow:
    payment_id: str
    book: FundBook
    amount_fen: int  # paid out by the settlement; negative when its cancellation gives it back


@dataclass(frozen=True)
class BookTotal:
    """A book's stored totals (its shards summed)."""

    book: FundBook
    postings_in_fen: int
    outflows_fen: int
    balance_fen: int


@dataclass(frozen=True)
class DayEntry:
    """One entry of an institution's business day: a payment (positive) or a cancellation
    (every part negative)."""

    institution_id: str
    day: date
    payment_id: str
    account_paid_fen: int
    fund_paid_fen: int
    serious_illness_paid_fen: int
    cancellation: bool = False
    # The rest of the split, for the detail level of reconciliation (signed like the parts).
    amount_fen: int = 0
    self_pay_fen: int = 0
    at: datetime | None = None

    @property
    def kind(self) -> str:
        return "cancellation" if self.cancellation else "payment"

    @property
    def page_key(self) -> str:
        """Orders a day's entries by time; unique per payment and kind (what a cursor names)."""
        if self.at is None:
            raise ValueError("an entry without its time has no place in its day")
        return time_ordered_key(self.at, self.payment_id, self.kind)

    @property
    def owed_fen(self) -> int:
        return self.account_paid_fen + self.fund_paid_fen + self.serious_illness_paid_fen

    @property
    def parts(self) -> tuple[int, int, int]:
        return (self.account_paid_fen, self.fund_paid_fen, self.serious_illness_paid_fen)


@dataclass(frozen=True)
class DayTotal:
    """The stored totals of an institution's business day."""

    institution_id: str
    day: date
    entries: int
    account_paid_fen: int
    fund_paid_fen: int
    serious_illness_paid_fen: int


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    passed: bool
    figures: tuple[tuple[str, int], ...]  # named figures, in the order the rule reads them
    failures: tuple[str, ...]  # the first MAX_LISTED records that break the rule
    failure_count: int

    @property
    def title(self) -> str:
        return TITLES[self.rule]

    def figure(self, name: str) -> int:
        return dict(self.figures)[name]


class _Failures:
    def __init__(self) -> None:
        self.listed: list[str] = []
        self.count = 0

    def add(self, what: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(what)

    def result(self, rule: Rule, figures: dict[str, int]) -> RuleResult:
        return RuleResult(rule, self.count == 0, tuple(figures.items()), tuple(self.listed), self.count)


# --- the rules ---------------------------------------------------------------------------


def payment_parts(payments: Iterable[PaymentRecord]) -> RuleResult:
    failures = _Failures()
    count = amount = 0
    for p in payments:
        count += 1
        amount += p.amount_fen
        parts = (p.fund_paid_fen, p.serious_illness_paid_fen, p.account_paid_fen, p.self_pay_fen)
        if sum(parts) != p.amount_fen or min(parts) < 0:
            failures.add(f"payment {p.payment_id}: parts {parts} for an amount of {p.amount_fen} fen")
    return failures.result(Rule.PAYMENT_PARTS, {"payments": count, "amount_fen": amount})


def book_balance(
    totals: Iterable[BookTotal], postings: Iterable[Posting], outflows: Iterable[Outflow]
) -> RuleResult:
    failures = _Failures()
    posted: dict[FundBook, int] = defaultdict(int)
    paid_out: dict[FundBook, int] = defaultdict(int)
    for posting in postings:
        posted[posting.book] += posting.amount_fen
    for outflow in outflows:
        paid_out[outflow.book] += outflow.amount_fen
    stored = {t.book: t for t in totals}
    figures: dict[str, int] = {}
    for book in FundBook:
        t = stored.get(book, BookTotal(book, 0, 0, 0))
        figures |= {
            f"{book.value}.postings_in_fen": posted[book],
            f"{book.value}.outflows_fen": paid_out[book],
            f"{book.value}.balance_fen": t.balance_fen,
        }
        if (t.postings_in_fen, t.outflows_fen) != (posted[book], paid_out[book]):
            failures.add(
                f"book {book.value}: stored {t.postings_in_fen} in, {t.outflows_fen} out; "
                f"the records say {posted[book]} in, {paid_out[book]} out"
            )
        if t.balance_fen != posted[book] - paid_out[book]:
            failures.add(
                f"book {book.value}: balance {t.balance_fen} fen, "
                f"postings in - outflows out = {posted[book] - paid_out[book]} fen"
            )
    return failures.result(Rule.BOOK_BALANCE, figures)


def outflows_settled(outflows: Iterable[Outflow], payments: Iterable[PaymentRecord]) -> RuleResult:
    failures = _Failures()
    net: dict[str, int] = defaultdict(int)
    records = 0
    for outflow in outflows:
        records += 1
        if outflow.book is not PAYING_BOOK:
            failures.add(f"outflow of payment {outflow.payment_id} from the {outflow.book.value} book")
        net[outflow.payment_id] += outflow.amount_fen
    completed = cancelled = 0
    for p in payments:
        owed = 0 if p.cancelled else p.outflow_fen
        completed += not p.cancelled
        cancelled += p.cancelled
        got = net.pop(p.payment_id, 0)
        if got != owed:
            state = "cancelled" if p.cancelled else "completed"
            failures.add(f"payment {p.payment_id} ({state}): outflows {got} fen, should be {owed} fen")
    for payment_id, fen in net.items():
        failures.add(f"outflows of {fen} fen name payment {payment_id}, which does not exist")
    figures = {"outflow_records": records, "completed_payments": completed, "cancelled_payments": cancelled}
    return failures.result(Rule.OUTFLOWS_SETTLED, figures)


def personal_accounts(
    balances: Iterable[int], postings: Iterable[Posting], payments: Iterable[PaymentRecord]
) -> RuleResult:
    accounts = total = opening = contributed = paid = given_back = 0
    for balance in balances:
        accounts += 1
        total += balance
    for posting in postings:
        if posting.opening_balance:
            opening += posting.personal_account_fen
        else:
            contributed += posting.personal_account_fen
    for p in payments:
        paid += p.account_paid_fen
        given_back += p.account_paid_fen if p.cancelled else 0
    expected = opening + contributed - paid + given_back
    failures = _Failures()
    if total != expected:
        failures.add(f"the accounts hold {total} fen; the records say {expected} fen")
    figures = {
        "accounts": accounts,
        "balances_fen": total,
        "opening_balances_fen": opening,
        "contributions_share_fen": contributed,
        "account_paid_fen": paid,
        "given_back_fen": given_back,
        "expected_fen": expected,
    }
    return failures.result(Rule.PERSONAL_ACCOUNTS, figures)


def institution_days(
    payments: Iterable[PaymentRecord],
    entries: Iterable[DayEntry],
    day_totals: Iterable[DayTotal] | None = None,
) -> RuleResult:
    """`day_totals`: the stored per-day totals, when the store keeps them (else only the
    entries are checked against the payments)."""
    failures = _Failures()
    # (institution, day, payment, sign) -> the entry's parts; each may occur once
    seen: dict[tuple[str, date, str, int], tuple[int, int, int]] = {}
    days: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    owed = 0
    for e in entries:
        sign = -1 if e.cancellation else 1
        key = (e.institution_id, e.day, e.payment_id, sign)
        if key in seen:
            failures.add(f"payment {e.payment_id} has two {_kind(sign)} entries on {e.day}")
        seen[key] = e.parts
        sums = days[(e.institution_id, e.day)]
        sums[0] += 1
        for i, fen in enumerate(e.parts, start=1):
            sums[i] += fen
        owed += e.owed_fen
    count = 0
    for p in payments:
        count += 1
        parts = (p.account_paid_fen, p.fund_paid_fen, p.serious_illness_paid_fen)
        wanted = [((p.institution_id, p.day, p.payment_id, 1), parts)]
        if p.cancelled_day is not None:
            negative = (-parts[0], -parts[1], -parts[2])
            wanted.append(((p.institution_id, p.cancelled_day, p.payment_id, -1), negative))
        for key, want in wanted:
            got = seen.pop(key, None)
            if got != want:
                failures.add(
                    f"payment {p.payment_id}: {_kind(key[3])} entry on {key[1]} is {got}, should be {want}"
                )
    for (institution, day, payment_id, sign), _parts in seen.items():
        failures.add(f"{_kind(sign)} entry of {institution} on {day} names no such payment {payment_id}")
    figures = {"payments": count, "days": len(days), "owed_fen": owed}
    if day_totals is not None:
        kept = 0
        for t in day_totals:
            kept += 1
            stored = [t.entries, t.account_paid_fen, t.fund_paid_fen, t.serious_illness_paid_fen]
            computed = days.pop((t.institution_id, t.day), [0, 0, 0, 0])
            if stored != computed:
                failures.add(
                    f"{t.institution_id} on {t.day}: stored (entries, account, fund, serious illness) "
                    f"{tuple(stored)}, the entries say {tuple(computed)}"
                )
        for (institution, day), computed in days.items():
            failures.add(f"{institution} on {day}: entries {tuple(computed)} but no stored day total")
        figures["day_totals"] = kept
    return failures.result(Rule.INSTITUTION_DAYS, figures)


def _kind(sign: int) -> str:
    return "cancellation" if sign < 0 else "payment"

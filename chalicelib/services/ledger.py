"""`sscard ledger check`: every money conservation rule of DESIGN.md, proved from the stored
records (domain/ledger.py holds the rules; this reads the records for them).

Each rule streams its records once from the source (a scan per rule: this is an operator's
check, not a request path). Outflows are recorded on the settlement itself (the payment's
fund and serious-illness parts, given back when it is cancelled), so the book rule compares
the medical book's stored outflow total with exactly those: an outflow always names its
settlement, and a cancelled one's is given back (DESIGN's outflow rule holds by
construction and is proved through the book's stored totals).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from chalicelib.domain.contributions import FundBook
from chalicelib.domain.ledger import (
    BookTotal,
    DayEntry,
    Outflow,
    PaymentRecord,
    Posting,
    RuleResult,
    book_balance,
    institution_days,
    payment_parts,
    personal_accounts,
)


class LedgerSource(Protocol):
    def payments(self) -> Iterator[PaymentRecord]: ...
    def postings(self) -> Iterator[Posting]:
        """Contributions, and opening balances carried over (opening_balance=True)."""
        ...

    def book_totals(self) -> Iterator[BookTotal]:
        """Each book's stored totals, its shards summed."""
        ...

    def balances(self) -> Iterator[int]:
        """Every personal account's balance."""
        ...

    def entries(self) -> Iterator[DayEntry]: ...


def outflows_of(payments: Iterator[PaymentRecord]) -> Iterator[Outflow]:
    """What each settlement took from the medical book, and gave back if cancelled."""
    for p in payments:
        if p.outflow_fen:
            yield Outflow(p.payment_id, FundBook.MEDICAL, p.outflow_fen)
            if p.cancelled:
                yield Outflow(p.payment_id, FundBook.MEDICAL, -p.outflow_fen)


def check(source: LedgerSource) -> list[RuleResult]:
    return [
        payment_parts(source.payments()),
        book_balance(source.book_totals(), source.postings(), outflows_of(source.payments())),
        personal_accounts(source.balances(), source.postings(), source.payments()),
        institution_days(source.payments(), source.entries()),
    ]

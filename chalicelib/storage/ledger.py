"""The stored records the ledger check reads (services/ledger.py), by Scan: an operator's
check that reads every record, never a request path."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from chalicelib.domain.contributions import FundBook
from chalicelib.domain.ledger import BookTotal, DayEntry, PaymentRecord, Posting

from .errors import translated
from .models import (
    AccountModel,
    DayEntryModel,
    FundBookShardModel,
    OpeningBalanceModel,
    PaymentCancellationModel,
    PaymentModel,
    PostingModel,
)
from .payments import entry_of, payment_of


class DynamoLedgerSource:
    def payments(self) -> Iterator[PaymentRecord]:
        """Each payment with its state: the cancellations are read first (one small item per
        cancelled payment kept in memory), then the payments streamed."""
        with translated():
            cancellations = {c.payment_id: c for c in PaymentCancellationModel.scan()}
            for item in PaymentModel.scan():
                p = payment_of(item, cancellations.get(item.payment_id))
                yield PaymentRecord(
                    p.payment_id,
                    p.institution_id,
                    p.day,
                    p.amount_fen,
                    p.fund_paid_fen,
                    p.serious_illness_paid_fen,
                    p.account_paid_fen,
                    p.self_pay_fen,
                    p.cancelled_day,
                )

    def postings(self) -> Iterator[Posting]:
        with translated():
            for item in PostingModel.scan():
                yield Posting(
                    item.contribution_id,
                    FundBook(item.book),
                    int(item.amount_fen),
                    int(item.personal_account_fen),
                )
            for opening in OpeningBalanceModel.scan():
                # Into the account only: no fund book receives a carried-over balance.
                yield Posting(
                    f"opening:{opening.person_id}",
                    FundBook.MEDICAL,
                    0,
                    int(opening.amount_fen),
                    opening_balance=True,
                )

    def book_totals(self) -> Iterator[BookTotal]:
        posted: dict[FundBook, int] = defaultdict(int)
        paid_out: dict[FundBook, int] = defaultdict(int)
        with translated():
            for shard in FundBookShardModel.scan():
                posted[FundBook(shard.book)] += int(shard.total_fen)
                paid_out[FundBook(shard.book)] += int(shard.outflow_fen)
        for book in FundBook:
            yield BookTotal(book, posted[book], paid_out[book], posted[book] - paid_out[book])

    def balances(self) -> Iterator[int]:
        with translated():
            for account in AccountModel.scan():
                yield int(account.balance_fen)

    def entries(self) -> Iterator[DayEntry]:
        with translated():
            for item in DayEntryModel.scan():
                yield entry_of(item.institution_day.rsplit("#", 1)[0], item)

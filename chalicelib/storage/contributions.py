"""ContributionStore on DynamoDB, through PynamoDB.

A posting is ONE TransactWriteItems of three or four items:

  put     posting            contribution-postings  attribute_not_exists: a second delivery
                                                    fails here and becomes DuplicateDelivery
  update  month              contribution-months    ADD amount, postings, paid_on, ids
  update  book:<book>#<nnn>  fund-books             ADD total, postings (one shard of one book)
  update  account:<person>   accounts               ADD balance_fen and version (basic medical
                                                    with a personal-account share only)

A fund book's total is never one item: it is SHARDS items per book, the shard
picked by a hash of the contribution id (and the attempt, so a retry after a
transaction conflict lands elsewhere), and the book's total is their sum. The
number of shards may change at any time: readers sum whatever shards exist.

The account credit bumps the account's version as well as its balance. The
card use cases write the whole account item on condition that its version is
the one they read; without the bump such a write, decided from a read taken
before the credit, would put the old balance back and lose the credit. With it,
that write fails its condition and is decided again from a fresh read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from chalicelib.domain.contributions import FundBook, InsuranceType, Payer
from chalicelib.domain.errors import ConcurrentUpdate, HolderNotFound, InvalidInput
from chalicelib.domain.holders import Holder
from chalicelib.domain.periods import Period, china_date
from chalicelib.services.contribution_ports import BookTotal, MonthRecord, Posting, Rejection

from .dynamo import TransactionItems, holder_of
from .errors import translated
from .models import (
    AccountModel,
    ContributionMonthModel,
    ContributionRejectionModel,
    FundBookShardModel,
    HolderModel,
    PaidMonthsModel,
    PostingModel,
    SsnIndexModel,
    _region,
)

# Shards per fund book. At the deployment's cap of about 2,500 postings a second
# (infra/queues.py), the medical book (basic medical, maternity, serious illness: under
# half the postings) puts about 5 transactions a second on each shard: far below a
# partition's 1,000 writes a second, and rarely two transactions on one shard at once.
SHARDS = 256
REJECTION_RETENTION = timedelta(days=90)


def shard_of(contribution_id: str, attempt: int = 0, shards: int = SHARDS) -> int:
    digest = hashlib.sha256(f"{contribution_id}#{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_key(book: FundBook, shard: int) -> str:
    return f"{book.value}#{shard:03d}"


def month_key(period: Period, insurance: InsuranceType) -> str:
    return f"{period}#{insurance.value}"


def posting_items(posting: Posting, shard: int) -> TransactionItems:
    """The one transaction that posts a contribution (also used by the benchmark to count writes)."""
    items = TransactionItems()
    items.puts.append(
        (
            "posting",
            PostingModel(
                posting.contribution_id,
                person_id=posting.person_id,
                insurance=posting.insurance.value,
                book=posting.book.value,
                period=str(posting.period),
                payer=posting.payer.value,
                employer_id=posting.employer_id,
                amount_fen=posting.amount_fen,
                personal_account_fen=posting.personal_account_fen,
                paid_at=posting.paid_at,
                posted_at=posting.posted_at,
                shard=shard,
                source=posting.source,
            ),
            PostingModel.contribution_id.does_not_exist(),
        )
    )
    m = ContributionMonthModel
    paid_on = china_date(posting.paid_at).isoformat()
    items.updates.append(
        (
            "month",
            m(posting.person_id, month_key(posting.period, posting.insurance)),
            [
                m.insurance.set(posting.insurance.value),
                m.period.set(str(posting.period)),
                m.book.set(posting.book.value),
                m.amount_fen.add(posting.amount_fen),
                m.postings.add(1),
                m.personal_account_fen.add(posting.personal_account_fen),
                m.paid_on.add({paid_on}),
                m.contribution_ids.add({posting.contribution_id}),
            ],
            None,
        )
    )
    b = FundBookShardModel
    key = shard_key(posting.book, shard)
    items.updates.append(
        (
            f"book:{key}",
            b(key),
            [
                b.book.set(posting.book.value),
                b.shard.set(shard),
                b.total_fen.add(posting.amount_fen),
                b.postings.add(1),
                b.personal_account_fen.add(posting.personal_account_fen),
            ],
            None,
        )
    )
    if posting.personal_account_fen > 0:
        items.updates.append(
            (
                f"account:{posting.person_id}",
                AccountModel(posting.person_id),
                [
                    AccountModel.balance_fen.add(posting.personal_account_fen),
                    AccountModel.version.add(1),
                ],
                AccountModel.person_id.exists(),  # never create half an account
            )
        )
    paid = PAID_MONTHS.get(posting.insurance)
    if paid is not None:
        # What a payment's settlement reads in its first read: the month and the day it was paid.
        entry = [f"{posting.period}={paid_on}"]
        items.updates.append(
            (
                f"paid-months:{posting.person_id}",
                PaidMonthsModel(posting.person_id),
                [paid.set((paid | []).append(entry))],
                None,
            )
        )
    return items


# The insurance types a settlement reads the months of (storage/payments.py paid_months_of).
PAID_MONTHS = {
    InsuranceType.MEDICAL: PaidMonthsModel.medical,
    InsuranceType.SERIOUS_ILLNESS: PaidMonthsModel.serious_illness,
}


def month_of(item: ContributionMonthModel) -> MonthRecord:
    return MonthRecord(
        person_id=item.person_id,
        insurance=InsuranceType(item.insurance),
        period=Period.parse(item.period),
        amount_fen=int(item.amount_fen),
        postings=int(item.postings),
        personal_account_fen=int(item.personal_account_fen or 0),
        paid_on=tuple(sorted(date.fromisoformat(d) for d in item.paid_on or ())),
        contribution_ids=tuple(sorted(item.contribution_ids or ())),
    )


def rejection_of(item: ContributionRejectionModel) -> Rejection:
    return Rejection(
        key=item.rejection_key,
        contribution_id=item.contribution_id,
        message_id=item.message_id,
        reason=item.reason,
        detail=item.detail,
        at=item.last_rejected_at,
        ssn_masked=item.ssn_masked,
        period=item.period,
        insurance=item.insurance,
        source=item.source,
        first_at=item.first_rejected_at,
        receives=int(item.receives or 0),
    )


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("The cursor is not one this service gave") from exc
    if not isinstance(key, dict):
        raise InvalidInput("The cursor is not one this service gave")
    return key


class DynamoContributionStore:
    def __init__(self, shards: int = SHARDS) -> None:
        self.shards = shards
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=_region())
        return self._connection

    def holders_by_ssn(self, ssn_digests: Collection[str]) -> dict[str, Holder]:
        if not ssn_digests:
            return {}
        with translated():
            index = {
                i.person_id: i.ssn_digest for i in SsnIndexModel.batch_get(ssn_digests, consistent_read=True)
            }
            if not index:
                return {}
            holders = list(HolderModel.batch_get(list(index), consistent_read=True))
        return {index[h.person_id]: holder_of(h) for h in holders}

    def post(self, posting: Posting, attempt: int = 0) -> None:
        items = posting_items(posting, shard_of(posting.contribution_id, attempt, self.shards))
        try:
            items.commit(self.connection)
        except ConcurrentUpdate as exc:
            if str(exc.extra.get("label", "")).startswith("account:"):
                raise HolderNotFound("The holder has no personal account") from exc
            raise

    def reject(self, rejection: Rejection) -> None:
        r = ContributionRejectionModel
        optional = (
            (r.contribution_id, rejection.contribution_id),
            (r.ssn_masked, rejection.ssn_masked),
            (r.period, rejection.period),
            (r.insurance, rejection.insurance),
            (r.source, rejection.source),
        )
        actions: list[Action] = [
            r.message_id.set(rejection.message_id),
            r.reason.set(rejection.reason),
            r.detail.set(rejection.detail[:500]),
            r.first_rejected_at.set(r.first_rejected_at | rejection.at),
            r.last_rejected_at.set(rejection.at),
            r.receives.add(1),
            r.expires_at.set(rejection.at + REJECTION_RETENTION),
        ]
        actions += [attr.set(value) for attr, value in optional if value is not None]
        with translated():
            r(rejection.key).update(actions=actions)

    def get_rejection(self, key: str) -> Rejection | None:
        with translated():
            try:
                return rejection_of(ContributionRejectionModel.get(key, consistent_read=True))
            except DoesNotExist:
                return None

    def rejections(self, limit: int, cursor: str | None = None) -> tuple[list[Rejection], str | None]:
        with translated():
            found = ContributionRejectionModel.scan(limit=limit, last_evaluated_key=decode_cursor(cursor))
            page = [rejection_of(i) for i in found]
            next_key = found.last_evaluated_key
        page.sort(key=lambda r: r.at, reverse=True)
        return page, encode_cursor(next_key)

    def get_posting(self, contribution_id: str) -> Posting | None:
        with translated():
            try:
                return posting_of(PostingModel.get(contribution_id, consistent_read=True))
            except DoesNotExist:
                return None

    def posted(self, contribution_ids: Collection[str]) -> set[str]:
        if not contribution_ids:
            return set()
        with translated():
            return {
                i.contribution_id
                for i in PostingModel.batch_get(
                    set(contribution_ids), consistent_read=True, attributes_to_get=["contribution_id"]
                )
            }

    def months(self, person_id: str) -> list[MonthRecord]:
        with translated():
            return [month_of(i) for i in ContributionMonthModel.query(person_id, consistent_read=True)]

    def months_page(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[MonthRecord], str | None]:
        condition = ContributionMonthModel.month_key < before if before else None
        with translated():
            items = list(
                ContributionMonthModel.query(
                    person_id,
                    range_key_condition=condition,
                    scan_index_forward=False,
                    consistent_read=True,
                    limit=limit + 1,
                )
            )
        more = len(items) > limit
        items = items[:limit]
        return [month_of(i) for i in items], (items[-1].month_key if more else None)

    def book_totals(self) -> dict[FundBook, BookTotal]:
        """A Scan of the fund-books table: it holds only the shards (books x SHARDS small items)."""
        totals = {b: BookTotal(b) for b in FundBook}
        with translated():
            for item in FundBookShardModel.scan(consistent_read=True):
                book = FundBook(item.book)
                totals[book] = totals[book].plus(
                    int(item.total_fen), int(item.postings), int(item.personal_account_fen or 0)
                )
        return totals

    def postings_by_book(self) -> dict[FundBook, BookTotal]:
        """Sums every posting: an audit that reads the whole postings table (operator use only)."""
        totals = {b: BookTotal(b) for b in FundBook}
        with translated():
            for item in PostingModel.scan(
                consistent_read=True, attributes_to_get=["book", "amount_fen", "personal_account_fen"]
            ):
                book = FundBook(item.book)
                totals[book] = totals[book].plus(int(item.amount_fen), 1, int(item.personal_account_fen or 0))
        return totals


def posting_of(item: PostingModel) -> Posting:
    return Posting(
        contribution_id=item.contribution_id,
        person_id=item.person_id,
        insurance=InsuranceType(item.insurance),
        period=Period.parse(item.period),
        payer=Payer(item.payer),
        employer_id=item.employer_id,
        amount_fen=int(item.amount_fen),
        personal_account_fen=int(item.personal_account_fen or 0),
        paid_at=item.paid_at,
        posted_at=item.posted_at,
        source=item.source,
    )

"""One contract, two implementations: the fake and PynamoDB on moto post contributions alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from moto import mock_aws

from chalicelib.domain.contributions import FundBook, InsuranceType, Payer
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateDelivery, HolderNotFound
from chalicelib.domain.holders import Participation
from chalicelib.domain.periods import Period
from chalicelib.services import admin
from chalicelib.services.contribution_ports import BookTotal, Posting, Rejection
from chalicelib.services.ports import CardChange
from sscard_ops.seed import make_ssn
from tests.conftest import NOW
from tests.fakes import FakeCardStore, FakeContributionStore

KEY = b"k" * 32
PAID = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request):
    if request.param == "fake":
        cards = FakeCardStore()
        yield cards, FakeContributionStore(cards, shards=4)
        return
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.models import create_tables

    with mock_aws():
        create_tables()
        yield DynamoCardStore(), DynamoContributionStore(shards=4)


def enroll(cards, seq="11010519900307123", participation=Participation.EMPLOYEE, balance=0):
    return admin.enroll_holder(cards, KEY, make_ssn(seq), "T", participation, NOW, balance_fen=balance)


def posting(person_id, cid="c-1", insurance=InsuranceType.PENSION, amount=10_000, personal=0, **kw):
    values = {
        "contribution_id": cid,
        "person_id": person_id,
        "insurance": insurance,
        "period": Period(2026, 1),
        "payer": Payer.EMPLOYER,
        "employer_id": "EMP-1",
        "amount_fen": amount,
        "personal_account_fen": personal,
        "paid_at": PAID,
        "posted_at": NOW,
        "source": "COLLECTION",
    }
    values.update(kw)
    return Posting(**values)


def test_a_posting_reaches_its_book_its_month_and_reads_back(stores):
    cards, store = stores
    holder = enroll(cards)
    store.post(posting(holder.person_id))
    assert store.get_posting("c-1") == posting(holder.person_id)
    totals = store.book_totals()
    assert totals[FundBook.PENSION] == BookTotal(FundBook.PENSION, 10_000, 1, 0)
    assert all(totals[b] == BookTotal(b) for b in FundBook if b is not FundBook.PENSION)
    assert store.postings_by_book() == totals
    [month] = store.months(holder.person_id)
    assert (month.insurance, month.period, month.amount_fen, month.postings) == (
        InsuranceType.PENSION,
        Period(2026, 1),
        10_000,
        1,
    )
    assert month.paid_on == (date(2026, 1, 15),) and month.contribution_ids == ("c-1",)
    assert cards.get_account(holder.person_id).version == 0  # pension does not touch the account


def test_the_same_contribution_posts_once(stores):
    cards, store = stores
    holder = enroll(cards, balance=100)
    first = posting(holder.person_id, insurance=InsuranceType.MEDICAL, personal=3_000)
    store.post(first)
    for attempt in range(3):  # another delivery, even one that picks another shard
        with pytest.raises(DuplicateDelivery):
            store.post(replace(first, amount_fen=99_999, posted_at=NOW + timedelta(hours=1)), attempt)
    assert store.book_totals()[FundBook.MEDICAL] == BookTotal(FundBook.MEDICAL, 10_000, 1, 3_000)
    assert store.months(holder.person_id)[0].amount_fen == 10_000
    assert cards.get_account(holder.person_id).balance_fen == 3_100
    assert store.get_posting("c-1").posted_at == NOW


def test_the_personal_account_share_is_credited_in_the_same_write(stores):
    cards, store = stores
    holder = enroll(cards, balance=500)
    before = cards.get_account(holder.person_id)
    store.post(
        posting(holder.person_id, insurance=InsuranceType.MEDICAL, payer=Payer.EMPLOYEE, personal=2_000)
    )
    after = cards.get_account(holder.person_id)
    assert after.balance_fen == 2_500
    assert after.version == before.version + 1  # a card use case that read `before` must re-read
    assert (after.state, after.card_no) == (before.state, before.card_no)


def test_a_card_change_decided_before_a_credit_cannot_undo_it(stores):
    cards, store = stores
    holder = enroll(cards, balance=500)
    read = cards.get_account(holder.person_id)
    store.post(posting(holder.person_id, insurance=InsuranceType.MEDICAL, personal=700))
    stale = replace(read, version=read.version + 1)  # what a use case would write from its read
    with pytest.raises(ConcurrentUpdate):
        cards.commit(CardChange(account=stale))
    assert cards.get_account(holder.person_id).balance_fen == 1_200


def test_no_account_no_credit_and_nothing_written(stores):
    cards, store = stores
    with pytest.raises(HolderNotFound):
        store.post(posting("P-nobody", insurance=InsuranceType.MEDICAL, personal=100))
    assert store.get_posting("c-1") is None
    assert store.book_totals()[FundBook.MEDICAL].postings == 0
    assert cards.get_account("P-nobody") is None


def test_shares_of_one_month_add_up_in_one_record(stores):
    cards, store = stores
    holder = enroll(cards)
    store.post(posting(holder.person_id, "c-er", InsuranceType.MEDICAL, 8_000))
    later = PAID + timedelta(days=3)
    store.post(
        posting(
            holder.person_id, "c-ee", InsuranceType.MEDICAL, 2_000, 2_000, payer=Payer.EMPLOYEE, paid_at=later
        )
    )
    [month] = store.months(holder.person_id)
    assert (month.amount_fen, month.postings, month.personal_account_fen) == (10_000, 2, 2_000)
    assert month.paid_on == (date(2026, 1, 15), date(2026, 1, 18))
    assert month.contribution_ids == ("c-ee", "c-er")
    assert month.paid_month().first_paid_on == date(2026, 1, 15)


def test_books_are_the_sum_of_their_shards_and_of_their_postings(stores):
    cards, store = stores
    holder = enroll(cards)
    kinds = list(InsuranceType)
    expected = {b: BookTotal(b) for b in FundBook}
    for i in range(30):
        kind = kinds[i % len(kinds)]
        p = posting(holder.person_id, f"c-{i}", kind, 1_000 + i, period=Period(2025, 1).shift(i))
        store.post(p, attempt=i % 2)
        expected[p.book] = expected[p.book].plus(p.amount_fen, 1, 0)
    assert store.book_totals() == expected
    assert store.postings_by_book() == expected
    assert sum(t.postings for t in expected.values()) == 30


def test_holders_are_found_by_ssn_digest(stores):
    cards, store = stores
    a = enroll(cards, "11010519900307123")
    b = enroll(cards, "11010819851120456", Participation.FREELANCER)
    found = store.holders_by_ssn({a.ssn_digest, b.ssn_digest, "0" * 64})
    assert found == {a.ssn_digest: a, b.ssn_digest: b}
    assert store.holders_by_ssn(set()) == {}


def test_months_are_paged_newest_first(stores):
    cards, store = stores
    holder = enroll(cards)
    for i in range(5):
        store.post(posting(holder.person_id, f"c-{i}", period=Period(2025, 1).shift(i)))
    page, cursor = store.months_page(holder.person_id, 2)
    assert [str(m.period) for m in page] == ["2025-05", "2025-04"]
    page2, cursor2 = store.months_page(holder.person_id, 2, cursor)
    assert [str(m.period) for m in page2] == ["2025-03", "2025-02"]
    page3, cursor3 = store.months_page(holder.person_id, 2, cursor2)
    assert [str(m.period) for m in page3] == ["2025-01"] and cursor3 is None
    assert store.months_page("P-other", 2) == ([], None)


def test_rejections_are_kept_with_their_reason_and_counted(stores):
    _, store = stores
    at = NOW
    r = Rejection(
        "c-9",
        "c-9",
        "m-1",
        "contribution-ineligible",
        "A freelancer may not join work_injury insurance",
        at,
        ssn_masked="1101**********1234",
        period="2026-01",
        insurance="work_injury",
        source="COLLECTION",
    )
    store.reject(r)
    store.reject(replace(r, message_id="m-1", at=at + timedelta(minutes=5)))
    store.reject(Rejection("message:m-2", None, "m-2", "invalid-contribution", "not JSON", at))
    page, _ = store.rejections(10)
    by_key = {x.key: x for x in page}
    again = by_key["c-9"]
    assert again.receives == 2 and again.first_at == at and again.at == at + timedelta(minutes=5)
    assert (again.reason, again.insurance, again.ssn_masked) == (
        "contribution-ineligible",
        "work_injury",
        "1101**********1234",
    )
    assert by_key["message:m-2"].contribution_id is None
    assert store.posted({"c-9"}) == set()
    assert store.get_rejection("c-9") == again  # what GET /v1/contributions/{id} reads
    assert store.get_rejection("c-10") is None


def test_rejections_page(stores):
    _, store = stores
    for i in range(5):
        store.reject(Rejection(f"c-{i}", f"c-{i}", f"m-{i}", "holder-not-found", "no holder", NOW))
    seen, cursor = [], None
    for _ in range(5):
        page, cursor = store.rejections(2, cursor)
        seen += [r.key for r in page]
        if cursor is None:
            break
    assert sorted(seen) == [f"c-{i}" for i in range(5)]


def test_posted_tells_which_contributions_exist(stores):
    cards, store = stores
    holder = enroll(cards)
    store.post(posting(holder.person_id, "c-a"))
    assert store.posted({"c-a", "c-b"}) == {"c-a"}
    assert store.posted(set()) == set()


# --- earmarking: a posting names one book, and only posting writes to the books ----------------


@pytest.mark.parametrize("insurance", list(InsuranceType))
def test_each_posting_transaction_adds_to_exactly_its_own_book(insurance):
    from chalicelib.domain.contributions import BOOK_OF
    from chalicelib.storage.contributions import posting_items

    items = posting_items(posting("P-1", insurance=insurance, personal=100), shard=7)
    books = [label for label in items.labels() if label.startswith("book:")]
    assert books == [f"book:{BOOK_OF[insurance].value}#007"]
    [(_, shard_item, actions, _)] = [u for u in items.updates if u[0].startswith("book:")]
    assert shard_item.shard_key == f"{BOOK_OF[insurance].value}#007"
    assert all(type(a).__name__ in ("AddAction", "SetAction") for a in actions)  # adds, never moves


def test_no_other_code_writes_a_fund_book():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "chalicelib"
    users = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Name) and n.id == "FundBookShardModel" for n in ast.walk(tree)):
            users.add(path.relative_to(root).as_posix())
    # Declared (and listed in ALL_MODELS) in models.py; money in only by posting_items(),
    # settlement outflows only by the payment store, read by the ledger check.
    assert users == {
        "storage/models.py",
        "storage/contributions.py",
        "storage/payments.py",
        "storage/ledger.py",
    }

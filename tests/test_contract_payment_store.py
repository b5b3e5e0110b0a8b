"""One payment-store contract, two implementations: the fake and PynamoDB on moto.

Every failed condition must leave nothing written: no payment without its
debit, no debit without its payment, no idempotency record without either.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from moto import mock_aws

from chalicelib.domain import cards as rules
from chalicelib.domain.cards import Action, CardState, Channel
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateDelivery
from chalicelib.domain.holders import AccountState, Bank
from chalicelib.domain.payments import Payment, PaymentState
from chalicelib.domain.settlement import SelfPay
from chalicelib.services import activation, admin
from chalicelib.services.idempotency import StoredResponse
from chalicelib.services.payment_ports import CancelWrite, PaymentWrite
from chalicelib.services.ports import IDEMPOTENCY_LABEL, CardChange, IdempotencyRecord, Registration
from tests.conftest import NOW
from tests.fake_payments import FakePaymentStore
from tests.fake_stays import FakeStayStore
from tests.fakes import FakeCardStore, FakeIdempotencyStore
from tests.payment_helpers import assert_no_partial_state, funded_holder

KEY = b"p" * 32
EPOCH = int(NOW.timestamp())


class Stores:
    def __init__(self, cards, keys, payments) -> None:
        self.cards, self.keys, self.payments = cards, keys, payments


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request):
    if request.param == "fake":
        keys = FakeIdempotencyStore()
        cards = FakeCardStore(keys)
        yield Stores(cards, keys, FakePaymentStore(cards, keys))
        return
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.payments import DynamoPaymentStore

    with mock_aws():
        create_tables()
        yield Stores(DynamoCardStore(), DynamoIdempotencyStore(), DynamoPaymentStore())


def record(scope="PH-1#k", status=201, body='{"payment_id": "x"}', expires=EPOCH + 3600) -> IdempotencyRecord:
    return IdempotencyRecord(scope, "fp", False, expires, 0, status, body)


def a_payment(
    person_id, card_no, paid, *, pid="pay-1", at=NOW, institution="PH-1", balance_after=0
) -> Payment:
    return Payment(
        payment_id=pid,
        institution_id=institution,
        institution_name="Ph",
        card_no=card_no,
        person_id=person_id,
        amount_fen=paid,
        account_paid_fen=paid,
        self_pay_fen=0,
        self_pay=SelfPay.ALLOWED,
        paid_at=at,
        balance_after_fen=balance_after,
    )


def debit_write(s, card_no, paid, *, pid="pay-1", scope="PH-1#k", at=NOW, stale=False) -> PaymentWrite:
    read = s.payments.read_for_payment(card_no, scope, 2026)
    account = read.account
    version = account.version + (0 if stale else 1)
    after = replace(account, balance_fen=account.balance_fen - paid, version=version)
    payment = a_payment(account.person_id, card_no, paid, pid=pid, at=at, balance_after=after.balance_fen)
    return PaymentWrite(payment, after, record(scope), EPOCH, card_guard=read.card)


def written(s, person_id, card_no, pid="pay-1", scope="PH-1#k"):
    return (
        s.cards.get_account(person_id).balance_fen,
        s.payments.get_payment(pid) is not None,
        s.keys.get(scope) is not None,
    )


def test_a_payment_is_written_whole_and_read_back(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    first = s.payments.read_for_payment(card_no, "PH-1#k", 2026)  # a cold cache on DynamoDB
    assert first.card.card_no == card_no and first.account.balance_fen == 5_000 and first.key_record is None
    write = debit_write(s, card_no, 1_200)
    s.payments.commit_payment(write)
    assert written(s, person_id, card_no) == (3_800, True, True)
    after = s.payments.read_for_payment(card_no, "PH-1#k", 2026)
    assert after.account.version == write.account.version and after.key_record == write.key_record
    assert s.payments.get_payment("pay-1") == write.payment
    assert_no_partial_state(s.cards, s.payments, s.keys, person_id, 5_000)


def test_an_unknown_card_reads_as_none_with_its_key_record(stores):
    s = stores
    s.keys.reserve(record("PH-1#z"), EPOCH)
    read = s.payments.read_for_payment("6217000000000000001", "PH-1#z", 2026)
    assert read.card is None and read.account is None and read.key_record.status == 201


def test_a_stale_account_version_writes_nothing(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    with pytest.raises(ConcurrentUpdate) as conflict:
        s.payments.commit_payment(debit_write(s, card_no, 1_000, stale=True))
    assert conflict.value.extra["label"].startswith("account:")
    assert written(s, person_id, card_no) == (5_000, False, False)


def test_a_debit_beyond_the_balance_writes_nothing(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 500)
    with pytest.raises(ConcurrentUpdate):
        s.payments.commit_payment(debit_write(s, card_no, 501))
    assert written(s, person_id, card_no) == (500, False, False)


def test_a_card_suspended_since_the_read_writes_nothing(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    write = debit_write(s, card_no, 1_000)
    activation.change_state(
        s.cards,
        card_no,
        Action.REPORT_LOSS,
        Channel.MOBILE,
        NOW,
        owner=person_id,
        key=None,
        render=lambda card: StoredResponse(200, card.state.value),
    )
    with pytest.raises(ConcurrentUpdate) as conflict:
        s.payments.commit_payment(write)
    assert conflict.value.extra["label"] == f"card:{card_no}"
    assert written(s, person_id, card_no) == (5_000, False, False)


def test_a_key_taken_meanwhile_is_a_duplicate_and_writes_nothing(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    write = debit_write(s, card_no, 1_000)
    assert s.keys.reserve(record(body='{"payment_id": "other"}'), EPOCH)
    with pytest.raises(DuplicateDelivery) as duplicate:
        s.payments.commit_payment(write)
    assert duplicate.value.extra["label"] == IDEMPOTENCY_LABEL
    assert s.cards.get_account(person_id).balance_fen == 5_000
    assert s.payments.get_payment("pay-1") is None


def test_an_expired_key_record_is_replaced(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    s.keys.reserve(record(expires=EPOCH - 1), EPOCH - 3600)
    s.payments.commit_payment(debit_write(s, card_no, 1_000))
    assert written(s, person_id, card_no) == (4_000, True, True)
    assert s.keys.get("PH-1#k").expires_at == EPOCH + 3600


def test_a_payment_id_taken_writes_no_debit(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    s.payments.commit_payment(debit_write(s, card_no, 1_000, scope="PH-1#first"))
    with pytest.raises(DuplicateDelivery) as duplicate:
        s.payments.commit_payment(debit_write(s, card_no, 2_000, scope="PH-1#second"))
    assert duplicate.value.extra["label"] == "payment"
    assert s.cards.get_account(person_id).balance_fen == 4_000
    assert s.keys.get("PH-1#second") is None
    assert_no_partial_state(s.cards, s.payments, s.keys, person_id, 5_000)


def test_a_first_use_activates_moves_and_debits_in_one_write(stores):
    s = stores
    s.cards.add_bank(Bank("ICBC", "ICBC"))
    person_id, old_no = funded_holder(s.cards, KEY, NOW, 9_000)
    new = admin.issue_card(s.cards, person_id, NOW, bank_code="ICBC")
    read = s.payments.read_for_payment(new.card_no, "PH-1#first-use", 2026)
    assert read.card.state is CardState.ISSUED and read.account.state is AccountState.HELD
    plan = activation.plan_activation(s.cards, read.card, Channel.PHARMACY, NOW, "PH-1", old_no)
    moved = plan.change.account
    after = replace(moved, balance_fen=moved.balance_fen - 700)
    payment = replace(a_payment(person_id, new.card_no, 700), card_activated=True)
    write = PaymentWrite(
        payment, after, record("PH-1#first-use"), EPOCH, activation=replace(plan.change, account=None)
    )
    s.payments.commit_payment(write)
    account = s.cards.get_account(person_id)
    assert (account.state, account.card_no, account.pending_card_no, account.balance_fen) == (
        AccountState.NORMAL,
        new.card_no,
        None,
        8_300,
    )
    assert s.cards.get_card(new.card_no).state is CardState.ACTIVE
    assert s.cards.get_card(old_no).state is CardState.REPLACED
    assert [e.action for e in s.cards.card_events(new.card_no)] == [Action.ISSUE, Action.ACTIVATE]


def test_a_first_use_whose_old_card_changed_meanwhile_writes_nothing(stores):
    s = stores
    s.cards.add_bank(Bank("ICBC", "ICBC"))
    person_id, old_no = funded_holder(s.cards, KEY, NOW, 9_000)
    new = admin.issue_card(s.cards, person_id, NOW, bank_code="ICBC")
    read = s.payments.read_for_payment(new.card_no, "PH-1#first-use", 2026)
    plan = activation.plan_activation(s.cards, read.card, Channel.PHARMACY, NOW, "PH-1", old_no)
    old = s.cards.get_card(old_no)
    lost, event = rules.apply(old, Action.REPORT_LOSS, channel=Channel.MOBILE, at=NOW)
    s.cards.commit(CardChange(cards=(lost,), events=(event,)))  # the old card moved on
    moved = plan.change.account
    write = PaymentWrite(
        replace(a_payment(person_id, new.card_no, 700), card_activated=True),
        replace(moved, balance_fen=moved.balance_fen - 700),
        record("PH-1#first-use"),
        EPOCH,
        activation=replace(plan.change, account=None),
    )
    with pytest.raises(ConcurrentUpdate):
        s.payments.commit_payment(write)
    assert s.cards.get_card(new.card_no).state is CardState.ISSUED
    assert s.cards.get_account(person_id).balance_fen == 9_000
    assert s.payments.get_payment("pay-1") is None and s.keys.get("PH-1#first-use") is None


def test_a_payment_is_cancelled_once_and_credited_once(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    write = debit_write(s, card_no, 1_500)
    s.payments.commit_payment(write)
    cancelled = write.payment.cancel(NOW + timedelta(minutes=5))
    s.payments.cancel_payment(CancelWrite(cancelled))
    assert s.payments.get_payment("pay-1").state is PaymentState.CANCELLED
    assert s.cards.get_account(person_id).balance_fen == 5_000
    with pytest.raises(ConcurrentUpdate):
        s.payments.cancel_payment(CancelWrite(cancelled))  # a second cancel decided from a stale read
    assert s.cards.get_account(person_id).balance_fen == 5_000
    assert_no_partial_state(s.cards, s.payments, s.keys, person_id, 5_000)


def test_a_cancelled_payment_reads_cancelled_everywhere_it_is_read(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    for n in range(2):
        s.payments.commit_payment(
            debit_write(s, card_no, 100, pid=f"p{n}", scope=f"PH-1#{n}", at=NOW + timedelta(seconds=n))
        )
    made = s.payments.get_payment("p0")
    at = NOW + timedelta(hours=2)
    s.payments.cancel_payment(CancelWrite(made.cancel(at)))
    cancelled = replace(made, state=PaymentState.CANCELLED, cancelled_at=at)
    assert s.payments.get_payment("p0") == cancelled
    assert s.payments.read_for_cancel("p0", None).payment == cancelled
    page, _ = s.payments.payments_of_holder(person_id, 10)
    assert [(p.payment_id, p.state, p.cancelled_at) for p in page] == [
        ("p1", PaymentState.COMPLETED, None),
        ("p0", PaymentState.CANCELLED, at),
    ]
    # A second cancellation, decided from a read before the first: refused, nothing credited.
    with pytest.raises(ConcurrentUpdate):
        s.payments.cancel_payment(CancelWrite(made.cancel(at + timedelta(minutes=1))))
    assert s.payments.get_payment("p0") == cancelled
    assert s.cards.get_account(person_id).balance_fen == 5_000 - 100


def test_a_cancel_reads_the_payment_with_its_key_and_writes_the_answer_with_the_credit(stores):
    s = stores
    _, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    write = debit_write(s, card_no, 1_500)
    s.payments.commit_payment(write)
    read = s.payments.read_for_cancel("pay-1", "PH-1#c")
    assert read.payment == write.payment and read.key_record is None
    answer = record("PH-1#c", 200, '{"state": "cancelled"}')
    s.payments.cancel_payment(CancelWrite(write.payment.cancel(NOW), answer, EPOCH))
    again = s.payments.read_for_cancel("pay-1", "PH-1#c")
    assert again.payment.state is PaymentState.CANCELLED and again.key_record == answer
    assert s.payments.read_for_cancel("nope", None).payment is None


def test_a_cancel_whose_key_was_taken_meanwhile_credits_nothing(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    write = debit_write(s, card_no, 1_500)
    s.payments.commit_payment(write)
    assert s.keys.reserve(record("PH-1#c", 409, "{}"), EPOCH)
    with pytest.raises(DuplicateDelivery) as taken:
        s.payments.cancel_payment(CancelWrite(write.payment.cancel(NOW), record("PH-1#c", 200, "{}"), EPOCH))
    assert taken.value.extra["label"] == IDEMPOTENCY_LABEL
    assert s.payments.get_payment("pay-1").state is PaymentState.COMPLETED
    assert s.cards.get_account(person_id).balance_fen == 3_500
    assert s.keys.get("PH-1#c").status == 409


def test_a_holders_payments_page_newest_first_stably(stores):
    s = stores
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 100_000)
    for i in range(5):
        write = debit_write(s, card_no, 10, pid=f"p{i}", scope=f"PH-1#{i}", at=NOW + timedelta(seconds=i))
        s.payments.commit_payment(write)
    page, last = s.payments.payments_of_holder(person_id, 2)
    assert [p.payment_id for p in page] == ["p4", "p3"] and last == page[-1].sort_key
    late = debit_write(s, card_no, 10, pid="late", scope="PH-1#late", at=NOW + timedelta(seconds=10))
    s.payments.commit_payment(late)
    page, last = s.payments.payments_of_holder(person_id, 2, last)
    assert [p.payment_id for p in page] == ["p2", "p1"]
    page, last = s.payments.payments_of_holder(person_id, 2, last)
    assert [p.payment_id for p in page] == ["p0"] and last is None
    assert s.payments.payments_of_holder("P-nobody", 2) == ([], None)


def test_a_days_entries_are_the_institutions_by_china_date_and_page(stores):
    s = stores
    _, card_no = funded_holder(s.cards, KEY, NOW, 100_000)
    late_evening_utc = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)  # 00:30 on the 25th in China
    times = {"a": late_evening_utc, "b": late_evening_utc - timedelta(hours=1), "c": NOW}
    for pid, at in times.items():
        s.payments.commit_payment(debit_write(s, card_no, 10, pid=pid, scope=f"PH-1#{pid}", at=at))

    def ids(day: date) -> list[str]:
        return [e.payment_id for e in s.payments.day_entries("PH-1", day)]

    assert ids(date(2026, 11, 25)) == ["a", "c"]
    assert ids(date(2026, 11, 24)) == ["b"]
    assert list(s.payments.day_entries("PH-2", date(2026, 11, 25))) == []
    first, after = s.payments.day_entries_page("PH-1", date(2026, 11, 25), 1)
    rest, end = s.payments.day_entries_page("PH-1", date(2026, 11, 25), 1, after)
    assert [e.payment_id for e in first + rest] == ["a", "c"] and end is None


def test_a_discharge_reads_the_stay_with_its_key_and_its_holders_items(stores):
    s = stores
    if isinstance(s.payments, FakePaymentStore):
        s.payments.stays = FakeStayStore(s.cards, s.keys)
    person_id, card_no = funded_holder(s.cards, KEY, NOW, 5_000)
    admitted = Registration("R-1", card_no, person_id, "HO-1", "inpatient", NOW, False)
    s.cards.commit(CardChange(registration=admitted))
    assert s.keys.reserve(record("HO-1#d", 201, '{"payment_id": "p"}'), EPOCH)
    first = s.payments.read_for_discharge("R-1", "HO-1#d", 2026)
    assert first.stay is not None and (first.stay.card_no, first.stay.person_id) == (card_no, person_id)
    assert first.key_record == record("HO-1#d", 201, '{"payment_id": "p"}')
    assert first.payment is not None and first.payment.card.card_no == card_no
    assert first.payment.account.balance_fen == 5_000 and first.payment.counters_version == 0
    # Read again (on DynamoDB now in one round trip: the stay's card is known): the same.
    assert s.payments.read_for_discharge("R-1", "HO-1#d", 2026) == first
    nothing = s.payments.read_for_discharge("R-nope", "HO-1#x", 2026)
    assert (nothing.stay, nothing.key_record, nothing.payment) == (None, None, None)

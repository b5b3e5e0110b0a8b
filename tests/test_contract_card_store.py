"""One contract, two implementations: the in-memory fake and PynamoDB on moto behave the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from moto import mock_aws

from chalicelib.domain import cards as rules
from chalicelib.domain.cards import Action, CardKind, CardState, Channel
from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate, DuplicateDelivery
from chalicelib.domain.holders import AccountState, Bank, InstitutionKind, Participation
from chalicelib.services import activation, admin
from chalicelib.services.idempotency import StoredResponse
from chalicelib.services.ports import IDEMPOTENCY_LABEL, CardChange, IdempotencyRecord, WebhookReceipt
from sscard_ops.seed import make_ssn
from tests.conftest import NOW
from tests.fakes import FakeCardStore, FakeIdempotencyStore

KEY = b"k" * 32


@pytest.fixture(params=["fake", "dynamodb"])
def store(request):
    if request.param == "fake":
        yield FakeCardStore()
        return
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.models import create_tables

    with mock_aws():
        create_tables()
        yield DynamoCardStore()


@pytest.fixture(params=["fake", "dynamodb"])
def idempotency_store(request):
    if request.param == "fake":
        yield FakeIdempotencyStore()
        return
    from chalicelib.storage.dynamo import DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables

    with mock_aws():
        create_tables()
        yield DynamoIdempotencyStore()


def holder_with_card(store, seq="11010519900307123", *, old_balance=None):
    if store.get_bank("ICBC") is None:
        store.add_bank(Bank("ICBC", "ICBC"))
    holder = admin.enroll_holder(
        store, KEY, make_ssn(seq), "Test", Participation.EMPLOYEE, NOW, balance_fen=old_balance or 0
    )
    old = None
    if old_balance is not None:
        old = admin.issue_card(store, holder.person_id, NOW, kind=CardKind.MEDICAL_INSURANCE)
    card = admin.issue_card(store, holder.person_id, NOW, bank_code="ICBC")
    return holder, card, old


def test_issue_and_read_back(store):
    holder, card, _ = holder_with_card(store)
    assert store.get_card(card.card_no) == card
    assert store.get_holder(holder.person_id) == holder
    assert store.person_by_ssn(holder.ssn_digest) == holder.person_id
    account = store.get_account(holder.person_id)
    assert account.pending_card_no == card.card_no and account.state is AccountState.NORMAL
    assert [e.action for e in store.card_events(card.card_no)] == [Action.ISSUE]


def test_one_holder_per_ssn(store):
    holder_with_card(store)
    with pytest.raises(AlreadyExists):
        admin.enroll_holder(store, KEY, make_ssn("11010519900307123"), "Twin", Participation.EMPLOYEE, NOW)


def test_a_stale_version_writes_nothing(store):
    _, card, _ = holder_with_card(store)
    first, event = rules.apply(card, Action.ACTIVATE, channel=Channel.HOSPITAL, at=NOW)
    store.commit(CardChange(cards=(first,), events=(event,)))
    # A second writer decided from the same read: its whole change is refused.
    second, event2 = rules.apply(
        card, Action.REPORT_LOSS, channel=Channel.MOBILE, at=NOW + timedelta(seconds=1)
    )
    receipt = WebhookReceipt("ICBC", "wh-1", "activated", card.card_no, None, NOW)
    with pytest.raises(ConcurrentUpdate):
        store.commit(CardChange(cards=(second,), events=(event2,), receipt=receipt))
    assert store.get_card(card.card_no).state is CardState.ACTIVE
    assert store.get_receipt("ICBC", "wh-1") is None
    assert len(store.card_events(card.card_no)) == 2  # issue + the one activation


def test_a_receipt_seen_before_is_a_duplicate_and_nothing_else_is_written(store):
    _, card, _ = holder_with_card(store)
    receipt = WebhookReceipt("ICBC", "wh-2", "rejected", card.card_no, "ssn-mismatch", NOW)
    store.commit(CardChange(receipt=receipt))
    assert store.get_receipt("ICBC", "wh-2") == receipt
    active, event = rules.apply(card, Action.ACTIVATE, channel=Channel.BANK_COUNTER, at=NOW)
    with pytest.raises(DuplicateDelivery):
        store.commit(
            CardChange(cards=(active,), events=(event,), receipt=replace(receipt, outcome="activated"))
        )
    assert store.get_card(card.card_no).state is CardState.ISSUED


def test_an_unchanged_card_guard_fails_if_the_card_moved(store):
    _, card, _ = holder_with_card(store)
    active, event = rules.apply(card, Action.ACTIVATE, channel=Channel.HOSPITAL, at=NOW)
    store.commit(CardChange(cards=(active,), events=(event,)))
    with pytest.raises(ConcurrentUpdate):
        store.commit(CardChange(unchanged_cards=(card,)))


def test_replacement_moves_the_account_and_retires_the_old_card_atomically(store):
    holder, card, old = holder_with_card(store, old_balance=12_345)
    assert store.get_account(holder.person_id).state is AccountState.HELD
    center, _ = admin.add_institution(store, KEY, InstitutionKind.SERVICE_CENTER, "SC", NOW)
    result = activation.activate_at_service_center(
        store, card.card_no, holder.ssn_digest, center, NOW, None, lambda r: StoredResponse(200, "{}")
    ).result
    assert result is not None and result.card_activated and result.carried_over
    account = store.get_account(holder.person_id)
    assert (account.state, account.card_no, account.balance_fen) == (
        AccountState.NORMAL,
        card.card_no,
        12_345,
    )
    assert store.get_card(old.card_no).state is CardState.REPLACED
    history = store.card_events(old.card_no)
    assert history[-1].action is Action.RETIRE and history[-1].institution_id == center.institution_id


def test_pharmacy_first_use_carries_the_old_account_over(store):
    holder, card, old = holder_with_card(store, old_balance=500)
    pharmacy, _ = admin.add_institution(store, KEY, InstitutionKind.PHARMACY, "Ph", NOW, designated=True)
    plan = activation.plan_activation(
        store, card, Channel.PHARMACY, NOW, pharmacy.institution_id, old.card_no
    )
    store.commit(plan.change)
    assert plan.result.card_activated and plan.result.carried_over
    assert store.get_account(holder.person_id).card_no == card.card_no


def test_credentials_and_institutions_round_trip(store):
    inst, token = admin.add_institution(store, KEY, InstitutionKind.HOSPITAL, "H", NOW, designated=True)
    from chalicelib.services.digests import token_digest

    cred = store.get_credential(token_digest(KEY, token))
    assert cred.institution_id == inst.institution_id and cred.kind is InstitutionKind.HOSPITAL
    assert store.get_institution(inst.institution_id) == inst
    assert store.get_credential(token_digest(KEY, token + "x")) is None
    with pytest.raises(AlreadyExists):
        store.add_institution(inst)


def test_idempotency_key_is_owned_once_until_it_expires(idempotency_store):
    s = idempotency_store
    rec = IdempotencyRecord("INST#k1", "fp", True, expires_at=1_000, locked_until=100)
    assert s.reserve(rec, now=50) is True
    assert s.reserve(rec, now=60) is False  # in flight, lock still held
    assert s.reserve(rec, now=101) is True  # the lock lapsed: a retry takes over
    done = replace(rec, in_flight=False, locked_until=0, status=409, body="{}")
    assert s.reserve(done, now=102) is True  # an abandoned one is taken over by a finished answer
    assert s.reserve(rec, now=500) is False  # finished: replay, not re-run
    assert s.get("INST#k1").status == 409
    assert s.reserve(rec, now=1_001) is True  # expired (TTL may lag): free again


ANSWER = IdempotencyRecord("SC-1#k", "fp", False, expires_at=10_000, locked_until=0, status=200, body="{}")


def test_the_first_read_brings_the_key_record_and_the_receipt_with_the_card(store):
    holder, card, _ = holder_with_card(store)
    first = store.read_card(card.card_no, "SC-1#k", ("ICBC", "wh-1"))
    assert first.card == card and first.key_record is None and first.receipt is None
    activated, event = rules.apply(card, Action.ACTIVATE, channel=Channel.BANK_COUNTER, at=NOW)
    receipt = WebhookReceipt("ICBC", "wh-1", "activated", card.card_no, None, NOW)
    store.commit(CardChange(cards=(activated,), events=(event,), receipt=receipt, key_record=ANSWER, now=1))
    read = store.read_card(card.card_no, "SC-1#k", ("ICBC", "wh-1"))
    assert read.card == activated and read.key_record == ANSWER and read.receipt == receipt
    # A card seen before: its holder and account come in the same read.
    assert read.holder is not None and read.holder.holder == holder
    assert read.holder.account == store.get_account(holder.person_id)
    assert store.read_card("9" * 19).card is None


def test_a_holder_and_account_are_read_together(store):
    holder, _, _ = holder_with_card(store)
    both = store.read_holder(holder.person_id)
    assert both.holder == holder and both.account == store.get_account(holder.person_id)
    nobody = store.read_holder("nobody")
    assert nobody.holder is None and nobody.account is None


def test_a_live_key_record_stops_the_whole_change(store):
    _, card, _ = holder_with_card(store)
    store.commit(CardChange(unchanged_cards=(card,), key_record=ANSWER, now=1))
    activated, event = rules.apply(card, Action.ACTIVATE, channel=Channel.HOSPITAL, at=NOW)
    other = replace(ANSWER, body='{"other": true}')
    with pytest.raises(DuplicateDelivery) as taken:
        store.commit(CardChange(cards=(activated,), events=(event,), key_record=other, now=2))
    assert taken.value.extra["label"] == IDEMPOTENCY_LABEL
    assert store.get_card(card.card_no) == card
    assert store.read_card(card.card_no, "SC-1#k").key_record == ANSWER
    # Expired by `now`: replaced, with the change.
    store.commit(CardChange(cards=(activated,), events=(event,), key_record=other, now=10_001))
    assert store.read_card(card.card_no, "SC-1#k").key_record == other


def test_a_holders_cards_come_with_their_histories_as_the_last_change_left_them(store):
    holder, card, old = holder_with_card(store, old_balance=100)
    center, _ = admin.add_institution(store, KEY, InstitutionKind.SERVICE_CENTER, "SC", NOW)
    activation.activate_at_service_center(
        store, card.card_no, holder.ssn_digest, center, NOW, None, lambda r: StoredResponse(200, "{}")
    )
    seen = store.holder_cards(holder.person_id)
    assert seen.account == store.get_account(holder.person_id)
    assert seen.cards == {
        card.card_no: store.get_card(card.card_no),
        old.card_no: store.get_card(old.card_no),
    }
    assert seen.events[card.card_no] == store.card_events(card.card_no)
    assert [e.action for e in seen.events[card.card_no]] == [Action.ISSUE, Action.ACTIVATE]
    assert [e.action for e in seen.events[old.card_no]] == [Action.ISSUE, Action.RETIRE]
    empty = store.holder_cards("nobody")
    assert empty.account is None and empty.cards == {} and empty.events == {}

"""Every keyed state change writes its answer inside its own transaction, so a crash right after
the commit (the answer never reached the caller) is answered by the caller's retry with the same
key: the first status and body, and nothing applied twice. On the fakes and on DynamoDB (moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.domain.cards import Action, CardKind, CardState, Channel
from chalicelib.domain.errors import CardSuspended, ConcurrentUpdate
from chalicelib.domain.holders import AccountState, Bank, Institution, InstitutionKind, Participation
from chalicelib.domain.payments import PaymentAlreadyCancelled, PaymentState
from chalicelib.services import activation, admin, payments, registrations
from chalicelib.services.backoff import Backoff
from chalicelib.services.idempotency import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotentRequest,
    Outcome,
    StoredResponse,
    remember,
)
from chalicelib.services.ports import IDEMPOTENCY_LABEL
from sscard_ops.seed import make_ssn
from tests.conftest import NOW
from tests.fake_payments import FakePaymentStore
from tests.fakes import FakeCardStore, FakeIdempotencyStore
from tests.payment_helpers import funded_holder
from tests.service_helpers import (
    key_for,
    render_activation,
    render_card,
    render_payment,
    render_registration,
)

HASHING = b"i" * 32
CENTER = Institution("SC-1", InstitutionKind.SERVICE_CENTER, "Center")
HOSPITAL = Institution("HO-1", InstitutionKind.HOSPITAL, "Hospital", designated=True)
NO_SLEEP = Backoff(sleep=lambda _: None)


class CrashAfterCommit:
    """A store whose next commit succeeds and then the function dies before answering."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = False
        self.commits = 0

    def _after(self) -> None:
        self.commits += 1
        if self.armed:
            self.armed = False
            raise RuntimeError("killed after the commit")

    def commit(self, change: Any) -> None:
        self.inner.commit(change)
        self._after()

    def cancel_payment(self, write: Any) -> None:
        self.inner.cancel_payment(write)
        self._after()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Stores:
    cards: Any
    keys: Any
    payments: Any


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


def replacement(cards: Any, seq: str = "11010519900307123") -> tuple[Any, Any, Any]:
    """A holder whose old medical insurance card holds the account and whose new card is issued."""
    if cards.get_bank("ICBC") is None:
        cards.add_bank(Bank("ICBC", "ICBC"))
    holder = admin.enroll_holder(
        cards, HASHING, make_ssn(seq), "Test", Participation.EMPLOYEE, NOW, balance_fen=800
    )
    old = admin.issue_card(cards, holder.person_id, NOW, kind=CardKind.MEDICAL_INSURANCE)
    new = admin.issue_card(cards, holder.person_id, NOW, bank_code="ICBC")
    return holder, new, old


def change(cards: Any, card_no: str, action: Action, key: IdempotentRequest | None, **kw: Any) -> Any:
    return activation.change_state(
        cards, card_no, action, Channel.SERVICE_CENTER, NOW, "SC-1", key=key, render=render_card, **kw
    )


# Each route: (set up and return its state probe, run it once with a key).
Route = Callable[[Stores, Any, IdempotentRequest], Outcome[Any]]


def _activate(s: Stores, wrapped: Any, key: IdempotentRequest) -> Outcome[Any]:
    holder, card, _ = s.setup  # type: ignore[attr-defined]
    return activation.activate_at_service_center(
        wrapped, card.card_no, holder.ssn_digest, CENTER, NOW, key, render_activation, NO_SLEEP
    )


def _register(s: Stores, wrapped: Any, key: IdempotentRequest) -> Outcome[Any]:
    _, card, _ = s.setup  # type: ignore[attr-defined]
    return registrations.register(
        wrapped,
        card.card_no,
        "outpatient",
        HOSPITAL,
        NOW,
        lambda: "reg-1",
        key,
        render_registration,
        NO_SLEEP,
    )


def _report_loss(s: Stores, wrapped: Any, key: IdempotentRequest) -> Outcome[Any]:
    holder, card, _ = s.setup  # type: ignore[attr-defined]
    return activation.change_state(
        wrapped,
        card.card_no,
        Action.REPORT_LOSS,
        Channel.MOBILE,
        NOW,
        owner=holder.person_id,
        key=key,
        render=render_card,
        backoff=NO_SLEEP,
    )


def _resume(s: Stores, wrapped: Any, key: IdempotentRequest) -> Outcome[Any]:
    _, card, _ = s.setup  # type: ignore[attr-defined]
    return change(wrapped, card.card_no, Action.RESUME, key, backoff=NO_SLEEP)


def _cancel_card(s: Stores, wrapped: Any, key: IdempotentRequest) -> Outcome[Any]:
    _, card, _ = s.setup  # type: ignore[attr-defined]
    return change(wrapped, card.card_no, Action.CANCEL, key, backoff=NO_SLEEP)


def _cancel_payment(s: Stores, wrapped: Any, key: IdempotentRequest) -> Outcome[Any]:
    pay_id = s.setup  # type: ignore[attr-defined]
    return payments.cancel(wrapped, HOSPITAL, pay_id, NOW, key, render_payment, NO_SLEEP)


def _prepare(route: str, s: Stores) -> None:
    if route == "cancel-payment":
        _, card_no = funded_holder(s.cards, HASHING, NOW, 5_000)
        paid = payments.pay(
            s.cards,
            s.payments,
            s.keys,
            HOSPITAL,
            payments.PaymentRequest(card_no, 1_200),
            key_for("HO-1", "pay", NOW),
            NOW,
            render_payment,
            new_id=lambda: "pay-1",
        )
        assert paid.result is not None
        s.setup = "pay-1"  # type: ignore[attr-defined]
        return
    holder, card, old = replacement(s.cards)
    if route in ("report-loss", "resume"):
        activation.activate_at_service_center(
            s.cards, card.card_no, holder.ssn_digest, CENTER, NOW, None, render_activation
        )
    if route == "resume":
        change(s.cards, card.card_no, Action.REPORT_LOSS, None)
    s.setup = (holder, s.cards.get_card(card.card_no), old)  # type: ignore[attr-defined]


ROUTES: dict[str, Route] = {
    "service-center-activate": _activate,
    "registration": _register,
    "report-loss": _report_loss,
    "resume": _resume,
    "cancel-card": _cancel_card,
    "cancel-payment": _cancel_payment,
}


def applied(route: str, s: Stores) -> Any:
    """What the route changed, to show it changed once."""
    if route == "cancel-payment":
        payment = s.payments.get_payment("pay-1")
        return payment.state, s.cards.get_account(payment.person_id).balance_fen
    holder, card, _ = s.setup  # type: ignore[attr-defined]
    return (
        s.cards.get_card(card.card_no).state,
        [e.action for e in s.cards.card_events(card.card_no)],
        s.cards.get_account(holder.person_id),
    )


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_crash_after_the_commit_is_answered_by_the_retry_with_the_first_answer(stores, route):
    s = stores
    _prepare(route, s)
    store = s.payments if route == "cancel-payment" else s.cards
    wrapped = CrashAfterCommit(store)
    key = key_for("caller", "k-1", NOW)
    wrapped.armed = True
    with pytest.raises(RuntimeError):
        ROUTES[route](s, wrapped, key)
    after_first = applied(route, s)
    stored = s.keys.get(key.scope_key)
    assert stored is not None and stored.status in (200, 201)

    retry = ROUTES[route](s, wrapped, key)

    assert retry.replayed and retry.result is None
    assert retry.response == StoredResponse(stored.status, stored.body)
    assert applied(route, s) == after_first  # nothing applied twice
    assert wrapped.commits == 1


@pytest.mark.parametrize("route", list(ROUTES))
def test_the_first_answer_is_what_the_retry_gets(stores, route):
    s = stores
    _prepare(route, s)
    store = s.payments if route == "cancel-payment" else s.cards
    key = key_for("caller", "k-2", NOW)
    first = ROUTES[route](s, store, key)
    assert not first.replayed and first.result is not None
    again = ROUTES[route](s, store, key)
    assert again.replayed and again.response == first.response


def test_a_cancel_whose_answer_was_lost_gets_its_first_200_not_already_cancelled(stores):
    s = stores
    _prepare("cancel-payment", s)
    key = key_for("HO-1", "cancel", NOW)
    first = payments.cancel(s.payments, HOSPITAL, "pay-1", NOW, key, render_payment)
    assert first.response.status == 200 and first.result.state is PaymentState.CANCELLED
    again = payments.cancel(s.payments, HOSPITAL, "pay-1", NOW, key, render_payment)
    assert again.replayed and again.response == first.response
    with pytest.raises(PaymentAlreadyCancelled):  # a new key: the rules answer
        payments.cancel(s.payments, HOSPITAL, "pay-1", NOW, key_for("HO-1", "other", NOW), render_payment)


def test_the_same_key_on_another_request_is_422_and_changes_nothing(stores):
    s = stores
    _prepare("report-loss", s)
    _, card, _ = s.setup
    key = key_for("caller", "k-3", NOW, "one body")
    _report_loss(s, s.cards, key)
    other = key_for("caller", "k-3", NOW, "another body")
    before = applied("report-loss", s)
    with pytest.raises(IdempotencyKeyReused):
        change(s.cards, card.card_no, Action.RESUME, other)
    assert applied("report-loss", s) == before


def test_without_a_key_nothing_is_recorded_and_the_rules_decide_each_time(stores):
    s = stores
    _prepare("report-loss", s)
    done = _report_loss(s, s.cards, None)  # type: ignore[arg-type]
    assert not done.replayed and done.result.state is CardState.SUSPENDED
    assert done.response == render_card(done.result)
    with pytest.raises(CardSuspended):
        _report_loss(s, s.cards, None)  # type: ignore[arg-type]


def test_cancelling_an_issued_card_lifts_the_hold_in_the_same_keyed_write(stores):
    s = stores
    _prepare("cancel-card", s)
    holder, _, _ = s.setup
    assert s.cards.get_account(holder.person_id).state is AccountState.HELD
    _cancel_card(s, s.cards, key_for("SC-1", "c", NOW))
    account = s.cards.get_account(holder.person_id)
    assert account.state is AccountState.NORMAL and account.pending_card_no is None


class KeyTakenAtCommit:
    """Another request with the same key finishes between our read and our commit."""

    def __init__(self, inner: Any, winner: Callable[[], Any]) -> None:
        self.inner, self.winner = inner, winner

    def commit(self, change: Any) -> None:
        winner, self.winner = self.winner, None
        if winner is not None:
            winner()
        self.inner.commit(change)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_key_finished_by_another_request_meanwhile_is_replayed_not_applied_twice(stores):
    s = stores
    _prepare("service-center-activate", s)
    key = key_for("SC-1", "k", NOW)
    answers: list[Outcome[Any]] = []
    racing = KeyTakenAtCommit(s.cards, lambda: answers.append(_activate(s, s.cards, key)))
    ours = _activate(s, racing, key)
    assert ours.replayed and ours.response == answers[0].response
    _, card, _ = s.setup
    assert [e.action for e in s.cards.card_events(card.card_no)].count(Action.ACTIVATE) == 1


class ConflictOnKey:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def commit(self, change: Any) -> None:
        raise ConcurrentUpdate("Another transaction touched the same item", label=IDEMPOTENCY_LABEL)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_transaction_conflict_on_the_key_item_is_409_in_flight(stores):
    s = stores
    _prepare("registration", s)
    with pytest.raises(IdempotencyKeyInUse):
        _register(s, ConflictOnKey(s.cards), key_for("HO-1", "k", NOW))


def test_a_refusal_is_remembered_once_and_replayed(stores):
    s = stores
    key = key_for("SC-1", "refused", NOW)
    refusal = StoredResponse(409, json.dumps({"type": "card-suspended"}))
    first = remember(s.keys, key, refusal)
    assert not first.replayed and first.response == refusal
    again = remember(s.keys, key, StoredResponse(409, "{}"))
    assert again.replayed and again.response == refusal
    with pytest.raises(IdempotencyKeyReused):
        remember(s.keys, key_for("SC-1", "refused", NOW, "other body"), refusal)

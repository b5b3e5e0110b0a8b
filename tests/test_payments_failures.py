"""Failures injected between the read and the write, and inside the transaction, leave no
partial state: no payment without its debit, no debit without its payment.

Each test runs the payment use case on the fakes and on PynamoDB over moto (mock_aws:
single-threaded). The DynamoDB-only tests inject errors at the botocore level, so the
real error translation (storage/errors.py) is exercised.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from chalicelib.domain.cards import Action, Channel
from chalicelib.domain.errors import CardSuspended, ConcurrentUpdate, StorageBusy
from chalicelib.domain.holders import Institution, InstitutionKind
from chalicelib.services import activation, payments
from chalicelib.services.backoff import Backoff
from chalicelib.services.idempotency import IdempotencyKeyInUse, Outcome
from chalicelib.services.ports import IDEMPOTENCY_LABEL
from tests.conftest import NOW
from tests.fake_payments import FakePaymentStore
from tests.fakes import FakeCardStore, FakeIdempotencyStore
from tests.payment_helpers import assert_no_partial_state, funded_holder, stored_payment_id
from tests.service_helpers import key_for, render_card, render_payment

KEY = b"f" * 32
PHARMACY = Institution("PH-1", InstitutionKind.PHARMACY, "Ph", designated=True)
BALANCE = 10_000


class Injecting:
    """A payment store with hooks after the read and around the commit."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.after_read: Any = None
        self.before_commit: Any = None
        self.after_commit: Any = None
        self.commits = 0

    def read_for_payment(
        self, card_no: str, scope_key: str | None, year: int, previous_card_no: str | None = None
    ) -> Any:
        read = self.inner.read_for_payment(card_no, scope_key, year, previous_card_no)
        hook, self.after_read = self.after_read, None  # once
        if hook:
            hook()
        return read

    def commit_payment(self, write: Any) -> None:
        self.commits += 1
        if self.before_commit:
            self.before_commit(write)
        self.inner.commit_payment(write)
        hook, self.after_commit = self.after_commit, None
        if hook:
            hook(write)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Rig:
    def __init__(self, cards: Any, keys: Any, inner: Any, backend: str) -> None:
        self.cards, self.keys, self.backend = cards, keys, backend
        self.inner = inner
        self.store = Injecting(inner)
        self.sleeps: list[float] = []
        self.person_id, self.card_no = funded_holder(cards, KEY, NOW, BALANCE)
        self._ids = iter(f"pay-{i}" for i in range(1000))

    def pay(
        self, amount: int = 1_000, key: str = "k-1", new_id: Any = None, at: Any = NOW
    ) -> Outcome[payments.Payment]:
        body = json.dumps({"card_no": self.card_no, "amount_fen": amount})
        return payments.pay(
            self.cards,
            self.store,
            self.keys,
            PHARMACY,
            payments.PaymentRequest(self.card_no, amount),
            key_for("PH-1", key, at, body),
            at,
            render_payment,
            new_id=new_id or (lambda: next(self._ids)),
            backoff=Backoff(attempts=4, sleep=self.sleeps.append),
        )

    def check(self) -> None:
        assert_no_partial_state(self.cards, self.inner, self.keys, self.person_id, BALANCE)

    def balance(self) -> int:
        return self.cards.get_account(self.person_id).balance_fen


def _rigs(backend: str):
    if backend == "fake":
        keys = FakeIdempotencyStore()
        cards = FakeCardStore(keys)
        yield Rig(cards, keys, FakePaymentStore(cards, keys), "fake")
        return
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.payments import DynamoPaymentStore

    with mock_aws():
        create_tables()
        yield Rig(DynamoCardStore(), DynamoIdempotencyStore(), DynamoPaymentStore(), "dynamodb")


@pytest.fixture(params=["fake", "dynamodb"])
def rig(request):
    yield from _rigs(request.param)


@pytest.fixture
def dynamo_rig():
    yield from _rigs("dynamodb")


# --- between the read and the write ----------------------------------------------------


def test_a_crash_between_read_and_write_leaves_nothing_and_the_retry_pays_once(rig):
    def crash() -> None:
        raise RuntimeError("the function was killed")

    rig.store.after_read = crash
    with pytest.raises(RuntimeError):
        rig.pay()
    assert rig.balance() == BALANCE and rig.keys.get("PH-1#k-1") is None
    rig.check()
    done = rig.pay()
    assert done.response.status == 201 and not done.replayed
    assert rig.balance() == BALANCE - 1_000
    rig.check()


def test_a_payment_that_lands_between_read_and_write_makes_the_first_decide_again(rig):
    rig.store.after_read = lambda: rig.pay(3_000, key="other")  # its own read and write, complete
    first = rig.pay(1_000)
    assert first.response.status == 201
    assert json.loads(first.response.body)["balance_fen"] == BALANCE - 4_000  # decided on the new balance
    assert rig.balance() == BALANCE - 4_000
    assert rig.store.commits == 3  # the other's, ours refused whole, ours again
    rig.check()


def test_a_card_suspended_between_read_and_write_pays_nothing(rig):
    def report_loss() -> None:
        activation.change_state(
            rig.cards,
            rig.card_no,
            Action.REPORT_LOSS,
            Channel.MOBILE,
            NOW,
            owner=rig.person_id,
            key=None,
            render=render_card,
        )

    rig.store.after_read = report_loss
    with pytest.raises(CardSuspended):  # decided again on the suspended card (the API stores it)
        rig.pay()
    assert rig.keys.get("PH-1#k-1") is None
    assert rig.balance() == BALANCE and rig.inner.payments_of_holder(rig.person_id, 10) == ([], None)
    rig.check()


def test_the_same_key_finishing_between_read_and_write_is_replayed_not_paid_twice(rig):
    rig.store.after_read = lambda: rig.pay(1_000, key="k-1")  # the terminal's retry, faster
    done = rig.pay(1_000, key="k-1")
    assert done.replayed and done.response.status == 201
    assert json.loads(done.response.body)["payment_id"] == stored_payment_id(rig.keys, "PH-1#k-1")
    assert rig.balance() == BALANCE - 1_000
    rig.check()


# --- inside the transaction ----------------------------------------------------------


def test_a_failed_payment_put_cancels_the_debit_and_a_new_id_is_drawn(rig):
    rig.pay(2_000, key="earlier", new_id=lambda: "taken")
    ids = iter(["taken", "fresh"])
    done = rig.pay(1_000, new_id=lambda: next(ids))
    assert json.loads(done.response.body)["payment_id"] == "fresh"
    assert rig.balance() == BALANCE - 3_000
    assert rig.inner.get_payment("taken").amount_fen == 2_000
    rig.check()


def test_a_throttled_transaction_is_retried_with_jitter_then_503_and_writes_nothing(rig):
    def throttled(write: Any) -> None:
        raise StorageBusy("The database is busy")

    rig.store.before_commit = throttled
    with pytest.raises(StorageBusy):
        rig.pay()
    assert rig.store.commits == 4 and len(rig.sleeps) == 3
    assert all(0 <= s <= min(0.25, 0.01 * 2**i) for i, s in enumerate(rig.sleeps))
    assert rig.balance() == BALANCE and rig.keys.get("PH-1#k-1") is None
    rig.check()


def test_a_lost_answer_after_the_commit_is_found_again_by_the_retry(rig):
    def lost(write: Any) -> None:
        raise StorageBusy("The connection dropped after the commit")

    rig.store.after_commit = lost
    first = rig.pay()  # the retry inside the use case reads the stored answer
    assert first.response.status == 201 and first.replayed
    again = rig.pay()
    assert (again.response.status, again.response.body) == (first.response.status, first.response.body)
    assert rig.balance() == BALANCE - 1_000
    rig.check()


def test_a_crash_after_the_commit_is_answered_by_the_terminals_retry(rig):
    def killed(write: Any) -> None:
        raise RuntimeError("the function was killed after the commit")

    rig.store.after_commit = killed
    with pytest.raises(RuntimeError):
        rig.pay()
    replay = rig.pay()
    assert replay.replayed and replay.response.status == 201
    assert rig.balance() == BALANCE - 1_000
    rig.check()


def test_a_conflict_on_the_key_inside_the_transaction_is_409_in_flight(rig):
    def in_flight(write: Any) -> None:
        raise ConcurrentUpdate("Another transaction touched the same item", label=IDEMPOTENCY_LABEL)

    rig.store.before_commit = in_flight
    with pytest.raises(IdempotencyKeyInUse):
        rig.pay()
    assert rig.balance() == BALANCE
    rig.check()


# --- DynamoDB only: errors injected at the botocore level -----------------------------


def _inject(rig, code: str, reasons: list[str] | None = None, times: int = 99) -> list[int]:
    """Make TransactWriteItems fail with `code` (and per-item cancellation reasons)."""
    calls: list[int] = []

    def fail(**_: Any) -> Any:
        if len(calls) >= times:
            return None
        calls.append(1)
        body: dict[str, Any] = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}}
        if reasons is not None:
            body["CancellationReasons"] = [{"Code": r} for r in reasons]
        return AWSResponse("http://injected", 400, {}, None), body

    events = rig.inner.connection.client.meta.events
    events.register_first("before-call.dynamodb.TransactWriteItems", fail)
    return calls


def test_dynamodb_throttling_becomes_a_retryable_503_and_writes_nothing(dynamo_rig):
    rig = dynamo_rig
    calls = _inject(rig, "ThrottlingException")
    with pytest.raises(StorageBusy):
        rig.pay()
    assert len(calls) == 4
    assert rig.balance() == BALANCE and rig.keys.get("PH-1#k-1") is None
    rig.check()


def test_dynamodb_transaction_conflicts_are_retried_until_they_pass(dynamo_rig):
    rig = dynamo_rig
    calls = _inject(rig, "TransactionCanceledException", ["None", "None", "None", "TransactionConflict"], 2)
    done = rig.pay()
    assert done.response.status == 201 and len(calls) == 2 and len(rig.sleeps) == 2
    assert rig.balance() == BALANCE - 1_000
    rig.check()


def test_dynamodb_conflict_on_the_key_item_is_409_in_flight(dynamo_rig):
    rig = dynamo_rig
    # Labels in request order: card check, payment put, idempotency put, account update.
    _inject(rig, "TransactionCanceledException", ["None", "None", "TransactionConflict", "None"])
    with pytest.raises(IdempotencyKeyInUse):
        rig.pay()
    assert rig.balance() == BALANCE
    rig.check()


def test_a_key_older_than_the_retention_pays_again(rig):
    rig.pay()
    later = rig.pay(at=NOW + timedelta(days=2), new_id=lambda: "two-days-later")
    assert not later.replayed and rig.balance() == BALANCE - 2_000
    rig.check()

"""The contribution queue handler, invoked as Lambda invokes it (chalice.test.Client), over fakes
and over PynamoDB on moto: partial batch failures, redelivery, rejections, passing failures."""

from __future__ import annotations

import json
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace

import pytest
from chalice.test import Client
from moto import mock_aws

import app as app_module
from chalicelib.domain.contribution_policy import ContributionPolicy
from chalicelib.domain.contributions import FundBook
from chalicelib.domain.errors import ConcurrentUpdate, InvalidContribution, StorageBusy
from chalicelib.domain.holders import Participation
from chalicelib.services import admin, contributions
from chalicelib.services.contribution_ports import BookTotal
from chalicelib.services.contributions import ContributionState, ContributionStatus
from chalicelib.settings import settings
from tests.conftest import NOW
from tests.contribution_helpers import failures, install, message, record, sqs_event
from tests.fakes import FakeContributionStore, FakeIdempotencyStore, FakeSecrets
from tests.world import World

HANDLER = "post_contributions"


@pytest.fixture
def world(fake_world):
    store = FakeContributionStore(fake_world.store)
    install(fake_world, store)
    fake_world.contributions = store
    return fake_world


@pytest.fixture
def lambda_client():
    with Client(app_module.app, stage_name="local") as client:
        yield client.lambda_


def invoke(lambda_client, event):
    return lambda_client.invoke(HANDLER, event).payload


def ssn(world, role):
    return world.seeded.holders[role].ssn


def good_batch(world, count=3):
    return [record(message(ssn(world, "alice"), f"c-{i}", period=f"2025-{i + 1:02d}")) for i in range(count)]


def test_the_handler_reads_the_configured_queue_in_batches():
    [source] = [s for s in app_module.app.event_sources if s.name == HANDLER]
    assert source.queue == settings().contributions_queue == "sscard-local-contributions"
    assert source.batch_size == 10


def test_a_poison_message_is_the_only_one_reported(world, lambda_client):
    good = good_batch(world)
    poison = record("{not json")
    payload = invoke(lambda_client, sqs_event(good[0], poison, good[1], good[2]))
    assert failures(payload) == [poison["messageId"]]
    store = world.contributions
    assert sorted(store.postings) == ["c-0", "c-1", "c-2"]
    rejection = store.rejected[f"message:{poison['messageId']}"]
    assert rejection.reason == "invalid-contribution" and "JSON" in rejection.detail
    assert rejection.source == "COLLECTION"


def test_redelivering_a_whole_batch_posts_nothing_twice(world, lambda_client):
    alice = world.seeded.holders["alice"]
    batch = [
        record(message(alice.ssn, "c-med-er", insurance="medical", amount_fen=8_000)),
        record(message(alice.ssn, "c-med-ee", insurance="medical", payer="employee", amount_fen=2_000)),
        record(message(alice.ssn, "c-pen", insurance="pension")),
    ]
    assert failures(invoke(lambda_client, sqs_event(*batch))) == []
    store = world.contributions
    books = store.book_totals()
    balance = world.store.get_account(alice.person_id).balance_fen
    assert balance == 2_000  # the employee's own medical share, in full by default
    # SQS delivers the same messages again (new receipts, same message ids), then once more.
    for _ in range(2):
        again = [record(r["body"], r["messageId"], receives=2) for r in batch]
        assert failures(invoke(lambda_client, sqs_event(*again))) == []
    assert store.book_totals() == books
    assert books[FundBook.MEDICAL] == BookTotal(FundBook.MEDICAL, 10_000, 2, 2_000)
    assert world.store.get_account(alice.person_id).balance_fen == balance
    [medical] = [m for m in store.months(alice.person_id) if m.insurance.value == "medical"]
    assert medical.postings == 2 and medical.amount_fen == 10_000


def test_messages_that_can_never_post_are_recorded_with_reasons_and_reported(world, lambda_client):
    bob, alice = world.seeded.holders["bob"], world.seeded.holders["alice"]
    ineligible = record(
        message(bob.ssn, "c-bob-wi", insurance="work_injury", payer="individual", employer_id=None)
    )
    unknown = record(message("11010519491231002X", "c-nobody"))
    bad_ssn = record(message(alice.ssn[:17] + ("0" if alice.ssn[17] != "0" else "1"), "c-bad-ssn"))
    fine = record(message(bob.ssn, "c-bob-pen", payer="individual", employer_id=None))
    payload = invoke(lambda_client, sqs_event(ineligible, unknown, bad_ssn, fine))
    assert sorted(failures(payload)) == sorted(r["messageId"] for r in (ineligible, unknown, bad_ssn))
    store = world.contributions
    assert list(store.postings) == ["c-bob-pen"]
    reasons = {k: (r.reason, r.detail) for k, r in store.rejected.items()}
    assert reasons["c-bob-wi"][0] == "contribution-ineligible" and "work_injury" in reasons["c-bob-wi"][1]
    assert reasons["c-nobody"][0] == "holder-not-found"
    assert reasons["c-bad-ssn"][0] == "invalid-ssn"
    assert store.rejected["c-nobody"].ssn_masked == "1101**********002X"
    # Redelivered, they are rejected again (and counted), never posted.
    invoke(lambda_client, sqs_event(*[record(r["body"], r["messageId"]) for r in (ineligible, unknown)]))
    assert store.rejected["c-bob-wi"].receives == 2 and list(store.postings) == ["c-bob-pen"]


def test_a_holder_enrolled_between_receives_is_posted_on_the_next_one(world, lambda_client):
    late = message("11010519491231002X", "c-late")
    first = record(late)
    assert failures(invoke(lambda_client, sqs_event(first))) == [first["messageId"]]
    admin.enroll_holder(
        world.store, world.secrets.hashing_key(), late["ssn"], "Late", Participation.EMPLOYEE, NOW
    )
    assert failures(invoke(lambda_client, sqs_event(record(late, first["messageId"], receives=2)))) == []
    assert "c-late" in world.contributions.postings


def test_a_passing_failure_is_reported_and_posts_once_when_retried(world, lambda_client):
    batch = good_batch(world, 2)
    # Throttled on every in-process attempt: the message goes back to the queue.
    world.contributions.fail_next = [StorageBusy("throttled")] * 3
    payload = invoke(lambda_client, sqs_event(*batch))
    assert failures(payload) == [batch[0]["messageId"]]
    assert list(world.contributions.postings) == ["c-1"]
    assert world.contributions.rejected == {}  # a passing failure is not a rejection
    retry = [record(r["body"], r["messageId"], receives=2) for r in batch]
    assert failures(invoke(lambda_client, sqs_event(*retry))) == []
    assert sorted(world.contributions.postings) == ["c-0", "c-1"]
    assert world.contributions.book_totals()[FundBook.PENSION].postings == 2


def test_a_short_throttle_is_retried_in_process(world, lambda_client):
    [only] = good_batch(world, 1)
    world.contributions.fail_next = [StorageBusy("throttled")]
    assert failures(invoke(lambda_client, sqs_event(only))) == []
    assert list(world.contributions.postings) == ["c-0"]


def test_transaction_conflicts_are_retried_in_process_on_other_shards(world, lambda_client):
    world.contributions.fail_next = [ConcurrentUpdate("conflict"), ConcurrentUpdate("conflict")]
    [only] = good_batch(world, 1)
    assert failures(invoke(lambda_client, sqs_event(only))) == []
    assert list(world.contributions.postings) == ["c-0"]
    world.contributions.fail_next = [ConcurrentUpdate("conflict")] * 3
    [other] = [record(message(ssn(world, "alice"), "c-x"))]
    assert failures(invoke(lambda_client, sqs_event(other))) == [other["messageId"]]


def test_holders_are_read_once_per_batch_and_then_cached(world, lambda_client):
    roles = ["alice", "bob", "carol", "dan"]
    batch = [
        record(
            message(
                ssn(world, r),
                f"c-{r}-{i}",
                insurance="medical",
                payer="individual" if r in ("bob", "dan") else "employer",
                employer_id=None if r in ("bob", "dan") else "EMP-1",
                period=f"2025-{i + 1:02d}",
            )
        )
        for r in roles
        for i in range(2)
    ]
    assert failures(invoke(lambda_client, sqs_event(*batch))) == []
    assert world.contributions.holder_reads == 1
    second = [record(message(ssn(world, "alice"), "c-alice-later"))]
    assert failures(invoke(lambda_client, sqs_event(*second))) == []
    assert world.contributions.holder_reads == 1  # cached
    assert world.store.get_account(world.seeded.holders["dan"].person_id).balance_fen == 2 * 20_000  # 25%


def test_when_nothing_can_be_decided_the_whole_batch_comes_back(world, lambda_client, monkeypatch):
    def no_key():
        raise StorageBusy("secrets unavailable")

    monkeypatch.setattr(world.secrets, "hashing_key", no_key)
    batch = good_batch(world, 3)
    assert failures(invoke(lambda_client, sqs_event(*batch))) == [r["messageId"] for r in batch]
    assert world.contributions.postings == {} and world.contributions.rejected == {}


def test_holder_lookup_failure_fails_only_the_decidable_part(world, lambda_client, monkeypatch):
    def down(_digests):
        raise StorageBusy("throttled")

    monkeypatch.setattr(world.contributions, "holders_by_ssn", down)
    batch = [*good_batch(world, 2), record("not json")]
    assert failures(invoke(lambda_client, sqs_event(*batch))) == [r["messageId"] for r in batch]
    assert world.contributions.postings == {}
    assert len(world.contributions.rejected) == 1  # the invalid one is recorded all the same


# --- a contribution_id reused with another body --------------------------------------------


def test_a_contribution_id_reused_with_another_body_is_rejected_and_changes_nothing(world, lambda_client):
    """Issue #14: 80,000 fen, then 1 fen under the same id was silently a duplicate."""
    alice = world.seeded.holders["alice"]
    first = record(message(alice.ssn, "c-1", insurance="medical", payer="employee", amount_fen=80_000))
    assert failures(invoke(lambda_client, sqs_event(first))) == []
    store = world.contributions
    books, months = store.book_totals(), store.months(alice.person_id)
    balance = world.store.get_account(alice.person_id).balance_fen
    reused = record(message(alice.ssn, "c-1", insurance="medical", payer="employee", amount_fen=1))
    assert failures(invoke(lambda_client, sqs_event(reused))) == [reused["messageId"]]
    rejection = store.rejected["c-1"]
    assert rejection.reason == "contribution-id-reused" and "amount_fen" in rejection.detail
    assert rejection.message_id == reused["messageId"] and rejection.source == "COLLECTION"
    assert store.book_totals() == books and store.months(alice.person_id) == months
    assert world.store.get_account(alice.person_id).balance_fen == balance
    assert store.postings["c-1"].amount_fen == 80_000
    # The operator's list: the rejected body never posts, so it is not "posted since".
    [(listed, posted_since)], _ = contributions.rejected(store, 10)
    assert listed.key == "c-1" and posted_since is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("period", "2025-12"),
        ("insurance", "pension"),
        ("payer", "employer"),
        ("paid_at", "2026-01-16T10:00:00+08:00"),
        ("employer_id", "EMP-002"),
    ],
)
def test_any_other_field_of_the_body_makes_it_a_reuse(world, lambda_client, field, value):
    alice = world.seeded.holders["alice"]
    body = message(alice.ssn, "c-1", insurance="medical", payer="employee", employer_id=None)
    assert failures(invoke(lambda_client, sqs_event(record(body)))) == []
    changed = {**body, field: value}
    if field == "payer":
        changed["employer_id"] = "EMP-001"
    assert failures(invoke(lambda_client, sqs_event(record(changed)))) != []
    assert world.contributions.rejected["c-1"].reason == "contribution-id-reused"
    assert field in world.contributions.rejected["c-1"].detail


def test_a_reused_id_naming_another_holder_is_a_reuse_even_when_that_holder_is_unknown(world, lambda_client):
    alice, bob = world.seeded.holders["alice"], world.seeded.holders["bob"]
    assert failures(invoke(lambda_client, sqs_event(record(message(alice.ssn, "c-1"))))) == []
    for other in (bob.ssn, "11010519491231002X"):  # enrolled, and nobody
        invoke(lambda_client, sqs_event(record(message(other, "c-1", payer="employer"))))
        rejection = world.contributions.rejected["c-1"]
        assert rejection.reason == "contribution-id-reused" and "ssn" in rejection.detail
    assert [p.person_id for p in world.contributions.postings.values()] == [alice.person_id]


def test_the_same_body_sent_again_stays_a_silent_duplicate(world, lambda_client):
    alice = world.seeded.holders["alice"]
    body = message(alice.ssn, "c-1", paid_at="2026-01-15T10:00:00+08:00")
    assert failures(invoke(lambda_client, sqs_event(record(body)))) == []
    # Sent again in a new message, paid_at written in UTC: the same instant, the same body.
    again = record({**body, "paid_at": "2026-01-15T02:00:00Z"})
    assert failures(invoke(lambda_client, sqs_event(again))) == []
    assert world.contributions.rejected == {} and len(world.contributions.postings) == 1


def test_a_redelivery_decided_under_changed_rules_stays_a_duplicate(world):
    """Posted for a freelancer, redelivered after the holder became an employee (who may not
    pay as an individual): nothing to reject, it posted."""
    bob = world.seeded.holders["bob"]
    body = json.dumps(message(bob.ssn, "c-bob", payer="individual", employer_id=None))
    store = world.contributions

    def deliver(message_id):
        return contributions.post_batch(
            [contributions.Delivery(message_id, body, "COLLECTION")],
            store=store,
            hashing_key=world.secrets.hashing_key(),
            policy=ContributionPolicy(),
            at=NOW,
        )

    [posted] = deliver("m-1")
    assert posted.outcome is contributions.Outcome.POSTED
    holder = world.store.holders[bob.person_id]
    world.store.holders[bob.person_id] = replace(holder, participation=Participation.EMPLOYEE)
    [again] = deliver("m-2")
    assert again.outcome is contributions.Outcome.DUPLICATE and store.rejected == {}


# --- what the collection system sees: GET /v1/contributions/{contribution_id} -------------------


def status(world, contribution_id, sender="COLLECTION"):
    return contributions.contribution_status(world.contributions, contribution_id, sender)


def test_the_sender_sees_posted_and_another_system_sees_unknown(world, lambda_client):
    alice = world.seeded.holders["alice"]
    assert status(world, "c-1").state is ContributionState.UNKNOWN  # not delivered yet
    invoke(lambda_client, sqs_event(record(message(alice.ssn, "c-1"))))
    mine = status(world, "c-1")
    assert (mine.state, mine.reason, mine.posted_at) == (ContributionState.POSTED, None, NOW)
    assert status(world, "c-1", sender="OTHER-SYSTEM") == ContributionStatus("c-1", ContributionState.UNKNOWN)


def test_the_sender_sees_a_rejection_with_its_reason_until_it_posts(world, lambda_client):
    late = message("11010519491231002X", "c-late")
    invoke(lambda_client, sqs_event(record(late)))
    refused = status(world, "c-late")
    assert refused.state is ContributionState.REJECTED and refused.reason == "holder-not-found"
    assert refused.detail and refused.posted_at is None
    assert status(world, "c-late", sender="OTHER-SYSTEM").state is ContributionState.UNKNOWN
    admin.enroll_holder(
        world.store, world.secrets.hashing_key(), late["ssn"], "Late", Participation.EMPLOYEE, NOW
    )
    invoke(lambda_client, sqs_event(record(late)))
    assert status(world, "c-late").state is ContributionState.POSTED


def test_a_reuse_reads_as_rejected_for_the_system_that_reused_the_id(world, lambda_client):
    alice = world.seeded.holders["alice"]
    invoke(lambda_client, sqs_event(record(message(alice.ssn, "c-1"), source="COLLECTION")))
    invoke(lambda_client, sqs_event(record(message(alice.ssn, "c-1", amount_fen=1), source="COLLECTION")))
    reused = status(world, "c-1")
    assert (reused.state, reused.reason) == (ContributionState.REJECTED, "contribution-id-reused")
    assert reused.posted_at == NOW  # its first body posted, and stands
    # Another system reusing the id: it sees its rejection; the first sender still sees posted.
    invoke(lambda_client, sqs_event(record(message(alice.ssn, "c-1", amount_fen=2), source="OTHER")))
    assert status(world, "c-1", sender="OTHER").reason == "contribution-id-reused"
    assert status(world, "c-1", sender="OTHER").posted_at is None
    assert status(world, "c-1").state is ContributionState.POSTED


@pytest.mark.parametrize("bad", ["", "a b", "c-1\n", "\uff43-1", "x" * 129])
def test_an_id_no_message_could_carry_is_invalid(world, bad):
    with pytest.raises(InvalidContribution):
        status(world, bad)


# --- the same, over PynamoDB on moto ------------------------------------------------------


@contextmanager
def dynamo_world():
    from chalicelib import bootstrap as deps_module
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.models import create_tables

    with mock_aws():
        create_tables()
        world = World(DynamoCardStore(), FakeIdempotencyStore(), FakeSecrets(), now=NOW)
        world.contributions = DynamoContributionStore()
        install(world, world.contributions)
        try:
            yield world
        finally:
            deps_module.use(None)


class CallCounter:
    """Counts AWS API calls by operation name (every botocore client, PynamoDB's included)."""

    def __init__(self, monkeypatch):
        import botocore.client

        self.calls: Counter[str] = Counter()
        original = botocore.client.BaseClient._make_api_call

        def counted(client, operation_name, api_params):
            self.calls[operation_name] += 1
            return original(client, operation_name, api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)


def test_over_dynamodb_one_write_per_message_and_redelivery_changes_nothing(lambda_client, monkeypatch):
    with dynamo_world() as world:
        alice = world.seeded.holders["alice"]
        batch = [
            record(message(alice.ssn, f"c-{i}", insurance=kind, payer=payer, period="2026-01"))
            for i, (kind, payer) in enumerate(
                [
                    ("pension", "employer"),
                    ("medical", "employer"),
                    ("medical", "employee"),
                    ("maternity", "employer"),
                    ("unemployment", "employee"),
                    ("work_injury", "employer"),
                    ("serious_illness", "employee"),
                ]
            )
        ]
        poison = record({"contribution_id": "c-poison", "ssn": alice.ssn})
        counter = CallCounter(monkeypatch)
        payload = invoke(lambda_client, sqs_event(*batch, poison))
        assert failures(payload) == [poison["messageId"]]
        assert counter.calls["TransactWriteItems"] == len(batch)  # one round trip per posting
        assert counter.calls["BatchGetItem"] == 2  # the batch's holders: SSN index, then holders
        assert counter.calls["UpdateItem"] == 1  # the rejection record
        assert set(counter.calls) == {"TransactWriteItems", "BatchGetItem", "UpdateItem"}
        store = world.contributions
        books = store.book_totals()
        assert books == store.postings_by_book()
        assert books[FundBook.MEDICAL].postings == 4 and books[FundBook.WORK_INJURY].postings == 1
        balance = world.store.get_account(alice.person_id).balance_fen
        assert balance == 80_000  # the employee's medical share

        counter.calls.clear()
        again = [record(r["body"], r["messageId"], receives=2) for r in batch]
        assert failures(invoke(lambda_client, sqs_event(*again))) == []
        assert counter.calls["BatchGetItem"] == 0  # holders cached across batches
        assert store.book_totals() == books
        assert world.store.get_account(alice.person_id).balance_fen == balance
        [rejection], _ = store.rejections(10)
        assert rejection.key == "c-poison" and rejection.reason == "invalid-contribution"


def test_over_dynamodb_a_reused_id_is_one_more_read_and_changes_nothing(lambda_client, monkeypatch):
    with dynamo_world() as world:
        alice = world.seeded.holders["alice"]
        body = message(alice.ssn, "c-1", insurance="medical", payer="employee", amount_fen=80_000)
        assert failures(invoke(lambda_client, sqs_event(record(body)))) == []
        store = world.contributions
        books, balance = store.book_totals(), world.store.get_account(alice.person_id).balance_fen
        counter = CallCounter(monkeypatch)
        reused = record({**body, "amount_fen": 1})
        assert failures(invoke(lambda_client, sqs_event(reused))) == [reused["messageId"]]
        # The failed conditional put, the first posting read to compare, the rejection record.
        assert counter.calls == Counter({"TransactWriteItems": 1, "GetItem": 1, "UpdateItem": 1})
        assert store.book_totals() == books
        assert world.store.get_account(alice.person_id).balance_fen == balance
        seen = contributions.contribution_status(store, "c-1", "COLLECTION")
        assert (seen.state, seen.reason) == (ContributionState.REJECTED, "contribution-id-reused")
        counter.calls.clear()
        assert failures(invoke(lambda_client, sqs_event(record(body)))) == []  # the same body: duplicate
        assert counter.calls == Counter({"TransactWriteItems": 1, "GetItem": 1})
        assert store.get_rejection("c-1").receives == 1


# --- two batches at once, over the locked moto server (real threads) -----------------------


@pytest.fixture
def served_world():
    from chalicelib import bootstrap as deps_module
    from chalicelib.storage import models
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore
    from sscard_ops.motoserver import LockedMotoServer

    server = LockedMotoServer().start()
    models.use_endpoint(server.endpoint)
    try:
        models.create_tables()
        world = World(DynamoCardStore(), FakeIdempotencyStore(), FakeSecrets(), now=NOW)
        world.contributions = DynamoContributionStore(shards=2)  # few shards: force conflicts
        install(world, world.contributions)
        yield world
    finally:
        deps_module.use(None)
        models.use_endpoint(None)
        server.stop()


def test_the_same_messages_in_batches_running_at_once_post_once(served_world):
    world = served_world
    handler = app_module.app.handler_map[HANDLER]
    roles = ["alice", "carol"]
    messages = [
        message(
            ssn(world, role),
            f"c-{role}-{i}",
            insurance="medical",
            payer="employee",
            amount_fen=1_000 + i,
            period=f"2025-{i + 1:02d}",
        )
        for role in roles
        for i in range(5)
    ]
    ids = [f"m-{i}" for i in range(len(messages))]
    barrier = threading.Barrier(3)
    answers = []

    def deliver(order):
        event = sqs_event(*[record(messages[i], ids[i]) for i in order])
        barrier.wait()
        answers.append(failures(handler(event, None)))

    orders = [list(range(10)), list(reversed(range(10))), [*range(5, 10), *range(5)]]
    threads = [threading.Thread(target=deliver, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = world.contributions
    leftovers = {m for a in answers for m in a}
    if leftovers:  # conflicts that outlived the in-process retries: SQS would redeliver them
        retry = sqs_event(*[record(messages[ids.index(m)], m) for m in sorted(leftovers)])
        assert failures(handler(retry, None)) == []
    books = store.book_totals()
    assert books[FundBook.MEDICAL] == BookTotal(
        FundBook.MEDICAL, 10 * 1_000 + 2 * sum(range(5)), 10, 10 * 1_000 + 2 * sum(range(5))
    )
    assert books == store.postings_by_book()
    for role in roles:
        holder = world.seeded.holders[role]
        account = world.store.get_account(holder.person_id)
        assert account.balance_fen == holder.balance_fen + 5 * 1_000 + sum(range(5))
        assert all(m.postings == 1 for m in store.months(holder.person_id))

"""The local poller feeds SQS to Chalice handlers as Lambda does: partial batch failures, DLQ."""

from __future__ import annotations

import json

import boto3
import pytest
from chalice.app import Blueprint, Chalice

from sscard_ops.localstack import MAX_RECEIVE_COUNT, create_queues, dlq_name
from sscard_ops.motoserver import LockedMotoServer
from sscard_ops.poller import QueuePoller, sqs_bindings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def endpoint():
    server = LockedMotoServer().start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def sqs(endpoint):
    return boto3.client("sqs", endpoint_url=endpoint, region_name="cn-north-1")


def make_app(queue: str, seen: list[dict], *, raise_on: str | None = None) -> Chalice:
    app = Chalice(app_name="poller-test")

    @app.on_sqs_message(queue=queue, batch_size=10)
    def work(event):
        failures = []
        for record in event:
            raw = record.to_dict()
            seen.append(raw)
            if raise_on is not None and record.body == raise_on:
                raise RuntimeError("boom")
            if record.body.startswith("fail"):
                failures.append({"itemIdentifier": raw["messageId"]})
        return {"batchItemFailures": failures}

    return app


def queue_url(sqs, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def depth(sqs, name: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url(sqs, name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_queues_are_discovered_from_the_app_and_created_with_a_dead_letter_queue(sqs):
    bp = Blueprint(__name__)

    @bp.on_sqs_message(queue="discovered-bp", batch_size=3)
    def from_blueprint(event):
        return None

    app = make_app("discovered-app", [])
    app.register_blueprint(bp)
    bindings = sqs_bindings(app)
    assert [(b.queue, b.name, b.batch_size) for b in bindings] == [
        ("discovered-app", "work", 10),
        ("discovered-bp", "from_blueprint", 3),
    ]
    create_queues(sqs, [b.queue for b in bindings])
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url(sqs, "discovered-bp"), AttributeNames=["All"])[
        "Attributes"
    ]
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(":discovered-bp-dlq")
    assert int(policy["maxReceiveCount"]) == MAX_RECEIVE_COUNT


def test_an_app_without_queue_handlers_needs_no_queues(sqs):
    app = Chalice(app_name="no-queues")
    assert sqs_bindings(app) == []
    assert create_queues(sqs, []) == {}
    assert QueuePoller(sqs, []).poll_once().received == 0


def test_partial_batch_failure_deletes_only_the_successes_and_dead_letters_the_rest(sqs):
    seen: list[dict] = []
    app = make_app("partial", seen)
    bindings = sqs_bindings(app)
    create_queues(sqs, ["partial"], visibility_timeout=0)  # failures reappear at once
    url = queue_url(sqs, "partial")
    for body in ("ok-1", "ok-2", "fail-1", "ok-3"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    poller = QueuePoller(sqs, bindings)

    first = poller.poll_once()
    assert (first.received, first.deleted, first.failed) == (4, 3, 1)
    assert len({r["messageId"] for r in seen}) == 4  # distinct ids, unlike chalice.test's events
    record = seen[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":partial")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["receiptHandle"]

    for _ in range(MAX_RECEIVE_COUNT + 1):
        poller.poll_once()
    counts = [int(r["attributes"]["ApproximateReceiveCount"]) for r in seen if r["body"] == "fail-1"]
    assert counts == list(range(1, MAX_RECEIVE_COUNT + 1))
    assert depth(sqs, "partial") == 0
    dead = sqs.receive_message(QueueUrl=queue_url(sqs, dlq_name("partial")), MaxNumberOfMessages=10)
    assert [m["Body"] for m in dead["Messages"]] == ["fail-1"]


def test_a_handler_that_raises_fails_the_whole_batch(sqs):
    seen: list[dict] = []
    app = make_app("raising", seen, raise_on="bad")
    create_queues(sqs, ["raising"], visibility_timeout=0)
    url = queue_url(sqs, "raising")
    for body in ("bad", "good"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    result = QueuePoller(sqs, sqs_bindings(app)).poll_once()
    assert result.deleted == 0 and result.failed == result.received >= 1
    assert depth(sqs, "raising") == 2


def test_a_normal_return_deletes_the_batch_and_an_unknown_failure_id_keeps_it(sqs):
    app = Chalice(app_name="plain")
    answers = iter([None, {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}])

    @app.on_sqs_message(queue="plain", batch_size=10)
    def plain(event):
        return next(answers)

    create_queues(sqs, ["plain"], visibility_timeout=0)
    url = queue_url(sqs, "plain")
    poller = QueuePoller(sqs, sqs_bindings(app))
    sqs.send_message(QueueUrl=url, MessageBody="one")
    assert poller.poll_once().deleted == 1
    sqs.send_message(QueueUrl=url, MessageBody="two")
    result = poller.poll_once()
    assert (result.deleted, result.failed) == (0, 1)  # as Lambda: the whole batch is retried
    assert depth(sqs, "plain") == 1


def test_the_background_poller_drains_the_queue(sqs):
    import time

    seen: list[dict] = []
    app = make_app("background", seen)
    create_queues(sqs, ["background"])
    url = queue_url(sqs, "background")
    poller = QueuePoller(sqs, sqs_bindings(app), idle_seconds=0.05).start()
    try:
        for i in range(15):
            sqs.send_message(QueueUrl=url, MessageBody=f"ok-{i}")
        deadline = time.monotonic() + 10
        while depth(sqs, "background") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert depth(sqs, "background") == 0
    assert sorted(r["body"] for r in seen) == sorted(f"ok-{i}" for i in range(15))


def test_several_workers_handle_each_message_once_and_only_the_first_polls_an_empty_queue(sqs):
    import threading
    import time

    seen: list[dict] = []
    at_once: list[int] = []
    running = [0]
    lock = threading.Lock()
    app = Chalice(app_name="workers")

    @app.on_sqs_message(queue="workers", batch_size=10)
    def work(event):
        with lock:
            running[0] += 1
            at_once.append(running[0])
        time.sleep(0.05)  # long enough for the other workers to take batches meanwhile
        with lock:
            seen.extend(r.to_dict() for r in event)
            running[0] -= 1

    create_queues(sqs, ["workers"])
    url = queue_url(sqs, "workers")
    for start in range(0, 60, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m-{i}"} for i in range(start, start + 10)]
        )
    polls: list[str] = []
    poller = QueuePoller(sqs, sqs_bindings(app), idle_seconds=0.05, workers=3)
    real_poll = poller.poll_once

    def counted_poll():
        polls.append(threading.current_thread().name)
        return real_poll()

    poller.poll_once = counted_poll  # type: ignore[method-assign]
    poller.start()
    try:
        deadline = time.monotonic() + 20
        while (depth(sqs, "workers") or len(seen) < 60) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the last busy round ends with polls that find nothing
        polls.clear()
        time.sleep(0.5)  # the queue is empty now
        idle_polls = list(polls)
    finally:
        poller.stop()
    assert sorted(r["body"] for r in seen) == sorted(f"m-{i}" for i in range(60))
    assert max(at_once) > 1  # batches were handled at the same time
    assert idle_polls and set(idle_polls) == {"sqs-poller-0"}  # idle: one worker polls, the others wait

"""The roles' DynamoDB actions are exactly what the code does: every use case, recorded.

One seeded world on DynamoDB (moto, in process) is driven through every operation of
the API (chalicelib.api.operations.OPERATIONS: the test fails on one it does not call)
and every queue worker, including the paths that only failures take (a passing
DynamoDB failure that frees an Idempotency-Key, a replayed request, a redelivered
message, a contribution that can never post). tests/dynamo_actions.py records each
DynamoDB call as (function, IAM action, table); infra/access.py's FUNCTION_TABLE_ACTIONS
must be exactly that, per function: a missing action fails in AWS with AccessDenied
(moto checks nothing), an extra one is privilege nobody uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError
from chalice.app import SQSEventConfig
from chalice.test import Client
from moto import mock_aws

import app as app_module
from chalicelib import bootstrap as deps_module
from chalicelib.api.operations import OPERATIONS
from chalicelib.settings import settings
from chalicelib.storage.contributions import DynamoContributionStore
from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
from chalicelib.storage.models import create_tables, use_endpoint
from chalicelib.storage.payments import DynamoPaymentStore
from chalicelib.storage.queues import SqsContributionQueue
from infra import access
from tests.client import ApiClient, Reply
from tests.conftest import NOW
from tests.contribution_helpers import failures, install, message, record, sqs_event
from tests.dynamo_actions import Recording, recording
from tests.fakes import FakeSecrets
from tests.world import World


@contextmanager
def failing(operation: str) -> Iterator[None]:
    """Every `operation` call fails with throttling (a passing failure) while inside."""
    original = botocore.client.BaseClient._make_api_call

    def call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == operation:
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}
            raise ClientError({"Error": error}, operation_name)
        return original(client, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def identity_body(path: str, ssn: str) -> dict[str, Any] | None:
    """The body of a service-center card change: the holder's SSN where the operation takes one."""
    (op,) = [o for o in OPERATIONS if o.path == path and o.method == "POST"]
    if op.body is not None and "ssn" in op.body.model_fields:
        return {"ssn": ssn}
    return None


def deliver(client: Client) -> int:
    """Hand every queued message to the worker, as the SQS event source would; then once more."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings().contributions_queue)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    records = [
        record(m["Body"], m["MessageId"], source=m["MessageAttributes"]["source"]["StringValue"])
        for m in got.get("Messages", [])
    ]
    payload = client.lambda_.invoke("post_contributions", sqs_event(*records)).payload
    failed = failures(payload)
    # A redelivery of everything: the postings are duplicates, the rejection is counted again.
    client.lambda_.invoke("post_contributions", sqs_event(*records))
    return len(records) - len(failed)


def every_use_case(world: World) -> None:
    h = world.seeded.holders
    sc = world.auth("service_center")
    with ApiClient() as api:

        def ok(reply: Reply, *statuses: int) -> Reply:
            assert reply.status in (statuses or (200,)), reply
            return reply

        ok(api.get("/health"))
        ok(api.get("/openapi.json"))
        # Service center: a passing failure frees the key (503), the retry activates, a replay answers.
        activate = f"/v1/cards/{h['alice'].card_no}/activate"
        headers = {**sc, "Idempotency-Key": "act-alice"}
        with failing("TransactWriteItems"):
            ok(api.post(activate, {"ssn": h["alice"].ssn}, headers=headers), 503)
        ok(api.post(activate, {"ssn": h["alice"].ssn}, headers=headers))
        ok(api.post(activate, {"ssn": h["alice"].ssn}, headers=headers))
        # Bank counter by signed webhook, delivered twice.
        payload = {
            "type": "card.counter_activated",
            "timestamp": "2026-11-25T09:00:00Z",
            "data": {"card_no": h["bob"].card_no, "ssn": h["bob"].ssn, "outlet_id": "ICBC-BJ-0012"},
        }
        body, signed = world.signed_webhook(payload, "msg_actions_1")
        for _ in range(2):
            ok(api.request("POST", f"/v1/webhooks/banks/{world.seeded.bank_code}", raw=body, headers=signed))
        # Hospital: the first registration activates.
        hospital = world.auth("hospital")
        registration = {"card_no": h["dan"].card_no, "visit": "outpatient"}
        ok(api.post("/v1/registrations", registration, headers={**hospital, "Idempotency-Key": "r1"}), 201)
        # Pharmacy: first use with the old card, a payment, its replay, a look, a cancellation.
        pharmacy = world.auth("pharmacy")
        first = {
            "card_no": h["carol"].card_no,
            "amount_fen": 1_200,
            "previous_card_no": h["carol"].old_card_no,
        }
        ok(api.post("/v1/payments", first, headers={**pharmacy, "Idempotency-Key": "p1"}), 201)
        second = {"card_no": h["carol"].card_no, "amount_fen": 800}
        paid = ok(api.post("/v1/payments", second, headers={**pharmacy, "Idempotency-Key": "p2"}), 201)
        ok(api.post("/v1/payments", second, headers={**pharmacy, "Idempotency-Key": "p2"}), 201)
        payment = paid.json["payment_id"]
        ok(api.get(f"/v1/payments/{payment}", headers=pharmacy))
        ok(api.post(f"/v1/payments/{payment}/cancel", headers={**pharmacy, "Idempotency-Key": "c2"}))
        day = {"date": NOW.date().isoformat(), "count": 1, "total_fen": 1_200}
        ok(api.post("/v1/reconciliations", day, headers=pharmacy))
        ok(api.get(f"/v1/reconciliations/{NOW.date().isoformat()}/entries", headers=pharmacy))
        ok(api.post("/v1/payments/quote", second, headers=pharmacy))
        ok(api.get(f"/v1/cards/{h['carol'].card_no}/insured", headers=pharmacy))
        # Mobile: every read, then a loss report; the service center resumes, then cancels for good.
        for role in ("alice", "carol"):
            mobile = world.auth(role)
            for path in ("card", "account", "payments", "contributions", "coverage"):
                ok(api.get(f"/v1/me/{path}", headers=mobile))
        ok(api.post("/v1/me/card/report-loss", {}, headers=world.auth("alice")))
        for change, key in (("resume", "res-alice"), ("cancel", "can-alice")):
            path = f"/v1/cards/{{card_no}}/{change}"
            ok(
                api.post(
                    path.replace("{card_no}", h["alice"].card_no),
                    identity_body(path, h["alice"].ssn),
                    headers={**sc, "Idempotency-Key": key},
                )
            )
        # Contributions over HTTP: two that post (one credits the account), one that never can.
        batch = [
            message(h["alice"].ssn, "c-act-1", insurance="medical", payer="employee", amount_fen=2_000),
            message(h["alice"].ssn, "c-act-2"),
            message(h["bob"].ssn, "c-act-3", insurance="work_injury", payer="individual", employer_id=None),
            message(
                h["dan"].ssn,
                "c-act-4",
                insurance="medical",
                payer="individual",
                employer_id=None,
                period="2026-11",
                paid_at="2026-11-05T10:00:00+08:00",
            ),
        ]
        ok(api.post("/v1/contributions", {"contributions": batch}, headers=world.auth("collection")), 202)
    with Client(app_module.app, stage_name="local") as client:
        assert deliver(client) == 3
    with ApiClient() as api:

        def ok(reply: Reply, *statuses: int) -> Reply:
            assert reply.status in (statuses or (200,)), reply
            return reply

        ok(api.get("/v1/contributions/c-act-1", headers=world.auth("collection")))
        # Dan's medical contribution is in force now. An inpatient stay: charges, one taken
        # back, the stay read and quoted, discharged (a
        # settlement paid by the fund), the discharge cancelled (the stay reopens); an empty
        # stay withdrawn.
        admit = {"card_no": h["dan"].card_no, "visit": "inpatient"}
        stay = ok(api.post("/v1/registrations", admit, headers={**hospital, "Idempotency-Key": "r2"}), 201)
        base = f"/v1/registrations/{stay.json['registration_id']}"
        for charge_id, fen in (("C-1", 500_000), ("C-2", 9_000)):
            charge = {"charge_id": charge_id, "amount_fen": fen, "in_scope_fen": fen, "description": "Ward"}
            ok(api.post(f"{base}/charges", charge, headers=hospital), 201)
        ok(api.post(f"{base}/charges/C-2/cancel", headers={**hospital, "Idempotency-Key": "cc1"}))
        ok(api.get(base, headers=hospital))
        ok(api.post(f"{base}/quote", headers=hospital))
        discharged = ok(api.post(f"{base}/discharge", headers={**hospital, "Idempotency-Key": "d1"}), 201)
        assert discharged.json["fund_paid_fen"] > 0, discharged
        ok(api.post(f"/v1/payments/{discharged.json['payment_id']}/cancel", headers=hospital))
        empty = ok(api.post("/v1/registrations", admit, headers={**hospital, "Idempotency-Key": "r3"}), 201)
        ok(api.post(f"/v1/registrations/{empty.json['registration_id']}/cancel", headers=hospital))


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recording]:
    with mock_aws(), recording(app_module.app) as found:
        use_endpoint(None)
        create_tables()
        boto3.client("sqs").create_queue(QueueName=settings().contributions_queue)
        world = World(
            DynamoCardStore(), DynamoIdempotencyStore(), FakeSecrets(), now=NOW, payments=DynamoPaymentStore()
        )
        world.contributions = DynamoContributionStore()
        install(world, world.contributions, SqsContributionQueue(settings().contributions_queue))
        try:
            every_use_case(world)
            yield found
        finally:
            deps_module.use(None)
            use_endpoint(None)


def functions() -> list[str]:
    workers = [s.name for s in app_module.app.event_sources if isinstance(s, SQSEventConfig)]
    return [access.API_HANDLER, *workers]


def test_the_run_calls_every_operation_and_every_worker(recorded: Recording) -> None:
    assert {(o.method, o.path) for o in OPERATIONS} <= recorded.routes
    assert set(functions()) - {access.API_HANDLER} <= recorded.workers


def test_every_function_is_declared() -> None:
    assert sorted(access.FUNCTION_TABLE_ACTIONS) == sorted(functions())


@pytest.mark.parametrize("function", functions())
def test_the_role_grants_every_dynamodb_action_the_code_performs(recorded: Recording, function: str) -> None:
    declared = {t: set(a) for t, a in access.FUNCTION_TABLE_ACTIONS[function].items()}
    missing = sorted(
        (table, action)
        for table, actions in recorded.of(function).items()
        for action in actions
        if action not in declared.get(table, set())
    )
    assert not missing, (
        f"{function} performs {missing} (table, action) that infra/access.py "
        "FUNCTION_TABLE_ACTIONS does not grant it: AccessDenied in AWS"
    )


@pytest.mark.parametrize("function", functions())
def test_the_role_grants_nothing_the_code_does_not_perform(recorded: Recording, function: str) -> None:
    performed = recorded.of(function)
    unused = sorted(
        (table, action)
        for table, actions in access.FUNCTION_TABLE_ACTIONS[function].items()
        for action in actions
        if action not in performed.get(table, set())
    )
    assert not unused, f"infra/access.py grants {function} {unused} (table, action) that no use case performs"


def test_no_function_updates_or_deletes_the_audit_trail(recorded: Recording) -> None:
    breaches = sorted(
        (c.function, c.action, c.table)
        for c in recorded.calls
        if c.function is not None
        and c.table in access.APPEND_ONLY_TABLES
        and c.action in access.APPEND_ONLY_FORBIDDEN
    )
    assert not breaches, f"append-only tables changed in place: {breaches}"


def test_a_cancellation_is_recorded_as_a_new_item(recorded: Recording) -> None:
    """The run cancels payments: each is a conditional put of its cancellation, never a change
    of the payment (a cancel that is not recorded this way would pass the test above unseen)."""
    api = recorded.of(access.API_HANDLER)
    assert "PutItem" in api["payment-cancellations"]
    assert not {"UpdateItem", "DeleteItem"} & api["payments"]


def test_audit_records_are_only_ever_created(recorded: Recording) -> None:
    """A Put on an append-only table is conditional on the item not existing: it never overwrites."""
    audit_puts = [c for c in recorded.calls if c.table in access.APPEND_ONLY_TABLES and c.action == "PutItem"]
    assert audit_puts, "the run wrote no audit record: this test checks nothing"
    assert not recorded.overwriting_puts, (
        f"unconditional puts on append-only tables: {recorded.overwriting_puts}"
    )

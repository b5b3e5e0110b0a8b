"""Secrets and personal data at rest (issue #7).

A seeded world on DynamoDB (moto, in process) goes through a full flow: activation by every
channel (service center, bank webhook, hospital registration, pharmacy first use with the old
card), payments and a cancellation, contributions queued over HTTP to SQS and posted by the
worker handler. Then every table in ALL_MODELS is scanned: no item may hold an issued token, a
webhook secret or a full SSN (digests and masked forms only). Card numbers may be stored (they
are keys), but neither they nor anything else above may reach the logs of the whole run.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as app_module
from chalicelib import bootstrap as deps_module
from chalicelib.settings import settings
from chalicelib.storage.contributions import DynamoContributionStore
from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
from chalicelib.storage.models import ALL_MODELS, create_tables, use_endpoint
from chalicelib.storage.payments import DynamoPaymentStore
from chalicelib.storage.queues import SqsContributionQueue
from tests.client import ApiClient
from tests.conftest import NOW
from tests.contribution_helpers import failures, install, message, record, sqs_event
from tests.fakes import FakeSecrets
from tests.world import World


@pytest.fixture
def dynamo_world() -> Iterator[World]:
    with mock_aws():
        use_endpoint(None)
        create_tables()
        boto3.client("sqs").create_queue(QueueName=settings().contributions_queue)
        world = World(
            DynamoCardStore(),
            DynamoIdempotencyStore(),
            FakeSecrets(),
            now=NOW,
            payments=DynamoPaymentStore(),
        )
        world.contributions = DynamoContributionStore()
        install(world, world.contributions, SqsContributionQueue(settings().contributions_queue))
        try:
            yield world
        finally:
            deps_module.use(None)
            use_endpoint(None)


def _deliver_queue(lambda_client) -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings().contributions_queue)["QueueUrl"]
    delivered = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            return delivered
        records = [
            record(
                m["Body"],
                m["MessageId"],
                source=m.get("MessageAttributes", {}).get("source", {}).get("StringValue", ""),
            )
            for m in messages
        ]
        payload = lambda_client.invoke("post_contributions", sqs_event(*records)).payload
        assert failures(payload) == []
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        delivered += len(messages)


def full_flow(world: World) -> None:
    h = world.seeded.holders
    with ApiClient() as api:
        # Service center: the SSN must be the holder's.
        r = api.post(
            f"/v1/cards/{h['alice'].card_no}/activate",
            {"ssn": h["alice"].ssn},
            headers={**world.auth("service_center"), "Idempotency-Key": "act-alice"},
        )
        assert r.status == 200, r
        # Bank counter, by signed webhook.
        payload = {
            "type": "card.counter_activated",
            "timestamp": "2026-11-25T09:00:00Z",
            "data": {"card_no": h["bob"].card_no, "ssn": h["bob"].ssn, "outlet_id": "ICBC-BJ-0012"},
        }
        body, headers = world.signed_webhook(payload, "msg_rest_1")
        r = api.request("POST", f"/v1/webhooks/banks/{world.seeded.bank_code}", raw=body, headers=headers)
        assert r.status == 200 and r.json["outcome"] == "activated", r
        # Hospital: the first registration.
        r = api.post(
            "/v1/registrations",
            {"card_no": h["dan"].card_no, "visit": "outpatient"},
            headers={**world.auth("hospital"), "Idempotency-Key": "reg-dan"},
        )
        assert r.status == 201 and r.json["card_activated"], r
        # Pharmacy first use: the old card first, then the new one; it is also a payment.
        r = api.post(
            "/v1/payments",
            {"card_no": h["carol"].card_no, "amount_fen": 1_200, "previous_card_no": h["carol"].old_card_no},
            headers={**world.auth("pharmacy"), "Idempotency-Key": "pay-carol-1"},
        )
        assert r.status == 201 and r.json["card_activated"], r
        r2 = api.post(
            "/v1/payments",
            {"card_no": h["carol"].card_no, "amount_fen": 800},
            headers={**world.auth("pharmacy"), "Idempotency-Key": "pay-carol-2"},
        )
        assert r2.status == 201, r2
        r = api.post(
            f"/v1/payments/{r2.json['payment_id']}/cancel",
            headers={**world.auth("pharmacy"), "Idempotency-Key": "cancel-carol-2"},
        )
        assert r.status == 200, r
        # Contributions: over HTTP to SQS, then the worker handler posts them.
        batch = [
            message(h["alice"].ssn, "c-rest-1", insurance="medical", payer="employee", amount_fen=2_000),
            message(h["alice"].ssn, "c-rest-2"),
        ]
        r = api.post("/v1/contributions", {"contributions": batch}, headers=world.auth("collection"))
        assert r.status == 202, r
        for role in ("alice", "bob", "carol", "dan"):
            assert api.get("/v1/me/card", headers=world.auth(role)).status == 200
        assert api.get("/v1/me/payments", headers=world.auth("carol")).status == 200
    with Client(app_module.app, stage_name="local") as client:
        assert _deliver_queue(client.lambda_) == 2
    assert len(world.contributions.months(h["alice"].person_id)) == 2


def forbidden_values(world: World) -> dict[str, str]:
    """Name -> value that must never be stored (tokens, secrets, SSNs)."""
    s = world.seeded
    found = {f"token:{role}": token for role, token in s.tokens.items()}
    found["webhook secret"] = s.bank_secret
    raw = base64.b64decode(s.bank_secret.removeprefix("whsec_"))
    found["webhook secret (base64 body)"] = s.bank_secret.removeprefix("whsec_")
    found["webhook secret (hex)"] = raw.hex()
    for role, holder in s.holders.items():
        found[f"ssn:{role}"] = holder.ssn
        found[f"ssn17:{role}"] = holder.ssn[:17]
        # The holder's mobile token too.
        found[f"jwt:{role}"] = world.auth(role)["Authorization"].split()[1]
    return found


def scan_all_tables() -> dict[str, list[str]]:
    client = boto3.client("dynamodb")
    items: dict[str, list[str]] = {}
    for model in ALL_MODELS:
        name = model.Meta.table_name
        pages = client.get_paginator("scan").paginate(TableName=name)
        items[name] = [json.dumps(item, sort_keys=True) for page in pages for item in page["Items"]]
    return items


def test_no_secret_or_full_ssn_is_stored_and_none_reaches_the_logs(dynamo_world, capsys, caplog):
    caplog.set_level(logging.INFO)
    full_flow(dynamo_world)
    tables = scan_all_tables()
    assert sum(len(v) for v in tables.values()) > 20, "the flow wrote to the tables"
    assert len(tables) == len(ALL_MODELS)
    forbidden = forbidden_values(dynamo_world)
    for table, rows in tables.items():
        for row in rows:
            for name, value in forbidden.items():
                assert value not in row, f"{name} stored in {table}: {row[:200]}"
    # Card numbers may be stored, as keys: they are.
    stored = "\n".join(row for rows in tables.values() for row in rows)
    assert dynamo_world.seeded.holders["carol"].card_no in stored

    logs = capsys.readouterr()
    text = logs.out + logs.err + "\n".join(r.getMessage() for r in caplog.records)
    assert text.count('"event": "request"') >= 10, "the run was logged"
    card_numbers = {
        f"card:{role}": n
        for role, h in dynamo_world.seeded.holders.items()
        for n in (h.card_no, h.old_card_no)
        if n
    }
    for name, value in {**forbidden, **card_numbers}.items():
        assert value not in text, f"{name} in the logs"

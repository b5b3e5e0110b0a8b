"""Builders for contribution tests: messages, SQS events with distinct message ids, wiring."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from typing import Any

from chalicelib import bootstrap as deps_module
from chalicelib.workers import contributions as worker
from tests.world import World

QUEUE_ARN = "arn:aws:sqs:cn-north-1:123456789012:sscard-local-contributions"


def message(ssn: str, contribution_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An employer's pension contribution for January 2026 unless told otherwise."""
    body: dict[str, Any] = {
        "contribution_id": contribution_id or f"c-{uuid.uuid4().hex[:12]}",
        "ssn": ssn,
        "period": "2026-01",
        "insurance": "pension",
        "payer": "employer",
        "employer_id": "EMP-001",
        "amount_fen": 80_000,
        "paid_at": "2026-01-15T10:00:00+08:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def record(
    body: Any, message_id: str | None = None, *, source: str = "COLLECTION", receives: int = 1
) -> dict[str, Any]:
    """One SQS record shaped as Lambda delivers it, with its own message id.

    (chalice.test's generate_sqs_event gives every record the same messageId, which
    makes partial batch failures impossible to tell apart.)"""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"rh-{uuid.uuid4().hex}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receives),
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600000",
        },
        "messageAttributes": {
            "source": {
                "stringValue": source,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "cn-north-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    ids = [r["messageId"] for r in records]
    assert len(set(ids)) == len(ids), "give every record its own messageId"
    return {"Records": list(records)}


def failures(payload: Any) -> list[str]:
    return [f["itemIdentifier"] for f in payload["batchItemFailures"]]


def install(world: World, contributions: Any, queue: Any = None) -> None:
    """The world's deps plus a contribution store (and queue) for the API and the worker."""
    deps_module.use(replace(world.deps(), contributions=contributions, contribution_queue=queue))
    worker.holders.clear()

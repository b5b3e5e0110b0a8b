"""The contribution queue's handler: posts a batch and reports partial batch failures.

Lambda's SQS event source deletes the messages of a batch that the handler
does not name in `batchItemFailures` and delivers the named ones again after
the visibility timeout; after maxReceiveCount receives the queue's redrive
policy moves a message to its dead-letter queue (infra/ switches
ReportBatchItemFailures on, which Chalice 1.34 cannot).

Named as failed: messages that failed for a passing reason (retried), and
messages that can never succeed, whose reason is first recorded for the
operator (`sscard contributions rejected`): they reach the dead-letter queue
through the redrive policy. Why SQS moves them rather than this handler: see
chalicelib/services/contributions.py. Never named: posted messages and
duplicates, so one bad message never makes the good ones of its batch repeat.

The queue name must be known when Chalice imports the app (it builds the
event source from the decorator); it comes from CONTRIBUTIONS_QUEUE.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SQSEvent

from chalicelib.bootstrap import deps
from chalicelib.logs import get_logger
from chalicelib.services import contributions
from chalicelib.services.contributions import Delivery, HolderCache
from chalicelib.settings import settings

log = get_logger("sscard.workers.contributions")
bp = Blueprint(__name__)
QUEUE = settings().contributions_queue
BATCH_SIZE = 10
# Holders seen recently, across the batches one Lambda container handles.
holders = HolderCache()


@bp.on_sqs_message(queue=QUEUE, batch_size=BATCH_SIZE)
def post_contributions(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
    records = [record.to_dict() for record in event]
    deliveries = [delivery_of(r) for r in records]
    try:
        d = deps()
        if d.contributions is None:
            raise RuntimeError("no contribution store is configured")
        results = contributions.post_batch(
            deliveries,
            store=d.contributions,
            hashing_key=d.secrets.hashing_key(),
            policy=contributions.load_policy(settings().contribution_policy),
            at=d.clock(),
            holders=holders,
        )
        failed = [r.message_id for r in results if r.failed]
    except Exception as exc:
        # Nothing was decided (no secret, no store): every message comes back later.
        log.exception("contribution_batch_failed", extra={"error_type": type(exc).__name__})
        failed = [delivery.message_id for delivery in deliveries]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def delivery_of(record: dict[str, Any]) -> Delivery:
    source = (record.get("messageAttributes") or {}).get("source") or {}
    return Delivery(
        message_id=str(record.get("messageId") or ""),
        body=str(record.get("body") or ""),
        source=source.get("stringValue") if isinstance(source, dict) else None,
    )

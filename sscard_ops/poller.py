"""Feeds SQS queues to the app's `@app.on_sqs_message` handlers, as Lambda's event source mapping does.

Lambda calls the handler with a batch of records and, when the mapping has
`ReportBatchItemFailures` on, reads `{"batchItemFailures": [{"itemIdentifier": id}]}`
from the answer: it deletes the other messages and leaves the failed ones to
reappear after the visibility timeout (and, after maxReceiveCount receives, the
queue's redrive policy moves them to the dead-letter queue). A handler that
raises fails the whole batch; a normal answer deletes the whole batch.

Receives are short polls with a pause when idle: the local moto server serves
one request at a time (motoserver.py), so a long poll held on the server would
stall every other request for its whole wait.

Like an event source mapping, it runs several batches at once (`workers`): one
batch at a time leaves moto idle while the handler works and the handler idle
while moto answers. While the queues are empty only the first worker polls; the
others wait until it finds messages, and wait again once they find none.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalice.app import Chalice, SQSEventConfig
from chalice.local import LambdaContext

from chalicelib.logs import get_logger

log = get_logger("sscard.poller")
MAX_RECEIVE = 10  # SQS returns at most 10 messages a call
LAMBDA_TIMEOUT_MS = 900_000


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class SqsBinding:
    """One `@app.on_sqs_message` handler and the queue it reads."""

    name: str  # the handler's name in the app (Lambda function suffix)
    queue: str
    batch_size: int
    handler: Callable[[dict[str, Any], Any], Any]


def sqs_bindings(app: Chalice) -> list[SqsBinding]:
    """Every SQS handler the app registers (blueprints included), in registration order."""
    bindings = []
    for source in app.event_sources:
        if not isinstance(source, SQSEventConfig):
            continue
        queue = source.queue or (source.queue_arn or "").rsplit(":", 1)[-1]
        bindings.append(SqsBinding(source.name, queue, source.batch_size, app.handler_map[source.name]))
    return bindings


@dataclass
class PollResult:
    received: int = 0
    deleted: int = 0
    failed: int = 0

    def add(self, other: PollResult) -> None:
        self.received += other.received
        self.deleted += other.deleted
        self.failed += other.failed


class QueuePoller:
    """Receives from each bound queue and invokes its handler with a Lambda SQS event."""

    def __init__(
        self,
        sqs: Any,
        bindings: Iterable[SqsBinding],
        *,
        region: str = "cn-north-1",
        idle_seconds: float = 0.25,
        workers: int = 1,
    ) -> None:
        self._sqs = sqs
        self._bindings = list(bindings)
        self._region = region
        self._idle_seconds = idle_seconds
        self._queues: dict[str, tuple[str, str]] = {}  # queue name -> (url, arn)
        self._workers = max(1, workers)
        self._stop = threading.Event()
        self._busy = threading.Event()  # the last poll found messages: every worker polls
        self._threads: list[threading.Thread] = []
        self._queues_lock = threading.Lock()

    @property
    def bindings(self) -> list[SqsBinding]:
        return list(self._bindings)

    def _queue(self, name: str) -> tuple[str, str]:
        with self._queues_lock:
            return self._queue_unlocked(name)

    def _queue_unlocked(self, name: str) -> tuple[str, str]:
        if name not in self._queues:
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self._queues[name] = (url, arn)
        return self._queues[name]

    def poll_once(self) -> PollResult:
        """One receive from every queue, each batch handed to its handler. Never blocks."""
        total = PollResult()
        for binding in self._bindings:
            total.add(self._poll(binding))
        return total

    def _poll(self, binding: SqsBinding) -> PollResult:
        url, arn = self._queue(binding.queue)
        messages = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(binding.batch_size, MAX_RECEIVE)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return PollResult()
        event = {"Records": [self._record(m, arn) for m in messages]}
        context = LambdaContext(
            function_name=f"sscard-local-{binding.name}",
            memory_size=128,
            max_runtime_ms=LAMBDA_TIMEOUT_MS,
        )
        try:
            answer = binding.handler(event, context)
        except Exception as exc:
            # As Lambda: the whole batch fails and reappears after the visibility timeout.
            log.error("sqs_batch_failed", extra={"handler": binding.name, "error_type": type(exc).__name__})
            return PollResult(received=len(messages), failed=len(messages))
        failed = self._failed_ids(answer, {m["MessageId"] for m in messages})
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(url, done)
        if failed:
            log.info(
                "sqs_batch_partial_failure",
                extra={"handler": binding.name, "failed": len(failed), "ok": len(done)},
            )
        return PollResult(received=len(messages), deleted=len(done), failed=len(failed))

    @staticmethod
    def _failed_ids(answer: Any, ids: set[str]) -> set[str]:
        if not isinstance(answer, dict) or "batchItemFailures" not in answer:
            return set()
        failures = answer.get("batchItemFailures") or []
        named = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
        if not named <= ids:
            # Lambda treats an empty or unknown itemIdentifier as a failure of the whole batch.
            return set(ids)
        return {i for i in named if isinstance(i, str)}

    def _delete(self, url: str, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        self._sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )

    def _record(self, message: dict[str, Any], arn: str) -> dict[str, Any]:
        """A record exactly shaped like the ones Lambda passes for an SQS event source."""
        body = message.get("Body", "")
        attributes = dict(message.get("Attributes", {}))
        attributes.setdefault("ApproximateReceiveCount", "1")
        return {
            "messageId": message.get("MessageId") or str(uuid.uuid4()),
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": attributes,
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": value.get("StringListValues", []),
                    "binaryListValues": value.get("BinaryListValues", []),
                    "dataType": value.get("DataType", "String"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or _md5(body),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self._region,
        }

    # --- running in the background (the local stack) ---
    def run(self, worker: int = 0) -> None:
        while not self._stop.is_set():
            if worker > 0 and (not self._busy.wait(self._idle_seconds) or self._stop.is_set()):
                continue  # the queues were empty at the last look: the first worker watches
            try:
                busy = self.poll_once().received > 0
            except Exception as exc:  # the stand-in hiccupped: keep polling
                log.warning("sqs_poll_failed", extra={"error_type": type(exc).__name__})
                busy = False
            if busy:
                self._busy.set()
            else:
                self._busy.clear()
                self._stop.wait(self._idle_seconds)

    def start(self) -> QueuePoller:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self.run, args=(n,), name=f"sqs-poller-{n}", daemon=True)
            for n in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._busy.set()  # wake the waiting workers, to see the stop
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

"""One SQS queue, with its dead-letter queue, per SQS handler of the Chalice app.

The handlers are found in `app.app.event_sources`; the queue gets the name the handler
was registered with (`@app.on_sqs_message(queue=...)`), so Chalice's event source and
the stack's queue are the same queue.

The numbers below are the deployment's, set on the generated event source mapping
whatever the decorator said (Chalice's default batch size of 1 would pay one
invocation per message):

- BATCH_SIZE 25: a message is one contribution posting, about one DynamoDB
  transaction (~10-30 ms), so a batch takes well under a second and stays far from
  the timeout. Partial batch responses (ReportBatchItemFailures) mean one bad message
  costs only itself a retry, so a larger batch loses nothing on failure.
- BATCH_WINDOW_SECONDS 1: needed for a batch above 10; during a monthly run the
  batch fills at once, on a quiet day a message waits at most one second.
- MAX_CONCURRENCY 100: caps the pollers' Lambda concurrency (~2,500 postings a
  second at 25 per ~1 s invocation), well above a monthly run of hundreds of millions
  spread over days, and leaves the rest of the account's concurrency to the API.
- WORKER_TIMEOUT_SECONDS 30, VISIBILITY_TIMEOUT_SECONDS = 6 x timeout (AWS's advice
  for SQS event sources), so a message is never redelivered while still in work.
- MAX_RECEIVE_COUNT 5: a message that failed five receives (a poison message, or
  one whose holder does not exist yet) moves to the dead-letter queue, where an
  alarm fires. Transient DynamoDB throttling rarely fails five receives in a row.
- RETENTION_DAYS 14 (SQS's maximum) on both queues, so an outage over a long
  weekend loses nothing and a dead letter waits two weeks for an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BATCH_SIZE = 25
BATCH_WINDOW_SECONDS = 1
MAX_CONCURRENCY = 100
WORKER_TIMEOUT_SECONDS = 30
VISIBILITY_TIMEOUT_SECONDS = 6 * WORKER_TIMEOUT_SECONDS
MAX_RECEIVE_COUNT = 5
RETENTION_DAYS = 14


def cfn_name(name: str) -> str:
    """The logical id Chalice gives a function's resource in its template."""
    from chalice.utils import to_cfn_resource_name

    return str(to_cfn_resource_name(name))


@dataclass(frozen=True)
class Worker:
    handler: str  # the Chalice function name, e.g. "post_contributions"
    queue: str  # the queue's name

    @property
    def function_id(self) -> str:
        return cfn_name(self.handler)

    @property
    def event_source_id(self) -> str:
        return f"{self.function_id}SqsEventSource"

    @property
    def fifo(self) -> bool:
        return self.queue.endswith(".fifo")

    @property
    def dead_letter_queue(self) -> str:
        base = self.queue.removesuffix(".fifo")
        return f"{base}-dlq.fifo" if self.fifo else f"{base}-dlq"


def workers(app: Any = None) -> list[Worker]:
    """Every SQS handler of the Chalice app (app.py's `app` unless given)."""
    from chalice.app import SQSEventConfig

    if app is None:
        from app import app as chalice_app

        app = chalice_app
    found = []
    for source in app.event_sources:
        if not isinstance(source, SQSEventConfig):
            continue
        if not source.queue:
            raise ValueError(
                f"SQS handler {source.name} names its queue by ARN; name it with queue=... "
                "so that infra/ creates the queue and its dead-letter queue"
            )
        found.append(Worker(handler=source.name, queue=source.queue))
    return found

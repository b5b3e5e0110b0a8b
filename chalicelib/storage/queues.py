"""The contribution queue on SQS (boto3, imported and connected on first use).

POST /v1/contributions validates and then sends here; the worker
(chalicelib/workers/contributions.py) reads the same queue.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from chalicelib.domain.errors import StorageBusy
from chalicelib.services.contribution_ports import QueuedContribution

SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries
SOURCE_ATTRIBUTE = "source"  # the sending institution, as a message attribute


class SqsContributionQueue:
    def __init__(self, queue_name: str) -> None:
        self._name = queue_name
        self._lock = threading.Lock()
        self._client: Any = None
        self._url: str | None = None

    def _connected(self) -> tuple[Any, str]:
        with self._lock:
            if self._client is None:
                import boto3  # lazy: only the requests that queue pay for it

                self._client = boto3.client("sqs")
            if self._url is None:
                self._url = str(self._client.get_queue_url(QueueName=self._name)["QueueUrl"])
            return self._client, self._url

    def send(self, messages: Sequence[QueuedContribution]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client, url = self._connected()
            for start in range(0, len(messages), SQS_BATCH):
                self._send_batch(client, url, messages[start : start + SQS_BATCH])
        except (BotoCoreError, ClientError) as exc:
            raise StorageBusy("The contribution queue did not answer") from exc

    def _send_batch(self, client: Any, url: str, batch: Sequence[QueuedContribution]) -> None:
        entries = {str(i): _entry(str(i), m) for i, m in enumerate(batch)}
        for _ in range(2):  # one more try for the entries SQS failed
            answer = client.send_message_batch(QueueUrl=url, Entries=list(entries.values()))
            failed = {f["Id"] for f in answer.get("Failed", [])}
            entries = {i: e for i, e in entries.items() if i in failed}
            if not entries:
                return
        raise StorageBusy(
            f"{len(entries)} contribution(s) were not queued; send the request again "
            "(a contribution_id posts once however often it is sent)"
        )


def _entry(entry_id: str, message: QueuedContribution) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message.body}
    if message.source:
        entry["MessageAttributes"] = {
            SOURCE_ATTRIBUTE: {"DataType": "String", "StringValue": message.source},
        }
    return entry

"""Counting DynamoDB round trips with botocore's event hooks: a count, not a time.

`before-send` fires once per HTTP request a client sends (retries included), so
it counts round trips. Benchmarks and tests use it to hold the service to its
budget (a payment: one read, one transactional write). The time from
`before-send` to `response-received` (the database and the parsing of its
answer) is summed too, so a benchmark can tell the service's own time apart.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

EVENT = "before-send.dynamodb"
ANSWERED = "response-received.dynamodb"


class DynamoCalls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = threading.local()
        self.sent: Counter[str] = Counter()  # operation name -> requests sent
        self.seconds = 0.0  # waiting for DynamoDB, answers parsed

    def on_send(self, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.sent[operation] += 1
        self._started.at = time.perf_counter()

    def on_answer(self, **_: Any) -> None:
        started = getattr(self._started, "at", None)
        if started is not None:
            self._started.at = None
            with self._lock:
                self.seconds += time.perf_counter() - started

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.sent.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.sent)

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.seconds = 0.0

    def attach(self, client: Any) -> None:
        """Count the requests of one boto3/botocore client."""
        self.register(client.meta.events)

    def register(self, emitter: Any) -> None:
        # Once per emitter: the models' connections share their thread's session (and so its
        # emitter), and a second registration would count every request twice.
        emitter.register_first(EVENT, self.on_send, unique_id=self._id(EVENT))
        emitter.register_last(ANSWERED, self.on_answer, unique_id=self._id(ANSWERED))

    def unregister(self, emitter: Any) -> None:
        emitter.unregister(EVENT, unique_id=self._id(EVENT))
        emitter.unregister(ANSWERED, unique_id=self._id(ANSWERED))

    def _id(self, event: str) -> str:
        return f"dynamo-calls-{id(self)}-{event}"


def _drop_pynamodb_connections() -> None:
    from chalicelib.storage.models import ALL_MODELS

    for model in ALL_MODELS:
        model._connection = None


class EmitterHook(Protocol):
    def register(self, emitter: Any) -> None: ...

    def unregister(self, emitter: Any) -> None: ...


@contextmanager
def counting_pynamodb() -> Iterator[DynamoCalls]:
    """Count every request of the PynamoDB connections created inside the block."""
    calls = DynamoCalls()
    with hooking_pynamodb(calls):
        yield calls


@contextmanager
def hooking_pynamodb(hook: EmitterHook) -> Iterator[None]:
    """`hook` on every PynamoDB connection created inside the block.

    A connection takes its thread's botocore session when it makes its client (see
    storage/models.py); inside the block that session carries the hook (registered once per
    emitter, by unique id: the connections share it), and the models' cached connections are
    dropped on entry and exit so they are made afresh. Stores keep their own connection:
    create them inside the block.
    """
    import pynamodb.connection.base as base

    import chalicelib.storage.models  # noqa: F401  (puts the per-thread session in place first)

    original = base.get_session  # type: ignore[attr-defined]
    hooked: dict[int, Any] = {}  # the emitters carrying the hook, to take it off again

    def hooked_session() -> Any:
        session = original()
        emitter = session.get_component("event_emitter")
        hook.register(emitter)
        hooked[id(emitter)] = emitter
        return session

    base.get_session = hooked_session  # type: ignore[attr-defined,assignment]
    _drop_pynamodb_connections()
    try:
        yield
    finally:
        base.get_session = original  # type: ignore[attr-defined]
        for emitter in hooked.values():
            hook.unregister(emitter)
        _drop_pynamodb_connections()

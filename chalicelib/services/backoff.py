"""Retrying a read-decide-write step that lost a race or was throttled: the one retry loop of
every use case (payments, cancellation, activations, registration, card state changes, bank
webhooks, inpatient stays, contribution postings).

Exponential backoff with full jitter (sleep a random time between 0 and
min(cap, base * 2^attempt)), a bounded number of times; then the caller gets
StorageBusy, which the API answers 503 with Retry-After, never a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from chalicelib.domain.errors import ConcurrentUpdate, StorageBusy

T = TypeVar("T")
_random = random.SystemRandom()


@dataclass(frozen=True)
class Backoff:
    # 6 attempts sleep at most 0.01 + 0.02 + 0.04 + 0.08 + 0.16 = 0.31 s in all (half that on
    # average): well inside a counter terminal's patience and the Lambda timeout.
    attempts: int = 6
    base_seconds: float = 0.01
    cap_seconds: float = 0.25
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[], float] = field(default=_random.random, compare=False)

    def delay(self, attempt: int) -> float:
        return float(self.jitter() * min(self.cap_seconds, self.base_seconds * 2.0**attempt))


DEFAULT_BACKOFF = Backoff()
RETRYABLE = (ConcurrentUpdate, StorageBusy)


def with_backoff(step: Callable[[], T], backoff: Backoff = DEFAULT_BACKOFF) -> T:
    return with_backoff_numbered(lambda _attempt: step(), backoff)


def with_backoff_numbered(step: Callable[[int], T], backoff: Backoff = DEFAULT_BACKOFF) -> T:
    """As with_backoff, telling the step which attempt it is (0 first): a contribution posting
    moves to another fund-book shard on each retry, so a hot shard is not hit again."""
    last: Exception | None = None
    for attempt in range(backoff.attempts):
        try:
            return step(attempt)
        except RETRYABLE as exc:
            last = exc
            if attempt < backoff.attempts - 1:
                backoff.sleep(backoff.delay(attempt))
    raise StorageBusy("Too many concurrent changes or the database is busy; retry shortly") from last

"""Institution tokens -> institutions, cached in process for a short time.

Every terminal call authenticates, and looking a token up is two dependent
reads (credential by the token's digest, then its institution). A payment's
budget is one read and one write, so the lookup is cached per process (per
Lambda container), keyed by the token's keyed digest, never the token.

Why a cache and not batching: the institution's key is only known once the
credential is read, so the two reads cannot share a round trip, and folding
them into the payment's own read would tie authentication to one use case.
The cache helps every endpoint and costs one documented delay instead:

- a revoked token, a removed institution or a changed designation takes effect
  within CACHE_SECONDS (60 s) on containers that served the token recently;
- failed lookups are never cached, so a new token works at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chalicelib.domain.holders import Institution

CACHE_SECONDS = 60.0
MAX_ENTRIES = 10_000


class InstitutionCache:
    def __init__(
        self,
        ttl_seconds: float = CACHE_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Institution]] = {}

    def lookup(self, token_digest: str, load: Callable[[], Institution]) -> Institution:
        now = self._clock()
        with self._lock:
            hit = self._entries.get(token_digest)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        institution = load()  # raises for an unknown token: nothing is cached
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self._ttl}
                while len(self._entries) >= self._max:  # all fresh: drop the oldest
                    del self._entries[next(iter(self._entries))]
            self._entries[token_digest] = (now, institution)
        return institution

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

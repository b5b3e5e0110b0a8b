"""Institution tokens -> institutions, cached in process for a short time.

Every terminal call authenticates, and looking a token up is two dependent
reads (credential by the token's digest, then its institution). A payment's
budget is one read and one write, so the lookup is cached per process (per
Lambda container), keyed by the token's keyed digest, never the token.

Why a cache and not batching: the institution's key is only known once the
credential is read, so the two reads cannot share a round trip, and folding
them into the payment's own read would tie authentication to one use case.
The cache helps every endpoint and costs one documented delay instead:

- a revoked token (`sscard institutions revoke`), a removed institution or a
  changed designation takes effect within the cache time on containers that
  served the token recently: CACHE_SECONDS (60 s), or the INSTITUTION_CACHE_SECONDS
  setting (chalicelib/settings.py), which the e2e tests shorten;
- failed lookups are never cached, so a new token works at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.domain.holders import Institution
from chalicelib.services.ttl_cache import TtlCache
from chalicelib.settings import DEFAULT_INSTITUTION_CACHE_SECONDS, settings

CACHE_SECONDS = DEFAULT_INSTITUTION_CACHE_SECONDS
MAX_ENTRIES = 10_000


class InstitutionCache(TtlCache[str, Institution]):
    """Token digest -> institution."""

    def __init__(
        self,
        ttl_seconds: float | None = None,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`ttl_seconds` None: the stage's setting (CACHE_SECONDS unless overridden)."""
        ttl = settings().institution_cache_seconds if ttl_seconds is None else ttl_seconds
        super().__init__(ttl, max_entries, clock)

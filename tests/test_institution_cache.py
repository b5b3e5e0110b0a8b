"""The token -> institution cache: a short, documented TTL, and failures never cached."""

from __future__ import annotations

import pytest

from chalicelib.domain.holders import Institution, InstitutionKind
from chalicelib.services.institution_cache import CACHE_SECONDS, InstitutionCache

PH = Institution("PH", InstitutionKind.PHARMACY, "Ph", designated=True)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def test_a_lookup_is_cached_until_the_ttl_passes():
    clock, loads = Clock(), []
    cache = InstitutionCache(clock=clock)

    def load() -> Institution:
        loads.append(1)
        return PH

    assert cache.lookup("d", load) is PH
    clock.t += CACHE_SECONDS - 1
    assert cache.lookup("d", load) is PH and len(loads) == 1
    clock.t += 2
    assert cache.lookup("d", load) is PH and len(loads) == 2
    assert CACHE_SECONDS == 60


def test_an_unknown_token_is_not_cached():
    cache = InstitutionCache(clock=Clock())

    def unknown() -> Institution:
        raise LookupError("no such token")

    with pytest.raises(LookupError):
        cache.lookup("d", unknown)
    assert cache.lookup("d", lambda: PH) is PH


def test_the_cache_is_bounded():
    clock = Clock()
    cache = InstitutionCache(max_entries=3, clock=clock)
    for i in range(10):
        clock.t += 1
        cache.lookup(f"d{i}", lambda: PH)
    assert len(cache._entries) <= 3
    assert "d9" in cache._entries


def test_a_changed_designation_shows_after_the_ttl_through_the_api(api, fake_world):
    from dataclasses import replace

    from chalicelib import bootstrap as deps_module

    clock = Clock()
    deps_module.deps().institutions = InstitutionCache(clock=clock)
    carol = fake_world.seeded.holders["carol"]
    headers = {**fake_world.auth("pharmacy"), "Idempotency-Key": "k"}
    body = {"card_no": carol.old_card_no, "amount_fen": 100}
    assert api.post("/v1/payments", body, headers=headers).json["type"].endswith("account-held")
    store = fake_world.store
    store.institutions["PHARMACY"] = replace(store.institutions["PHARMACY"], designated=False)
    headers["Idempotency-Key"] = "k2"
    assert api.post("/v1/payments", body, headers=headers).json["type"].endswith("account-held")  # cached
    clock.t += CACHE_SECONDS
    headers["Idempotency-Key"] = "k3"
    r = api.post("/v1/payments", body, headers=headers)
    assert r.json["type"].endswith("institution-not-designated")


def test_the_cache_time_comes_from_the_setting(monkeypatch):
    from chalicelib import settings as settings_module

    monkeypatch.setenv("INSTITUTION_CACHE_SECONDS", "2")
    settings_module.settings.cache_clear()
    try:
        clock, loads = Clock(), []
        cache = InstitutionCache(clock=clock)
        cache.lookup("d", lambda: loads.append(1) or PH)
        clock.t += 1
        cache.lookup("d", lambda: loads.append(1) or PH)
        assert len(loads) == 1
        clock.t += 1
        cache.lookup("d", lambda: loads.append(1) or PH)
        assert len(loads) == 2  # 2 s, not 60
    finally:
        settings_module.settings.cache_clear()


@pytest.mark.parametrize("value", ["soon", "-1", "86400"])
def test_a_malformed_cache_time_stops_the_function_at_start(monkeypatch, value):
    from chalicelib.settings import load

    monkeypatch.setenv("INSTITUTION_CACHE_SECONDS", value)
    with pytest.raises(ValueError):
        load()


def test_the_oldest_entries_go_first_however_the_cache_was_filled():
    clock = Clock()
    cache = InstitutionCache(ttl_seconds=10, max_entries=2, clock=clock)
    cache.put("a", PH)
    clock.t += 1
    cache.put("b", PH)
    cache.put("a", PH)  # written again: now the newest
    cache.put("c", PH)
    assert cache.get("a") is PH and cache.get("c") is PH and cache.get("b") is None

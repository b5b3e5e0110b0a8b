"""The IETF idempotency-key decision on a stored record: replay, 422, 409, or the key is free."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.services.idempotency import (
    MAX_KEY_LENGTH,
    RETENTION_SECONDS,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequest,
    StoredResponse,
    keyed,
)
from chalicelib.services.ports import IdempotencyRecord

NOW = 1_000_000
KEY = IdempotentRequest("PH-1#k", "fp", NOW)
DONE = KEY.completed(StoredResponse(201, '{"payment_id": "p"}'))


def test_a_finished_record_is_replayed_and_expires_after_the_retention():
    assert DONE.expires_at == NOW + RETENTION_SECONDS and not DONE.in_flight
    assert KEY.decide(DONE) == StoredResponse(201, '{"payment_id": "p"}')
    later = replace(KEY, now=NOW + RETENTION_SECONDS + 1)
    assert later.decide(DONE) is None  # TTL deletes late: an expired record counts as gone


def test_another_request_under_the_key_is_422():
    with pytest.raises(IdempotencyKeyReused):
        replace(KEY, fingerprint="other").decide(DONE)


def test_a_request_in_flight_is_409_until_its_lock_lapses():
    in_flight = IdempotencyRecord("PH-1#k", "fp", True, NOW + 3600, locked_until=NOW + 10)
    with pytest.raises(IdempotencyKeyInUse):
        KEY.decide(in_flight)
    assert replace(KEY, now=NOW + 11).decide(in_flight) is None  # abandoned: the key is free


def test_no_record_means_the_key_is_free():
    assert KEY.decide(None) is None


@pytest.mark.parametrize("bad", ["", "x" * (MAX_KEY_LENGTH + 1), "tab\there", "new\nline"])
def test_a_malformed_key_is_refused(bad):
    with pytest.raises(IdempotencyKeyInvalid):
        keyed("PH-1", bad, "fp", NOW)


def test_a_key_is_scoped_to_its_caller():
    assert keyed("PH-1", "k", "fp", NOW).scope_key == "PH-1#k"
    assert keyed("PH-2", "k", "fp", NOW).scope_key != keyed("PH-1", "k", "fp", NOW).scope_key

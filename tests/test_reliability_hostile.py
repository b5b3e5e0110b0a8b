"""Hostile input catalogue for the money endpoints (issue #7).

Extends tests/test_api_errors.py (malformed JSON, nesting, content types, oversize bodies
and bad mobile tokens on other endpoints) to POST /v1/payments, POST /v1/contributions,
the payment cancel and the bank webhook: each hostile input gets a clear 4xx
application/problem+json and changes nothing (the whole fake world is compared before and
after).
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import jwt
import pytest

from tests.contribution_helpers import install, message
from tests.fakes import FakeContributionQueue, FakeContributionStore
from tests.payment_helpers import funded_holder
from tests.test_api_webhooks import counter_event, independent_signature

PROBLEM = "application/problem+json"
BALANCE = 10_000
HUGE = 2**63


@pytest.fixture
def world(fake_world):
    fake_world.contributions = FakeContributionStore(fake_world.store)
    fake_world.queue = FakeContributionQueue()
    install(fake_world, fake_world.contributions, fake_world.queue)
    fake_world.person_id, fake_world.card_no = funded_holder(
        fake_world.store, fake_world.secrets.hashing_key(), fake_world.now, BALANCE
    )
    return fake_world


def state(world) -> str:
    """Everything a request could change, but the idempotency records (a refusal may be a
    key's stored answer)."""
    s = world.store
    parts: dict[str, Any] = {
        "cards": s.cards,
        "accounts": s.accounts,
        "receipts": s.receipts,
        "registrations": s.registrations,
        "events": s.events,
        "payments": world.payments.payments,
        "postings": world.contributions.postings,
        "months": world.contributions.month_records,
        "books": world.contributions.shard_totals,
        "rejected": world.contributions.rejected,
        "queued": world.queue.sent,
    }
    return repr(copy.deepcopy(parts))


def assert_refused(r, before: str, world, status: int | tuple[int, ...] | None = None) -> None:
    assert 400 <= r.status < 500, r
    if status is not None:
        assert r.status in ((status,) if isinstance(status, int) else status), r
    assert r.headers["content-type"] == PROBLEM, r
    problem = r.json
    assert problem["type"].startswith("urn:sscard:problem:") and problem["title"], problem
    assert "Traceback" not in r.raw.decode("utf-8", "replace")
    assert state(world) == before, "a refused request changed state"


def pay_headers(world, key: str = "hostile") -> dict[str, str]:
    return {**world.auth("pharmacy"), "Idempotency-Key": key}


BAD_AMOUNTS = [
    12.5,
    100.0,  # a float that is a whole number is still a float: money is integer fen
    -1,
    0,
    HUGE,
    HUGE * 4,
    -HUGE,
    True,
    False,
    "100",
    "1e3",
    "NaN",
    None,
    [100],
    {"fen": 100},
    1e308,
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_a_bad_payment_amount_is_refused_and_pays_nothing(api, world, amount):
    before = state(world)
    body = {"card_no": world.card_no, "amount_fen": amount}
    r = api.post("/v1/payments", body, headers=pay_headers(world, f"amt-{amount!r}"))
    assert_refused(r, before, world, 422)


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_a_bad_contribution_amount_is_refused_and_queues_nothing(api, world, amount):
    before = state(world)
    body = message(world.seeded.holders["alice"].ssn, amount_fen=amount)
    body["amount_fen"] = amount  # message() drops None
    r = api.post("/v1/contributions", body, headers=world.auth("collection"))
    assert_refused(r, before, world, 422)
    r = api.post("/v1/contributions", {"contributions": [body]}, headers=world.auth("collection"))
    assert_refused(r, before, world, 422)


RAW_AMOUNTS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"0x10", b"1_000", b"00100", b"+100"]


@pytest.mark.parametrize("literal", RAW_AMOUNTS, ids=lambda b: b.decode())
def test_non_json_number_literals_are_refused(api, world, literal):
    before = state(world)
    raw = b'{"card_no": "%s", "amount_fen": %s}' % (world.card_no.encode(), literal)
    r = api.request("POST", "/v1/payments", raw=raw, headers=pay_headers(world))
    assert_refused(r, before, world, (400, 422))


def _nested(depth: int) -> bytes:
    return b'{"card_no": "1", "amount_fen": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("path", ["/v1/payments", "/v1/contributions"])
@pytest.mark.parametrize("depth", [100, 5_000, 30_000])
def test_deeply_nested_bodies_on_the_money_endpoints(api, world, path, depth):
    before = state(world)
    headers = pay_headers(world) if path == "/v1/payments" else world.auth("collection")
    r = api.request("POST", path, raw=_nested(depth), headers=headers)
    assert_refused(r, before, world, (400, 413, 422))


TEXTS = [
    "\u0000",
    "\u202e6217",  # right-to-left override
    "\ud800",  # a lone surrogate, as JSON escapes it
    "\uff16\uff12\uff11\uff17\uff10\uff10\uff10",  # full-width digits
    "6217 0000 0000 0000 001",
    "' OR 1=1 --",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "\U0001f4b3" * 50,
    "a" * 5_000,
]


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: repr(t)[:20])
def test_unicode_and_control_characters_in_identifiers(api, world, text):
    before = state(world)
    r = api.post("/v1/payments", {"card_no": text, "amount_fen": 100}, headers=pay_headers(world))
    assert_refused(r, before, world, 422)
    body = message(text)  # as the SSN
    r = api.post("/v1/contributions", body, headers=world.auth("collection"))
    assert_refused(r, before, world, 422)
    body = message(world.seeded.holders["alice"].ssn, contribution_id=text, period=text[:20])
    r = api.post("/v1/contributions", body, headers=world.auth("collection"))
    assert_refused(r, before, world, 422)


@pytest.mark.parametrize(
    "field", ["self_pay", "previous_card_no", "institution_id", "person_id", "balance_fen"]
)
def test_payment_fields_of_the_wrong_kind_or_not_ours_to_set(api, world, field):
    before = state(world)
    body = {"card_no": world.card_no, "amount_fen": 100, field: {"$ne": None}}
    r = api.post("/v1/payments", body, headers=pay_headers(world, f"f-{field}"))
    assert_refused(r, before, world, 422)


@pytest.mark.parametrize("path", ["/v1/payments", "/v1/contributions"])
def test_huge_bodies_are_refused_before_parsing(api, world, path):
    before = state(world)
    headers = pay_headers(world) if path == "/v1/payments" else world.auth("collection")
    big = {"contributions": [message(world.seeded.holders["alice"].ssn) for _ in range(400)]}
    for raw in (b" " * 70_000 + b"{}", json.dumps(big).encode(), b'{"card_no": "' + b"9" * 100_000 + b'"}'):
        r = api.request("POST", path, raw=raw, headers=headers)
        assert_refused(r, before, world, 413)


def test_a_batch_too_large_or_empty_is_refused(api, world):
    before = state(world)
    ssn = world.seeded.holders["alice"].ssn
    for batch in ([], [message(ssn, f"c-{i}") for i in range(101)]):
        r = api.post("/v1/contributions", {"contributions": batch}, headers=world.auth("collection"))
        assert_refused(r, before, world, (413, 422))


# --- bank webhooks: replayed, expired, tampered ---


def _send(api, world, payload, webhook_id, *, ts=None, secret=None, tamper=None, headers=None):
    body = json.dumps(payload).encode()
    ts = int(time.time()) if ts is None else ts
    sig = independent_signature(secret or world.seeded.bank_secret, webhook_id, ts, body)
    sent = tamper(body) if tamper else body
    h = {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": sig}
    h.update(headers or {})
    return api.request("POST", "/v1/webhooks/banks/ICBC", raw=sent, headers=h)


WEBHOOK_ATTACKS = {
    "expired": {"ts": lambda: int(time.time()) - 3_600},
    "from the future": {"ts": lambda: int(time.time()) + 3_600},
    "tampered body": {"tamper": lambda b: b.replace(b"ICBC-BJ-0012", b"ICBC-BJ-6666")},
    "other secret": {"secret": "whsec_" + "QUJD" * 8},
    "no signature": {"headers": {"webhook-signature": ""}},
    "v1a signature scheme": {"headers": {"webhook-signature": "v1a,AAAA"}},
    "timestamp not a number": {"headers": {"webhook-timestamp": "soon"}},
}


@pytest.mark.parametrize("attack", sorted(WEBHOOK_ATTACKS))
def test_webhook_attacks_are_401_and_change_nothing(api, world, attack):
    bob = world.seeded.holders["bob"]
    spec = dict(WEBHOOK_ATTACKS[attack])
    if "ts" in spec:
        spec["ts"] = spec["ts"]()
    before = state(world)
    r = _send(api, world, counter_event(bob), f"msg_{attack}", **spec)
    assert_refused(r, before, world, 401)


def test_a_replayed_webhook_with_a_new_id_but_old_signature_is_refused(api, world):
    bob = world.seeded.holders["bob"]
    first = _send(api, world, counter_event(bob), "msg_replay_1")
    assert first.status == 200, first
    before = state(world)
    # The same signature under another webhook-id: the id is signed, so it does not verify.
    body = json.dumps(counter_event(bob)).encode()
    ts = int(time.time())
    sig = independent_signature(world.seeded.bank_secret, "msg_replay_1", ts, body)
    headers = {"webhook-id": "msg_replay_2", "webhook-timestamp": str(ts), "webhook-signature": sig}
    r = api.request("POST", "/v1/webhooks/banks/ICBC", raw=body, headers=headers)
    assert_refused(r, before, world, 401)
    # The same webhook-id redelivered: verified, 2xx, a duplicate, and nothing changes.
    again = _send(api, world, counter_event(bob), "msg_replay_1")
    assert again.status == 200 and again.json["duplicate"] is True, again
    assert state(world) == before


# --- mobile tokens on the holder's money views ---


def _alg_none(world, sub: str) -> str:
    claims = {"sub": sub, "iss": "https://auth.sscard.local/", "aud": "sscard-mobile", "exp": 4_000_000_000}
    return jwt.encode(claims, key=None, algorithm="none")


TOKENS = {
    "alg none": lambda w: _alg_none(w, w.seeded.holders["alice"].person_id),
    "wrong aud": lambda w: w.jwt(w.seeded.holders["alice"].person_id, aud="sscard-partner"),
    "expired": lambda w: w.jwt(w.seeded.holders["alice"].person_id, ttl_seconds=-120),
    "HS256 with the public key as secret": lambda w: jwt.encode(
        {"sub": "P-alice", "iss": "https://auth.sscard.local/", "aud": "sscard-mobile", "exp": 4_000_000_000},
        key="x" * 32,
        algorithm="HS256",
    ),
}


@pytest.mark.parametrize("path", ["/v1/me/account", "/v1/me/payments", "/v1/me/contributions"])
@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_bad_tokens_on_the_money_views_are_401(api, world, path, kind):
    before = state(world)
    token = TOKENS[kind](world)
    r = api.get(path, headers={"Authorization": f"Bearer {token}"})
    assert_refused(r, before, world, 401)
    r = api.post("/v1/me/card/report-loss", headers={"Authorization": f"Bearer {token}"})
    assert_refused(r, before, world, 401)


def test_another_holders_sub_sees_only_that_holder(api, world):
    """A valid token for bob can never read or act on alice's account."""
    alice = world.seeded.holders["alice"]
    r = api.get("/v1/me/payments", headers=world.auth("bob"))
    assert r.status == 200 and alice.card_no not in r.raw.decode()
    r = api.get(f"/v1/me/payments?cursor={alice.person_id}", headers=world.auth("bob"))
    assert r.status in (200, 400, 422), r
    assert alice.card_no not in r.raw.decode()


def test_a_payment_cancel_with_hostile_ids_is_refused(api, world):
    before = state(world)
    for pid in ("..%2F..", "x" * 5_000, "%00", "' OR 1=1"):
        r = api.post(
            f"/v1/payments/{pid}/cancel",
            headers={**world.auth("pharmacy"), "Idempotency-Key": "c-" + pid[:10]},
        )
        assert_refused(r, before, world, (400, 404, 414, 422))


def test_catalogue_size():
    count = (
        3 * len(BAD_AMOUNTS)  # a payment, a contribution, a batch of one
        + len(RAW_AMOUNTS)
        + 2 * 3  # nesting depths x endpoints
        + 3 * len(TEXTS)
        + 5  # fields of the wrong kind
        + 2 * 3  # huge bodies x endpoints
        + 2  # empty and oversize batches
        + len(WEBHOOK_ATTACKS)
        + 1  # replayed signature under a new id
        + 3 * len(TOKENS) * 2  # bad tokens x views, and report-loss
        + 4  # hostile payment ids
    )
    print(f"\nhostile inputs tried: {count}")
    assert count > 100

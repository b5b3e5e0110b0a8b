"""Bad input of every kind gets a clear problem answer with a stable type, and never a 500."""

from __future__ import annotations

import json

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROBLEM = "application/problem+json"
FULL_WIDTH_CARD = "".join(chr(0xFF10 + int(d)) for d in "6217000000000000001")


def assert_problem(r, status, slug):
    assert r.status == status, r
    assert r.headers["content-type"] == PROBLEM
    assert r.json["type"] == f"urn:sscard:problem:{slug}"
    assert r.json["status"] == status and r.json["title"]
    assert "Traceback" not in r.raw.decode()


def test_unknown_route_is_a_404_problem(api):
    assert_problem(api.get("/v1/nowhere"), 404, "not-found")


def test_wrong_method_is_a_405_problem_with_allow(api):
    r = api.request("DELETE", "/v1/registrations")
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b"", b"{" * 100_00 + b"}" * 100_00])
def test_malformed_json_is_a_400_problem(api, fake_world, raw):
    r = api.request("POST", "/v1/registrations", raw=raw, headers=fake_world.auth("hospital"))
    assert_problem(r, 400, "malformed-json")


def test_deeply_nested_json_is_refused_without_crashing(api, fake_world):
    raw = b"[" * 20_000 + b"]" * 20_000
    r = api.request("POST", "/v1/registrations", raw=raw, headers=fake_world.auth("hospital"))
    assert r.status in (400, 413, 422) and r.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("body", [[], "text", 1, None, True])
def test_json_that_is_not_an_object_is_a_422_problem(api, fake_world, body):
    r = api.request(
        "POST", "/v1/registrations", raw=json.dumps(body).encode(), headers=fake_world.auth("hospital")
    )
    assert_problem(r, 422, "invalid-request")


def test_wrong_content_type_is_a_415_problem(api, fake_world):
    r = api.request(
        "POST",
        "/v1/registrations",
        raw=b"card_no=1",
        headers={**fake_world.auth("hospital"), "content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(r, 415, "unsupported-media-type")


def test_an_oversize_body_is_a_413_problem(api, fake_world):
    r = api.post(
        "/v1/registrations",
        {"card_no": "1" * 200_000, "visit": "outpatient"},
        headers=fake_world.auth("hospital"),
    )
    assert_problem(r, 413, "payload-too-large")


@pytest.mark.parametrize(
    "body",
    [
        {"card_no": 6217000000000000001, "visit": "outpatient"},  # a number, not a string
        {"card_no": "6217\u00000000000000001", "visit": "outpatient"},  # control character
        {"card_no": FULL_WIDTH_CARD, "visit": "outpatient"},  # full-width digits
        {"visit": "outpatient"},  # missing
        {
            "card_no": "6217000000000000001",
            "visit": "outpatient",
            "hospital_id": "X",
        },  # institution in the body
    ],
)
def test_invalid_fields_are_named_in_a_422_problem(api, fake_world, body):
    r = api.post("/v1/registrations", body, headers=fake_world.auth("hospital"))
    assert_problem(r, 422, "invalid-request")
    assert r.json["errors"]


def test_a_card_number_with_a_bad_check_digit_is_refused(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    wrong = bob.card_no[:-1] + str((int(bob.card_no[-1]) + 1) % 10)
    r = api.post(
        "/v1/registrations", {"card_no": wrong, "visit": "outpatient"}, headers=fake_world.auth("hospital")
    )
    assert_problem(r, 422, "invalid-card-number")


def test_a_non_designated_pharmacy_cannot_register_and_a_hospital_is_designated(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    r = api.post(
        "/v1/registrations",
        {"card_no": bob.card_no, "visit": "outpatient"},
        headers=fake_world.auth("pharmacy_not_designated"),
    )
    assert_problem(r, 403, "forbidden")


@pytest.mark.parametrize(
    "mutation", ["alg_none", "wrong_audience", "expired", "wrong_issuer", "garbage", "other_key"]
)
def test_bad_mobile_tokens_are_401(api, fake_world, mutation):
    alice = fake_world.seeded.holders["alice"]
    if mutation == "alg_none":
        token = jwt.encode(
            {
                "sub": alice.person_id,
                "iss": "https://auth.sscard.local/",
                "aud": "sscard-mobile",
                "exp": 4_000_000_000,
            },
            key=None,
            algorithm="none",
        )
    elif mutation == "wrong_audience":
        token = fake_world.jwt(alice.person_id, aud="someone-else")
    elif mutation == "expired":
        token = fake_world.jwt(alice.person_id, ttl_seconds=-120)
    elif mutation == "wrong_issuer":
        token = fake_world.jwt(alice.person_id, iss="https://evil.example/")
    elif mutation == "other_key":
        from sscard_ops import devjwt

        token = devjwt.mint(
            devjwt.new_private_key_pem(),
            alice.person_id,
            issuer="https://auth.sscard.local/",
            audience="sscard-mobile",
        )
    else:
        token = "a.b.c"
    r = api.get("/v1/me/card", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 401, "unauthenticated")


def test_a_holder_unknown_to_us_gets_404_not_someone_elses_card(api, fake_world):
    r = api.get("/v1/me/card", headers={"Authorization": f"Bearer {fake_world.jwt('P-nobody')}"})
    assert_problem(r, 404, "not-found")


def test_idempotency_key_replays_and_refuses_a_different_body(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    headers = {**fake_world.auth("hospital"), "Idempotency-Key": "visit-1"}
    body = {"card_no": bob.card_no, "visit": "outpatient"}
    first = api.post("/v1/registrations", body, headers=headers)
    again = api.post("/v1/registrations", body, headers=headers)
    assert first.status == again.status == 201
    assert first.json == again.json  # the same registration, not a second one
    assert again.headers["idempotent-replayed"] == "true"
    assert len(fake_world.store.registrations) == 1
    other = api.post("/v1/registrations", {**body, "visit": "inpatient"}, headers=headers)
    assert_problem(other, 422, "idempotency-key-reused")
    # Scoped to the caller: another institution's same key is its own.
    r = api.post(
        "/v1/registrations", body, headers={**fake_world.auth("service_center"), "Idempotency-Key": "visit-1"}
    )
    assert r.status == 403


def test_an_idempotency_key_too_long_is_a_400_problem(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    r = api.post(
        "/v1/registrations",
        {"card_no": bob.card_no, "visit": "outpatient"},
        headers={**fake_world.auth("hospital"), "Idempotency-Key": "k" * 300},
    )
    assert_problem(r, 400, "idempotency-key-invalid")


ENDPOINTS = [
    "/v1/registrations",
    "/v1/me/card/report-loss",
    "/v1/webhooks/banks/ICBC",
    "/v1/cards/6217000000000000001/activate",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(ENDPOINTS),
    raw=st.binary(max_size=300) | st.text(max_size=200).map(str.encode),
    who=st.sampled_from(["hospital", "service_center", "alice", None]),
)
def test_no_input_produces_a_500(api, fake_world, path, raw, who):
    headers = fake_world.auth(who) if who else {}
    r = api.request("POST", path, raw=raw, headers=headers)
    assert r.status < 500, r
    if r.status >= 400:
        assert r.headers["content-type"] == PROBLEM

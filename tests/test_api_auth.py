"""Mobile JWTs: anything that fails to verify is 401, never a 500; long-lived tokens are refused."""

from __future__ import annotations

import time

import pytest

PROBLEM = "urn:sscard:problem:unauthenticated"


def _card(api, token: str):
    return api.get("/v1/me/card", headers={"Authorization": f"Bearer {token}"})


def test_a_token_valid_for_a_hundred_years_is_refused(api, fake_world):
    alice = fake_world.seeded.holders["alice"].person_id
    r = _card(api, fake_world.jwt(alice, ttl_seconds=100 * 365 * 24 * 3600))
    assert r.status == 401 and r.json["type"] == PROBLEM, r
    assert "exp - iat" in r.json["detail"]


def test_a_token_of_one_hour_is_accepted(api, fake_world):
    alice = fake_world.seeded.holders["alice"].person_id
    assert _card(api, fake_world.jwt(alice, ttl_seconds=3600)).status == 200


def test_a_token_without_iat_is_refused(api, fake_world):
    import jwt

    alice = fake_world.seeded.holders["alice"].person_id
    good = fake_world.jwt(alice)
    claims = jwt.decode(good, options={"verify_signature": False})
    claims.pop("iat")
    token = jwt.encode(
        claims, fake_world.private_pem, algorithm="ES256", headers=jwt.get_unverified_header(good)
    )
    assert _card(api, token).status == 401


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "!!", "y": "??", "kid": "k"}]},
        {"keys": [{"kty": "RSA", "n": "AQAB", "e": "not-base64!", "kid": "k"}]},
        {"keys": "not a list"},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k"}]},
        {},
    ],
    ids=["ec-bad-base64", "rsa-bad-exponent", "keys-not-a-list", "symmetric-key", "empty"],
)
def test_a_malformed_issuer_key_set_is_401_for_the_caller(api, fake_world, jwks):
    alice = fake_world.seeded.holders["alice"].person_id
    token = fake_world.jwt(alice)
    fake_world.secrets.jwks = jwks
    r = _card(api, token)
    assert r.status == 401 and r.json["type"] == PROBLEM, r


@pytest.mark.parametrize(
    "token",
    ["a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "x" * 40 + "." + "y" * 40 + ".z"],
)
def test_garbage_tokens_are_401(api, fake_world, token):
    r = _card(api, token)
    assert r.status == 401 and r.json["type"] == PROBLEM, r


def test_an_expired_token_is_401(api, fake_world):
    alice = fake_world.seeded.holders["alice"].person_id
    token = fake_world.jwt(alice, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    assert _card(api, token).status == 401

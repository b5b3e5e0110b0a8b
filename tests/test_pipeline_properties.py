"""Every declared operation x every parameter it declares: hostile values are 4xx problems.

For each operation the authorization matrix's REQUESTS table builds the request its right
caller would make; one path parameter, query parameter or body field is then replaced by
random unicode (other scripts' digits, a trailing newline, superscripts), an out-of-range
number or a value of the wrong type. The answer must be a 4xx problem+json (or a 2xx where
the value happens to be fine), never a 500: the pipeline's last net must never be reached.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.api import operations
from chalicelib.api.operations import OPERATIONS, Operation
from tests.test_authz_matrix import KIND_ROLES, REQUESTS
from tests.world import World

PROBLEM = "application/problem+json"
# Digits of another script that str.isdigit() and \\d accept: the card number in full width.
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))

TRICKY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\u00b2",  # SUPERSCRIPT TWO
        "12".translate(FULL_WIDTH),
        "\u0663",  # ARABIC-INDIC DIGIT THREE
        "12\n",
        "6217000000000000012\n",
        "6217000000000000012".translate(FULL_WIDTH),
        "0",
        "-1",
        "1e3",
        "99999999999999999999",
        "NaN",
        "null",
        "x" * 300,
        "\u0000",
        "\ud7ff",
        "é",
        "2026-02-30",
        "2026-11-25".translate(FULL_WIDTH),
    ]
)
HOSTILE_TEXT = TRICKY_TEXT | st.text(max_size=40)
HOSTILE_JSON: st.SearchStrategy[Any] = (
    HOSTILE_TEXT
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
)


def _targets(op: Operation) -> list[str]:
    targets = [f"path:{name}" for name in op.path_params]
    if op.query is not None:
        targets += [f"query:{name}" for name in op.query.model_fields]
    if op.body is not None:
        schema = op.body.model_json_schema()
        fields = schema.get("properties", {})
        if not fields:  # a root model: its branches' fields
            for branch in schema.get("$defs", {}).values():
                fields = {**fields, **branch.get("properties", {})}
        targets += [f"body:{name}" for name in fields]
    return targets


OPERATION_TARGETS = [(op, t) for op in OPERATIONS for t in _targets(op)]


def _role(op: Operation) -> str | None:
    if op.callers == ("partner_bank",):
        return "bank"
    if op.callers == ("anyone",):
        return None
    return KIND_ROLES[op.callers[0]][0]


def _mutated(
    op: Operation, world: World, api: Any, target: str, value: Any
) -> tuple[str, Any, dict[str, str]]:
    path, body, extra = REQUESTS[(op.method, op.path)](api, world)
    kind, _, name = target.partition(":")
    if kind == "path":
        text = value if isinstance(value, str) else json.dumps(value)
        # API Gateway hands the view the decoded segment; a '/', '?' or '#' would be another route.
        # (urllib drops tabs and newlines from a URL, so the test client could not send them.)
        text = "".join(ch for ch in text if ch not in "/?#\t\r\n") or "x"
        concrete = urlsplit(path).path.split("/")
        template = op.path.split("/")
        path = "/".join(text if t == "{" + name + "}" else c for t, c in zip(template, concrete, strict=True))
    elif kind == "query":
        text = value if isinstance(value, str) else json.dumps(value)
        path = f"{urlsplit(path).path}?{name}={quote(text, safe='')}"
    else:
        body = dict(body or {})
        if "contributions" in body:
            body["contributions"] = [{**body["contributions"][0], name: value}]
        else:
            body[name] = value
        if op.callers == ("partner_bank",):
            _, extra = world.signed_webhook(body, "msg_property")
    return path, body, extra


def fresh_world() -> World:
    """A newly seeded world: each example builds its request from the same starting state."""
    from tests.conftest import NOW
    from tests.contribution_helpers import install
    from tests.fakes import (
        FakeCardStore,
        FakeContributionQueue,
        FakeContributionStore,
        FakeIdempotencyStore,
        FakeSecrets,
    )

    world = World(FakeCardStore(), FakeIdempotencyStore(), FakeSecrets(), now=NOW)
    world.contributions = FakeContributionStore(world.store)
    world.queue = FakeContributionQueue()
    install(world, world.contributions, world.queue)
    return world


@pytest.fixture
def world(fake_world):
    return fresh_world()


@pytest.fixture
def no_last_net(monkeypatch):
    """Reaching the catch-all is itself a failure, whatever status it would answer."""
    reached: list[str] = []
    monkeypatch.setattr(operations.log, "exception", lambda event, **kw: reached.append(str(kw)))
    yield reached
    assert reached == [], f"the last net was reached: {reached}"


def test_every_operation_declares_something_to_fuzz():
    assert len(OPERATION_TARGETS) >= 25
    fuzzed = {(op.method, op.path) for op, _ in OPERATION_TARGETS}
    assert fuzzed >= {(op.method, op.path) for op in OPERATIONS if op.path_params or op.query or op.body}


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(OPERATION_TARGETS), value=HOSTILE_JSON)
def test_hostile_values_in_every_declared_parameter_are_4xx_problems(
    api, fake_world, no_last_net, case, value
):
    op, target = case
    world = fresh_world()
    path, body, extra = _mutated(op, world, api, target, value)
    role = _role(op)
    headers = {**(world.auth(role) if role and role != "bank" else {}), **extra}
    raw = json.dumps(body).encode() if body is not None else b""
    r = api.request(op.method, path, raw=raw, headers=headers)
    assert r.status < 500, (op.method, path, target, value, r)
    if r.status >= 400:
        assert r.headers["content-type"] == PROBLEM, r
        assert r.json["type"].startswith("urn:sscard:problem:"), r


# --- the three 500s of issue #10, each as it was found ------------------------------------


def test_a_superscript_limit_is_422_not_500(api, world, no_last_net):
    r = api.get("/v1/me/contributions?limit=²", headers=world.auth("alice"))
    assert r.status == 422 and r.json["type"] == "urn:sscard:problem:invalid-request", r


@pytest.mark.parametrize("key_alg", ["RS256", "ES256"])
def test_a_jwt_whose_alg_does_not_fit_the_issuers_key_is_401_not_500(api, world, no_last_net, key_alg):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    person = world.seeded.holders["alice"].person_id
    # A token signed with a key of the other type, under the header of the issuer's key id.
    if key_alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    good = world.jwt(person)
    kid = jwt.get_unverified_header(good)["kid"]
    claims = jwt.decode(good, options={"verify_signature": False})
    token = jwt.encode(claims, pem, algorithm=key_alg, headers={"kid": kid})
    r = api.get("/v1/me/card", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401 and r.json["type"] == "urn:sscard:problem:unauthenticated", r


@pytest.mark.parametrize(
    "card_no",
    ["6217000000000000012\n", "6217000000000000012".translate(FULL_WIDTH)],
    ids=["trailing-newline", "full-width-digits"],
)
def test_a_verified_webhook_with_a_non_ascii_card_number_is_rejected_not_500(
    api, world, no_last_net, card_no
):
    holder = world.seeded.holders["bob"]
    payload = {
        "type": "card.counter_activated",
        "data": {"card_no": card_no, "ssn": holder.ssn, "outlet_id": "ICBC-BJ-0012"},
    }
    raw, headers = world.signed_webhook(payload, f"msg_ascii_{len(card_no)}")
    r = api.request("POST", f"/v1/webhooks/banks/{world.seeded.bank_code}", raw=raw, headers=headers)
    assert r.status == 200, r
    assert r.json["outcome"] == "rejected" and r.json["reason"] == "invalid-request", r


@pytest.mark.parametrize("card_no", ["6217000000000000012".translate(FULL_WIDTH)])
def test_a_non_ascii_card_number_in_a_path_is_422_not_404(api, world, no_last_net, card_no):
    r = api.post(f"/v1/cards/{card_no}/resume", headers=world.auth("service_center"))
    assert r.status == 422 and r.json["type"].startswith("urn:sscard:problem:invalid-"), r

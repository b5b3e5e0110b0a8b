"""Who may call what: every endpoint x every kind of caller, from ONE table (issue #7).

The endpoint list comes from chalicelib.api.operations.OPERATIONS, so a new route without a
row in REQUESTS fails test_every_operation_has_a_row. Expected statuses follow API.md:
no or bad credential 401, a caller of the wrong kind 403, another institution's payment 404
(never its data), the right caller 2xx. Over the fake world through chalice.test.Client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import app  # noqa: F401  (registers every route, and with it OPERATIONS)
from chalicelib.api.operations import OPERATIONS
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.stays import Charge
from chalicelib.services import admin
from chalicelib.services.ports import CardChange, Registration
from tests.contribution_helpers import install, message
from tests.fakes import FakeContributionQueue, FakeContributionStore
from tests.payment_helpers import funded_holder
from tests.world import World

PROBLEM = "application/problem+json"

# Every kind of caller: no credential, each institution kind, a mobile holder, a partner bank.
CALLERS = ("none", "service_center", "pharmacy", "hospital", "collection", "alice", "bank")
# OPERATIONS' caller names -> the roles above that are that kind of caller.
KIND_ROLES = {
    "service_center": ("service_center",),
    "pharmacy": ("pharmacy",),
    "hospital": ("hospital",),
    "collection_system": ("collection",),
    "mobile": ("alice",),
    "partner_bank": ("bank",),
    "anyone": CALLERS,
}

Built = tuple[str, Any, dict[str, str]]  # path, body (None: no body), extra headers


def _pay(api, world: World, role: str = "pharmacy") -> str:
    _, card_no = funded_holder(world.store, world.secrets.hashing_key(), world.now, 10_000)
    r = api.post(
        "/v1/payments",
        {"card_no": card_no, "amount_fen": 500},
        headers={**world.auth(role), "Idempotency-Key": f"setup-{card_no}"},
    )
    assert r.status == 201, r
    return str(r.json["payment_id"])


def _suspended_card(api, world: World) -> str:
    # Activate alice's card, then she reports it lost: the service center may resume it.
    holder = world.seeded.holders["alice"]
    r = api.post(
        f"/v1/cards/{holder.card_no}/activate", {"ssn": holder.ssn}, headers=world.auth("service_center")
    )
    assert r.status == 200, r
    r = api.post("/v1/me/card/report-loss", headers=world.auth("alice"))
    assert r.status == 200, r
    return holder.card_no


def _webhook(world: World) -> Built:
    holder = world.seeded.holders["bob"]
    payload = {
        "type": "card.counter_activated",
        "timestamp": "2026-11-25T09:00:00Z",
        "data": {"card_no": holder.card_no, "ssn": holder.ssn, "outlet_id": "ICBC-BJ-0012"},
    }
    _, headers = world.signed_webhook(payload, "msg_authz")
    return f"/v1/webhooks/banks/{world.seeded.bank_code}", payload, headers


def _funded_stay(world: World) -> str:
    """A charged inpatient stay of a holder whose card is active and account funded."""
    person_id, card_no = funded_holder(world.store, world.secrets.hashing_key(), world.now, 10_000)
    hospital = world.seeded.institutions["hospital"]
    registration_id = f"R-authz-funded-{len(world.store.registrations)}"
    registration = Registration(registration_id, card_no, person_id, hospital, "inpatient", world.now, False)
    world.store.commit(CardChange(registration=registration))
    world.stays.add_charge(Charge.new(registration_id, "C-1", hospital, 900, 900, "Ward", world.now), 10**8)
    return registration_id


def _stay(world: World, charged: bool = False) -> str:
    """An inpatient stay of the seeded hospital (as POST /v1/registrations writes it)."""
    holder = world.seeded.holders["carol"]
    registration_id = f"R-authz-{len(world.store.registrations)}"
    hospital = world.seeded.institutions["hospital"]
    registration = Registration(
        registration_id, holder.card_no, holder.person_id, hospital, "inpatient", world.now, False
    )
    world.store.commit(CardChange(registration=registration))
    if charged:
        world.stays.add_charge(
            Charge.new(registration_id, "C-1", hospital, 900, 900, "Ward", world.now), 10**8
        )
    return registration_id


STAY_CHARGE = {"charge_id": "C-2", "amount_fen": 500, "in_scope_fen": 400, "description": "X-ray"}


def _posted_contribution(api, world: World) -> str:
    """A contribution the collection system sent and the worker posted."""
    from tests.test_api_contributions import post_through_worker

    body = message(world.seeded.holders["alice"].ssn, "authz-status")
    assert api.post("/v1/contributions", body, headers=world.auth("collection")).status == 202
    post_through_worker(world, json.loads(world.queue.sent[-1].body))
    return "authz-status"


# (method, path template) -> builds the request that the right caller would make.
REQUESTS: dict[tuple[str, str], Callable[[Any, World], Built]] = {
    ("POST", "/v1/cards/{card_no}/activate"): lambda api, w: (
        f"/v1/cards/{w.seeded.holders['alice'].card_no}/activate",
        {"ssn": w.seeded.holders["alice"].ssn},
        {},
    ),
    ("POST", "/v1/cards/{card_no}/resume"): lambda api, w: (
        f"/v1/cards/{_suspended_card(api, w)}/resume",
        {"ssn": w.seeded.holders["alice"].ssn},
        {},
    ),
    ("POST", "/v1/cards/{card_no}/cancel"): lambda api, w: (
        f"/v1/cards/{w.seeded.holders['bob'].card_no}/cancel",
        {"ssn": w.seeded.holders["bob"].ssn},
        {},
    ),
    ("POST", "/v1/registrations"): lambda api, w: (
        "/v1/registrations",
        {"card_no": w.seeded.holders["dan"].card_no, "visit": "outpatient"},
        {},
    ),
    ("POST", "/v1/contributions"): lambda api, w: (
        "/v1/contributions",
        message(w.seeded.holders["alice"].ssn),
        {},
    ),
    ("GET", "/v1/me/contributions"): lambda api, w: ("/v1/me/contributions", None, {}),
    ("GET", "/v1/me/coverage"): lambda api, w: ("/v1/me/coverage?on=2026-11-25", None, {}),
    ("GET", "/v1/me/card"): lambda api, w: ("/v1/me/card", None, {}),
    ("POST", "/v1/me/card/report-loss"): lambda api, w: ("/v1/me/card/report-loss", None, {}),
    ("POST", "/v1/payments"): lambda api, w: (
        "/v1/payments",
        {
            "card_no": funded_holder(w.store, w.secrets.hashing_key(), w.now, 10_000)[1],
            "amount_fen": 300,
        },
        {"Idempotency-Key": "authz-pay"},
    ),
    ("GET", "/v1/payments/{payment_id}"): lambda api, w: (f"/v1/payments/{_pay(api, w)}", None, {}),
    ("POST", "/v1/payments/{payment_id}/cancel"): lambda api, w: (
        f"/v1/payments/{_pay(api, w)}/cancel",
        None,
        {"Idempotency-Key": "authz-cancel"},
    ),
    ("POST", "/v1/reconciliations"): lambda api, w: (
        "/v1/reconciliations",
        {"date": "2026-11-25", "count": 0, "total_fen": 0},
        {},
    ),
    ("POST", "/v1/payments/quote"): lambda api, w: (
        "/v1/payments/quote",
        {
            "card_no": funded_holder(w.store, w.secrets.hashing_key(), w.now, 10_000)[1],
            "amount_fen": 300,
        },
        {},
    ),
    ("GET", "/v1/cards/{card_no}/insured"): lambda api, w: (
        f"/v1/cards/{funded_holder(w.store, w.secrets.hashing_key(), w.now, 1)[1]}/insured?on=2026-11-25",
        None,
        {},
    ),
    ("GET", "/v1/reconciliations/{date}/entries"): lambda api, w: (
        "/v1/reconciliations/2026-11-25/entries",
        None,
        {},
    ),
    ("GET", "/v1/contributions/{contribution_id}"): lambda api, w: (
        f"/v1/contributions/{_posted_contribution(api, w)}",
        None,
        {},
    ),
    ("GET", "/v1/me/account"): lambda api, w: ("/v1/me/account", None, {}),
    ("GET", "/v1/me/payments"): lambda api, w: ("/v1/me/payments", None, {}),
    ("GET", "/health"): lambda api, w: ("/health", None, {}),
    ("GET", "/openapi.json"): lambda api, w: ("/openapi.json", None, {}),
    ("POST", "/v1/webhooks/banks/{bank_code}"): lambda api, w: _webhook(w),
    ("POST", "/v1/registrations/{registration_id}/charges"): lambda api, w: (
        f"/v1/registrations/{_stay(w)}/charges",
        STAY_CHARGE,
        {},
    ),
    ("POST", "/v1/registrations/{registration_id}/charges/{charge_id}/cancel"): lambda api, w: (
        f"/v1/registrations/{_stay(w, charged=True)}/charges/C-1/cancel",
        None,
        {"Idempotency-Key": "authz-cancel-charge"},
    ),
    ("GET", "/v1/registrations/{registration_id}"): lambda api, w: (
        f"/v1/registrations/{_stay(w, charged=True)}",
        None,
        {},
    ),
    ("POST", "/v1/registrations/{registration_id}/cancel"): lambda api, w: (
        f"/v1/registrations/{_stay(w)}/cancel",
        None,
        {"Idempotency-Key": "authz-withdraw"},
    ),
    ("POST", "/v1/registrations/{registration_id}/quote"): lambda api, w: (
        f"/v1/registrations/{_funded_stay(w)}/quote",
        None,
        {},
    ),
    ("POST", "/v1/registrations/{registration_id}/discharge"): lambda api, w: (
        f"/v1/registrations/{_funded_stay(w)}/discharge",
        None,
        {"Idempotency-Key": "authz-discharge"},
    ),
}

# Resources that belong to one caller of the right kind: another of that kind gets 404.
# The payment is taken by the pharmacy; the hospital is "another institution".
OWNED_BY = {
    ("GET", "/v1/payments/{payment_id}"): ("pharmacy", {"hospital": 404}),
    ("POST", "/v1/payments/{payment_id}/cancel"): ("pharmacy", {"hospital": 404}),
    # A stay belongs to the hospital that registered it; "other_hospital" is added by the test
    # below (the matrix itself has one caller per kind).
    ("POST", "/v1/registrations/{registration_id}/charges"): ("hospital", {"other_hospital": 404}),
    ("POST", "/v1/registrations/{registration_id}/charges/{charge_id}/cancel"): (
        "hospital",
        {"other_hospital": 404},
    ),
    ("GET", "/v1/registrations/{registration_id}"): ("hospital", {"other_hospital": 404}),
    ("POST", "/v1/registrations/{registration_id}/cancel"): ("hospital", {"other_hospital": 404}),
    ("POST", "/v1/registrations/{registration_id}/quote"): ("hospital", {"other_hospital": 404}),
    ("POST", "/v1/registrations/{registration_id}/discharge"): ("hospital", {"other_hospital": 404}),
}
# Roles of OWNED_BY that are not in CALLERS: another institution of the owner's kind.
OTHER_INSTITUTIONS = {"other_hospital": InstitutionKind.HOSPITAL}


def expected(op, caller: str) -> int:
    key = (op.method, op.path)
    if key in OWNED_BY and caller in OWNED_BY[key][1]:
        return OWNED_BY[key][1][caller]
    allowed = {role for kind in op.callers for role in KIND_ROLES[kind]}
    if caller in allowed:
        return 200  # any 2xx
    if caller in ("none", "bank") or "partner_bank" in op.callers:
        # No bearer credential at all, or a bearer token where only a bank signature counts.
        return 401
    return 403


MATRIX = [(op, caller) for op in OPERATIONS for caller in CALLERS]


def test_every_operation_has_a_row():
    declared = {(op.method, op.path) for op in OPERATIONS}
    assert declared == set(REQUESTS), f"add a row to REQUESTS for {declared ^ set(REQUESTS)}"
    for op in OPERATIONS:
        for kind in op.callers:
            assert kind in KIND_ROLES, f"{op.method} {op.path}: unknown caller kind {kind!r}"


@pytest.fixture
def world(fake_world):
    fake_world.contributions = FakeContributionStore(fake_world.store)
    fake_world.queue = FakeContributionQueue()
    install(fake_world, fake_world.contributions, fake_world.queue)
    return fake_world


def _credentials(world: World, caller: str) -> dict[str, str]:
    if caller in ("none", "bank"):
        return {}
    return world.auth(caller)


@pytest.mark.parametrize(("op", "caller"), MATRIX, ids=[f"{op.method} {op.path} as {c}" for op, c in MATRIX])
def test_matrix(api, world, op, caller):
    path, body, extra = REQUESTS[(op.method, op.path)](api, world)
    if caller != "bank" and "partner_bank" in op.callers:
        extra = {}  # only the bank holds the signature
    if caller == "bank" and "partner_bank" not in op.callers:
        _, extra_sig = world.signed_webhook({"type": "x"}, "msg_wrong_route")
        extra = {**extra, **extra_sig}
    headers = {**_credentials(world, caller), **extra}
    raw = json.dumps(body).encode() if body is not None else b""
    r = api.request(op.method, path, raw=raw, headers=headers)
    want = expected(op, caller)
    if want == 200:
        assert 200 <= r.status < 300, (caller, r)
        return
    assert r.status == want, (caller, r)
    assert r.headers["content-type"] == PROBLEM, r
    if want == 404:
        # Never the other institution's data: no amount, card or state leaks.
        assert set(r.json) <= {"type", "title", "status", "detail", "instance"}, r.json


OTHERS = [
    (key, other) for key, (_, others) in OWNED_BY.items() for other in others if other in OTHER_INSTITUTIONS
]


@pytest.mark.parametrize(("key", "other"), OTHERS, ids=[f"{m} {p} as {o}" for (m, p), o in OTHERS])
def test_another_institution_of_the_owners_kind_gets_404(api, world, key, other):
    _, token = admin.add_institution(
        world.store,
        world.secrets.hashing_key(),
        OTHER_INSTITUTIONS[other],
        "Another designated institution",
        world.now,
        designated=True,
        institution_id=other.upper().replace("_", "-"),
    )
    path, body, extra = REQUESTS[key](api, world)
    raw = json.dumps(body).encode() if body is not None else b""
    r = api.request(key[0], path, raw=raw, headers={"Authorization": f"Bearer {token}", **extra})
    assert r.status == OWNED_BY[key][1][other], r
    assert r.headers["content-type"] == PROBLEM, r
    assert set(r.json) <= {"type", "title", "status", "detail", "instance"}, r.json
    # The owner still sees it unchanged, and may still do what the other was refused.
    owner = api.request(key[0], path, raw=raw, headers={**world.auth(OWNED_BY[key][0]), **extra})
    assert 200 <= owner.status < 300, owner


def test_another_holder_sees_only_their_own_data(api, world):
    """Bob's mobile calls never show Alice's card, payments or contributions."""
    alice, bob = world.seeded.holders["alice"], world.seeded.holders["bob"]
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate", {"ssn": alice.ssn}, headers=world.auth("service_center")
    )
    assert r.status == 200, r
    api.post("/v1/contributions", message(alice.ssn), headers=world.auth("collection"))
    for path in (
        "/v1/me/card",
        "/v1/me/account",
        "/v1/me/payments",
        "/v1/me/contributions",
        "/v1/me/coverage",
    ):
        r = api.get(path, headers=world.auth("bob"))
        assert r.status < 500, r
        assert alice.card_no.encode() not in r.raw and alice.person_id.encode() not in r.raw, (path, r)
        assert alice.ssn.encode() not in r.raw
    assert api.get("/v1/me/card", headers=world.auth("bob")).json["card"]["card_no"] == bob.card_no
    # A token whose sub is alice's gets alice's card, never bob's.
    assert api.get("/v1/me/card", headers=world.auth("alice")).json["card"]["card_no"] == alice.card_no


def test_matrix_size():
    assert len(MATRIX) == len(OPERATIONS) * len(CALLERS) >= 100

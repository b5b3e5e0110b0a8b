"""Inpatient stays over the API (fake stores): charges once, cancels, the stay paged, withdrawal,
who may see what, and a closed stay refusing charges."""

from __future__ import annotations

import pytest

from chalicelib.domain.holders import InstitutionKind
from chalicelib.services import admin
from chalicelib.services.ports import CardChange, Registration
from chalicelib.services.stay_ports import StayClosing
from tests.world import World

PROBLEM = "application/problem+json"


def admit(world: World, visit: str = "inpatient", holder: str = "alice", hospital: str = "hospital") -> str:
    """An admission as POST /v1/registrations writes it (the registration is the stay)."""
    seeded = world.seeded.holders[holder]
    registration_id = f"R-{visit}-{holder}-{hospital}-{len(world.store.registrations)}"
    world.store.commit(
        CardChange(
            registration=Registration(
                registration_id,
                seeded.card_no,
                seeded.person_id,
                world.seeded.institutions[hospital],
                visit,
                world.now,
                card_activated=False,
            )
        )
    )
    return registration_id


def another_hospital(world: World) -> dict[str, str]:
    _, token = admin.add_institution(
        world.store,
        world.secrets.hashing_key(),
        InstitutionKind.HOSPITAL,
        "Another designated hospital",
        world.now,
        designated=True,
        institution_id="HOSPITAL-2",
    )
    return {"Authorization": f"Bearer {token}"}


def charge(charge_id: str = "C-1", amount: int = 12_000, in_scope: int = 10_000, what: str = "Ward, day 1"):
    return {"charge_id": charge_id, "amount_fen": amount, "in_scope_fen": in_scope, "description": what}


@pytest.fixture
def hospital(fake_world) -> dict[str, str]:
    return fake_world.auth("hospital")


def stay_of(api, world, registration_id, headers, query=""):
    r = api.get(f"/v1/registrations/{registration_id}{query}", headers=headers)
    assert r.status == 200, r
    return r.json


def test_charges_add_up_on_the_stay(api, fake_world, hospital):
    rid = admit(fake_world)
    r = api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    assert r.status == 201, r
    assert r.json["state"] == "applied" and r.json["amount_fen"] == 12_000
    assert "idempotent-replayed" not in r.headers
    api.post(f"/v1/registrations/{rid}/charges", charge("C-2", 3_000, 0, "Meals"), headers=hospital)
    stay = stay_of(api, fake_world, rid, hospital)
    assert stay["state"] == "open"
    assert stay["totals"] == {
        "amount_fen": 15_000,
        "in_scope_fen": 10_000,
        "out_of_scope_fen": 5_000,
        "charge_count": 2,
    }
    assert [c["charge_id"] for c in stay["charges"]] == ["C-1", "C-2"]
    assert stay["next_cursor"] is None


def test_a_charge_sent_twice_is_applied_once_and_answered_the_same(api, fake_world, hospital):
    rid = admit(fake_world)
    first = api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    again = api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    assert (again.status, again.json) == (201, first.json)
    assert again.headers["idempotent-replayed"] == "true"
    assert stay_of(api, fake_world, rid, hospital)["totals"]["amount_fen"] == 12_000


def test_a_charge_id_reused_with_another_body_is_refused_and_changes_nothing(api, fake_world, hospital):
    rid = admit(fake_world)
    api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    r = api.post(f"/v1/registrations/{rid}/charges", charge(amount=99_000), headers=hospital)
    assert r.status == 422 and r.headers["content-type"] == PROBLEM
    assert r.json["type"] == "urn:sscard:problem:charge-id-reused"
    assert stay_of(api, fake_world, rid, hospital)["totals"]["amount_fen"] == 12_000


def test_a_charge_after_discharge_is_refused_and_changes_nothing(api, fake_world, hospital):
    rid = admit(fake_world)
    api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    stays = fake_world.stays
    stays.close(StayClosing(stays.read_stay(rid).stay, "pay-1", fake_world.now))
    r = api.post(f"/v1/registrations/{rid}/charges", charge("C-2", 500, 0, "Late"), headers=hospital)
    assert r.status == 409 and r.json["type"] == "urn:sscard:problem:stay-closed", r
    # The charge uploaded before discharge, sent again, is still the same answer.
    assert api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital).status == 201
    stay = stay_of(api, fake_world, rid, hospital)
    assert (stay["state"], stay["discharge_payment_id"], stay["totals"]["charge_count"]) == (
        "discharged",
        "pay-1",
        1,
    )
    assert [c["charge_id"] for c in stay["charges"]] == ["C-1"]
    cancel = api.post(f"/v1/registrations/{rid}/charges/C-1/cancel", headers=hospital)
    assert cancel.status == 409 and cancel.json["type"] == "urn:sscard:problem:stay-closed"


def test_the_stay_total_stops_at_the_per_stay_maximum(api, fake_world, hospital):
    from dataclasses import replace

    from chalicelib import bootstrap
    from chalicelib.domain.settlement import SettlementPolicy

    bootstrap.use(replace(fake_world.deps(), settlement_policy=SettlementPolicy(max_stay_fen=20_000)))
    rid = admit(fake_world)
    assert api.post(f"/v1/registrations/{rid}/charges", charge(amount=15_000), headers=hospital).status == 201
    r = api.post(f"/v1/registrations/{rid}/charges", charge("C-2", 5_001, 0, "x"), headers=hospital)
    assert r.status == 409 and r.json["type"] == "urn:sscard:problem:stay-total-exceeded"
    r = api.post(f"/v1/registrations/{rid}/charges", charge("C-3", 20_001, 0, "x"), headers=hospital)
    assert r.status == 409 and r.json["type"] == "urn:sscard:problem:stay-total-exceeded"
    assert (
        api.post(f"/v1/registrations/{rid}/charges", charge("C-2", 5_000, 0, "x"), headers=hospital).status
        == 201
    )
    assert stay_of(api, fake_world, rid, hospital)["totals"]["amount_fen"] == 20_000


def test_cancel_a_charge_once_and_a_retry_with_the_key_gets_the_first_answer(api, fake_world, hospital):
    rid = admit(fake_world)
    api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    api.post(f"/v1/registrations/{rid}/charges", charge("C-2", 3_000, 0, "Meals"), headers=hospital)
    keyed = {**hospital, "Idempotency-Key": "cancel-c1"}
    first = api.post(f"/v1/registrations/{rid}/charges/C-1/cancel", headers=keyed)
    assert first.status == 200 and first.json["state"] == "cancelled", first
    again = api.post(f"/v1/registrations/{rid}/charges/C-1/cancel", headers=keyed)
    assert (again.status, again.json, again.headers["idempotent-replayed"]) == (200, first.json, "true")
    second = api.post(f"/v1/registrations/{rid}/charges/C-1/cancel", headers=hospital)
    assert second.status == 409 and second.json["type"] == "urn:sscard:problem:charge-already-cancelled"
    missing = api.post(f"/v1/registrations/{rid}/charges/C-9/cancel", headers=hospital)
    assert missing.status == 404 and missing.json["type"] == "urn:sscard:problem:charge-not-found"
    stay = stay_of(api, fake_world, rid, hospital)
    assert stay["totals"] == {
        "amount_fen": 3_000,
        "in_scope_fen": 0,
        "out_of_scope_fen": 3_000,
        "charge_count": 1,
    }
    assert [c["state"] for c in stay["charges"]] == ["cancelled", "applied"]
    # A cancelled charge's id stays used: the same body answers the cancelled charge, applied no more.
    resent = api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    assert resent.status == 201 and resent.json["state"] == "cancelled"
    assert stay_of(api, fake_world, rid, hospital)["totals"]["charge_count"] == 1


def test_withdraw_only_an_open_stay_without_live_charges(api, fake_world, hospital):
    rid = admit(fake_world)
    api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    refused = api.post(f"/v1/registrations/{rid}/cancel", headers=hospital)
    assert refused.status == 409 and refused.json["type"] == "urn:sscard:problem:stay-has-charges"
    api.post(f"/v1/registrations/{rid}/charges/C-1/cancel", headers=hospital)
    keyed = {**hospital, "Idempotency-Key": "withdraw-1"}
    done = api.post(f"/v1/registrations/{rid}/cancel", headers=keyed)
    assert done.status == 200 and done.json["state"] == "withdrawn", done
    assert api.post(f"/v1/registrations/{rid}/cancel", headers=keyed).json == done.json
    twice = api.post(f"/v1/registrations/{rid}/cancel", headers=hospital)
    assert twice.status == 409 and twice.json["type"] == "urn:sscard:problem:stay-closed"
    late = api.post(f"/v1/registrations/{rid}/charges", charge("C-2"), headers=hospital)
    assert late.status == 409 and late.json["type"] == "urn:sscard:problem:stay-closed"


def test_charges_are_paged_in_charge_id_order(api, fake_world, hospital):
    rid = admit(fake_world)
    for n in (3, 1, 4, 5, 2):  # out of order, as they arrive
        api.post(
            f"/v1/registrations/{rid}/charges", charge(f"C-{n}", 100 * n, 0, f"Item {n}"), headers=hospital
        )
    seen, cursor = [], None
    while True:
        page = stay_of(api, fake_world, rid, hospital, f"?limit=2{f'&cursor={cursor}' if cursor else ''}")
        seen += [c["charge_id"] for c in page["charges"]]
        assert page["totals"]["amount_fen"] == 1_500
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["C-1", "C-2", "C-3", "C-4", "C-5"]
    bad = api.get(f"/v1/registrations/{rid}?cursor=%21%21", headers=hospital)
    assert bad.status == 422 and bad.json["type"] == "urn:sscard:problem:invalid-cursor"


def test_another_hospital_and_an_outpatient_registration_get_404_and_nothing_changes(
    api, fake_world, hospital
):
    rid = admit(fake_world)
    api.post(f"/v1/registrations/{rid}/charges", charge(), headers=hospital)
    other = another_hospital(fake_world)
    outpatient = admit(fake_world, visit="outpatient", holder="bob")
    for target, headers in ((rid, other), (outpatient, hospital), ("R-unknown", hospital)):
        for method, path, body in (
            ("GET", f"/v1/registrations/{target}", None),
            ("POST", f"/v1/registrations/{target}/charges", charge("C-2")),
            ("POST", f"/v1/registrations/{target}/charges", charge()),  # even a resend of a real charge
            ("POST", f"/v1/registrations/{target}/charges/C-1/cancel", None),
            ("POST", f"/v1/registrations/{target}/cancel", None),
        ):
            r = api.request(method, path, body, headers=headers)
            assert r.status == 404, (target, path, r)
            assert r.json["type"] == "urn:sscard:problem:stay-not-found"
            assert set(r.json) <= {"type", "title", "status", "detail", "instance"}
    stay = stay_of(api, fake_world, rid, hospital)
    assert stay["totals"]["charge_count"] == 1 and stay["state"] == "open"


@pytest.mark.parametrize(
    "body",
    [
        {**charge(), "amount_fen": 1.5},
        {**charge(), "amount_fen": "100"},
        {**charge(), "amount_fen": True},
        {**charge(), "amount_fen": 0},
        {**charge(), "in_scope_fen": 13_000},
        {**charge(), "charge_id": "no spaces"},
        {**charge(), "description": ""},
        {**charge(), "extra": 1},
        {"charge_id": "C-1"},
        {**charge(), "amount_fen": 10**40},
    ],
)
def test_a_bad_charge_is_a_problem_and_changes_nothing(api, fake_world, hospital, body):
    rid = admit(fake_world)
    r = api.post(f"/v1/registrations/{rid}/charges", body, headers=hospital)
    assert r.status in (409, 422) and r.headers["content-type"] == PROBLEM, r
    assert stay_of(api, fake_world, rid, hospital)["totals"]["charge_count"] == 0

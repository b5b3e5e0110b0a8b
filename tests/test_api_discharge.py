"""Discharge (issue #12): a stay's totals settled as one inpatient payment that closes it;
cancelling that payment reopens it and gives every part back. Over the fakes."""

from __future__ import annotations

from tests.test_api_settlement import paid_for_a_year, parts
from tests.test_api_stays import admit, charge

PROBLEM = "application/problem+json"


def stay_with_charges(api, world, *charges):
    paid_for_a_year(world, world.seeded.holders["alice"].person_id)
    rid = admit(world)
    hospital = world.auth("hospital")
    for c in charges:
        r = api.post(f"/v1/registrations/{rid}/charges", c, headers=hospital)
        assert r.status == 201, r
    return rid, hospital


def activate(api, world):
    alice = world.seeded.holders["alice"]
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate", {"ssn": alice.ssn}, headers=world.auth("service_center")
    )
    assert r.status == 200, r


def test_a_stay_walked_through_admit_charges_quote_discharge_cancel_and_discharge_again(api, fake_world):
    activate(api, fake_world)
    rid, hospital = stay_with_charges(
        api,
        fake_world,
        charge("C-1", 500_000, 450_000, "Ward"),
        charge("C-2", 300_000, 300_000, "Surgery"),
        charge("C-3", 100_000, 0, "Private room"),
    )
    assert api.post(f"/v1/registrations/{rid}/charges/C-3/cancel", headers=hospital).status == 200
    quote = api.post(f"/v1/registrations/{rid}/quote", headers=hospital)
    assert quote.status == 200 and quote.json["quote"] is True, quote
    assert (quote.json["amount_fen"], quote.json["in_scope_fen"]) == (800_000, 750_000)
    done = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "d-1"})
    assert done.status == 201 and done.json["visit"] == "inpatient", done
    assert parts(done.json) == parts(quote.json) and sum(parts(done.json)) == 800_000
    # 1,300 yuan deductible for the year's first stay, 85 % of the rest in scope.
    assert (
        done.json["deductible_fen"] == 130_000
        and done.json["fund_paid_fen"] == (750_000 - 130_000) * 85 // 100
    )
    again = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "d-1"})
    assert again.status == 201 and again.json == done.json and again.headers["idempotent-replayed"] == "true"
    late = api.post(f"/v1/registrations/{rid}/charges", charge("C-4", 1_000, 1_000, "Late"), headers=hospital)
    assert late.status == 409 and late.json["type"] == "urn:sscard:problem:stay-closed", late
    cancelled = api.post(f"/v1/payments/{done.json['payment_id']}/cancel", headers=hospital)
    assert cancelled.status == 200 and cancelled.json["state"] == "cancelled", cancelled
    assert fake_world.payments.outflow_fen == 0
    assert (
        api.post(
            f"/v1/registrations/{rid}/charges", charge("C-4", 1_000, 1_000, "Late"), headers=hospital
        ).status
        == 201
    )
    second = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "d-2"})
    assert second.status == 201 and second.json["amount_fen"] == 801_000, second
    # The cancelled stay gave its stay count back: this is again the year's first stay.
    assert second.json["deductible_fen"] == 130_000


def test_a_discharge_above_the_per_payment_maximum_settles(api, fake_world):
    activate(api, fake_world)
    rid, hospital = stay_with_charges(api, fake_world, charge("C-1", 9_000_000, 9_000_000, "Long stay"))
    done = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "big"})
    assert done.status == 201 and done.json["amount_fen"] == 9_000_000, done


def test_another_hospital_cannot_discharge_and_a_key_is_required(api, fake_world):
    from tests.test_api_stays import another_hospital

    activate(api, fake_world)
    rid, hospital = stay_with_charges(api, fake_world, charge())
    r = api.post(
        f"/v1/registrations/{rid}/discharge", headers={**another_hospital(fake_world), "Idempotency-Key": "x"}
    )
    assert r.status == 404 and r.headers["content-type"] == PROBLEM
    assert api.post(f"/v1/registrations/{rid}/discharge", headers=hospital).status == 400

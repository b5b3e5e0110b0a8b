"""Activation through every channel, through the HTTP API (chalice.test.Client) over fakes."""

from __future__ import annotations

from chalicelib.domain.cards import CardState
from chalicelib.domain.holders import AccountState


def test_service_center_activates_when_the_ssn_is_the_holders(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": alice.ssn},
        headers=fake_world.auth("service_center"),
    )
    assert r.status == 200, r
    assert r.json["card_activated"] is True
    assert r.json["state"] == "active"
    assert r.json["financial_active"] is False  # only the bank switches the bank-card function on
    again = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": alice.ssn},
        headers=fake_world.auth("service_center"),
    )
    assert again.status == 200 and again.json["card_activated"] is False


def test_service_center_refuses_another_persons_ssn(api, fake_world):
    alice, bob = fake_world.seeded.holders["alice"], fake_world.seeded.holders["bob"]
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": bob.ssn},
        headers=fake_world.auth("service_center"),
    )
    assert r.status == 422
    assert r.json["type"] == "urn:sscard:problem:ssn-mismatch"
    assert fake_world.store.get_card(alice.card_no).state is CardState.ISSUED


def test_bad_check_character_is_a_clear_problem(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    wrong = alice.ssn[:17] + ("0" if alice.ssn[17] != "0" else "1")
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": wrong},
        headers=fake_world.auth("service_center"),
    )
    assert r.status == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json["type"] == "urn:sscard:problem:invalid-ssn"


def test_only_a_service_center_may_activate_at_the_counter(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": alice.ssn},
        headers=fake_world.auth("pharmacy"),
    )
    assert r.status == 403
    r = api.post(f"/v1/cards/{alice.card_no}/activate", {"ssn": alice.ssn})
    assert r.status == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": alice.ssn},
        headers={"Authorization": "Bearer sst_forged"},
    )
    assert r.status == 401


def test_first_hospital_registration_activates_and_later_ones_do_not(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    first = api.post(
        "/v1/registrations",
        {"card_no": bob.card_no, "visit": "outpatient"},
        headers=fake_world.auth("hospital"),
    )
    assert first.status == 201, first
    assert first.json["card_activated"] is True
    second = api.post(
        "/v1/registrations",
        {"card_no": bob.card_no, "visit": "inpatient"},
        headers=fake_world.auth("hospital"),
    )
    assert second.status == 201 and second.json["card_activated"] is False
    events = fake_world.store.card_events(bob.card_no)
    assert [e.action.value for e in events] == ["issue", "activate"]
    assert events[-1].channel.value == "hospital"
    assert events[-1].institution_id == "HOSPITAL"


def test_registration_refuses_a_visit_kind_it_does_not_know(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    r = api.post(
        "/v1/registrations",
        {"card_no": bob.card_no, "visit": "dental"},
        headers=fake_world.auth("hospital"),
    )
    assert r.status == 422
    assert r.json["errors"][0]["field"] == "visit"


def test_replacement_holds_the_account_until_the_new_card_is_activated(api, fake_world):
    carol = fake_world.seeded.holders["carol"]
    store = fake_world.store
    account = store.get_account(carol.person_id)
    assert account.state is AccountState.HELD and account.card_no == carol.old_card_no
    r = api.post(
        f"/v1/cards/{carol.card_no}/activate",
        {"ssn": carol.ssn},
        headers=fake_world.auth("service_center"),
    )
    assert r.status == 200
    account = store.get_account(carol.person_id)
    assert account.state is AccountState.NORMAL
    assert account.card_no == carol.card_no
    assert account.balance_fen == carol.balance_fen  # the balance is on the new card
    assert store.get_card(carol.old_card_no).state is CardState.REPLACED


def test_mobile_sees_its_own_card_and_reports_it_lost(api, fake_world):
    alice = fake_world.seeded.holders["alice"]
    r = api.get("/v1/me/card", headers=fake_world.auth("alice"))
    assert r.status == 200, r
    assert r.json["card"]["card_no"] == alice.card_no
    assert r.json["card"]["state"] == "issued"
    lost = api.post("/v1/me/card/report-loss", headers=fake_world.auth("alice"))
    assert lost.status == 200 and lost.json["state"] == "suspended"
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate",
        {"ssn": alice.ssn},
        headers=fake_world.auth("service_center"),
    )
    assert r.status == 409 and r.json["type"] == "urn:sscard:problem:card-suspended"
    resumed = api.post(
        f"/v1/cards/{alice.card_no}/resume", {"ssn": alice.ssn}, headers=fake_world.auth("service_center")
    )
    assert resumed.status == 200 and resumed.json["state"] == "issued"


def test_a_holder_cannot_report_another_holders_card(api, fake_world):
    bob = fake_world.seeded.holders["bob"]
    r = api.post("/v1/me/card/report-loss", {"card_no": bob.card_no}, headers=fake_world.auth("alice"))
    assert r.status == 404
    assert fake_world.store.get_card(bob.card_no).state is CardState.ISSUED


def test_institutions_cannot_use_mobile_endpoints(api, fake_world):
    assert api.get("/v1/me/card", headers=fake_world.auth("pharmacy")).status == 403


def _lost(api, world, holder) -> None:
    lost = api.post("/v1/me/card/report-loss", headers=world.auth(holder))
    assert lost.status == 200 and lost.json["state"] == "suspended", lost


def _last_event(api, world, holder) -> dict:
    mine = api.get("/v1/me/card", headers=world.auth(holder))
    assert mine.status == 200, mine
    return mine.json["history"][-1]


def test_service_center_resume_needs_the_holders_ssn_and_records_the_check(api, fake_world):
    alice, bob = fake_world.seeded.holders["alice"], fake_world.seeded.holders["bob"]
    center = fake_world.auth("service_center")
    _lost(api, fake_world, "alice")
    path = f"/v1/cards/{alice.card_no}/resume"
    assert api.post(path, headers=center).json["type"] == "urn:sscard:problem:malformed-json"
    missing = api.post(path, {}, headers=center)
    assert missing.status == 422 and missing.json["errors"][0]["field"] == "ssn", missing
    wrong = api.post(path, {"ssn": bob.ssn}, headers=center)
    assert wrong.status == 422 and wrong.json["type"] == "urn:sscard:problem:ssn-mismatch", wrong
    assert fake_world.store.get_card(alice.card_no).state is CardState.SUSPENDED
    resumed = api.post(path, {"ssn": alice.ssn}, headers=center)
    assert resumed.status == 200 and resumed.json["state"] == "issued", resumed
    event = _last_event(api, fake_world, "alice")
    assert event["action"] == "resume" and event["channel"] == "service_center"
    assert event["detail"] == "identity checked: ssn"


def test_service_center_cancel_needs_the_holders_ssn_and_records_the_check(api, fake_world):
    alice, bob = fake_world.seeded.holders["alice"], fake_world.seeded.holders["bob"]
    center = fake_world.auth("service_center")
    path = f"/v1/cards/{bob.card_no}/cancel"
    assert api.post(path, {}, headers=center).status == 422
    wrong = api.post(path, {"ssn": alice.ssn}, headers=center)
    assert wrong.status == 422 and wrong.json["type"] == "urn:sscard:problem:ssn-mismatch", wrong
    assert fake_world.store.get_card(bob.card_no).state is CardState.ISSUED
    cancelled = api.post(path, {"ssn": bob.ssn}, headers=center)
    assert cancelled.status == 200 and cancelled.json["state"] == "cancelled", cancelled
    [event] = [e for e in fake_world.store.card_events(bob.card_no) if e.action.value == "cancel"]
    assert event.detail == "identity checked: ssn" and event.institution_id == "SERVICE-CENTER"


def test_service_center_resume_with_an_idempotency_key_replays_and_refuses_another_body(api, fake_world):
    alice, bob = fake_world.seeded.holders["alice"], fake_world.seeded.holders["bob"]
    keyed = {**fake_world.auth("service_center"), "Idempotency-Key": "resume-1"}
    _lost(api, fake_world, "alice")
    path = f"/v1/cards/{alice.card_no}/resume"
    first = api.post(path, {"ssn": alice.ssn}, headers=keyed)
    assert first.status == 200, first
    again = api.post(path, {"ssn": alice.ssn}, headers=keyed)
    assert (again.status, again.json) == (200, first.json)  # replayed, not refused as not suspended
    other = api.post(path, {"ssn": bob.ssn}, headers=keyed)
    assert other.status == 422 and other.json["type"] != "urn:sscard:problem:ssn-mismatch", other
    resumes = [e for e in fake_world.store.card_events(alice.card_no) if e.action.value == "resume"]
    assert len(resumes) == 1


def _holder_with_only_an_old_card(world):
    from chalicelib.domain.cards import CardKind
    from chalicelib.domain.holders import Participation
    from chalicelib.services import admin
    from sscard_ops.seed import make_ssn

    store = world.store
    holder = admin.enroll_holder(
        store,
        world.secrets.hashing_key(),
        make_ssn("11010519770707321"),
        "Gao Old",
        Participation.EMPLOYEE,
        world.now,
        balance_fen=5_000,
    )
    card = admin.issue_card(store, holder.person_id, world.now, kind=CardKind.MEDICAL_INSURANCE)
    assert card.state is CardState.ACTIVE
    return holder, card


def test_an_active_old_medical_insurance_card_registers_without_being_activated(api, fake_world):
    _, old = _holder_with_only_an_old_card(fake_world)
    hospital = fake_world.auth("hospital")
    r = api.post("/v1/registrations", {"card_no": old.card_no, "visit": "outpatient"}, headers=hospital)
    assert r.status == 201, r
    assert r.json["card_activated"] is False
    stay = api.post("/v1/registrations", {"card_no": old.card_no, "visit": "inpatient"}, headers=hospital)
    assert stay.status == 201 and stay.json["card_activated"] is False, stay
    opened = api.get(f"/v1/registrations/{stay.json['registration_id']}", headers=hospital)
    assert opened.status == 200 and opened.json["state"] == "open", opened
    assert [e.action.value for e in fake_world.store.card_events(old.card_no)] == ["issue"]
    assert fake_world.store.get_card(old.card_no) == old


def test_an_old_card_whose_account_is_held_for_a_new_card_does_not_register(api, fake_world):
    carol = fake_world.seeded.holders["carol"]
    r = api.post(
        "/v1/registrations",
        {"card_no": carol.old_card_no, "visit": "inpatient"},
        headers=fake_world.auth("hospital"),
    )
    assert r.status == 409 and r.json["type"] == "urn:sscard:problem:account-held", r
    assert fake_world.store.get_card(carol.card_no).state is CardState.ISSUED

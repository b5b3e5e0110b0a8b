"""Card swipes through the HTTP API (chalice.test.Client) over the fakes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.domain.cards import Action, CardState
from chalicelib.domain.holders import AccountState
from chalicelib.domain.identifiers import luhn_check_digit
from chalicelib.domain.payments import DEFAULT_MAX_AMOUNT_FEN, PaymentPolicy
from chalicelib.services import idempotency
from chalicelib.services.ports import IdempotencyRecord
from tests.payment_helpers import assert_no_partial_state, funded_holder

PROBLEM = "application/problem+json"


@pytest.fixture
def funded(fake_world):
    person_id, card_no = funded_holder(
        fake_world.store, fake_world.secrets.hashing_key(), fake_world.now, 10_000
    )
    return person_id, card_no


def pay(api, world, card_no, amount, *, key="k-1", role="pharmacy", **extra):
    body = {"card_no": card_no, "amount_fen": amount, **extra}
    return api.post("/v1/payments", body, headers={**world.auth(role), "Idempotency-Key": key})


def assert_problem(r, status, slug):
    assert r.status == status, r
    assert r.headers["content-type"] == PROBLEM
    assert r.json["type"] == f"urn:sscard:problem:{slug}"


def test_a_payment_comes_from_the_personal_account(api, fake_world, funded):
    person_id, card_no = funded
    r = pay(api, fake_world, card_no, 2_500)
    assert r.status == 201, r
    assert r.json["account_paid_fen"] == 2_500 and r.json["self_pay_fen"] == 0
    assert r.json["balance_fen"] == 7_500 and r.json["card_activated"] is False
    assert fake_world.store.get_account(person_id).balance_fen == 7_500
    got = api.get(f"/v1/payments/{r.json['payment_id']}", headers=fake_world.auth("pharmacy"))
    assert got.status == 200 and got.json["state"] == "completed" and got.json["amount_fen"] == 2_500


def test_what_the_account_cannot_cover_is_self_paid(api, fake_world, funded):
    _, card_no = funded
    r = pay(api, fake_world, card_no, 12_000, role="hospital")
    assert r.status == 201, r
    assert (r.json["account_paid_fen"], r.json["self_pay_fen"], r.json["balance_fen"]) == (10_000, 2_000, 0)
    again = pay(api, fake_world, card_no, 300, key="k-2", role="hospital")
    assert (again.json["account_paid_fen"], again.json["self_pay_fen"]) == (0, 300)


def test_self_pay_refused_pays_nothing_and_says_why(api, fake_world, funded):
    person_id, card_no = funded
    r = pay(api, fake_world, card_no, 12_000, self_pay="refused")
    assert_problem(r, 409, "insufficient-balance")
    assert r.json["balance_fen"] == 10_000 and r.json["amount_fen"] == 12_000
    assert fake_world.store.get_account(person_id).balance_fen == 10_000
    # The refusal is the key's answer: the retry gets it again, even though nothing was paid.
    again = pay(api, fake_world, card_no, 12_000, self_pay="refused")
    assert (again.status, again.raw) == (r.status, r.raw)
    assert again.headers["idempotent-replayed"] == "true"


def test_only_designated_pharmacies_and_hospitals_take_payments(api, fake_world, funded):
    _, card_no = funded
    assert_problem(
        pay(api, fake_world, card_no, 100, role="pharmacy_not_designated"), 403, "institution-not-designated"
    )
    assert_problem(pay(api, fake_world, card_no, 100, role="service_center"), 403, "forbidden")
    r = api.post("/v1/payments", {"card_no": card_no, "amount_fen": 100}, headers={"Idempotency-Key": "x"})
    assert_problem(r, 401, "unauthenticated")
    assert api.get("/v1/me/payments", headers=fake_world.auth("pharmacy")).status == 403


def test_unusable_cards_and_held_accounts_are_refused_each_with_its_own_type(api, fake_world, funded):
    alice, carol = fake_world.seeded.holders["alice"], fake_world.seeded.holders["carol"]
    assert_problem(pay(api, fake_world, alice.card_no, 100, key="a"), 409, "card-not-activated")
    assert_problem(pay(api, fake_world, carol.old_card_no, 100, key="c"), 409, "account-held")
    assert fake_world.store.get_account(carol.person_id).balance_fen == carol.balance_fen
    person_id, card_no = funded
    jwt = {"Authorization": f"Bearer {fake_world.jwt(person_id)}"}
    assert api.post("/v1/me/card/report-loss", {"card_no": card_no}, headers=jwt).status == 200
    assert_problem(pay(api, fake_world, card_no, 100, key="s"), 409, "card-suspended")
    unknown = "621700000000000000" + luhn_check_digit("621700000000000000")
    assert_problem(pay(api, fake_world, unknown, 100, key="n"), 404, "card-not-found")
    assert fake_world.store.get_account(person_id).balance_fen == 10_000


def test_a_pharmacys_first_use_activates_carries_over_and_pays_at_once(api, fake_world):
    carol = fake_world.seeded.holders["carol"]
    store = fake_world.store
    r = pay(api, fake_world, carol.card_no, 2_300, previous_card_no=carol.old_card_no)
    assert r.status == 201, r
    assert r.json["card_activated"] is True
    assert r.json["account_paid_fen"] == 2_300 and r.json["balance_fen"] == carol.balance_fen - 2_300
    account = store.get_account(carol.person_id)
    assert (account.state, account.card_no, account.balance_fen) == (
        AccountState.NORMAL,
        carol.card_no,
        carol.balance_fen - 2_300,
    )
    assert store.get_card(carol.card_no).state is CardState.ACTIVE
    assert store.get_card(carol.old_card_no).state is CardState.REPLACED
    history = store.card_events(carol.card_no)
    assert history[-1].action is Action.ACTIVATE and history[-1].channel.value == "pharmacy"
    # From now on the new card pays like any other; previous_card_no is not needed.
    assert pay(api, fake_world, carol.card_no, 100, key="k-2").json["card_activated"] is False


def test_a_first_use_with_the_wrong_previous_card_changes_nothing(api, fake_world, funded):
    carol = fake_world.seeded.holders["carol"]
    _, someone_elses = funded
    r = pay(api, fake_world, carol.card_no, 100, previous_card_no=someone_elses)
    assert_problem(r, 422, "previous-card-invalid")
    assert fake_world.store.get_card(carol.card_no).state is CardState.ISSUED
    assert fake_world.store.get_account(carol.person_id).state is AccountState.HELD
    # A hospital does not activate by payment (its first registration does).
    r = pay(api, fake_world, carol.card_no, 100, key="h", role="hospital", previous_card_no=carol.old_card_no)
    assert_problem(r, 409, "card-not-activated")


# --- Idempotency-Key -------------------------------------------------------------------


def test_a_payment_needs_an_idempotency_key(api, fake_world, funded):
    _, card_no = funded
    r = api.post("/v1/payments", {"card_no": card_no, "amount_fen": 100}, headers=fake_world.auth("pharmacy"))
    assert_problem(r, 400, "idempotency-key-missing")
    assert_problem(pay(api, fake_world, card_no, 100, key=""), 400, "idempotency-key-invalid")


def test_the_same_key_and_body_answer_the_first_response_and_pay_once(api, fake_world, funded):
    person_id, card_no = funded
    first = pay(api, fake_world, card_no, 1_000)
    fake_world.now += timedelta(seconds=30)
    again = pay(api, fake_world, card_no, 1_000)
    assert (again.status, again.raw) == (first.status, first.raw)
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert fake_world.store.get_account(person_id).balance_fen == 9_000


def test_the_same_key_with_another_body_is_422_and_pays_nothing(api, fake_world, funded):
    person_id, card_no = funded
    pay(api, fake_world, card_no, 1_000)
    assert_problem(pay(api, fake_world, card_no, 1_001), 422, "idempotency-key-reused")
    assert fake_world.store.get_account(person_id).balance_fen == 9_000


def test_keys_are_scoped_to_the_institution(api, fake_world, funded):
    person_id, card_no = funded
    a = pay(api, fake_world, card_no, 1_000, role="pharmacy")
    b = pay(api, fake_world, card_no, 1_000, role="hospital")
    assert a.json["payment_id"] != b.json["payment_id"]
    assert fake_world.store.get_account(person_id).balance_fen == 8_000


def test_the_same_key_while_the_first_is_in_flight_is_409(api, fake_world, funded):
    _, card_no = funded
    body = json.dumps({"card_no": card_no, "amount_fen": 100}).encode()
    print_ = idempotency.fingerprint("POST", "/v1/payments?[]", body)
    now = int(fake_world.now.timestamp())
    # The first request's record, still in flight (as a transaction conflict on the key shows it).
    fake_world.idempotency.reserve(
        IdempotencyRecord("PHARMACY#busy", print_, True, now + idempotency.RETENTION_SECONDS, now + 60), now
    )
    r = api.request(
        "POST",
        "/v1/payments",
        raw=body,
        headers={**fake_world.auth("pharmacy"), "Idempotency-Key": "busy"},
    )
    assert_problem(r, 409, "idempotency-key-in-use")


def test_a_key_expires_after_the_retention(api, fake_world, funded):
    person_id, card_no = funded
    first = pay(api, fake_world, card_no, 1_000)
    fake_world.now += timedelta(seconds=idempotency.RETENTION_SECONDS + 1)
    later = pay(api, fake_world, card_no, 1_000)
    assert later.status == 201 and later.json["payment_id"] != first.json["payment_id"]
    assert fake_world.store.get_account(person_id).balance_fen == 8_000


# --- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "slug"),
    [
        (1.5, "invalid-request"),
        (100.0, "invalid-request"),
        ("100", "invalid-request"),
        (True, "invalid-request"),
        (None, "invalid-request"),
        (0, "amount-out-of-range"),
        (-100, "amount-out-of-range"),
        (DEFAULT_MAX_AMOUNT_FEN + 1, "amount-out-of-range"),
        (10**40, "amount-out-of-range"),
    ],
)
def test_amounts_must_be_positive_whole_fen_within_the_bound(api, fake_world, funded, amount, slug):
    person_id, card_no = funded
    r = pay(api, fake_world, card_no, amount)
    assert_problem(r, 422, slug)
    assert fake_world.store.get_account(person_id).balance_fen == 10_000


def test_the_bound_comes_from_the_configured_policy(api, fake_world, funded):
    from chalicelib import bootstrap as deps_module

    deps_module.deps().payment_policy = PaymentPolicy(max_amount_fen=500)
    _, card_no = funded
    assert pay(api, fake_world, card_no, 500).status == 201
    r = pay(api, fake_world, card_no, 501, key="k-2")
    assert_problem(r, 422, "amount-out-of-range")
    assert r.json["maximum_fen"] == 500


def test_a_float_written_as_an_exponent_is_refused(api, fake_world, funded):
    _, card_no = funded
    raw = f'{{"card_no": "{card_no}", "amount_fen": 1e3}}'.encode()
    r = api.request(
        "POST", "/v1/payments", raw=raw, headers={**fake_world.auth("pharmacy"), "Idempotency-Key": "e"}
    )
    assert_problem(r, 422, "invalid-request")


# --- cancel -------------------------------------------------------------------------------


def test_cancel_credits_back_once(api, fake_world, funded):
    person_id, card_no = funded
    paid = pay(api, fake_world, card_no, 4_000).json["payment_id"]
    first = api.post(f"/v1/payments/{paid}/cancel", headers=fake_world.auth("pharmacy"))
    assert first.status == 200 and first.json["state"] == "cancelled"
    assert fake_world.store.get_account(person_id).balance_fen == 10_000
    second = api.post(f"/v1/payments/{paid}/cancel", headers=fake_world.auth("pharmacy"))
    assert_problem(second, 409, "payment-already-cancelled")
    assert fake_world.store.get_account(person_id).balance_fen == 10_000
    assert_no_partial_state(fake_world.store, fake_world.payments, fake_world.idempotency, person_id, 10_000)


def test_another_institution_can_neither_see_nor_cancel_a_payment(api, fake_world, funded):
    person_id, card_no = funded
    paid = pay(api, fake_world, card_no, 4_000).json["payment_id"]
    assert_problem(
        api.get(f"/v1/payments/{paid}", headers=fake_world.auth("hospital")), 404, "payment-not-found"
    )
    r = api.post(f"/v1/payments/{paid}/cancel", headers=fake_world.auth("hospital"))
    assert_problem(r, 404, "payment-not-found")
    assert fake_world.store.get_account(person_id).balance_fen == 6_000
    # An id no payment could have is a bad request, not a missing payment (issue #10).
    assert_problem(api.get("/v1/payments/nope!", headers=fake_world.auth("pharmacy")), 422, "invalid-request")


def test_a_self_paid_only_payment_cancels_without_crediting(api, fake_world):
    person_id, card_no = funded_holder(fake_world.store, fake_world.secrets.hashing_key(), fake_world.now, 0)
    paid = pay(api, fake_world, card_no, 700).json
    assert paid["account_paid_fen"] == 0
    assert (
        api.post(f"/v1/payments/{paid['payment_id']}/cancel", headers=fake_world.auth("pharmacy")).status
        == 200
    )
    assert fake_world.store.get_account(person_id).balance_fen == 0


# --- reconciliation ---------------------------------------------------------------------


def test_a_day_with_one_missing_and_one_extra_payment_is_mismatched_and_named(api, fake_world, funded):
    _, card_no = funded
    ids = [pay(api, fake_world, card_no, fen, key=f"r-{fen}").json["payment_id"] for fen in (100, 200, 300)]
    day = fake_world.now.date().isoformat()  # 09:00 UTC is 17:00 in China: the same date
    auth = fake_world.auth("pharmacy")
    matched = api.post("/v1/reconciliations", {"date": day, "count": 3, "total_fen": 600}, headers=auth)
    assert matched.status == 200 and matched.json["status"] == "matched", matched
    # Theirs lacks the 200 fen payment and has one we never took.
    theirs = [
        {"payment_id": ids[0], "account_paid_fen": 100},
        {"payment_id": ids[2], "account_paid_fen": 300},
    ]
    theirs.append({"payment_id": "terminal-only-1", "account_paid_fen": 250})
    r = api.post(
        "/v1/reconciliations", {"date": day, "count": 3, "total_fen": 650, "payments": theirs}, headers=auth
    )
    assert r.status == 200 and r.json["status"] == "mismatched"
    unsent = {"fund_paid_fen": None, "serious_illness_paid_fen": None}  # compared only when sent
    assert r.json["ours"] == {"count": 3, "total_fen": 600, **unsent}
    assert r.json["theirs"] == {"count": 3, "total_fen": 650, **unsent}
    assert sorted((d["payment_id"], d["reason"]) for d in r.json["differences"]) == sorted(
        [(ids[1], "only_ours"), ("terminal-only-1", "only_theirs")]
    )
    # Without a list, our entries of the day come back to compare with.
    bare = api.post("/v1/reconciliations", {"date": day, "count": 2, "total_fen": 400}, headers=auth)
    assert bare.json["status"] == "mismatched"
    assert sorted(e["payment_id"] for e in bare.json["our_entries"]) == sorted(ids)
    # Another institution's day is its own.
    other = api.post(
        "/v1/reconciliations", {"date": day, "count": 0, "total_fen": 0}, headers=fake_world.auth("hospital")
    )
    assert other.json["status"] == "matched" and other.json["ours"]["count"] == 0


def test_a_cancelled_payment_leaves_the_days_figures(api, fake_world, funded):
    _, card_no = funded
    paid = pay(api, fake_world, card_no, 100).json["payment_id"]
    pay(api, fake_world, card_no, 200, key="k-2")
    api.post(f"/v1/payments/{paid}/cancel", headers=fake_world.auth("pharmacy"))
    day = fake_world.now.date().isoformat()
    r = api.post(
        "/v1/reconciliations",
        {"date": day, "count": 1, "total_fen": 200},
        headers=fake_world.auth("pharmacy"),
    )
    assert r.json["status"] == "matched"


@pytest.mark.parametrize(
    "body",
    [
        {"date": "2026-13-01", "count": 0, "total_fen": 0},
        {"date": "2026-11-25", "count": "1", "total_fen": 0},
        {"date": "2026-11-25", "count": 1, "total_fen": 1.5},
        {"date": "2026-11-25", "count": 1, "total_fen": 100, "payments": []},
    ],
)
def test_a_malformed_reconciliation_is_a_422_problem(api, fake_world, body):
    r = api.post("/v1/reconciliations", body, headers=fake_world.auth("pharmacy"))
    assert_problem(r, 422, "invalid-request")


# --- the holder's own view ------------------------------------------------------------


def test_the_holder_sees_the_balance(api, fake_world, funded):
    person_id, card_no = funded
    pay(api, fake_world, card_no, 1_234)
    r = api.get("/v1/me/account", headers={"Authorization": f"Bearer {fake_world.jwt(person_id)}"})
    assert r.status == 200, r
    assert r.json == {"balance_fen": 8_766, "state": "normal", "card_no": card_no, "pending_card_no": None}
    carol = fake_world.seeded.holders["carol"]
    held = api.get("/v1/me/account", headers=fake_world.auth("carol"))
    assert held.json["state"] == "held" and held.json["balance_fen"] == carol.balance_fen


def test_the_holders_payments_come_newest_first_in_stable_pages(api, fake_world, funded):
    person_id, card_no = funded
    mine = {"Authorization": f"Bearer {fake_world.jwt(person_id)}"}
    made = []
    for i in range(5):
        fake_world.now += timedelta(minutes=1)
        made.append(pay(api, fake_world, card_no, 100 + i, key=f"p-{i}").json["payment_id"])
    page1 = api.get("/v1/me/payments?limit=2", headers=mine)
    assert page1.status == 200, page1
    assert [p["payment_id"] for p in page1.json["payments"]] == made[::-1][:2]
    # Payments made while the holder pages land before page one and shift nothing.
    for i in range(3):
        fake_world.now += timedelta(minutes=1)
        pay(api, fake_world, card_no, 50, key=f"late-{i}")
    seen = [p["payment_id"] for p in page1.json["payments"]]
    cursor = page1.json["next_cursor"]
    while cursor:
        page = api.get(f"/v1/me/payments?limit=2&cursor={cursor}", headers=mine).json
        seen += [p["payment_id"] for p in page["payments"]]
        cursor = page["next_cursor"]
    assert seen == made[::-1]
    first = page1.json["payments"][0]
    assert first["card_last4"] == card_no[-4:] and first["institution_name"].startswith("Tongrentang")


def test_a_holder_sees_only_their_own_payments(api, fake_world, funded):
    _, card_no = funded
    pay(api, fake_world, card_no, 100)
    r = api.get("/v1/me/payments", headers=fake_world.auth("alice"))
    assert r.status == 200 and r.json == {"payments": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("cursor=!!!", "invalid-cursor"),
        ("cursor=aGVsbG8", "invalid-cursor"),  # base64 of "hello": not a page key
        ("limit=0", "invalid-request"),
        ("limit=101", "invalid-request"),
        ("limit=ten", "invalid-request"),
    ],
)
def test_bad_paging_parameters_are_422_problems(api, fake_world, query, slug):
    assert_problem(api.get(f"/v1/me/payments?{query}", headers=fake_world.auth("alice")), 422, slug)


def test_the_openapi_document_describes_payments(api):
    doc = api.get("/openapi.json").json
    post = doc["paths"]["/v1/payments"]["post"]
    assert post["parameters"][0]["name"] == "Idempotency-Key"
    schema = doc["components"]["schemas"]["PaymentRequestBody"]["properties"]["amount_fen"]
    assert schema["type"] == "integer" and schema["minimum"] == 1
    assert "urn:sscard:problem:insufficient-balance" in doc["info"]["description"]

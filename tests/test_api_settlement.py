"""Settlement through the API (issue #11): the split, the quote, the counter query, the
give-back of a cancellation and two-level reconciliation, over the fakes. The rules themselves
are tabled in test_domain_settlement.py; here each answer is checked as a terminal reads it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib.domain.contributions import InsuranceType
from chalicelib.domain.coverage import PaidMonth
from chalicelib.domain.periods import Period
from chalicelib.domain.settlement import YearCounters
from tests.payment_helpers import funded_holder

PROBLEM = "application/problem+json"


def paid_for_a_year(world, person_id: str, *, since: date = date(2025, 11, 1)) -> None:
    """Medical and serious-illness months paid on time from `since` to the world's month."""
    months = []
    period = Period.of(since)
    while period.index <= Period.of(world.now.date()).index:
        paid_on = date(period.year, period.month, 5)
        for insurance in (InsuranceType.MEDICAL, InsuranceType.SERIOUS_ILLNESS):
            months.append(PaidMonth(insurance, period, 10_000, paid_on))
        period = period.shift(1)
    world.payments.paid_months[person_id] = months


@pytest.fixture
def holder(fake_world):
    person_id, card_no = funded_holder(
        fake_world.store, fake_world.secrets.hashing_key(), fake_world.now, 100_000
    )
    paid_for_a_year(fake_world, person_id)
    return person_id, card_no


def bill(api, world, card_no, amount, *, who="hospital", key=None, **extra):
    headers = {
        **world.auth(who),
        "Idempotency-Key": key or f"bill-{card_no}-{amount}-{sorted(extra.items())}",
    }
    return api.post("/v1/payments", {"card_no": card_no, "amount_fen": amount, **extra}, headers=headers)


def parts(answer) -> tuple[int, int, int, int]:
    return (
        answer["fund_paid_fen"],
        answer["serious_illness_paid_fen"],
        answer["account_paid_fen"],
        answer["self_pay_fen"],
    )


def test_a_hospital_outpatient_bill_is_split_between_the_fund_the_account_and_cash(api, fake_world, holder):
    person_id, card_no = holder
    # 3,000 yuan, 2,800 in scope: the first 1,800 in scope is the deductible, half the rest is pooled.
    r = bill(api, fake_world, card_no, 300_000, in_scope_fen=280_000)
    assert r.status == 201, r
    a = r.json
    assert a["visit"] == "outpatient" and a["deductible_fen"] == 180_000 and a["out_of_scope_fen"] == 20_000
    assert a["fund_paid_fen"] == 50_000
    assert a["account_paid_fen"] == 100_000 and a["self_pay_fen"] == 150_000  # the account's all, then cash
    assert sum(parts(a)) == a["amount_fen"] == 300_000
    assert a["balance_fen"] == 0
    counters, _ = fake_world.payments.counters[(person_id, 2026)]
    assert counters.outpatient_deductible_used_fen == 180_000 and counters.fund_paid_fen == 50_000
    assert fake_world.payments.outflow_fen == 50_000


def test_a_pharmacy_may_not_settle_as_outpatient_or_inpatient(api, fake_world, holder):
    _, card_no = holder
    for visit in ("outpatient", "inpatient"):
        r = bill(api, fake_world, card_no, 1_000, who="pharmacy", visit=visit)
        assert r.status == 422 and r.json["type"] == "urn:sscard:problem:visit-not-allowed", r


def test_in_scope_above_the_amount_is_422_and_pays_nothing(api, fake_world, holder):
    person_id, card_no = holder
    r = bill(api, fake_world, card_no, 1_000, in_scope_fen=1_001)
    assert r.status == 422 and r.headers["content-type"] == PROBLEM
    assert fake_world.store.get_account(person_id).balance_fen == 100_000


def test_a_quote_is_the_split_the_payment_then_makes_and_changes_nothing(api, fake_world, holder):
    person_id, card_no = holder
    body = {"card_no": card_no, "amount_fen": 400_000, "visit": "inpatient"}
    q = api.post("/v1/payments/quote", body, headers=fake_world.auth("hospital"))
    assert q.status == 200 and q.json["quote"] is True and "payment_id" not in q.json, q
    assert fake_world.store.get_account(person_id).balance_fen == 100_000
    assert (person_id, 2026) not in fake_world.payments.counters
    paid = bill(api, fake_world, card_no, 400_000, visit="inpatient").json
    assert parts(paid) == parts(q.json) and paid["deductible_fen"] == q.json["deductible_fen"] == 130_000
    assert q.json["balance_fen"] == paid["balance_fen"]


def test_cancelling_gives_back_every_part_exactly(api, fake_world, holder):
    person_id, card_no = holder
    before = fake_world.payments.counters.get((person_id, 2026), (YearCounters(), 0))[0]
    paid = bill(api, fake_world, card_no, 500_000, visit="inpatient").json
    assert paid["fund_paid_fen"] > 0
    r = api.post(f"/v1/payments/{paid['payment_id']}/cancel", headers=fake_world.auth("hospital"))
    assert r.status == 200 and r.json["state"] == "cancelled", r
    after = fake_world.payments.counters[(person_id, 2026)][0]
    assert after == before
    assert fake_world.payments.outflow_fen == 0
    assert fake_world.store.get_account(person_id).balance_fen == 100_000
    shown = api.get(f"/v1/payments/{paid['payment_id']}", headers=fake_world.auth("hospital")).json
    assert parts(shown) == parts(paid) and shown["state"] == "cancelled"


def test_medical_not_in_force_pays_from_the_account_only_and_says_why(api, fake_world):
    person_id, card_no = funded_holder(
        fake_world.store, fake_world.secrets.hashing_key(), fake_world.now, 5_000
    )
    fake_world.payments.paid_months[person_id] = [
        PaidMonth(InsuranceType.MEDICAL, Period(2026, 6), 10_000, date(2026, 6, 5))  # 5 months ago
    ]
    a = bill(api, fake_world, card_no, 8_000).json
    assert parts(a) == (0, 0, 5_000, 3_000)
    assert [n["code"] for n in a["notes"]] == ["medical-not-in-force"]


def test_the_counter_query_shows_coverage_and_the_year_without_name_or_ssn(api, fake_world, holder):
    _, card_no = holder
    bill(api, fake_world, card_no, 300_000, in_scope_fen=280_000)
    r = api.get(f"/v1/cards/{card_no}/insured?on=2026-11-25", headers=fake_world.auth("pharmacy"))
    assert r.status == 200, r
    assert r.json["medical_in_force"] is True and r.json["serious_illness"]["eligible"] is True
    assert r.json["year"]["year"] == 2026 and r.json["year"]["outpatient_deductible_used_fen"] == 180_000
    assert set(r.json) == {"card_no", "state", "medical_in_force", "serious_illness", "balance_fen", "year"}
    unknown = api.get("/v1/cards/6217000000000000012/insured", headers=fake_world.auth("pharmacy"))
    assert unknown.status == 404 and unknown.headers["content-type"] == PROBLEM


def test_a_day_reconciled_as_matched_stays_matched_when_a_payment_is_cancelled_the_next_day(
    api, fake_world, holder
):
    _, card_no = holder
    paid = bill(api, fake_world, card_no, 2_000, who="pharmacy").json
    day, auth = "2026-11-25", fake_world.auth("pharmacy")
    figures = {"date": day, "count": 1, "total_fen": 2_000, "fund_paid_fen": 0, "serious_illness_paid_fen": 0}
    assert api.post("/v1/reconciliations", figures, headers=auth).json["status"] == "matched"
    fake_world.now += timedelta(days=1)
    assert api.post(f"/v1/payments/{paid['payment_id']}/cancel", headers=auth).status == 200
    again = api.post("/v1/reconciliations", figures, headers=auth).json
    assert again["status"] == "matched", again
    next_day = {"date": "2026-11-26", "count": -1, "total_fen": -2_000}
    assert api.post("/v1/reconciliations", next_day, headers=auth).json["status"] == "matched"
    entries = api.get("/v1/reconciliations/2026-11-26/entries", headers=auth).json["entries"]
    assert [(e["kind"], e["account_paid_fen"]) for e in entries] == [("cancellation", -2_000)]


def test_day_entries_page_with_a_cursor(api, fake_world, holder):
    _, card_no = holder
    for fen in (100, 200, 300):
        assert bill(api, fake_world, card_no, fen, who="pharmacy").status == 201
    auth = fake_world.auth("pharmacy")
    first = api.get("/v1/reconciliations/2026-11-25/entries?limit=2", headers=auth).json
    rest = api.get(f"/v1/reconciliations/2026-11-25/entries?cursor={first['next_cursor']}", headers=auth).json
    assert sorted(e["amount_fen"] for e in first["entries"] + rest["entries"]) == [100, 200, 300]
    assert rest["next_cursor"] is None

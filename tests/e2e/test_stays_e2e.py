"""Inpatient stays over HTTP against the real local stack: charges uploaded concurrently and
twice over, and a closed stay refusing charges. Every step is a terminal's HTTP call: admission
is POST /v1/registrations (visit inpatient), the close a discharge.
"""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e
CHARGES = 200
THREADS = 16


def admitted(stack) -> str:
    """A fresh holder admitted by the seeded hospital (the registration also activates the card)."""
    [card] = stack.provision(1)
    r = requests.post(
        stack.url("/v1/registrations"),
        json={"card_no": card["card_no"], "visit": "inpatient"},
        headers={**stack.auth("hospital"), "Idempotency-Key": f"admit-{uuid.uuid4().hex}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    assert r.json()["visit"] == "inpatient" and r.json()["card_activated"] is True
    registration_id: str = r.json()["registration_id"]
    return registration_id


def discharged(stack, registration_id: str) -> dict[str, Any]:
    r = requests.post(
        stack.url(f"/v1/registrations/{registration_id}/discharge"),
        headers={**stack.auth("hospital"), "Idempotency-Key": f"discharge-{registration_id}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def a_charge(n: int) -> dict[str, Any]:
    return {
        "charge_id": f"C-{n:04d}",
        "amount_fen": 1_000 + n,
        "in_scope_fen": 500 + n,
        "description": f"Item {n}",
    }


def upload(stack, registration_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        stack.url(f"/v1/registrations/{registration_id}/charges"),
        json=body,
        headers=stack.auth("hospital"),
        timeout=60,
    )


def the_stay(stack, registration_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    charges: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit=200{f'&cursor={cursor}' if cursor else ''}"
        r = requests.get(
            stack.url(f"/v1/registrations/{registration_id}{query}"),
            headers=stack.auth("hospital"),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        page = r.json()
        charges += page["charges"]
        cursor = page["next_cursor"]
        if cursor is None:
            return page, charges


def test_200_charges_sent_concurrently_and_twice_each_are_applied_once(stack):
    rid = admitted(stack)
    bodies = [a_charge(n) for n in range(CHARGES)]
    sends = bodies * 2
    random.Random(12).shuffle(sends)
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda body: upload(stack, rid, body), sends))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers if r.status_code != 201][:3]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in answers:
        by_id.setdefault(r.json()["charge_id"], []).append(r.json())
    assert all(first == second for first, second in by_id.values())  # both sends: the same answer
    stay, charges = the_stay(stack, rid)
    assert stay["totals"] == {
        "amount_fen": sum(b["amount_fen"] for b in bodies),
        "in_scope_fen": sum(b["in_scope_fen"] for b in bodies),
        "out_of_scope_fen": sum(b["amount_fen"] - b["in_scope_fen"] for b in bodies),
        "charge_count": CHARGES,
    }
    assert [c["charge_id"] for c in charges] == sorted(b["charge_id"] for b in bodies)


def test_a_charge_after_the_stay_closed_is_refused_and_changes_nothing(stack):
    rid = admitted(stack)
    assert upload(stack, rid, a_charge(1)).status_code == 201
    assert upload(stack, rid, a_charge(2)).status_code == 201
    settled = discharged(stack, rid)
    assert settled["amount_fen"] == a_charge(1)["amount_fen"] + a_charge(2)["amount_fen"]
    before, charges_before = the_stay(stack, rid)
    assert before["state"] == "discharged"
    assert before["discharge_payment_id"] == settled["payment_id"]
    late = upload(stack, rid, a_charge(3))
    assert late.status_code == 409, late.text
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["type"] == "urn:sscard:problem:stay-closed"
    resent = upload(stack, rid, a_charge(1))  # a retry of a charge taken before the discharge
    assert resent.status_code == 201 and resent.json()["charge_id"] == "C-0001"
    cancel = requests.post(
        stack.url(f"/v1/registrations/{rid}/charges/C-0001/cancel"),
        headers=stack.auth("hospital"),
        timeout=30,
    )
    assert cancel.status_code == 409 and cancel.json()["type"] == "urn:sscard:problem:stay-closed"
    assert the_stay(stack, rid) == (before, charges_before)

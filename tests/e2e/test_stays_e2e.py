"""Inpatient stays over HTTP against the real local stack: charges uploaded concurrently and
twice over, and a closed stay refusing charges.

Admission and the discharge's close are written straight into the stack's tables by a
subprocess (`python -m tests.e2e.test_stays_e2e admit|close ...`, with the stack's settings,
as tests/e2e/provision.py does): the admission as POST /v1/registrations writes it, the close
with the very item a discharge payment includes in its transaction (storage.stays.close_item).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.e2e.conftest import PROJECT

pytestmark = pytest.mark.e2e
CHARGES = 200
THREADS = 16


def stays_tool(stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.test_stays_e2e", *args],
        cwd=PROJECT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def admitted(stack) -> str:
    [card] = stack.provision(1)
    return stays_tool(
        stack, "admit", card["card_no"], card["person_id"], stack.seed["institutions"]["hospital"]
    )


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
    stays_tool(stack, "close", rid, "pay-e2e")
    before, charges_before = the_stay(stack, rid)
    assert before["state"] == "discharged" and before["discharge_payment_id"] == "pay-e2e"
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


# --- the subprocess side: the stack's tables, with the stack's settings -------------------------


def _admit(card_no: str, person_id: str, hospital_id: str) -> None:
    import uuid

    from chalicelib.services.ports import CardChange, Registration
    from sscard_ops.cli import connect

    ops = connect()
    registration_id = uuid.uuid4().hex
    at = datetime.now(UTC)
    ops.store.commit(
        CardChange(
            registration=Registration(
                registration_id, card_no, person_id, hospital_id, "inpatient", at, False
            )
        )
    )
    print(registration_id)


def _close(registration_id: str, payment_id: str) -> None:
    from sscard_ops.cli import connect

    connect()
    from chalicelib.services.stay_ports import StayClosing
    from chalicelib.storage.stays import DynamoStayStore

    store = DynamoStayStore()
    stay = store.read_stay(registration_id).stay
    assert stay is not None
    store.close(StayClosing(stay, payment_id, datetime.now(UTC)))
    print(json.dumps({"closed": registration_id}))


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"admit": _admit, "close": _close}[command](*arguments)

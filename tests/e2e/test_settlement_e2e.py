"""Settlement over real HTTP against the local stack (issue #11): 30 hospital bills of one
serious-illness-eligible holder sent at once from 30 threads, some of them twice with the same
Idempotency-Key. The holder's year counters are one item every bill conditions its write on,
so the bills serialise through lost races and retries; afterwards the counters must be the sums
of what the completed payments answered, the account must never have gone below zero, and
`sscard ledger check` must pass over everything the stack holds.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.conftest import PROJECT

pytestmark = pytest.mark.e2e
BILLS = 30
TWICE = 8  # of them sent a second time, concurrently, with the same key and body
MONTHLY_MEDICAL_FEN = 20_000  # 12 months: 2,400 yuan in the account
GIVE_UP_AFTER = 40  # a terminal's patience: sends of one request before the test fails
PROBLEM = "urn:sscard:problem:"


@dataclass
class Sent:
    key: str
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]
    busy: int  # 503 answers (the service's own retries ran out) the terminal retried
    in_use: int  # 409 idempotency-key-in-use answers (the twin still in flight) retried


def eligible_holder(stack) -> dict[str, str]:
    """A fresh holder with a year of medical and serious-illness months paid on time, whose
    card an outpatient registration has activated."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tests.e2e.provision", "1"),
            *("--paid-months", "12", "--monthly-medical-fen", str(MONTHLY_MEDICAL_FEN)),
        ],
        cwd=PROJECT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    [card] = json.loads(done.stdout)
    r = requests.post(
        stack.url("/v1/registrations"),
        json={"card_no": card["card_no"], "visit": "outpatient"},
        headers={**stack.auth("hospital"), "Idempotency-Key": f"reg-{uuid.uuid4().hex}"},
        timeout=60,
    )
    assert r.status_code == 201 and r.json()["card_activated"] is True, r.text
    holder: dict[str, str] = card
    return holder


def bills(card_no: str) -> list[dict[str, Any]]:
    """Outpatient bills of 200 to 4,000 yuan and inpatient ones of 20,000 to 50,000 yuan (the
    per-payment maximum): enough to use up the outpatient deductible, take the serious-illness
    base past its threshold and run the account dry; every fourth refuses self-pay."""
    rng = random.Random(11)
    made = []
    for n in range(BILLS):
        inpatient = n % 3 == 0
        amount = rng.randint(2_000_000, 5_000_000) if inpatient else rng.randint(20_000, 400_000)
        body: dict[str, Any] = {
            "card_no": card_no,
            "amount_fen": amount,
            "visit": "inpatient" if inpatient else "outpatient",
        }
        if n % 2:
            body["in_scope_fen"] = amount * rng.randint(60, 100) // 100 + rng.randint(0, 1)
            body["in_scope_fen"] = min(body["in_scope_fen"], amount)
        if n % 4 == 3:
            body["self_pay"] = "refused"
        made.append(body)
    return made


def insured(stack, card_no: str) -> dict[str, Any]:
    r = requests.get(stack.url(f"/v1/cards/{card_no}/insured"), headers=stack.auth("hospital"), timeout=60)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def send(stack, key: str, body: dict[str, Any], start: threading.Barrier) -> Sent:
    """A terminal's call: retried with the same key while the service says busy (503) or the
    key's first request is still in flight (409 idempotency-key-in-use)."""
    headers = {**stack.auth("hospital"), "Idempotency-Key": key}
    busy = in_use = 0
    start.wait()
    for _ in range(GIVE_UP_AFTER):
        r = requests.post(stack.url("/v1/payments"), json=body, headers=headers, timeout=120)
        answer = r.json()
        if r.status_code == 503:
            busy += 1
        elif r.status_code == 409 and answer["type"] == PROBLEM + "idempotency-key-in-use":
            in_use += 1
        else:
            return Sent(key, body, r.status_code, answer, busy, in_use)
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 1.0) * random.random())
    pytest.fail(f"{key}: still busy after {GIVE_UP_AFTER} sends")


def test_30_concurrent_bills_of_one_holder_add_up_in_the_counters_the_account_and_the_ledger(stack):
    holder = eligible_holder(stack)
    card_no = holder["card_no"]
    before = insured(stack, card_no)
    assert before["medical_in_force"] is True and before["serious_illness"]["eligible"] is True, before
    opening = before["balance_fen"]
    assert opening == 12 * MONTHLY_MEDICAL_FEN
    assert set(before["year"].values()) - {before["year"]["year"]} == {0}

    keyed = [(f"bill-{uuid.uuid4().hex}", body) for body in bills(card_no)]
    sends = keyed + keyed[:: BILLS // TWICE][:TWICE]
    random.Random(5).shuffle(sends)
    start = threading.Barrier(len(sends))
    with ThreadPoolExecutor(len(sends)) as pool:
        answers = list(pool.map(lambda kb: send(stack, kb[0], kb[1], start), sends))

    # Every bill was paid, or refused for the account being short with self-pay refused.
    outcomes = Counter("paid" if s.status == 201 else s.answer["type"].removeprefix(PROBLEM) for s in answers)
    assert set(outcomes) <= {"paid", "insufficient-balance"}, [s.answer for s in answers if s.status != 201]
    refused = [s for s in answers if s.status != 201]
    assert all(s.status == 409 and s.body.get("self_pay") == "refused" for s in refused)

    # A key sent twice answered one payment (or one refusal) both times.
    by_key: dict[str, list[Sent]] = {}
    for s in answers:
        by_key.setdefault(s.key, []).append(s)
    twins = [pair for pair in by_key.values() if len(pair) == 2]
    assert len(twins) == TWICE
    for first, second in twins:
        assert (first.status, first.answer) == (second.status, second.answer)

    paid = [pair[0].answer for pair in by_key.values() if pair[0].status == 201]
    assert len({p["payment_id"] for p in paid}) == len(paid)
    for p in paid:
        assert (
            p["fund_paid_fen"] + p["serious_illness_paid_fen"] + p["account_paid_fen"] + p["self_pay_fen"]
            == p["amount_fen"]
        )
        assert (
            min(p["fund_paid_fen"], p["serious_illness_paid_fen"], p["account_paid_fen"], p["self_pay_fen"])
            >= 0
        )

    # The account never went below zero: ordered by the balance each left (of those leaving the
    # same balance, the one that took money first), every payment's balance is the opening less
    # what it and the payments before it took.
    taken = 0
    for p in sorted(paid, key=lambda p: (-p["balance_fen"], -p["account_paid_fen"])):
        taken += p["account_paid_fen"]
        assert p["balance_fen"] == opening - taken >= 0, p
    after = insured(stack, card_no)
    assert after["balance_fen"] == opening - sum(p["account_paid_fen"] for p in paid) >= 0

    # The year counters are the sums over the completed payments' answers.
    outpatient = [p for p in paid if p["visit"] == "outpatient"]
    year = after["year"]
    assert {k: v for k, v in year.items() if k != "year"} == {
        "outpatient_deductible_used_fen": sum(p["deductible_fen"] for p in outpatient),
        "inpatient_stays": sum(p["visit"] == "inpatient" for p in paid),
        "fund_paid_fen": sum(p["fund_paid_fen"] for p in paid),
        "outpatient_fund_paid_fen": sum(p["fund_paid_fen"] for p in outpatient),
        # Eligible on every bill's day: each bill's in-scope share after the pooled fund.
        "serious_illness_base_fen": sum(p["in_scope_fen"] - p["fund_paid_fen"] for p in paid),
        "serious_illness_paid_fen": sum(p["serious_illness_paid_fen"] for p in paid),
    }
    # The run reached what it was built to reach (else the sums above prove little).
    assert year["serious_illness_paid_fen"] > 0 and year["fund_paid_fen"] > 0
    assert year["outpatient_deductible_used_fen"] == 180_000  # 1,800 yuan: used up
    assert after["balance_fen"] < MONTHLY_MEDICAL_FEN  # the account ran (nearly) dry

    ledger = stack.cli("ledger", "check")
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    print(
        f"\n{len(sends)} sends of {BILLS} bills: {outcomes['paid']} answers paid, "
        f"{outcomes['insufficient-balance']} refused (self-pay refused, account short); "
        f"terminal retries: {sum(s.busy for s in answers)} after 503 busy, "
        f"{sum(s.in_use for s in answers)} after 409 key in use; notes: "
        f"{dict(Counter(n['code'] for p in paid for n in p['notes']))}"
    )

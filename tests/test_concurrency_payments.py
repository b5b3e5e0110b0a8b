"""Concurrent card swipes over real HTTP: no overdraft, no double payment.

The app is served by Chalice's local HTTP server (threaded; Chalice's local app keeps
the current request per thread) in this process, over DynamoDB stood in by the
locked moto server (serialised, so it is atomic as DynamoDB is; moto's in-process
mock is not thread-safe). Terminals are threads with their own HTTP connections.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib import bootstrap as deps_module
from chalicelib.bootstrap import Deps, built
from chalicelib.storage import models
from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
from chalicelib.storage.payments import DynamoPaymentStore
from chalicelib.storage.secrets import HASHING_KEY, SecretsManagerSource
from sscard_ops import seed as seeding
from sscard_ops.motoserver import LockedMotoServer
from tests.payment_helpers import all_payments_of, assert_no_partial_state, funded_holder

PROJECT = Path(__file__).resolve().parent.parent
TERMINALS = 50
MAX_TRIES = 60


@dataclass
class Stack:
    url: str
    seeded: seeding.Seeded
    deps: Deps

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seeded.tokens[role]}"}

    def funded(self, balance_fen: int) -> tuple[str, str]:
        return funded_holder(self.deps.store, self.deps.secrets.hashing_key(), datetime.now(UTC), balance_fen)


@pytest.fixture(scope="module")
def stack():
    from chalice.config import Config

    import app as app_module
    from sscard_ops.local_http import create_server

    _forget_moto_state()  # moto's server keeps state in this process, shared with earlier servers
    moto = LockedMotoServer().start()
    models.use_endpoint(moto.endpoint)
    http = None
    try:
        models.create_tables()
        secrets = SecretsManagerSource(os.environ["SECRETS_PREFIX"] + "payments-http/")
        secrets.put(HASHING_KEY, seeding.new_hashing_key())
        cards = DynamoCardStore()
        seeded = seeding.seed(cards, secrets, secrets.hashing_key(), datetime.now(UTC))
        deps = built(
            store=cards, idempotency=DynamoIdempotencyStore(), secrets=secrets, payments=DynamoPaymentStore()
        )
        deps_module.use(deps)
        config = Config(
            chalice_stage="local",
            config_from_disk=json.loads((PROJECT / ".chalice" / "config.json").read_text()),
        )
        http = create_server(app_module.app, config, "127.0.0.1", 0)
        threading.Thread(target=http.server.serve_forever, daemon=True).start()
        yield Stack(f"http://127.0.0.1:{http.server.server_address[1]}", seeded, deps)
    finally:
        if http is not None:
            http.server.shutdown()
            http.server.server_close()
        deps_module.use(None)
        models.use_endpoint(None)
        moto.stop()
        _forget_moto_state()


def _forget_moto_state() -> None:
    from moto.backends import get_backend

    for service in ("dynamodb", "secretsmanager"):
        for account in get_backend(service).values():
            account.reset()


def terminal(stack: Stack, body: dict[str, Any], key: str, start: threading.Barrier) -> requests.Response:
    """A counter terminal: retries a 503 with the same Idempotency-Key, as the contract says.
    (It waits less than Retry-After so the test stays short.)"""
    session = requests.Session()
    headers = {**stack.auth("pharmacy"), "Idempotency-Key": key}
    start.wait()
    for _ in range(MAX_TRIES):
        r = session.post(f"{stack.url}/v1/payments", json=body, headers=headers, timeout=30)
        if r.status_code != 503:
            return r
        assert r.headers["Retry-After"]
        time.sleep(random.uniform(0.01, 0.1))
    return r


def run_terminals(stack: Stack, jobs: list[tuple[dict[str, Any], str]]) -> list[requests.Response]:
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def work(i: int) -> None:
        try:
            results[i] = terminal(stack, jobs[i][0], jobs[i][1], start)
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, requests.Response) for r in results), results
    return results


def test_fifty_concurrent_payments_never_overdraw_and_add_up(stack):
    person_id, card_no = stack.funded(10_000)
    body = {"card_no": card_no, "amount_fen": 300}  # 50 x 300 = 15,000 asked of 10,000
    replies = run_terminals(stack, [(body, f"fifty-{i}") for i in range(TERMINALS)])
    print("statuses:", Counter(r.status_code for r in replies))
    assert all(r.status_code == 201 for r in replies), [r.text for r in replies if r.status_code != 201]
    answers = [r.json() for r in replies]
    assert len({a["payment_id"] for a in answers}) == TERMINALS
    assert all(a["account_paid_fen"] + a["self_pay_fen"] == 300 for a in answers)
    balance = stack.deps.store.get_account(person_id).balance_fen
    assert balance >= 0
    assert sum(a["account_paid_fen"] for a in answers) == 10_000 - balance
    assert balance == 0  # self-pay allowed: the account paid all it had
    # Each answer's balance is the balance right after that payment: one exact chain down to 0.
    after = sorted((a["balance_fen"] for a in answers if a["account_paid_fen"]), reverse=True)
    assert after == [10_000 - 300 * k for k in range(1, 34)] + [0]
    stored = all_payments_of(stack.deps.payments, person_id)
    assert sorted(p.payment_id for p in stored) == sorted(a["payment_id"] for a in answers)
    assert_no_partial_state(stack.deps.store, stack.deps.payments, stack.deps.idempotency, person_id, 10_000)


def test_fifty_concurrent_all_or_nothing_payments_stop_at_the_balance(stack):
    person_id, card_no = stack.funded(10_000)
    body = {"card_no": card_no, "amount_fen": 300, "self_pay": "refused"}
    replies = run_terminals(stack, [(body, f"refused-{i}") for i in range(TERMINALS)])
    statuses = Counter(r.status_code for r in replies)
    assert statuses == {201: 33, 409: 17}, statuses  # 33 x 300 = 9,900; 100 fen left
    refusals = {r.json()["type"] for r in replies if r.status_code == 409}
    assert refusals == {"urn:sscard:problem:insufficient-balance"}
    assert stack.deps.store.get_account(person_id).balance_fen == 100
    assert_no_partial_state(stack.deps.store, stack.deps.payments, stack.deps.idempotency, person_id, 10_000)


def test_the_same_key_five_times_at_once_pays_exactly_once(stack):
    person_id, card_no = stack.funded(10_000)
    body = {"card_no": card_no, "amount_fen": 1_234}
    replies = run_terminals(stack, [(body, "the-same-key")] * 5)
    statuses = Counter(r.status_code for r in replies)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses  # 409: caught in flight
    bodies = {r.text for r in replies if r.status_code == 201}
    assert len(bodies) == 1  # every 201 is the first answer, byte for byte
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == statuses[201] - 1
    payments = all_payments_of(stack.deps.payments, person_id)
    assert len(payments) == 1 and payments[0].payment_id == json.loads(bodies.pop())["payment_id"]
    assert stack.deps.store.get_account(person_id).balance_fen == 10_000 - 1_234
    assert_no_partial_state(stack.deps.store, stack.deps.payments, stack.deps.idempotency, person_id, 10_000)

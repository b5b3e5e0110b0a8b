"""Revocation and designation over HTTP against a local stack of its own, whose institution-token
cache time is shortened (INSTITUTION_CACHE_SECONDS): a change made with the CLI is refused, or
applied, by the API once that time has passed, without waiting the default 60 s."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import PROJECT, Stack, _wait_until_ready, sscard_command

pytestmark = pytest.mark.e2e
CACHE_SECONDS = 1.0
UNKNOWN_PAYMENT = "/v1/payments/" + "0" * 32


@pytest.fixture(scope="module")
def short_cache_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("sscard-revocation")
    log_path = state / "serve.log"
    env = {**os.environ, "SSCARD_LOCAL_DIR": str(state), "INSTITUTION_CACHE_SECONDS": str(CACHE_SECONDS)}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*sscard_command(), "serve", "--api-port", "0", "--moto-port", "0", "--state-dir", str(state)],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            seed = _wait_until_ready(proc, state / "seed.json", log_path)
            yield Stack(seed["api_url"], seed["aws_endpoint"], state, seed)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def probe(stack: Stack, token: str) -> int:
    """401 if the token is refused; 404 (no such payment of yours) if it is accepted."""
    r = requests.get(stack.url(UNKNOWN_PAYMENT), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return r.status_code


def cli(stack: Stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sscard_command(), *args],
        cwd=PROJECT,
        env=stack.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def past_the_cache_time() -> None:
    time.sleep(CACHE_SECONDS + 0.5)


def test_a_revoked_token_is_refused_within_the_cache_time(short_cache_stack):
    stack = short_cache_stack
    pharmacy, hospital = stack.seed["tokens"]["pharmacy"], stack.seed["tokens"]["hospital"]
    assert probe(stack, pharmacy) == 404  # accepted, and now in the API's cache

    done = cli(stack, "institutions", "revoke", "PHARMACY", "--token", "-", stdin=pharmacy + "\n")
    assert done.returncode == 0, done.stderr
    assert "revoked" in done.stdout and pharmacy not in done.stdout + done.stderr

    past_the_cache_time()
    assert probe(stack, pharmacy) == 401
    assert probe(stack, hospital) == 404  # another institution's token is untouched
    again = cli(stack, "institutions", "revoke", "PHARMACY", "--token", "-", stdin=pharmacy)
    assert again.returncode == 0 and "already" in again.stdout


def test_revoking_all_of_an_institutions_tokens_refuses_each_of_them(short_cache_stack):
    stack = short_cache_stack
    issued = cli(stack, "institutions", "token", "HOSPITAL")
    assert issued.returncode == 0, issued.stderr
    second = issued.stdout.strip().splitlines()[-1]
    first = stack.seed["tokens"]["hospital"]
    assert probe(stack, first) == 404 and probe(stack, second) == 404

    done = cli(stack, "institutions", "revoke", "HOSPITAL", "--all")
    assert done.returncode == 0, done.stderr
    assert "Revoked 2 token(s)" in done.stdout

    past_the_cache_time()
    assert probe(stack, first) == 401 and probe(stack, second) == 401
    listed = cli(stack, "institutions", "tokens", "HOSPITAL")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.count("+00:00") == 2]  # issued, revoked
    assert len(rows) == 2


def test_a_designation_made_with_the_cli_reaches_the_api_within_the_cache_time(short_cache_stack):
    stack = short_cache_stack
    carol = stack.seed["holders"]["carol"]
    headers = {**stack.auth("pharmacy_not_designated"), "Content-Type": "application/json"}
    body = {"card_no": carol["old_card_no"], "amount_fen": 100}

    def pay() -> str:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        r = requests.post(stack.url("/v1/payments"), json=body, headers={**headers, **key}, timeout=10)
        return str(r.json()["type"])

    assert pay().endswith("institution-not-designated")
    done = cli(stack, "institutions", "designate", "PHARMACY-NOT-DESIGNATED")
    assert done.returncode == 0, done.stderr
    past_the_cache_time()
    # Designated now: the payment gets past designation to the next rule (Carol's account is
    # held until her new card is activated), so nothing is paid.
    assert pay().endswith("account-held")

    undone = cli(stack, "institutions", "undesignate", "PHARMACY-NOT-DESIGNATED")
    assert undone.returncode == 0, undone.stderr
    past_the_cache_time()
    assert pay().endswith("institution-not-designated")


def test_a_service_center_cannot_be_designated(short_cache_stack):
    done = cli(short_cache_stack, "institutions", "designate", "SERVICE-CENTER")
    assert done.returncode == 1 and "Only pharmacies and hospitals" in done.stderr

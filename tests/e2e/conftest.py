"""The real local stack (`sscard serve`) in a subprocess on free ports, shared by the e2e tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sscard_ops import devjwt

PROJECT = Path(__file__).resolve().parents[2]
ISSUER = "https://auth.sscard.local/"  # .chalice/config.json, stage local
AUDIENCE = "sscard-mobile"
START_TIMEOUT = 120  # a loaded 2-core CI machine has taken over 45 s to seed


def sscard_command() -> list[str]:
    script = Path(sys.executable).with_name("sscard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sscard_ops.cli"]


@dataclass
class Stack:
    api: str
    aws_endpoint: str
    state_dir: Path
    seed: dict[str, Any]

    def url(self, path: str) -> str:
        return self.api + path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seed['tokens'][role]}"}

    def jwt(self, person_id: str, **overrides: Any) -> str:
        pem = (self.state_dir / "dev-issuer.pem").read_text()
        return devjwt.mint(pem, person_id, issuer=ISSUER, audience=AUDIENCE, **overrides)

    def holder_auth(self, person_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt(person_id)}"}

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "SSCARD_API_URL": self.api,
            "SSCARD_LOCAL_DIR": str(self.state_dir),
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sscard_command(), *args],
            cwd=PROJECT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def provision(self, count: int) -> list[dict[str, str]]:
        """Fresh holders, each with a new (issued, unactivated) card of the seeded bank."""
        done = subprocess.run(
            [sys.executable, "-m", "tests.e2e.provision", str(count)],
            cwd=PROJECT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        cards: list[dict[str, str]] = json.loads(done.stdout)
        return cards

    def my_card(self, person_id: str) -> dict[str, Any]:
        r = requests.get(self.url("/v1/me/card"), headers=self.holder_auth(person_id), timeout=10)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("sscard-local")
    log_path = state / "serve.log"
    seed_file = state / "seed.json"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*sscard_command(), "serve", "--api-port", "0", "--moto-port", "0", "--state-dir", str(state)],
            cwd=PROJECT,
            env={**os.environ, "SSCARD_LOCAL_DIR": str(state)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            seed = _wait_until_ready(proc, seed_file, log_path)
            yield Stack(seed["api_url"], seed["aws_endpoint"], state, seed)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_ready(proc: subprocess.Popen[bytes], seed_file: Path, log_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sscard serve exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        if seed_file.exists():
            seed: dict[str, Any] = json.loads(seed_file.read_text())
            try:
                if requests.get(seed["api_url"] + "/health", timeout=2).status_code == 200:
                    return seed
            except requests.ConnectionError:
                pass
        time.sleep(0.1)
    pytest.fail(f"sscard serve was not ready in {START_TIMEOUT}s:\n{log_path.read_text()[-4000:]}")

"""The stack, synthesized once per test session, offline, with fake credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import ENVIRONMENT_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
STAGE = "prod"
SYNTH_TIMEOUT_SECONDS = 600  # the first run downloads the Lambda wheels from PyPI


@dataclass
class Synthesized:
    outdir: Path
    template_path: Path
    template: dict[str, Any]
    seconds: float

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}


def synth_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES and not k.startswith("AWS_")}
    env.update(
        {
            # Fake credentials and no metadata service: nothing may reach AWS.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "cn-north-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20",
            "CDK_DISABLE_VERSION_CHECK": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk") / "cdk.out"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "synth.py"), "--stage", STAGE, "--outdir", str(outdir)],
        cwd=tmp_path_factory.mktemp("cwd"),
        env=synth_environment(),
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"synth failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    template_path = outdir / f"{STAGE}.template.json"
    template = json.loads(template_path.read_text(encoding="utf-8"))
    return Synthesized(outdir, template_path, template, seconds)

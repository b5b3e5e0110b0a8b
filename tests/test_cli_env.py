"""`eval "$(sscard env)"` loads the running stack's credentials and endpoints into a shell."""

from __future__ import annotations

import json
import subprocess

from typer.testing import CliRunner

from sscard_ops.cli import app

SEED = {
    "api_url": "http://127.0.0.1:8123",
    "aws_endpoint": "http://127.0.0.1:5123",
    "env": {"API": "http://127.0.0.1:8123", "SC_TOKEN": "sst_a-b_c", "ALICE_SSN": "11010519900307123X"},
}


def test_env_prints_exports_a_shell_can_eval(tmp_path, monkeypatch):
    (tmp_path / "seed.json").write_text(json.dumps(SEED))
    monkeypatch.setenv("SSCARD_LOCAL_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    shell = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$1"; echo "$API|$SC_TOKEN|$ALICE_SSN|$AWS_ENDPOINT_URL|$SSCARD_API_URL"',
            "_",
            result.stdout,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert shell.stdout.strip() == (
        "http://127.0.0.1:8123|sst_a-b_c|11010519900307123X|http://127.0.0.1:5123|http://127.0.0.1:8123"
    )


def test_env_without_a_running_stack_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SSCARD_LOCAL_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 1
    assert "make run" in result.output and "export" not in result.output

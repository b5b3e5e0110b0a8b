"""`sscard contributions import` validation and queueing, without a running stack."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from chalicelib.domain.errors import StorageBusy
from sscard_ops import cli_contributions
from sscard_ops.cli import app
from sscard_ops.seed import make_ssn
from tests.conftest import NOW
from tests.fakes import FakeContributionQueue

SSN = make_ssn("11010519900307123")
HEADER = "contribution_id,ssn,period,insurance,payer,employer_id,amount_fen,paid_at\n"


def row(cid, period="2026-01", payer="employer", employer="EMP-1", amount="8000"):
    return f"{cid},{SSN},{period},medical,{payer},{employer},{amount},2026-01-15T10:00:00+08:00\n"


def test_valid_rows_are_queued_in_chunks_and_the_others_listed(tmp_path):
    rows = [row(f"c-{i}") for i in range(23)]
    rows += [row("c-bad", period="2026-13"), row("c-3"), row("c-emp", payer="employee", employer="")]
    rows.append(row("c-amount", amount="12.5"))
    path = tmp_path / "run.csv"
    path.write_text(HEADER + "".join(rows))
    queue = FakeContributionQueue()
    summary = cli_contributions.import_file(path, queue, "OPS", NOW)
    assert summary.rows == 27 and summary.queued == 24
    assert [cid for _, cid, _ in summary.invalid] == ["c-bad", "c-amount"]
    assert summary.repeated == [(26, "c-3")]  # line numbers count the header
    sent = {m.contribution_id: json.loads(m.body) for m in queue.sent}
    assert sent["c-0"]["amount_fen"] == 8000 and sent["c-0"]["employer_id"] == "EMP-1"
    assert "employer_id" not in sent["c-emp"]
    assert {m.source for m in queue.sent} == {"OPS"}


def test_rows_the_queue_refused_are_counted_for_a_rerun(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text(HEADER + row("c-1"))
    queue = FakeContributionQueue()
    queue.fail = StorageBusy("down")
    summary = cli_contributions.import_file(path, queue, "OPS", NOW)
    assert (summary.queued, summary.not_queued, summary.ok) == (0, 1, False)


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("id,amount\n1,2\n")
    result = CliRunner().invoke(app, ["contributions", "import", str(path)])
    assert result.exit_code == 2 and "amount_fen" in result.output
    assert "AWS_ENDPOINT_URL" not in os.environ  # refused before connecting to any store


def test_yuan_formatting():
    assert cli_contributions.yuan(123_456_789) == "1,234,567.89"
    assert cli_contributions.yuan(5) == "0.05"
    assert cli_contributions.yuan(-150) == "-1.50"


def test_the_commands_are_mounted():
    runner = CliRunner()
    assert runner.invoke(app, ["funds", "--help"]).exit_code == 0
    assert "import" in runner.invoke(app, ["contributions", "--help"]).output

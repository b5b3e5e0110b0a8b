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


def test_funds_shows_each_books_income_outflows_and_balance_after_a_settlement(monkeypatch):
    from datetime import datetime

    from moto import mock_aws

    from chalicelib import bootstrap as deps_module
    from chalicelib.domain.contributions import InsuranceType, Payer
    from chalicelib.domain.periods import CHINA, Period
    from chalicelib.services.contribution_ports import Posting
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables, use_endpoint
    from chalicelib.storage.payments import DynamoPaymentStore
    from sscard_ops import cli_common
    from tests.client import ApiClient
    from tests.fakes import FakeSecrets
    from tests.payment_helpers import funded_holder
    from tests.world import World

    with mock_aws():
        use_endpoint(None)
        create_tables()
        world = World(
            DynamoCardStore(), DynamoIdempotencyStore(), FakeSecrets(), now=NOW, payments=DynamoPaymentStore()
        )
        store = DynamoContributionStore()
        person_id, card_no = funded_holder(world.store, world.secrets.hashing_key(), NOW, 0)
        for back in range(1, 4):  # medical in force: the three months before the bill's
            period = Period.of(NOW.date()).shift(-back)
            paid_at = datetime(period.year, period.month, 5, tzinfo=CHINA)
            store.post(
                Posting(
                    f"c-{back}",
                    person_id,
                    InsuranceType.MEDICAL,
                    period,
                    Payer.EMPLOYEE,
                    None,
                    100_000,
                    100_000,
                    paid_at,
                    NOW,
                )
            )
        deps_module.use(world.deps())
        try:
            with ApiClient() as api:
                # 3,000 yuan outpatient, 2,800 in scope: the pooled fund pays half of 1,000 yuan.
                r = api.post(
                    "/v1/payments",
                    {"card_no": card_no, "amount_fen": 300_000, "in_scope_fen": 280_000},
                    headers={**world.auth("hospital"), "Idempotency-Key": "funds-1"},
                )
        finally:
            deps_module.use(None)
        assert r.status == 201 and r.json["fund_paid_fen"] == 50_000, r
        monkeypatch.setattr(
            "sscard_ops.cli.connect", lambda: cli_common.Ops("mock", world.store, world.secrets, {})
        )
        monkeypatch.setattr(cli_common.console, "width", 200)
        result = CliRunner().invoke(app, ["funds"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "income (yuan)" in line)
    assert [c.strip() for c in header.split("┃")[1:5]] == [
        "book",
        "income (yuan)",
        "outflows (yuan)",
        "balance (yuan)",
    ]
    [medical] = [line.split("│")[1:-1] for line in lines if "│ medical " in line]
    # income 3,000 yuan in; the fund's 500 yuan out; 2,500 yuan left.
    assert [c.strip() for c in medical] == [
        "medical",
        "3,000.00",
        "500.00",
        "2,500.00",
        "250000",
        "3",
        "3,000.00",
    ]
    [pension] = [line.split("│")[1:-1] for line in lines if "│ pension " in line]
    assert [c.strip() for c in pension][1:5] == ["0.00", "0.00", "0.00", "0"]

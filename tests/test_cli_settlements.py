"""`sscard settlements policy`: the policy in force as a table, from SETTLEMENT_POLICY."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from chalicelib.domain.settlement import PolicyEntry, Unit
from sscard_ops import cli_settlements

runner = CliRunner()
# Mounted as the lead mounts it on `sscard`.
sscard = typer.Typer()
sscard.add_typer(cli_settlements.app, name="settlements")


def line_of(output: str, setting: str) -> str:
    return next(line for line in output.splitlines() if f" {setting} " in line)


def test_the_default_policy_is_printed_in_yuan_and_percent(monkeypatch):
    monkeypatch.delenv("SETTLEMENT_POLICY", raising=False)
    result = runner.invoke(sscard, ["settlements", "policy"])
    assert result.exit_code == 0, result.output
    assert "the defaults" in result.output
    assert "1,800.00 yuan" in line_of(result.output, "outpatient_deductible_fen")
    assert "650.00 yuan" in line_of(result.output, "inpatient_later_stay_deductible_fen")
    assert "85 %" in line_of(result.output, "inpatient_fund_rate_bp")
    assert "300,000.00 yuan" in line_of(result.output, "annual_fund_cap_fen")
    assert "3 months" in line_of(result.output, "in_force_grace_months")
    assert "*" not in result.output


def test_an_override_from_the_setting_is_marked(monkeypatch):
    monkeypatch.setenv("SETTLEMENT_POLICY", '{"outpatient_fund_rate_bp": 5550, "in_force_grace_months": 1}')
    result = runner.invoke(sscard, ["settlements", "policy"])
    assert result.exit_code == 0, result.output
    assert "55.50 %" in line_of(result.output, "outpatient_fund_rate_bp *")
    assert "1 month " in line_of(result.output, "in_force_grace_months *")
    assert "set by SETTLEMENT_POLICY" in result.output


def test_a_bad_policy_exits_1_with_the_reason(monkeypatch):
    monkeypatch.setenv("SETTLEMENT_POLICY", '{"outpatient_rate": 5000}')
    result = runner.invoke(sscard, ["settlements", "policy"])
    assert result.exit_code == 1
    assert "unknown settlement policy keys: outpatient_rate" in result.output


def test_percent_keeps_fractions():
    assert cli_settlements.shown(PolicyEntry("r", 8_525, Unit.BASIS_POINTS, "")) == "85.25 %"
    assert cli_settlements.shown(PolicyEntry("r", 0, Unit.BASIS_POINTS, "")) == "0 %"
    assert cli_settlements.shown(PolicyEntry("f", 5, Unit.FEN, "")) == "0.05 yuan"

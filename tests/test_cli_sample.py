"""The walk-through's `sscard contributions import` names a file that ships, whose rows the
seeded holders may all make."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.domain.contribution_policy import ContributionPolicy
from chalicelib.domain.contributions import parse_contribution
from chalicelib.domain.eligibility import check_eligible
from sscard_ops import cli_contributions
from sscard_ops.seed import HOLDERS, make_ssn
from tests.conftest import NOW
from tests.fakes import FakeContributionQueue

ROOT = Path(__file__).resolve().parents[1]


def imported_files() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"sscard contributions import (\S+)", readme)


def test_the_readme_imports_a_file_that_ships():
    files = imported_files()
    assert files, "the walk-through imports a file"
    for name in files:
        assert (ROOT / name).is_file(), f"README imports {name}, which does not ship"


def test_every_row_of_the_sample_queues_and_is_eligible_for_its_seeded_holder():
    participation = {make_ssn(seq): p for _, _, seq, p, _ in HOLDERS}
    for name in imported_files():
        path = ROOT / name
        cli_contributions.check_columns(path)
        queue = FakeContributionQueue()
        summary = cli_contributions.import_file(path, queue, "OPS", NOW)
        assert summary.ok and summary.queued == summary.rows > 0
        for _, row in cli_contributions.read_rows(path):
            contribution = parse_contribution(cli_contributions.row_message(row))
            ssn = contribution.ssn
            assert ssn.value in participation, f"{contribution.contribution_id}: not a seeded holder"
            check_eligible(
                participation[ssn.value], ssn.birth_date, ssn.sex, contribution, ContributionPolicy()
            )

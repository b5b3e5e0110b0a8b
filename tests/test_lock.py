"""The lock files agree: requirements.txt is inside requirements.lock, pyproject's pins are the
lock's, and every runtime dependency reaches the Lambda. `make lock` writes both files."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sscard_ops import locks

ROOT = Path(__file__).resolve().parent.parent


def _all_declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [*project["dependencies"], *extras["dev"], *extras["infra"]]


def test_every_locked_line_is_an_exact_pin():
    assert locks.pins(locks.LOCK.read_text())  # raises on a line that is not name==version


def test_requirements_txt_pins_only_what_the_lock_pins():
    locked = locks.pins(locks.LOCK.read_text())
    packaged = locks.pins(locks.LAMBDA_REQUIREMENTS.read_text())
    assert {k: v for k, v in packaged.items() if locked.get(k) != v} == {}


def test_every_runtime_dependency_but_chalice_is_in_requirements_txt_and_chalice_is_not():
    packaged = {name for name, _ in locks.pins(locks.LAMBDA_REQUIREMENTS.read_text())}
    runtime = {locks.requirement_name(r) for r in locks.runtime_requirements()}
    assert runtime <= packaged
    assert "chalice" not in packaged


def test_every_exact_pin_in_pyproject_is_the_locked_version():
    locked = {name: version for (name, _), version in locks.pins(locks.LOCK.read_text()).items()}
    declared = {}
    for requirement in _all_declared():
        head = requirement.split(";")[0]
        if "==" in head:
            declared[locks.requirement_name(head)] = head.split("==", 1)[1].strip()
    assert {n: v for n, v in declared.items() if locked.get(n) != v} == {}


def test_everything_pyproject_declares_is_locked():
    locked = {name for name, _ in locks.pins(locks.LOCK.read_text())}
    assert {locks.requirement_name(r) for r in _all_declared()} - locked == set()

"""Project hygiene that a deploy depends on: layers, packaged requirements, settings."""

from __future__ import annotations

import ast
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_domain_is_pure_standard_library():
    for path in (ROOT / "chalicelib/domain").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("chalicelib.domain"), (path.name, name)


def test_services_do_not_import_aws_or_the_web_framework():
    banned = {"boto3", "botocore", "pynamodb", "chalice"}
    for path in (ROOT / "chalicelib/services").glob("*.py"):
        for name in imports_of(path):
            assert name.split(".")[0] not in banned, (path.name, name)
            assert not name.startswith(("chalicelib.api", "chalicelib.storage")), (path.name, name)


def test_only_storage_imports_pynamodb():
    for path in (ROOT / "chalicelib").rglob("*.py"):
        if "storage" in path.parts:
            continue
        assert not any(n.startswith("pynamodb") for n in imports_of(path)), path


def _requirement_names(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name = line.split("==")[0].split("[")[0].lower()
            out[name] = line
    return out


def test_requirements_txt_is_the_runtime_dependencies_less_chalice():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    declared.pop("chalice")  # Chalice packages its own runtime; it is not a Lambda dependency
    packaged = _requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert declared.keys() <= packaged.keys()  # with what they pull in; versions: tests/test_lock.py


def test_every_stage_sets_every_setting_the_code_reads():
    from chalicelib.settings import ENVIRONMENT_VARIABLES

    config = json.loads((ROOT / ".chalice/config.json").read_text())
    for stage, body in config["stages"].items():
        assert set(body["environment_variables"]) == set(ENVIRONMENT_VARIABLES), stage


def test_the_openapi_document_covers_every_route():
    import app
    from chalicelib.api.openapi import document

    paths = document()["paths"]
    for route, methods in app.app.routes.items():
        for method in methods:
            assert method.lower() in paths.get(route, {}), (method, route)
    assert document()["openapi"].startswith("3.1")

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


def test_the_openapi_document_declares_every_path_and_query_parameter_with_its_format():
    import app  # noqa: F401
    from chalicelib.api.openapi import document
    from chalicelib.api.operations import OPERATIONS

    paths = document()["paths"]
    for op in OPERATIONS:
        declared = {(p["in"], p["name"]): p for p in paths[op.path][op.method.lower()].get("parameters", [])}
        for name in op.path_params:
            assert declared[("path", name)]["schema"]["pattern"].isascii(), (op.path, name)
        for name in op.query.model_fields if op.query else ():
            assert ("query", name) in declared, (op.path, name)
    limit = {p["name"]: p for p in paths["/v1/me/payments"]["get"]["parameters"]}["limit"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}


def test_the_problem_types_listed_are_derived_from_the_error_classes():
    import app  # noqa: F401
    from chalicelib.api.openapi import document
    from chalicelib.api.problems import problem_types

    described = document()["info"]["description"]
    for slug in (
        "unauthenticated",
        "forbidden",
        "malformed-json",
        "invalid-cursor",
        "idempotency-key-reused",
    ):
        assert slug in problem_types() and f"urn:sscard:problem:{slug}" in described

"""infra/'s definitions without a full synth: tables from any model shape, access, scans."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from chalice.app import SQSEventConfig
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import ALL_MODELS, table_name
from infra import access, queues
from infra import tables as table_specs
from tests.infra.test_template import expected_table, synthesized_table

ROOT = Path(__file__).resolve().parents[2]


class ByOwner(GlobalSecondaryIndex["ThingModel"]):
    class Meta:
        index_name = "by-owner"
        projection = IncludeProjection(["label"])

    owner = UnicodeAttribute(hash_key=True)
    made_at = NumberAttribute(range_key=True)


class ByLabel(LocalSecondaryIndex["ThingModel"]):
    class Meta:
        index_name = "by-label"
        projection = AllProjection()

    thing_id = UnicodeAttribute(hash_key=True)
    label = UnicodeAttribute(range_key=True)


class ThingModel(Model):
    """A model shape the service's tables do not have yet: indexes of both kinds, a TTL."""

    class Meta:
        table_name = table_name("things")
        region = "cn-north-1"

    thing_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    owner = UnicodeAttribute()
    made_at = NumberAttribute()
    label = UnicodeAttribute()
    gone_at = TTLAttribute(null=True)
    by_owner = ByOwner()
    by_label = ByLabel()


def test_a_table_definition_reads_keys_indexes_and_ttl_from_the_model() -> None:
    spec = table_specs.table_of(ThingModel)
    assert spec.logical == "things" and spec.construct_id == "ThingsTable"
    assert spec.partition == table_specs.Key("thing_id", "S")
    assert spec.sort == table_specs.Key("version", "N")
    (gsi,) = spec.global_indexes
    assert gsi == table_specs.Index(
        "by-owner", table_specs.Key("owner", "S"), table_specs.Key("made_at", "N"), "INCLUDE", ("label",)
    )
    (lsi,) = spec.local_indexes
    assert lsi.name == "by-label" and lsi.sort == table_specs.Key("label", "S") and lsi.projection == "ALL"
    assert spec.ttl_attribute == "gone_at"


def test_the_cdk_table_of_a_model_with_indexes_equals_the_model() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Template

    from infra.stack import build_table

    stack = cdk.Stack(cdk.App(), "TableOnly")
    build_table(stack, table_specs.table_of(ThingModel), production=False, key=kms.Key(stack, "Key"))
    (table,) = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table").values()
    assert synthesized_table(table["Properties"]) == expected_table(ThingModel)
    assert table["DeletionPolicy"] == "Delete" and not table["Properties"].get("DeletionProtectionEnabled")


def test_every_model_becomes_one_table() -> None:
    specs = table_specs.all_tables()
    assert [s.model for s in specs] == list(ALL_MODELS)
    assert len({s.construct_id for s in specs}) == len(specs)


def test_every_queue_worker_declares_its_tables() -> None:
    from app import app

    handlers = [s.name for s in app.event_sources if isinstance(s, SQSEventConfig)]
    assert access.undeclared_workers(handlers) == [], (
        "Declare the DynamoDB actions of each queue worker in infra/access.py FUNCTION_TABLE_ACTIONS "
        "(until then the stack cannot be synthesized)"
    )
    logical = [s.logical for s in table_specs.all_tables()]
    for function in access.FUNCTION_TABLE_ACTIONS:
        assert access.table_actions(function, logical)  # refuses unknown tables and actions


def test_an_undeclared_function_gets_no_table_but_an_error() -> None:
    logical = [s.logical for s in table_specs.all_tables()]
    with pytest.raises(ValueError, match="FUNCTION_TABLE_ACTIONS"):
        access.worker_access("post_things", "things", logical)


def test_queue_numbers_hold_together() -> None:
    assert queues.VISIBILITY_TIMEOUT_SECONDS >= 6 * queues.WORKER_TIMEOUT_SECONDS
    assert queues.BATCH_SIZE <= 10 or queues.BATCH_WINDOW_SECONDS >= 1
    # A batch at a pessimistic 100 ms a posting still ends well inside the timeout.
    assert queues.BATCH_SIZE * 0.1 < queues.WORKER_TIMEOUT_SECONDS / 3
    assert queues.Worker("post_things", "q.fifo").dead_letter_queue == "q-dlq.fifo"
    assert queues.Worker("post_things", "q").function_id == "PostThings"


def scan_sites() -> list[str]:
    """Every `<Name>.scan(...)` call in chalicelib, as "module:Class.function"."""
    sites = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, scope: list[str], module: str = module) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    visit(child, [*scope, child.name])
                    continue
                if (
                    isinstance(child, ast.Call)
                    and isinstance(child.func, ast.Attribute)
                    and child.func.attr == "scan"
                    and isinstance(child.func.value, ast.Name)
                ):
                    sites.append(f"{module}:{'.'.join(scope)}")
                visit(child, scope)

        visit(tree, [])
    return sites


def test_no_function_path_scans_a_table() -> None:
    unexpected = sorted(set(scan_sites()) - access.OPERATOR_ONLY_SCANS)
    assert not unexpected, (
        f"{unexpected} Scan a table, which no function's role allows in AWS (moto does not check). "
        "Read by key or index, or if only operators run it, add it to infra/access.py OPERATOR_ONLY_SCANS"
    )

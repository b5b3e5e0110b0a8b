"""Assertions on the synthesized CloudFormation template (one synth per session, see conftest).

The expected values come from the code the functions run (the PynamoDB models, the
settings, the Chalice app's handlers, problems.py), never from infra/, so the
template cannot drift from them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from chalice.app import SQSEventConfig
from chalice.utils import to_cfn_resource_name
from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.api.problems import gateway_problem
from chalicelib.settings import ENVIRONMENT_VARIABLES, Settings
from chalicelib.storage.models import ALL_MODELS, table_name
from infra import access, queues, stage
from tests.infra.conftest import STAGE, Synthesized

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
DATA_SERVICES = ("dynamodb:", "sqs:", "secretsmanager:", "s3:", "kms:")


# --- helpers -----------------------------------------------------------------------


def sqs_handlers() -> list[SQSEventConfig]:
    from app import app

    return [s for s in app.event_sources if isinstance(s, SQSEventConfig)]


def stage_env() -> dict[str, str]:
    return stage.stage_environment(STAGE)


def getatt(value: Any) -> str | None:
    """The logical id in {"Fn::GetAtt": [id, attr]}, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


def ref(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def logical_ids_in(value: Any) -> set[str]:
    """Every logical id a value refers to (Ref, GetAtt, inside Joins and Subs)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(str(value["Ref"]))
        if "Fn::GetAtt" in value:
            found.add(str(value["Fn::GetAtt"][0]))
        for v in value.values():
            found |= logical_ids_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= logical_ids_in(v)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def functions(s: Synthesized) -> dict[str, dict[str, Any]]:
    return s.of_type("AWS::Serverless::Function")


def role_statements(s: Synthesized, role_id: str) -> list[dict[str, Any]]:
    role = s.resources[role_id]
    assert role["Type"] == "AWS::IAM::Role"
    statements = []
    for policy in role["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in s.of_type("AWS::IAM::Policy").values():
        if role_id in logical_ids_in(policy["Properties"].get("Roles", [])):
            statements += policy["PolicyDocument"]["Statement"]
    return statements


def function_grants(s: Synthesized, function_id: str) -> dict[str, set[str]]:
    """action -> the logical ids of the resources it is allowed on."""
    role_id = getatt(functions(s)[function_id]["Properties"]["Role"])
    assert role_id, f"{function_id} has no role of this stack"
    grants: dict[str, set[str]] = {}
    for statement in role_statements(s, role_id):
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(logical_ids_in(statement["Resource"]))
    return grants


def table_ids_by_logical_name(s: Synthesized) -> dict[str, str]:
    prefix = stage_env()["TABLE_PREFIX"]
    out = {}
    for rid, res in s.of_type("AWS::DynamoDB::Table").items():
        name = res["Properties"]["TableName"]
        assert name.startswith(prefix), f"{name} is not named with the stage's TABLE_PREFIX {prefix}"
        out[name[len(prefix) :]] = rid
    return out


def worker_queue_ids(s: Synthesized) -> dict[str, str]:
    """SQS handler -> the logical id of the queue its event source reads."""
    out = {}
    for handler in sqs_handlers():
        fn = functions(s)[to_cfn_resource_name(handler.name)]
        events = [e for e in fn["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]
        assert len(events) == 1, f"{handler.name} has {len(events)} SQS event sources"
        queue_id = getatt(events[0]["Properties"]["Queue"])
        assert queue_id in s.of_type("AWS::SQS::Queue"), (
            f"{handler.name} reads a queue the stack does not make"
        )
        out[handler.name] = queue_id
    return out


# --- the expected tables, read from the models --------------------------------------


def key_schema(attributes: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, str]]:
    keys, types = [], {}
    for kind, wanted in (("HASH", "is_hash_key"), ("RANGE", "is_range_key")):
        for attr in attributes.values():
            if getattr(attr, wanted):
                keys.append({"AttributeName": attr.attr_name, "KeyType": kind})
                types[attr.attr_name] = attr.attr_type
    return keys, types


def projection(index: Any) -> dict[str, Any]:
    p = index.Meta.projection
    out: dict[str, Any] = {"ProjectionType": p.projection_type}
    if p.non_key_attributes:
        out["NonKeyAttributes"] = sorted(p.non_key_attributes)
    return out


def expected_table(model: type[Model]) -> dict[str, Any]:
    keys, types = key_schema(model.get_attributes())
    gsis, lsis = [], []
    for index in model._indexes.values():
        index_keys, index_types = key_schema(index.Meta.attributes)
        types.update(index_types)
        entry = {"IndexName": index.Meta.index_name, "KeySchema": index_keys, "Projection": projection(index)}
        if isinstance(index, GlobalSecondaryIndex):
            gsis.append(entry)
        else:
            assert isinstance(index, LocalSecondaryIndex)
            lsis.append(entry)
    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    return {
        "KeySchema": keys,
        "AttributeTypes": types,
        "GlobalSecondaryIndexes": sorted(gsis, key=lambda i: i["IndexName"]),
        "LocalSecondaryIndexes": sorted(lsis, key=lambda i: i["IndexName"]),
        "TimeToLive": ttl[0] if ttl else None,
    }


def synthesized_table(properties: dict[str, Any]) -> dict[str, Any]:
    def index(i: dict[str, Any]) -> dict[str, Any]:
        p = dict(i["Projection"])
        if "NonKeyAttributes" in p:
            p["NonKeyAttributes"] = sorted(p["NonKeyAttributes"])
        return {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": p}

    ttl = properties.get("TimeToLiveSpecification")
    return {
        "KeySchema": properties["KeySchema"],
        "AttributeTypes": {
            d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]
        },
        "GlobalSecondaryIndexes": sorted(
            (index(i) for i in properties.get("GlobalSecondaryIndexes", [])), key=lambda i: i["IndexName"]
        ),
        "LocalSecondaryIndexes": sorted(
            (index(i) for i in properties.get("LocalSecondaryIndexes", [])), key=lambda i: i["IndexName"]
        ),
        "TimeToLive": ttl["AttributeName"] if ttl and ttl.get("Enabled") else None,
    }


# --- synthesis and lint ---------------------------------------------------------------


def test_the_stack_synthesizes_offline(synthesized: Synthesized) -> None:
    assert synthesized.template["Transform"] == "AWS::Serverless-2016-10-31"
    print(f"synthesized in {synthesized.seconds:.1f} s")


@pytest.mark.parametrize("region", ["cn-north-1", "us-east-1"])
def test_cfn_lint_accepts_the_template(synthesized: Synthesized, region: str) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--regions", region, "--", str(synthesized.template_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- tables ----------------------------------------------------------------------------


def test_every_model_has_its_table_with_the_same_keys_indexes_and_ttl(synthesized: Synthesized) -> None:
    tables = table_ids_by_logical_name(synthesized)
    prefix = table_name("")
    expected_names = {m.Meta.table_name.removeprefix(prefix): m for m in ALL_MODELS}
    assert set(tables) == set(expected_names), "the stack's tables are not the models' tables"
    for logical, model in expected_names.items():
        properties = synthesized.resources[tables[logical]]["Properties"]
        assert synthesized_table(properties) == expected_table(model), f"{model.__name__} != table {logical}"


def test_tables_are_on_demand_recoverable_and_protected_in_production(synthesized: Synthesized) -> None:
    assert stage.is_production(STAGE)
    for rid, table in synthesized.of_type("AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", rid
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, rid
        assert properties["DeletionProtectionEnabled"] is True, rid
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain", rid


def test_the_idempotency_records_expire_by_ttl(synthesized: Synthesized) -> None:
    from chalicelib.storage.models import IdempotencyModel

    tables = table_ids_by_logical_name(synthesized)
    logical = IdempotencyModel.Meta.table_name.removeprefix(table_name(""))
    ttl = synthesized.resources[tables[logical]]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": IdempotencyModel.expires_at.attr_name, "Enabled": True}


# --- queues -----------------------------------------------------------------------------


def test_the_app_has_queue_workers_for_these_tests_to_check() -> None:
    assert sqs_handlers(), "no @app.on_sqs_message handler: the queue assertions below check nothing"


def test_each_queue_has_its_dead_letter_queue(synthesized: Synthesized) -> None:
    sqs = synthesized.of_type("AWS::SQS::Queue")
    worker_queues = worker_queue_ids(synthesized)
    dead_letter_queues = set()
    for handler, queue_id in worker_queues.items():
        redrive = sqs[queue_id]["Properties"]["RedrivePolicy"]
        dlq_id = getatt(redrive["deadLetterTargetArn"])
        assert dlq_id in sqs and dlq_id != queue_id, handler
        assert redrive["maxReceiveCount"] == queues.MAX_RECEIVE_COUNT
        assert "RedrivePolicy" not in sqs[dlq_id]["Properties"]
        assert sqs[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        visibility = sqs[queue_id]["Properties"]["VisibilityTimeout"]
        timeout = functions(synthesized)[to_cfn_resource_name(handler)]["Properties"]["Timeout"]
        assert visibility >= 6 * timeout, "SQS advises a visibility timeout of six times the function's"
        dead_letter_queues.add(dlq_id)
    assert set(sqs) == set(worker_queues.values()) | dead_letter_queues, "a queue nobody reads"


def test_sqs_event_sources_report_batch_item_failures(synthesized: Synthesized) -> None:
    handlers = {to_cfn_resource_name(h.name) for h in sqs_handlers()}
    seen = set()
    for fid, fn in functions(synthesized).items():
        for name, event in fn["Properties"].get("Events", {}).items():
            if event["Type"] != "SQS":
                continue
            seen.add(fid)
            assert name == f"{fid}SqsEventSource"
            properties = event["Properties"]
            assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"], fid
            assert properties["BatchSize"] == queues.BATCH_SIZE
            assert properties["MaximumBatchingWindowInSeconds"] == queues.BATCH_WINDOW_SECONDS
            # SQS takes a batch over 10 only with a batching window.
            assert properties["BatchSize"] <= 10 or properties["MaximumBatchingWindowInSeconds"] >= 1
            assert properties["ScalingConfig"] == {"MaximumConcurrency": queues.MAX_CONCURRENCY}
    assert seen == handlers


# --- roles --------------------------------------------------------------------------------


def all_statements(s: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for rid, res in s.resources.items():
        properties = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found += [(rid, st) for st in policy["PolicyDocument"]["Statement"]]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(rid, st) for st in properties["PolicyDocument"]["Statement"]]
        elif res["Type"] == "AWS::Serverless::Function":
            assert "Policies" not in properties, f"{rid}: SAM would make a role of its own"
    return found


def test_no_iam_statement_grants_star_actions_or_resources_on_data(synthesized: Synthesized) -> None:
    statements = all_statements(synthesized)
    assert statements
    secret_prefix = stage_env()["SECRETS_PREFIX"]
    for rid, st in statements:
        assert "NotAction" not in st and "NotResource" not in st, rid
        if st["Effect"] != "Allow":
            continue
        actions = as_list(st["Action"])
        resources = as_list(st["Resource"])
        for action in actions:
            assert action != "*" and not action.endswith(":*") and "*" not in action, f"{rid}: {action}"
        assert "*" not in resources, f"{rid}: Resource *"
        if not any(a.startswith(DATA_SERVICES) for a in actions):
            continue
        for resource in resources:
            text = json.dumps(resource)
            if any(a.startswith("secretsmanager:") for a in actions):
                assert f":secret:{secret_prefix}" in text, f"{rid}: a secret outside {secret_prefix}"
                continue
            ids = logical_ids_in(resource)
            assert len(ids) == 1, f"{rid}: {text} is not one resource of this stack"
            (target,) = ids
            assert synthesized.resources[target]["Type"] in (
                "AWS::DynamoDB::Table",
                "AWS::SQS::Queue",
                "AWS::KMS::Key",
            ), rid
            assert not isinstance(resource, str), f"{rid}: a hand-written ARN {resource}"


def test_each_function_has_its_own_role_and_only_what_it_uses(synthesized: Synthesized) -> None:
    fns = functions(synthesized)
    roles = [getatt(fn["Properties"]["Role"]) for fn in fns.values()]
    # A role of this stack each (not Chalice's placeholder ARN), and none shared.
    assert None not in roles and len(set(roles)) == len(roles), "functions share a role"
    worker_queues = worker_queue_ids(synthesized)

    api = function_grants(synthesized, access.API_FUNCTION_ID)
    assert api["sqs:SendMessage"] == set(worker_queues.values())
    assert "sqs:ReceiveMessage" not in api and "dynamodb:Scan" not in api

    for handler, queue_id in worker_queues.items():
        grants = function_grants(synthesized, to_cfn_resource_name(handler))
        assert grants["sqs:ReceiveMessage"] == {queue_id}
        assert grants["sqs:DeleteMessage"] == {queue_id}
        assert "sqs:SendMessage" not in grants
        assert "dynamodb:Scan" not in grants


def dynamodb_grants(s: Synthesized, function_id: str) -> dict[str, set[str]]:
    """DynamoDB action (without "dynamodb:") -> the logical table names it is allowed on."""
    by_id = {rid: logical for logical, rid in table_ids_by_logical_name(s).items()}
    return {
        action.removeprefix("dynamodb:"): {by_id[rid] for rid in ids}
        for action, ids in function_grants(s, function_id).items()
        if action.startswith("dynamodb:")
    }


@pytest.mark.parametrize("handler", [access.API_HANDLER, *(h.name for h in sqs_handlers())])
def test_each_role_grants_exactly_the_declared_dynamodb_actions(
    synthesized: Synthesized, handler: str
) -> None:
    """The declaration is checked against the code by test_dynamo_actions; here the role against it."""
    function_id = access.API_FUNCTION_ID if handler == access.API_HANDLER else to_cfn_resource_name(handler)
    expected: dict[str, set[str]] = {}
    for table, actions in access.FUNCTION_TABLE_ACTIONS[handler].items():
        for action in actions:
            expected.setdefault(action, set()).add(table)
    assert dynamodb_grants(synthesized, function_id) == expected


def test_index_arns_are_granted_only_to_query(synthesized: Synthesized) -> None:
    for fid in functions(synthesized):
        role_id = getatt(functions(synthesized)[fid]["Properties"]["Role"])
        assert role_id
        for statement in role_statements(synthesized, role_id):
            if statement["Effect"] == "Allow" and "/index/" in json.dumps(statement["Resource"]):
                assert as_list(statement["Action"]) == ["dynamodb:Query"], fid


# The audit trail, named from the models (the card-events, payments and postings).
AUDIT_TRAIL_MODELS = ("CardEventModel", "PaymentModel", "PaymentCancellationModel", "PostingModel")
IN_PLACE_CHANGES = ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def model_tables() -> dict[str, type[Model]]:
    """Logical table name -> its model."""
    return {m.Meta.table_name.removeprefix(table_name("")): m for m in ALL_MODELS}


def audit_tables() -> set[str]:
    return {t for t, m in model_tables().items() if m.__name__ in AUDIT_TRAIL_MODELS}


def test_no_role_may_change_or_delete_the_audit_trail(synthesized: Synthesized) -> None:
    assert audit_tables() == access.APPEND_ONLY_TABLES
    tables = table_ids_by_logical_name(synthesized)
    audit_ids = {tables[t] for t in audit_tables()}
    for fid, fn in functions(synthesized).items():
        grants = function_grants(synthesized, fid)
        for action in IN_PLACE_CHANGES:
            assert not grants.get(action, set()) & audit_ids, f"{fid} may {action} the audit trail"
        role_id = getatt(fn["Properties"]["Role"])
        assert role_id
        denied: dict[str, set[str]] = {}
        for statement in role_statements(synthesized, role_id):
            if statement["Effect"] == "Deny":
                for action in as_list(statement["Action"]):
                    denied.setdefault(action, set()).update(logical_ids_in(statement["Resource"]))
        for action in IN_PLACE_CHANGES:
            assert audit_ids <= denied.get(action, set()), f"{fid} does not deny {action} on the audit trail"


def test_a_declaration_that_changes_the_audit_trail_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = list(model_tables())
    monkeypatch.setitem(
        access.FUNCTION_TABLE_ACTIONS, access.API_HANDLER, {"payments": ("PutItem", "UpdateItem")}
    )
    with pytest.raises(ValueError, match="append-only"):
        access.api_access(tables, [])


def test_secrets_are_read_at_run_time_never_written_into_the_template(synthesized: Synthesized) -> None:
    text = json.dumps(synthesized.template)
    assert "whsec_" not in text and "BEGIN PRIVATE KEY" not in text
    for rid, secret in synthesized.of_type("AWS::SecretsManager::Secret").items():
        assert "SecretString" not in secret["Properties"], f"{rid} writes its value into the template"
        assert secret["Properties"]["Name"].startswith(stage_env()["SECRETS_PREFIX"])
    api = function_grants(synthesized, access.API_FUNCTION_ID)
    assert "secretsmanager:GetSecretValue" in api
    for fn in functions(synthesized).values():
        for name in fn["Properties"]["Environment"]["Variables"]:
            assert name in ENVIRONMENT_VARIABLES


# --- environment --------------------------------------------------------------------------


def test_functions_get_exactly_the_environment_the_settings_read(synthesized: Synthesized) -> None:
    wanted = set(ENVIRONMENT_VARIABLES)
    for fid, fn in functions(synthesized).items():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert set(variables) == wanted, (
            f"{fid}: missing {wanted - set(variables)}, extra {set(variables) - wanted}"
        )
        assert variables == stage_env(), f"{fid}'s environment is not .chalice/config.json's {STAGE} stage"


@pytest.mark.parametrize("stage_name", sorted(stage.chalice_config()["stages"]))
def test_every_chalice_stage_sets_exactly_the_settings_variables(stage_name: str) -> None:
    variables = set(stage.stage_environment(stage_name))
    wanted = set(ENVIRONMENT_VARIABLES)
    assert variables == wanted, f"{stage_name}: missing {wanted - variables}, extra {variables - wanted}"


# --- API ------------------------------------------------------------------------------------


def test_unknown_routes_and_gateway_errors_answer_problem_json(synthesized: Synthesized) -> None:
    api = synthesized.resources["RestAPI"]["Properties"]
    assert api["EndpointConfiguration"] == "REGIONAL"  # the China regions have no edge endpoints
    responses = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    unknown = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown["statusCode"] == "404"
    assert (
        unknown["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
    )
    body = json.loads(unknown["responseTemplates"]["application/json"])
    assert body["type"] == "urn:sscard:problem:not-found" and body["status"] == 404
    for response_type in (
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "THROTTLED",
        "REQUEST_TOO_LARGE",
        "RESOURCE_NOT_FOUND",
    ):
        assert response_type in responses
    for response_type, response in responses.items():
        status = int(response["statusCode"])
        expected = gateway_problem(
            403 if response_type == "MISSING_AUTHENTICATION_TOKEN" else status
        ).response()
        assert json.loads(response["responseTemplates"]["application/json"]) == json.loads(str(expected.body))
        header = response["responseParameters"]["gatewayresponse.header.Content-Type"]
        assert header == "'application/problem+json'", response_type


def test_the_api_is_throttled_and_limits_request_size(synthesized: Synthesized) -> None:
    settings = synthesized.resources["RestAPI"]["Properties"]["MethodSettings"]
    assert any(
        s["ResourcePath"] == "/*"
        and s["HttpMethod"] == "*"
        and s["ThrottlingRateLimit"] > 0
        and s["ThrottlingBurstLimit"] > 0
        for s in settings
    )
    size = web_acl_rule(synthesized, "body-size")
    limit = next(f.default for f in dataclasses.fields(Settings) if f.name == "max_body_bytes")
    statement = size["Statement"]["SizeConstraintStatement"]
    assert statement["Size"] == limit and statement["ComparisonOperator"] == "GT"
    assert statement["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert size["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 413
    (association,) = synthesized.of_type("AWS::WAFv2::WebACLAssociation").values()
    assert "${RestAPI}" in association["Properties"]["ResourceArn"]["Fn::Sub"]


# --- edge: WAF, per-caller budgets, access logs -------------------------------------------


def web_acl_rule(s: Synthesized, name: str) -> dict[str, Any]:
    (acl,) = s.of_type("AWS::WAFv2::WebACL").values()
    (rule,) = [r for r in acl["Properties"]["Rules"] if r["Name"] == name]
    return dict(rule)


def blocks_with_problem(s: Synthesized, rule: dict[str, Any], status: int) -> None:
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == status
    (acl,) = s.of_type("AWS::WAFv2::WebACL").values()
    body = acl["Properties"]["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"]
    assert json.loads(body) == json.loads(str(gateway_problem(status).response().body))


def test_waf_limits_the_rate_of_each_source_ip(synthesized: Synthesized) -> None:
    rule = web_acl_rule(synthesized, "rate-per-ip")
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP" and 0 < rate["Limit"] <= 100 * rate["EvaluationWindowSec"]
    blocks_with_problem(synthesized, rule, 429)
    headers = {h["Name"]: h["Value"] for h in rule["Action"]["Block"]["CustomResponse"]["ResponseHeaders"]}
    assert headers == {"Retry-After": "1"}


def test_waf_limits_the_rate_of_each_credential(synthesized: Synthesized) -> None:
    """One institution's runaway terminal cannot spend the budget every pharmacy shares."""
    rule = web_acl_rule(synthesized, "rate-per-credential")
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "CUSTOM_KEYS"
    assert [k["Header"]["Name"].lower() for k in rate["CustomKeys"]] == ["authorization"]
    blocks_with_problem(synthesized, rule, 429)


def test_waf_applies_the_aws_managed_common_rule_set(synthesized: Synthesized) -> None:
    rule = web_acl_rule(synthesized, "aws-common")
    group = rule["Statement"]["ManagedRuleGroupStatement"]
    assert (group["VendorName"], group["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    assert rule["OverrideAction"] == {"None": {}}, "the group's own blocks apply"
    counted = {o["Name"] for o in group.get("RuleActionOverrides", []) if o["ActionToUse"] == {"Count": {}}}
    # Its 8 KB body rule would refuse contribution batches the API accepts; the size rule governs.
    assert "SizeRestrictions_BODY" in counted
    (acl,) = synthesized.of_type("AWS::WAFv2::WebACL").values()
    priorities = {r["Name"]: r["Priority"] for r in acl["Properties"]["Rules"]}
    assert priorities["body-size"] < priorities["aws-common"]
    assert max(priorities["rate-per-ip"], priorities["rate-per-credential"]) < priorities["aws-common"]
    responses = synthesized.resources["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"
    ]
    assert responses["WAF_FILTERED"]["statusCode"] == "400"


def test_callers_other_than_terminals_get_method_budgets_of_their_own(synthesized: Synthesized) -> None:
    """A flood of mobile, collection or webhook calls 429s those routes, not the counters'."""
    settings = synthesized.resources["RestAPI"]["Properties"]["MethodSettings"]
    (stage_default,) = [s for s in settings if s["ResourcePath"] == "/*"]
    by_method = {(s["HttpMethod"], s["ResourcePath"]): s for s in settings if s["ResourcePath"] != "/*"}
    from chalicelib.api.operations import OPERATIONS

    terminals = {"pharmacy", "hospital", "service_center"}
    for op in OPERATIONS:
        key = (op.method, "/" + op.path.replace("/", "~1"))
        if set(op.callers) <= terminals:
            assert key not in by_method, f"{op.method} {op.path}: a counter route shares the stage budget"
            continue
        assert key in by_method, f"{op.method} {op.path} ({op.callers}) has no budget of its own"
        budget = by_method[key]
        assert 0 < budget["ThrottlingRateLimit"] < stage_default["ThrottlingRateLimit"] / 4
        assert 0 < budget["ThrottlingBurstLimit"] <= stage_default["ThrottlingBurstLimit"]
    assert len(by_method) == sum(1 for op in OPERATIONS if not set(op.callers) <= terminals)


def test_api_access_logs_name_the_route_never_the_path(synthesized: Synthesized) -> None:
    properties = synthesized.resources["RestAPI"]["Properties"]
    setting = properties["AccessLogSetting"]
    assert synthesized.resources[getatt(setting["DestinationArn"]) or ""]["Type"] == "AWS::Logs::LogGroup"
    line = json.loads(setting["Format"])
    assert "$context.resourcePath" in line.values() and "$context.status" in line.values()
    text = setting["Format"]
    for leak in ("$context.path", "$context.requestOverride", "$input", "$context.authorizer", "$method"):
        assert leak not in text, f"the access log would carry {leak}"
    # Access logging needs the account's API Gateway CloudWatch role, set before the API.
    (account_id,) = synthesized.of_type("AWS::ApiGateway::Account")
    account = synthesized.resources[account_id]
    role_id = getatt(account["Properties"]["CloudWatchRoleArn"])
    role = synthesized.resources[role_id or ""]
    assert "apigateway.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    assert account_id in as_list(synthesized.resources["RestAPI"].get("DependsOn", []))


# --- encryption ------------------------------------------------------------------------------


def key_of(value: Any, s: Synthesized) -> str:
    (key_id,) = logical_ids_in(value)
    key = s.resources[key_id]
    assert key["Type"] == "AWS::KMS::Key", f"{value} is not a customer-managed key of this stack"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain", "a retained table or queue needs its key"
    return key_id


def test_queues_and_tables_are_encrypted_with_customer_managed_keys(synthesized: Synthesized) -> None:
    queue_keys = {
        key_of(q["Properties"]["KmsMasterKeyId"], synthesized)
        for q in synthesized.of_type("AWS::SQS::Queue").values()
    }
    table_keys = set()
    for rid, table in synthesized.of_type("AWS::DynamoDB::Table").items():
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS", rid
        table_keys.add(key_of(sse["KMSMasterKeyId"], synthesized))
    assert len(queue_keys) == 1 and len(table_keys) == 1 and queue_keys != table_keys


def test_each_function_may_use_the_keys_of_what_it_touches_and_no_other(synthesized: Synthesized) -> None:
    table = next(iter(synthesized.of_type("AWS::DynamoDB::Table").values()))
    table_key = key_of(table["Properties"]["SSESpecification"]["KMSMasterKeyId"], synthesized)
    queue = next(iter(synthesized.of_type("AWS::SQS::Queue").values()))
    queue_key = key_of(queue["Properties"]["KmsMasterKeyId"], synthesized)
    api = function_grants(synthesized, access.API_FUNCTION_ID)
    assert {table_key, queue_key} <= api["kms:Decrypt"]
    assert {table_key, queue_key} <= api["kms:GenerateDataKey"], "the API writes tables and sends"
    for handler in sqs_handlers():
        grants = function_grants(synthesized, to_cfn_resource_name(handler.name))
        assert queue_key in grants["kms:Decrypt"] and table_key in grants["kms:Decrypt"]
        assert grants["kms:GenerateDataKey"] == {table_key}, "a worker sends nothing"
    for action, ids in {**api}.items():
        if action.startswith("kms:"):
            assert ids <= {table_key, queue_key}


# --- alarms and dashboard -------------------------------------------------------------------


def alarm_targets(s: Synthesized) -> list[tuple[str, set[str]]]:
    out = []
    topics = set(s.of_type("AWS::SNS::Topic"))
    for rid, alarm in s.of_type("AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        assert logical_ids_in(properties["AlarmActions"]) <= topics and properties["AlarmActions"], rid
        metrics = properties.get("Metrics") or [properties]
        names = {
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName") or m.get("MetricName")
            for m in metrics
        }
        out.append((" ".join(sorted(n for n in names if n)), logical_ids_in(metrics)))
    return out


def test_alarms_on_dead_letters_lambda_errors_and_throttles_and_dynamodb_throttles(
    synthesized: Synthesized,
) -> None:
    alarms = alarm_targets(synthesized)

    def alarmed(metric: str, target: str) -> bool:
        return any(metric in names.split() and target in ids for names, ids in alarms)

    sqs = synthesized.of_type("AWS::SQS::Queue")
    for queue in worker_queue_ids(synthesized).values():
        dlq = getatt(sqs[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        assert dlq and alarmed("ApproximateNumberOfMessagesVisible", dlq)
    for fid in functions(synthesized):
        assert alarmed("Errors", fid) and alarmed("Throttles", fid), fid
    for tid in synthesized.of_type("AWS::DynamoDB::Table"):
        assert alarmed("ThrottledRequests", tid), tid


def test_a_dashboard_of_payments_postings_and_activations(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in ("Payments", "Activations", "Contribution postings"):
        assert title in body
    patterns = [
        f["Properties"]["FilterPattern"] for f in synthesized.of_type("AWS::Logs::MetricFilter").values()
    ]
    assert any('"/v1/payments"' in p and "201" in p for p in patterns)


# --- the code that is deployed ------------------------------------------------------------


def test_the_lambda_package_holds_the_app_within_lambdas_limits(synthesized: Synthesized) -> None:
    (asset,) = [p for p in synthesized.outdir.glob("asset.*") if p.suffix == ".zip" or p.is_dir()]
    with zipfile.ZipFile(asset) as z:
        names = z.namelist()
        unzipped = sum(i.file_size for i in z.infolist())
    assert "app.py" in names and "chalicelib/settings.py" in names
    assert not any(n.startswith(("tests/", "infra/", "sscard_ops/", ".venv/")) for n in names)
    assert unzipped < LAMBDA_UNZIPPED_LIMIT
    print(f"Lambda package: {asset.stat().st_size / 2**20:.1f} MB zipped, {unzipped / 2**20:.1f} MB unzipped")

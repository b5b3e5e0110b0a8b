"""The sscard stack: Chalice's functions and API, and every table, queue, role, limit,
alarm and dashboard they need. The stack id is the Chalice stage (Chalice's construct
uses it as the stage name), so `prod` deploys .chalice/config.json's prod stage.

Import this module only after infra.stage.apply_stage_environment(stage): the models
and app.py read the stage's environment when they load (infra/synth.py does this).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from constructs import Construct

from infra import access, gateway, queues
from infra import stage as stages
from infra import tables as table_specs

MEMORY_MB = 1024  # more memory is more CPU: a faster cold start for the same price per request
API_TIMEOUT_SECONDS = 15  # under API Gateway's 29 s integration limit
# Chalice must be given some role while the stack gives each function its own: this
# one is replaced on every function (tests/infra checks none is left).
PLACEHOLDER_ROLE_ARN = "arn:aws:iam::000000000000:role/sscard-role-set-by-infra"
DDB_OPERATIONS = [
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.BATCH_WRITE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
    dynamodb.Operation.TRANSACT_GET_ITEMS,
]

# Business metrics from the HTTP function's access log (chalicelib/api/middleware.py logs
# one JSON line per request: event "request", method, route template, status). The
# routes are API.md's contract. name -> (label, method, route, status condition)
ACCESS_LOG_METRICS: dict[str, tuple[str, str, str, str]] = {
    "PaymentsTaken": ("payments taken", "POST", "/v1/payments", "$.status = 201"),
    "PaymentsRefused": ("payments refused", "POST", "/v1/payments", "$.status >= 400"),
    "PaymentsCancelled": ("payments cancelled", "POST", "/v1/payments/{payment_id}/cancel", "$.status = 200"),
    "ServiceCenterActivations": (
        "service-center activations",
        "POST",
        "/v1/cards/{card_no}/activate",
        "$.status = 200",
    ),
    "BankWebhooksAccepted": (
        "bank counter webhooks accepted",
        "POST",
        "/v1/webhooks/banks/{bank_code}",
        "$.status >= 200 && $.status < 300",
    ),
    "HospitalRegistrations": (
        "hospital registrations (the first activates)",
        "POST",
        "/v1/registrations",
        "$.status >= 200 && $.status < 300",
    ),
}


@dataclass
class Function:
    function_id: str  # logical id in Chalice's template
    handler: str  # Chalice function name
    access: access.Access
    resource: cdk.CfnResource
    log_group: logs.LogGroup
    role: iam.Role


class SscardStack(cdk.Stack):
    def __init__(self, scope: Construct, stage: str, *, source_dir: Path = stages.ROOT) -> None:
        super().__init__(
            scope,
            stage,
            stack_name=f"sscard-{stage}",
            description=f"Social security card service, stage {stage}",
        )
        from chalicelib.settings import load

        self.stage = stage
        self.production = stages.is_production(stage)
        self.settings = load()
        self.removal = cdk.RemovalPolicy.RETAIN if self.production else cdk.RemovalPolicy.DESTROY
        cdk.Tags.of(self).add("project", "sscard")
        cdk.Tags.of(self).add("stage", stage)

        # Customer-managed keys: the tables hold accounts, payments and card histories,
        # the queues' bodies carry full SSNs. Only the functions' roles may use them.
        self.tables_key = self._key("TablesKey", "tables")
        self.queues_key = self._key("QueuesKey", "queues")
        self.table_specs = {spec.logical: spec for spec in table_specs.all_tables()}
        self.tables = {
            logical: build_table(self, spec, self.production, self.tables_key)
            for logical, spec in self.table_specs.items()
        }
        self.workers = queues.workers()
        self.queues: dict[str, tuple[sqs.Queue, sqs.Queue]] = {
            worker.queue: self._queue(worker) for worker in self.workers
        }
        self.hashing_key = self._hashing_key()

        self.chalice = Chalice(
            self,
            "Chalice",
            source_dir=str(source_dir),
            stage_config={
                "manage_iam_role": False,
                "iam_role_arn": PLACEHOLDER_ROLE_ARN,
                # Edge endpoints do not exist in the China regions; regional everywhere.
                "api_gateway_endpoint_type": "REGIONAL",
                "lambda_memory_size": MEMORY_MB,
                "lambda_timeout": API_TIMEOUT_SECONDS,
            },
        )
        self.sam = json.loads((Path(self.chalice._sam_package_dir) / "sam.json").read_text(encoding="utf-8"))
        self.functions = [self._function(fid) for fid in self._function_ids()]
        for worker in self.workers:
            self._event_source(worker)
        if "RestAPI" in self.sam["Resources"]:
            self._api()
        self.alarm_topic = sns.Topic(self, "Alarms", display_name=f"sscard {stage} alarms")
        self._alarms()
        self._dashboard()
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)

    # --- data --------------------------------------------------------------------

    def _key(self, cid: str, what: str) -> kms.Key:
        return kms.Key(
            self,
            cid,
            alias=f"alias/sscard-{self.stage}-{what}",
            description=f"sscard {self.stage}: encrypts the {what}",
            enable_key_rotation=True,
            # A retained table or queue stays readable only while its key exists.
            removal_policy=self.removal,
        )

    def _queue(self, worker: queues.Worker) -> tuple[sqs.Queue, sqs.Queue]:
        cid = queues.cfn_name(worker.queue.removesuffix(".fifo"))
        retention = cdk.Duration.days(queues.RETENTION_DAYS)
        dlq = sqs.Queue(
            self,
            f"{cid}DeadLetters",
            queue_name=worker.dead_letter_queue,
            fifo=worker.fifo or None,
            retention_period=retention,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.queues_key,
            enforce_ssl=True,
        )
        queue = sqs.Queue(
            self,
            f"{cid}Queue",
            queue_name=worker.queue,
            fifo=worker.fifo or None,
            retention_period=retention,
            visibility_timeout=cdk.Duration.seconds(queues.VISIBILITY_TIMEOUT_SECONDS),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.queues_key,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=queues.MAX_RECEIVE_COUNT),
        )
        return queue, dlq

    def _hashing_key(self) -> secretsmanager.Secret:
        """The token-hashing key: generated by Secrets Manager, so its value is in no template.

        44 alphanumeric characters read as base64 (secrets.py decodes it) are 33 random bytes.
        Bank secrets and the mobile issuer's keys are put by operators (docs/deploy.md).
        """
        return secretsmanager.Secret(
            self,
            "TokenHashingKey",
            secret_name=self.settings.secrets_prefix + access.HASHING_KEY_SECRET,
            description="Key of the keyed digests of institution tokens and SSNs (base64)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=44, exclude_punctuation=True, include_space=False
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    # --- functions ---------------------------------------------------------------

    def _function_ids(self) -> list[str]:
        resources: dict[str, Any] = self.sam["Resources"]
        return sorted(k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function")

    def _function(self, function_id: str) -> Function:
        worker = next((w for w in self.workers if w.function_id == function_id), None)
        all_tables = list(self.tables)
        if function_id == access.API_FUNCTION_ID:
            handler = access.API_HANDLER
            grants = access.api_access(all_tables, [w.queue for w in self.workers])
        elif worker is not None:
            handler = worker.handler
            grants = access.worker_access(worker.handler, worker.queue, all_tables)
        else:  # a function the stack knows nothing about touches nothing
            handler = self.sam["Resources"][function_id]["Properties"]["Handler"].split(".")[-1]
            grants = access.Access(tables={}, send_to=(), consume=(), secrets=())
        resource = self.chalice.get_resource(function_id)
        log_group = logs.LogGroup(
            self,
            f"{function_id}Logs",
            log_group_name=f"/sscard/{self.stage}/lambda/{handler}",
            retention=logs.RetentionDays.SIX_MONTHS if self.production else logs.RetentionDays.ONE_MONTH,
            removal_policy=self.removal,
        )
        role = iam.Role(
            self,
            f"{function_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"sscard {self.stage} {handler}: only what it uses",
            inline_policies={"access": iam.PolicyDocument(statements=self._statements(grants, log_group))},
        )
        resource.add_property_override("Role", role.role_arn)
        resource.add_property_override(
            "LoggingConfig", {"LogGroup": log_group.log_group_name, "LogFormat": "Text"}
        )
        if worker is not None:
            resource.add_property_override("Timeout", queues.WORKER_TIMEOUT_SECONDS)
        return Function(function_id, handler, grants, resource, log_group, role)

    def _statements(self, grants: access.Access, log_group: logs.LogGroup) -> list[iam.PolicyStatement]:
        statements = [
            iam.PolicyStatement(actions=list(access.LOG_ACTIONS), resources=[log_group.log_group_arn])
        ]
        statements += self._table_statements(grants)
        statements += self._key_statements(grants)
        if grants.send_to:
            arns = [self.queues[name][0].queue_arn for name in grants.send_to]
            statements.append(iam.PolicyStatement(actions=list(access.SEND_ACTIONS), resources=arns))
        if grants.consume:
            arns = [self.queues[name][0].queue_arn for name in grants.consume]
            statements.append(iam.PolicyStatement(actions=list(access.CONSUME_ACTIONS), resources=arns))
        if grants.secrets:
            arns = [self._secret_arn(name) for name in grants.secrets]
            statements.append(iam.PolicyStatement(actions=list(access.SECRET_ACTIONS), resources=arns))
        return statements

    def _table_statements(self, grants: access.Access) -> list[iam.PolicyStatement]:
        """One Allow per DynamoDB action, on exactly the tables declared for it; one Deny of
        every in-place change on the append-only tables, whatever else is ever attached."""
        tables_of: dict[str, list[str]] = {}
        for logical, actions in grants.tables.items():
            for action in actions:
                tables_of.setdefault(action, []).append(logical)
        statements = []
        for action, logicals in sorted(tables_of.items()):
            arns = []
            for logical in sorted(logicals):
                table, spec = self.tables[logical], self.table_specs[logical]
                arns.append(table.table_arn)
                if action in access.INDEX_ACTIONS and (spec.global_indexes or spec.local_indexes):
                    arns.append(f"{table.table_arn}/index/*")
            statements.append(iam.PolicyStatement(actions=[f"dynamodb:{action}"], resources=arns))
        statements.append(
            iam.PolicyStatement(
                sid="AuditTrailIsAppendOnly",
                effect=iam.Effect.DENY,
                actions=[f"dynamodb:{a}" for a in access.APPEND_ONLY_DENIED],
                resources=[self.tables[t].table_arn for t in sorted(access.APPEND_ONLY_TABLES)],
            )
        )
        return statements

    def _key_statements(self, grants: access.Access) -> list[iam.PolicyStatement]:
        """The keys of what the function touches: the actions CDK's grants name, per use."""
        statements = []
        if grants.tables:
            writes = any(set(actions) & access.TABLE_WRITES for actions in grants.tables.values())
            actions = access.KEY_WRITE_ACTIONS if writes else access.KEY_READ_ACTIONS
            statements.append(iam.PolicyStatement(actions=list(actions), resources=[self.tables_key.key_arn]))
        queue_actions = sorted(
            {
                *(access.KEY_SEND_ACTIONS if grants.send_to else ()),
                *(access.KEY_READ_ACTIONS if grants.consume else ()),
            }
        )
        if queue_actions:
            statements.append(iam.PolicyStatement(actions=queue_actions, resources=[self.queues_key.key_arn]))
        return statements

    def _secret_arn(self, name: str) -> str:
        # Secrets Manager appends "-" and six random characters to a secret's ARN.
        suffix = "" if name.endswith("*") else "-??????"
        return cdk.Arn.format(
            cdk.ArnComponents(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{self.settings.secrets_prefix}{name}{suffix}",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            ),
            self,
        )

    def _event_source(self, worker: queues.Worker) -> None:
        queue = self.queues[worker.queue][0]
        prefix = f"Events.{worker.event_source_id}.Properties"
        resource = self.chalice.get_resource(worker.function_id)
        # Chalice writes the queue as a made-up ARN; the real one makes the mapping wait for the queue.
        resource.add_property_override(f"{prefix}.Queue", queue.queue_arn)
        resource.add_property_override(f"{prefix}.BatchSize", queues.BATCH_SIZE)
        resource.add_property_override(
            f"{prefix}.MaximumBatchingWindowInSeconds", queues.BATCH_WINDOW_SECONDS
        )
        resource.add_property_override(
            f"{prefix}.ScalingConfig", {"MaximumConcurrency": queues.MAX_CONCURRENCY}
        )
        # Chalice 1.34 cannot switch this on (aws/chalice#2029); the handlers return batchItemFailures.
        resource.add_property_override(f"{prefix}.FunctionResponseTypes", ["ReportBatchItemFailures"])

    # --- the HTTP API ------------------------------------------------------------

    def _api(self) -> None:
        api = self.chalice.get_resource("RestAPI")
        api.add_property_override(
            "DefinitionBody.x-amazon-apigateway-gateway-responses", gateway.gateway_responses()
        )
        api.add_property_override("MethodSettings", gateway.method_throttles())
        self._access_log(api)
        self._web_acl()

    def _access_log(self, api: cdk.CfnResource) -> None:
        """API Gateway's access log: one JSON line per request, by route template, never path.

        Access logging needs the account's API Gateway CloudWatch role (one per account
        and region): the stack sets it, with AWS's managed policy for it.
        """
        log_group = logs.LogGroup(
            self,
            "ApiAccessLogs",
            log_group_name=f"/sscard/{self.stage}/api/access",
            retention=logs.RetentionDays.SIX_MONTHS if self.production else logs.RetentionDays.ONE_MONTH,
            removal_policy=self.removal,
        )
        role = iam.Role(
            self,
            "ApiGatewayLogsRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway writes access logs to CloudWatch Logs",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        account = cdk.CfnResource(
            self,
            "ApiGatewayAccount",
            type="AWS::ApiGateway::Account",
            properties={"CloudWatchRoleArn": role.role_arn},
        )
        api.node.add_dependency(account)
        api.add_property_override(
            "AccessLogSetting",
            {
                "DestinationArn": log_group.log_group_arn,
                "Format": json.dumps(gateway.ACCESS_LOG_FORMAT, separators=(",", ":")),
            },
        )

    def _web_acl(self) -> None:
        """A web ACL in front of the API, cheapest rules first.

        - body-size: bodies over the function's own limit, 413, before Lambda is invoked.
          API Gateway has no request-size setting of its own (its hard limit is 10 MB).
          WAF inspects the first 16 KB of a body by default; the association raises it
          to 64 KB so that the size rule sees the whole of an allowed body.
        - rate-per-credential, rate-per-ip: 429 once a credential or an address is over
          its rate (infra/gateway.py says why these numbers).
        - aws-common: AWS's managed common rule set (gateway.COMMON_RULES_COUNTED only count).
        """
        rules = [
            self._rule(
                "body-size",
                413,
                {
                    "SizeConstraintStatement": {
                        "FieldToMatch": {"Body": {"OversizeHandling": "MATCH"}},
                        "ComparisonOperator": "GT",
                        "Size": gateway.max_body_bytes(),
                        "TextTransformations": [_NO_TRANSFORMATION],
                    }
                },
            ),
            self._rule(
                "rate-per-credential",
                429,
                {
                    "RateBasedStatement": {
                        "Limit": gateway.RATE_LIMIT_PER_CREDENTIAL,
                        "EvaluationWindowSec": gateway.RATE_WINDOW_SECONDS,
                        "AggregateKeyType": "CUSTOM_KEYS",
                        "CustomKeys": [
                            {"Header": {"Name": "authorization", "TextTransformations": [_NO_TRANSFORMATION]}}
                        ],
                    }
                },
            ),
            self._rule(
                "rate-per-ip",
                429,
                {
                    "RateBasedStatement": {
                        "Limit": gateway.RATE_LIMIT_PER_IP,
                        "EvaluationWindowSec": gateway.RATE_WINDOW_SECONDS,
                        "AggregateKeyType": "IP",
                        "ScopeDownStatement": {
                            "NotStatement": {
                                "Statement": {
                                    "ByteMatchStatement": {
                                        "SearchString": gateway.MOBILE_PATH_MARK,
                                        "FieldToMatch": {"UriPath": {}},
                                        "PositionalConstraint": "CONTAINS",
                                        "TextTransformations": [_NO_TRANSFORMATION],
                                    }
                                }
                            }
                        },
                    }
                },
            ),
            {
                "Name": "aws-common",
                "OverrideAction": {"None": {}},
                "Statement": {
                    "ManagedRuleGroupStatement": {
                        "VendorName": "AWS",
                        "Name": "AWSManagedRulesCommonRuleSet",
                        "RuleActionOverrides": [
                            {"Name": name, "ActionToUse": {"Count": {}}}
                            for name in gateway.COMMON_RULES_COUNTED
                        ],
                    }
                },
                "VisibilityConfig": self._visibility("aws-common"),
            },
        ]
        bodies = {}
        for status in (413, 429):
            _, _, body = gateway.problem_answer(status)
            bodies[_body_key(status)] = {"ContentType": "APPLICATION_JSON", "Content": body}
        acl = cdk.CfnResource(
            self,
            "WebAcl",
            type="AWS::WAFv2::WebACL",
            properties={
                "Name": f"sscard-{self.stage}-api",
                "Scope": "REGIONAL",
                "DefaultAction": {"Allow": {}},
                "AssociationConfig": {
                    "RequestBody": {"API_GATEWAY": {"DefaultSizeInspectionLimit": "KB_64"}}
                },
                "CustomResponseBodies": bodies,
                "Rules": [{**rule, "Priority": i} for i, rule in enumerate(rules)],
                "VisibilityConfig": self._visibility("api"),
            },
        )
        cdk.CfnResource(
            self,
            "WebAclAssociation",
            type="AWS::WAFv2::WebACLAssociation",
            properties={
                # RestAPI.Stage is SAM's reference to the stage it generates (and waits for it).
                "ResourceArn": cdk.Fn.sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/${RestAPI.Stage}"
                ),
                "WebACLArn": acl.get_att("Arn").to_string(),
            },
        )

    def _visibility(self, name: str) -> dict[str, Any]:
        return {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": f"sscard-{self.stage}-{name}",
        }

    def _rule(self, name: str, status: int, statement: dict[str, Any]) -> dict[str, Any]:
        """A rule that blocks with the problem answer of `status` (and its headers)."""
        code, headers, _ = gateway.problem_answer(status)
        extra = gateway.EXTRA_HEADERS.get(status, {})
        response: dict[str, Any] = {"ResponseCode": code, "CustomResponseBodyKey": _body_key(status)}
        if extra:
            response["ResponseHeaders"] = [{"Name": k, "Value": headers[k]} for k in extra]
        return {
            "Name": name,
            "Action": {"Block": {"CustomResponse": response}},
            "Statement": statement,
            "VisibilityConfig": self._visibility(name),
        }

    # --- alarms and dashboard ----------------------------------------------------

    def _alarm(self, cid: str, metric: cw.IMetric, description: str, threshold: float = 1) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            cid,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        return alarm

    def _lambda_metric(self, function: Function, name: str, statistic: str = "Sum") -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Lambda",
            metric_name=name,
            dimensions_map={"FunctionName": function.resource.ref},
            statistic=statistic,
            period=cdk.Duration.minutes(5),
            label=f"{function.handler} {name.lower()}",
        )

    def _alarms(self) -> None:
        for worker in self.workers:
            dlq = self.queues[worker.queue][1]
            self._alarm(
                f"{worker.function_id}DeadLettersAlarm",
                dlq.metric_approximate_number_of_messages_visible(
                    period=cdk.Duration.minutes(1), statistic="Maximum"
                ),
                f"Messages in {worker.dead_letter_queue}: postings that failed "
                f"{queues.MAX_RECEIVE_COUNT} times (docs/deploy.md: dead letters)",
            )
        for function in self.functions:
            self._alarm(
                f"{function.function_id}ErrorsAlarm",
                self._lambda_metric(function, "Errors"),
                f"{function.handler} failed (crash or timeout) in the last 5 minutes",
            )
            self._alarm(
                f"{function.function_id}ThrottlesAlarm",
                self._lambda_metric(function, "Throttles"),
                f"{function.handler} was throttled: concurrency limit reached",
            )
        for logical, table in self.tables.items():
            self._alarm(
                f"{self.table_specs[logical].construct_id}ThrottlesAlarm",
                table.metric_throttled_requests_for_operations(
                    operations=DDB_OPERATIONS, period=cdk.Duration.minutes(5)
                ),
                f"Throttled requests on {self.table_specs[logical].name}: a hot partition",
            )

    def _dashboard(self) -> None:
        namespace = f"sscard/{self.stage}"
        api = next((f for f in self.functions if f.function_id == access.API_FUNCTION_ID), None)
        business: dict[str, cw.Metric] = {}
        if api is not None:
            for name, (label, method, route, condition) in ACCESS_LOG_METRICS.items():
                match = f'$.event = "request" && $.method = "{method}" && $.route = "{route}"'
                pattern = f"{{ {match} && {condition} }}"
                logs.MetricFilter(
                    self,
                    f"{name}Filter",
                    log_group=api.log_group,
                    metric_namespace=namespace,
                    metric_name=name,
                    filter_pattern=logs.FilterPattern.literal(pattern),
                    metric_value="1",
                    default_value=0,
                )
                business[name] = cw.Metric(
                    namespace=namespace,
                    metric_name=name,
                    statistic="Sum",
                    period=cdk.Duration.minutes(1),
                    label=label,
                )

        def graph(title: str, metrics: list[cw.IMetric], width: int = 8) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, width=width, height=6)

        def pick(*names: str) -> list[cw.IMetric]:
            return [business[n] for n in names if n in business]

        postings: list[cw.IMetric] = []
        backlog: list[cw.IMetric] = []
        for worker in self.workers:
            queue, dlq = self.queues[worker.queue]
            minute = cdk.Duration.minutes(1)
            postings += [
                queue.metric_number_of_messages_sent(period=minute, label=f"{worker.queue} queued"),
                queue.metric_number_of_messages_deleted(period=minute, label=f"{worker.queue} posted"),
            ]
            backlog += [
                queue.metric_approximate_number_of_messages_visible(
                    period=minute, label=f"{worker.queue} waiting"
                ),
                dlq.metric_approximate_number_of_messages_visible(
                    period=minute, label=f"{worker.dead_letter_queue} dead letters"
                ),
            ]
        health: list[cw.IMetric] = []
        for function in self.functions:
            health += [self._lambda_metric(function, "Errors"), self._lambda_metric(function, "Throttles")]
        throttles: list[cw.IMetric] = [
            cw.MathExpression(
                expression=f"r{i} + w{i}",
                using_metrics={
                    f"r{i}": table.metric("ReadThrottleEvents", statistic="Sum"),
                    f"w{i}": table.metric("WriteThrottleEvents", statistic="Sum"),
                },
                label=logical,
                period=cdk.Duration.minutes(5),
            )
            for i, (logical, table) in enumerate(self.tables.items())
        ]
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"sscard-{self.stage}")
        dashboard.add_widgets(
            graph("Payments (per minute)", pick("PaymentsTaken", "PaymentsRefused", "PaymentsCancelled")),
            graph(
                "Activations (per minute)",
                pick("ServiceCenterActivations", "BankWebhooksAccepted", "HospitalRegistrations"),
            ),
            graph("Contribution postings (messages per minute)", postings),
        )
        dashboard.add_widgets(
            graph("Contribution backlog and dead letters", backlog),
            graph("Lambda errors and throttles", health),
            graph("DynamoDB throttled requests", throttles),
        )
        cdk.CfnOutput(self, "DashboardName", value=f"sscard-{self.stage}")


def build_table(scope: Construct, spec: table_specs.Table, production: bool, key: kms.IKey) -> dynamodb.Table:
    """The table of one model: on demand, point-in-time recovery, its TTL, encrypted with
    the customer-managed key; protected in production."""

    def attribute(key: table_specs.Key) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=key.name, type=dynamodb.AttributeType(_TYPES[key.type]))

    table = dynamodb.Table(
        scope,
        spec.construct_id,
        table_name=spec.name,
        partition_key=attribute(spec.partition),
        sort_key=attribute(spec.sort) if spec.sort else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=production,
        removal_policy=cdk.RemovalPolicy.RETAIN if production else cdk.RemovalPolicy.DESTROY,
        time_to_live_attribute=spec.ttl_attribute,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
    )
    for index in spec.global_indexes:
        assert index.partition is not None
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=attribute(index.partition),
            sort_key=attribute(index.sort) if index.sort else None,
            projection_type=dynamodb.ProjectionType(index.projection),
            non_key_attributes=list(index.non_key_attributes) or None,
        )
    for index in spec.local_indexes:
        assert index.sort is not None
        table.add_local_secondary_index(
            index_name=index.name,
            sort_key=attribute(index.sort),
            projection_type=dynamodb.ProjectionType(index.projection),
            non_key_attributes=list(index.non_key_attributes) or None,
        )
    return table


_TYPES = {"S": "STRING", "N": "NUMBER", "B": "BINARY"}
_NO_TRANSFORMATION = {"Priority": 0, "Type": "NONE"}


def _body_key(status: int) -> str:
    from chalicelib.api.problems import GATEWAY_ERRORS

    return GATEWAY_ERRORS[status].slug

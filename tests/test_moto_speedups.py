"""moto_speedups: moto answers every request exactly as it does without them.

One scenario (every AttributeValue type read back by each read operation, the same condition
and update expressions with values that pass and values that fail, bad expressions) runs in a
fresh mock_aws with moto's own code, then with the speedups twice (cold caches, then warm),
and every answer and every error must be the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sscard_ops import moto_speedups

EVERY_TYPE = {
    "pk": {"S": "every"},
    "s": {"S": "text with spaces"},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\x01binary"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"y"]},
    "m": {"M": {"inner": {"S": "v"}, "deeper": {"M": {"l": {"L": [{"N": "1"}, {"NULL": True}]}}}}},
    "l": {"L": [{"S": "x"}, {"BOOL": False}, {"M": {}}, {"L": []}]},
    "null": {"NULL": True},
    "bool": {"BOOL": True},
}


@contextmanager
def speedups(on: bool) -> Iterator[None]:
    was = moto_speedups.installed()
    (moto_speedups.install if on else moto_speedups.uninstall)()
    try:
        yield
    finally:
        (moto_speedups.install if was else moto_speedups.uninstall)()


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        answer = call()
    except ClientError as exc:
        error = exc.response
        return ("error", error["Error"], error.get("CancellationReasons"), error.get("Item"))
    except Exception as exc:  # moto 5.2.5 lets a malformed condition escape as a ValueError
        return ("raised", type(exc).__name__, str(exc))
    answer.pop("ResponseMetadata", None)
    return ("ok", answer)


def scenario() -> list[Any]:
    db = boto3.client("dynamodb", region_name="cn-north-1")
    db.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    out: list[Any] = []

    def record(call: Callable[[], Any]) -> None:
        out.append(_outcome(call))

    new = "attribute_not_exists(#k)"
    names = {"#k": "pk"}
    record(
        lambda: db.put_item(
            TableName="t", Item=EVERY_TYPE, ConditionExpression=new, ExpressionAttributeNames=names
        )
    )
    record(
        lambda: db.put_item(
            TableName="t", Item=EVERY_TYPE, ConditionExpression=new, ExpressionAttributeNames=names
        )
    )
    key = {"pk": {"S": "every"}}
    record(lambda: db.get_item(TableName="t", Key=key, ConsistentRead=True))
    record(lambda: db.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": key}}] * 1))
    record(lambda: db.batch_get_item(RequestItems={"t": {"Keys": [key]}}))
    record(
        lambda: db.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "every"}},
        )
    )
    record(
        lambda: db.scan(
            TableName="t", FilterExpression="n < :z", ExpressionAttributeValues={":z": {"N": "0"}}
        )
    )
    # One condition and one update expression, with values that pass and values that fail.
    versioned = "#v = :v AND n >= :least"
    for version, least in (("0", "-20"), ("1", "-20"), ("0", "5")):
        record(
            lambda version=version, least=least: db.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="SET #v = :next ADD ns :more",
                ConditionExpression=f"attribute_not_exists(#v) OR ({versioned})",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={
                    ":v": {"N": version},
                    ":least": {"N": least},
                    ":next": {"N": str(int(version) + 1)},
                    ":more": {"NS": [version + "7"]},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
    for version in ("1", "3"):
        record(
            lambda version=version: db.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": key,
                            "ConditionExpression": "#v = :v",
                            "ExpressionAttributeNames": {"#v": "version"},
                            "ExpressionAttributeValues": {":v": {"N": version}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": "t",
                            "Item": {"pk": {"S": f"after-{version}"}, "m": EVERY_TYPE["m"]},
                            "ConditionExpression": new,
                            "ExpressionAttributeNames": names,
                        }
                    },
                ]
            )
        )
    record(lambda: db.scan(TableName="t"))
    # Refused expressions: a syntax error, an unknown placeholder, a reserved word, an unused value.
    for condition, values in (
        ("pk = = :v", {":v": {"S": "x"}}),
        ("pk = :missing", {":v": {"S": "x"}}),
        ("size = :v", {":v": {"S": "x"}}),
        ("pk = :v", {":v": {"S": "x"}, ":unused": {"S": "y"}}),
    ):
        record(
            lambda condition=condition, values=values: db.put_item(
                TableName="t",
                Item={"pk": {"S": "refused"}},
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        )
    record(lambda: db.update_item(TableName="t", Key=key, UpdateExpression="SET = :x"))
    # Items at moto's size limit (405,000 bytes of names and values): the last under it, the first over.
    for filler in (404_992, 404_993):
        big = {"pk": {"S": "big"}, "a": {"S": "x"}, "z": {"S": "y" * filler}}
        record(lambda big=big: db.put_item(TableName="t", Item=big))
    record(lambda: db.get_item(TableName="t", Key={"pk": {"S": "big"}}, ProjectionExpression="pk, a"))
    return out


def run(on: bool) -> list[Any]:
    with speedups(on), mock_aws():
        return scenario()


def test_moto_answers_the_same_with_the_speedups_cold_and_warm():
    own = run(False)
    assert len([kind for kind, *_ in own if kind != "ok"]) >= 7  # the scenario does reach the refusals
    assert run(True) == own
    assert run(True) == own  # caches warm: the same expressions again


def test_the_same_expression_with_other_values_is_evaluated_again():
    with speedups(True), mock_aws():
        db = boto3.client("dynamodb", region_name="cn-north-1")
        db.create_table(
            TableName="c",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        db.put_item(TableName="c", Item={"pk": {"S": "x"}, "n": {"N": "2"}})

        def decrement_if(at_least: str) -> bool:
            try:
                db.update_item(
                    TableName="c",
                    Key={"pk": {"S": "x"}},
                    UpdateExpression="SET n = n - :one",
                    ConditionExpression="n >= :least",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":least": {"N": at_least}},
                )
                return True
            except db.exceptions.ConditionalCheckFailedException:
                return False

        assert [decrement_if(v) for v in ("1", "5", "1", "1")] == [True, False, True, False]


def test_the_speedups_refuse_a_moto_they_were_not_written_for(monkeypatch):
    monkeypatch.setattr(moto_speedups.moto, "__version__", "5.2.6")
    with pytest.raises(moto_speedups.MotoChanged, match=r"5\.2\.5"):
        moto_speedups.install()


def test_the_speedups_refuse_a_changed_function(monkeypatch):
    function, _ = moto_speedups.ORIGINALS["ConditionExpressionParser.parse"]
    monkeypatch.setitem(moto_speedups.ORIGINALS, "ConditionExpressionParser.parse", (function, "0" * 64))
    with pytest.raises(moto_speedups.MotoChanged, match=r"ConditionExpressionParser\.parse "):
        moto_speedups.install()


def sqs_scenario() -> list[Any]:
    """Queues of every kind (standard, FIFO deduplicating by content, encrypted, with a redrive
    policy), sends, receives, deletes, and their attributes read every way."""
    sqs = boto3.client("sqs", region_name="cn-north-1")
    out: list[Any] = []
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    plain = sqs.create_queue(
        QueueName="plain",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
            "VisibilityTimeout": "0",
        },
    )["QueueUrl"]
    fifo = sqs.create_queue(
        QueueName="ordered.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    sealed = sqs.create_queue(QueueName="sealed", Attributes={"KmsMasterKeyId": "alias/aws/sqs"})["QueueUrl"]
    names = ["QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def record(call: Callable[[], Any]) -> None:
        answer = _outcome(call)
        if answer[0] == "ok":  # ids, receipt handles and timestamps are new every run
            answer = ("ok", _stable(answer[1]))
        out.append(answer)

    for url in (plain, fifo, sealed):
        record(
            lambda url=url: sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": f"body {i % 3}",
                        **({"MessageGroupId": "g"} if url == fifo else {}),
                    }
                    for i in range(6)
                ],
            )
        )
        for attribute_names in (names, ["All"], ["KmsMasterKeyId", "ContentBasedDeduplication", "Policy"]):
            record(
                lambda url=url, attribute_names=attribute_names: sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=attribute_names
                )
            )
        record(lambda url=url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchName"]))
    for _ in range(3):  # visibility 0: received again, then moved to the dead-letter queue
        received = sqs.receive_message(QueueUrl=plain, MaxNumberOfMessages=10, AttributeNames=["All"])
        out.append(sorted(m["Body"] for m in received.get("Messages", [])))
    got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10).get("Messages", [])
    out.append(sorted(m["Body"] for m in got))
    record(
        lambda: sqs.delete_message_batch(
            QueueUrl=fifo,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    )
    for url in (plain, fifo, dlq):
        record(lambda url=url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))
    return out


def _stable(answer: Any) -> Any:
    answer = json.loads(json.dumps(answer, default=str))
    for key in ("Successful", "Failed"):
        for entry in answer.get(key, []):
            for drop in ("MessageId", "MD5OfMessageBody", "SequenceNumber"):
                entry.pop(drop, None)
    for key in ("CreatedTimestamp", "LastModifiedTimestamp"):
        answer.get("Attributes", {}).pop(key, None)
    return answer


def test_sqs_answers_the_same_with_the_speedups():
    with speedups(False), mock_aws():
        own = sqs_scenario()
    assert any(isinstance(o, tuple) and o[0] == "error" for o in own)  # the bad name is refused
    with speedups(True), mock_aws():
        assert sqs_scenario() == own


@pytest.mark.parametrize("kind", ["standard", "fifo", "kms", "redrive"])
def test_one_queue_attribute_is_what_all_of_them_say(kind):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="cn-north-1")
        dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        name, attributes = {
            "standard": ("q", {}),
            "fifo": ("q.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
            "kms": (
                "q",
                {"KmsMasterKeyId": "alias/aws/sqs", "Policy": json.dumps({"Version": "2012-10-17"})},
            ),
            "redrive": (
                "q",
                {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "3"})},
            ),
        }[kind]
        sqs.create_queue(QueueName=name, Attributes=attributes)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[DEFAULT_ACCOUNT_ID]["cn-north-1"].queues[name]
        every = queue.attributes
        names = queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES
        assert {n: moto_speedups.queue_attribute(queue, n) for n in names} == {n: every.get(n) for n in names}


# --- UpdateExpressions: every shape the storage sends, on new and existing items, and refusals ---

UPDATE_TABLES = {
    "plain": ([("pk", "HASH")], [("pk", "S")]),
    "ranged": ([("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "S")]),
}


def _update_tables(db: Any) -> None:
    for name, (keys, attrs) in UPDATE_TABLES.items():
        db.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": a, "KeyType": k} for a, k in keys],
            AttributeDefinitions=[
                {"AttributeName": a, "AttributeType": t} for a, t in [*attrs, ("owner", "S")]
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-owner",
                    "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )


def _key(table: str, pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, **({"sk": {"S": "2026-01#pension"}} if table == "ranged" else {})}


N = lambda v: {"N": str(v)}  # noqa: E731
S = lambda v: {"S": v}  # noqa: E731

# (update expression, names, values, condition): the storage's shapes as PynamoDB renders them,
# then refusals: type mismatches, paths not found, key attributes, duplicates, clauses, placeholders.
UPDATES: list[tuple[str, dict[str, str], dict[str, Any], str | None]] = [
    (  # a contribution month
        "SET #0 = :0, #1 = :1, #2 = :2 ADD #3 :3, #4 :4, #5 :5, #6 :6, #7 :7",
        {
            f"#{i}": n
            for i, n in enumerate(
                ["insurance", "period", "book", "amount", "postings", "pa", "paid_on", "ids"]
            )
        },
        {
            ":0": S("pension"),
            ":1": S("2026-01"),
            ":2": S("pension"),
            ":3": N(64000),
            ":4": N(1),
            ":5": N(0),
            ":6": {"SS": ["2026-01-10"]},
            ":7": {"SS": ["c-1"]},
        },
        None,
    ),
    (  # a fund book shard
        "SET #0 = :0, #1 = :1 ADD #2 :2, #3 :3, #4 :4",
        {"#0": "book", "#1": "shard", "#2": "total", "#3": "postings", "#4": "pa"},
        {":0": S("medical"), ":1": N(36), ":2": N(-500), ":3": N(1), ":4": N(0)},
        None,
    ),
    (  # an account credit: the account must exist
        "ADD #1 :0, #2 :1",
        {"#0": "pk", "#1": "balance", "#2": "version"},
        {":0": N(2500), ":1": N(1)},
        "attribute_exists (#0)",
    ),
    (  # the paid months a settlement reads
        "SET #0 = list_append (if_not_exists (#0, :0), :1)",
        {"#0": "medical"},
        {":0": {"L": []}, ":1": {"L": [S("2026-01=2026-01-10")]}},
        None,
    ),
    (  # a rejection
        "SET #0 = if_not_exists (#0, :0), #1 = :1 ADD #2 :2",
        {"#0": "first_at", "#1": "last_at", "#2": "receives"},
        {":0": S("2026-01-10"), ":1": S("2026-01-11"), ":2": N(1)},
        None,
    ),
    (  # a versioned write with removals (cards, stays)
        "SET #0 = :0, #1 = :1 REMOVE #2, #3",
        {"#0": "state", "#1": "version", "#2": "card_no", "#3": "closed_at"},
        {":0": S("NORMAL"), ":1": N(1), ":2": N(0)},
        "attribute_not_exists (#1) OR #1 = :2",
    ),
    ("SET a = b + :x", {}, {":x": N(1)}, None),  # the path read does not exist
    ("SET a = list_append (missing, :l)", {}, {":l": {"L": []}}, None),  # nor here
    ("ADD #0 :0", {"#0": "insurance"}, {":0": N(1)}, None),  # a number to a string
    ("ADD #0 :0", {"#0": "amount"}, {":0": {"SS": ["x"]}}, None),  # a set to a number
    ("ADD #0 :0", {"#0": "ids"}, {":0": {"SS": []}}, None),  # an empty set
    ("SET #0 = :0", {"#0": "pk"}, {":0": S("other")}, None),  # the hash key
    ("SET copy = #0", {"#0": "sk"}, {}, None),  # reading the range key
    ("SET #0 = :0", {"#0": "owner"}, {":0": N(1)}, None),  # an index key of the wrong type
    ("SET #0 = :0", {"#0": "owner"}, {":0": S("")}, None),  # an empty index key
    ("SET a = :x, a = :y", {}, {":x": N(1), ":y": N(2)}, None),  # twice
    ("SET a.b = :x, a = :y", {}, {":x": N(1), ":y": N(2)}, None),  # overlapping
    ("SET a = :x SET b = :y", {}, {":x": N(1), ":y": N(2)}, None),  # two SET clauses
    ("SET a.b = :x", {}, {":x": N(1)}, None),  # inside an attribute not there
    ("SET a = :missing", {}, {":x": N(1)}, None),  # an undefined value
    ("SET #missing = :x", {"#0": "a"}, {":x": N(1)}, None),  # an undefined name
    ("SET size = :x", {}, {":x": N(1)}, None),  # a reserved word
    ("SET pk = :x", {"pk": "other"}, {":x": S("y")}, None),  # a name that is no placeholder
    ("SET #0 = #0 + :x", {"#0": "postings"}, {":x": N(1)}, None),  # reading what is there
    ("SET #0 = :x", {"#0": "blob"}, {":x": S("z" * 404_000)}, None),  # past the item size
]


def update_scenario() -> list[Any]:
    db = boto3.client("dynamodb", region_name="cn-north-1")
    _update_tables(db)
    out: list[Any] = []
    for table in UPDATE_TABLES:
        for round_ in range(2):  # new items, then the same items again (existing)
            for i, (expression, names, values, condition) in enumerate(UPDATES):
                for pk in (f"item-{i}", "shared"):  # an item of its own, and one every update reaches
                    params: dict[str, Any] = {
                        "TableName": table,
                        "Key": _key(table, pk),
                        "UpdateExpression": expression,
                        "ReturnValues": ("ALL_NEW", "UPDATED_OLD")[round_],
                    }
                    if names:
                        params["ExpressionAttributeNames"] = names
                    if values:
                        params["ExpressionAttributeValues"] = values
                    if condition:
                        params["ConditionExpression"] = condition
                    out.append(_outcome(lambda params=params: db.update_item(**params)))
            # one transaction: the month and the book of a posting, then a failing check rolls both back
            month, book = UPDATES[0], UPDATES[1]
            items = [
                {"Update": _update_params(table, f"tx-{round_}-{n}", *shape)}
                for n, shape in enumerate((month, book))
            ]
            failing = {
                "TableName": table,
                "Key": _key(table, "nobody"),
                "ConditionExpression": "attribute_exists (pk)",
            }
            for extra in ([], [{"ConditionCheck": failing}]):
                out.append(
                    _outcome(
                        lambda items=items, extra=extra: db.transact_write_items(TransactItems=items + extra)
                    )
                )
        out.append(
            sorted(json.dumps(i, sort_keys=True, default=str) for i in db.scan(TableName=table)["Items"])
        )
    return out


def _update_params(
    table: str, pk: str, expression: str, names: dict[str, str], values: dict[str, Any], condition: str | None
) -> dict[str, Any]:
    params = {
        "TableName": table,
        "Key": _key(table, pk),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if condition:
        params["ConditionExpression"] = condition
    return params


def run_updates(on: bool) -> list[Any]:
    with speedups(on), mock_aws():
        return update_scenario()


def test_every_update_shape_answers_the_same_with_the_speedups_cold_and_warm():
    own = run_updates(False)
    refused = [o for o in own if isinstance(o, tuple) and o[0] != "ok"]
    reasons = {o[1]["Message"] if o[0] == "error" else o[2] for o in refused}
    assert len(reasons) >= 12  # the refusals are reached, each for its own reason
    assert run_updates(True) == own
    assert run_updates(True) == own


def _dump(node: Any, seen: dict[int, int] | None = None) -> Any:
    """A node tree as plain data, with each node's parent named by its place in the walk."""
    from moto.dynamodb.parsing.ast_nodes import Node

    seen = {} if seen is None else seen
    if isinstance(node, Node):
        seen.setdefault(id(node), len(seen))
        state = {
            k: (seen.get(id(v), "outside") if k == "parent" and v is not None else _dump(v, seen))
            for k, v in vars(node).items()
        }
        return (type(node).__name__, state)
    if isinstance(node, list):
        return [_dump(c, seen) for c in node]
    return (type(node).__name__, node)


@pytest.mark.parametrize("expression", sorted({u[0] for u in UPDATES if "SET a = :x SET" not in u[0]}))
def test_an_expression_tree_is_copied_as_deepcopy_copies_it(expression):
    import copy

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    with speedups(True):
        tree = UpdateExpressionParser.make(expression)
        copied = moto_speedups.copy_tree(tree)
    assert _dump(copied) == _dump(copy.deepcopy(tree))
    nodes = [copied]
    while nodes:  # every node is new, and its children point back at it
        node = nodes.pop()
        assert node is not tree
        for child in node.children or []:
            if hasattr(child, "children"):
                assert child.parent is node
                nodes.append(child)


def posting_scenario() -> list[Any]:
    """Postings through the contribution store (new and existing months, books, accounts and paid
    months; a duplicate; a holder without an account), then every table as moto holds it."""
    from datetime import UTC, datetime

    from chalicelib.domain.contributions import InsuranceType, Payer
    from chalicelib.domain.holders import Participation
    from chalicelib.domain.periods import Period
    from chalicelib.services import admin
    from chalicelib.services.contribution_ports import Posting
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.models import create_tables
    from sscard_ops.seed import make_ssn

    create_tables()
    cards, store = DynamoCardStore(), DynamoContributionStore(shards=2)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    for n in range(2):
        admin.enroll_holder(
            cards,
            b"k" * 32,
            make_ssn(f"1101051990030712{n}"),
            "T",
            Participation.EMPLOYEE,
            now,
            person_id=f"P{n}",
        )
    out: list[Any] = []
    mix = [
        (InsuranceType.MEDICAL, 2_500),
        (InsuranceType.MEDICAL, 0),
        (InsuranceType.SERIOUS_ILLNESS, 0),
        (InsuranceType.PENSION, 0),
    ]
    for n, (insurance, personal) in enumerate(mix * 2):
        for person in ("P0", "P1", "P-without-account"):
            posting = Posting(
                contribution_id=f"c-{n}-{person}",
                person_id=person,
                insurance=insurance,
                period=Period(2026, 1 + n % 3),
                payer=Payer.EMPLOYER,
                employer_id="EMP-1",
                amount_fen=10_000 + n,
                personal_account_fen=personal,
                paid_at=now,
                posted_at=now,
                source="COLLECTION",
            )
            for _ in range(2):  # the second is a duplicate delivery
                try:
                    store.post(posting)
                    out.append("posted")
                except Exception as exc:
                    out.append(type(exc).__name__)
    db = boto3.client("dynamodb", region_name="cn-north-1")
    for table in sorted(db.list_tables()["TableNames"]):
        out.append((table, sorted(json.dumps(i, sort_keys=True) for i in db.scan(TableName=table)["Items"])))
    return out


def test_postings_leave_the_same_tables_with_the_speedups():
    with speedups(False), mock_aws():
        own = posting_scenario()
    assert {"posted", "DuplicateDelivery", "HolderNotFound"} <= {o for o in own if isinstance(o, str)}
    with speedups(True), mock_aws():
        assert posting_scenario() == own


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("SET a = if_not_exists (pk, :v)", {"pk": "other"}),
        ("SET a = if_not_exists (sk, :v)", {"sk": "other"}),
        ("SET a = if_not_exists (pk, :v)", {}),
        ("SET a = if_not_exists (b, :v)", {}),
    ],
)
def test_a_new_item_read_by_its_own_key_is_validated_against_it(expression, names):
    # The API refuses names a request does not use, and moto's validation any path that starts
    # with a key attribute (after the names); moto's backend, called directly as in-process code
    # may, lets a plain key attribute through when a name of the same spelling maps it elsewhere,
    # and reads it from the item it has just created with the key.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    def outcome(on: bool) -> Any:
        with speedups(on), mock_aws():
            _update_tables(boto3.client("dynamodb", region_name="cn-north-1"))
            backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["cn-north-1"]
            try:
                item = backend.update_item(
                    "ranged", _key("ranged", "new"), expression, names, {":v": S("fallback")}
                )
            except Exception as exc:
                return type(exc).__name__, str(exc)
            return item.to_json()["Attributes"]

    own = outcome(False)
    assert outcome(True) == own
    if names:
        assert own["a"] == _key("ranged", "new")[next(iter(names))]  # read from the new item

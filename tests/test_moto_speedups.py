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

"""TransactWriteItems semantics, against moto's own transaction, the journaled one (moto_journal.py),
and the journaled one with the parsing caches the local stack's server runs (moto_speedups.py).

Only the public API is used (a boto3 client), so the same tests run against DynamoDB
itself: SSCARD_TRANSACTIONS_ENDPOINT=<url> adds that target (e.g. DynamoDB Local), with
whatever credentials the environment gives. Every test makes its own tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sscard_ops import moto_journal, moto_speedups

TARGETS = ["moto", "moto-journaled", "moto-journaled-speedups"]
if os.environ.get("SSCARD_TRANSACTIONS_ENDPOINT"):
    TARGETS.append("endpoint")

EXPIRES = "1893456000"  # a TTL attribute (epoch seconds) that must come and go with its item


@pytest.fixture(params=TARGETS)
def db(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "endpoint":
        yield boto3.client("dynamodb", endpoint_url=os.environ["SSCARD_TRANSACTIONS_ENDPOINT"])
        return
    chosen = moto_journal.journaled_transact_write_items
    if request.param == "moto":
        chosen = moto_journal.ORIGINAL
    moto_journal.use(chosen)
    speedups = moto_speedups.installed()
    if request.param == "moto-journaled-speedups":
        moto_speedups.install()
    else:
        moto_speedups.uninstall()
    try:
        with mock_aws():
            yield boto3.client("dynamodb", region_name="cn-north-1")
    finally:
        moto_journal.install()
        (moto_speedups.install if speedups else moto_speedups.uninstall)()


def _table(db: Any, *, with_range: bool) -> str:
    name = f"txn-{uuid.uuid4().hex[:8]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "owner", "AttributeType": "S"}]
    if with_range:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    db.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-owner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    db.get_waiter("table_exists").wait(TableName=name)
    return name


def _key(table_has_range: bool, pk: str, sk: str = "s") -> dict[str, Any]:
    key = {"pk": {"S": pk}}
    if table_has_range:
        key["sk"] = {"S": sk}
    return key


def _state(db: Any, table: str, owners: list[str]) -> tuple[Any, ...]:
    """Everything a reader could see: the items, and each owner's GSI entries."""
    items = db.scan(TableName=table, ConsistentRead=True)["Items"]
    by_owner = {
        owner: sorted(
            str(i)
            for i in db.query(
                TableName=table,
                IndexName="by-owner",
                KeyConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )["Items"]
        )
        for owner in owners
    }
    return (sorted(str(i) for i in items), by_owner)


def _seed(db: Any, table: str, with_range: bool) -> None:
    for pk, owner in (("kept", "ann"), ("updated", "ann"), ("deleted", "bob"), ("checked", "bob")):
        db.put_item(
            TableName=table,
            Item={**_key(with_range, pk), "owner": {"S": owner}, "n": {"N": "1"}},
        )


def _mix(table: str, with_range: bool) -> list[dict[str, Any]]:
    """Put (new, new GSI entry and TTL), Put over an item, Update (moves its GSI entry, sets a TTL),
    Delete, and a ConditionCheck that holds."""
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {**_key(with_range, "new"), "owner": {"S": "cid"}, "expires": {"N": EXPIRES}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {"Put": {"TableName": table, "Item": {**_key(with_range, "kept"), "owner": {"S": "cid"}}}},
        {
            "Update": {
                "TableName": table,
                "Key": _key(with_range, "updated"),
                "UpdateExpression": "SET #o = :o, expires = :e ADD n :one",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":o": {"S": "cid"}, ":e": {"N": EXPIRES}, ":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": table, "Key": _key(with_range, "deleted")}},
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": _key(with_range, "checked"),
                "ConditionExpression": "n = :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
    ]


def _failing_check(table: str, with_range: bool, pk: str = "checked") -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": _key(with_range, pk),
            "ConditionExpression": "n = :two",
            "ExpressionAttributeValues": {":two": {"N": "2"}},
        }
    }


def _cancelled(db: Any, items: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ClientError) as raised:
        db.transact_write_items(TransactItems=items)
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    return [r["Code"] for r in error["CancellationReasons"]]


OWNERS = ["ann", "bob", "cid"]


@pytest.mark.parametrize("with_range", [False, True], ids=["hash-key", "hash-and-range-key"])
@pytest.mark.parametrize("position", range(6))
def test_a_failed_condition_in_any_position_undoes_every_write(db, with_range, position):
    table = _table(db, with_range=with_range)
    _seed(db, table, with_range)
    before = _state(db, table, OWNERS)
    items = _mix(table, with_range)
    # The failing check goes on an item of its own, so the other five stay valid around it.
    db.put_item(TableName=table, Item={**_key(with_range, "guard"), "owner": {"S": "dan"}, "n": {"N": "1"}})
    before = _state(db, table, [*OWNERS, "dan"])
    items.insert(position, _failing_check(table, with_range, pk="guard"))

    reasons = _cancelled(db, items)

    assert reasons == ["None"] * position + ["ConditionalCheckFailed"] + ["None"] * (5 - position)
    assert _state(db, table, [*OWNERS, "dan"]) == before


@pytest.mark.parametrize("with_range", [False, True], ids=["hash-key", "hash-and-range-key"])
def test_the_same_mix_without_a_failure_applies_every_write(db, with_range):
    table = _table(db, with_range=with_range)
    _seed(db, table, with_range)

    db.transact_write_items(TransactItems=_mix(table, with_range))

    def get(pk: str) -> dict[str, Any] | None:
        return db.get_item(TableName=table, Key=_key(with_range, pk), ConsistentRead=True).get("Item")

    assert get("new") == {**_key(with_range, "new"), "owner": {"S": "cid"}, "expires": {"N": EXPIRES}}
    assert get("kept") == {**_key(with_range, "kept"), "owner": {"S": "cid"}}
    assert get("updated") == {
        **_key(with_range, "updated"),
        "owner": {"S": "cid"},
        "n": {"N": "2"},
        "expires": {"N": EXPIRES},
    }
    assert get("deleted") is None
    _, by_owner = _state(db, table, OWNERS)
    assert (len(by_owner["ann"]), len(by_owner["bob"]), len(by_owner["cid"])) == (0, 1, 3)


def test_every_failure_is_reported_in_the_order_of_the_items(db):
    table = _table(db, with_range=False)
    _seed(db, table, False)
    before = _state(db, table, OWNERS)
    items = _mix(table, False)
    items[0] = {  # the Put of a new item, conditioned to fail
        "Put": {
            "TableName": table,
            "Item": {**_key(False, "new"), "owner": {"S": "cid"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    items[4] = _failing_check(table, False)

    reasons = _cancelled(db, items)

    assert reasons == ["ConditionalCheckFailed", "None", "None", "None", "ConditionalCheckFailed"]
    assert _state(db, table, OWNERS) == before


def test_a_failed_condition_can_return_the_item_as_it_was(db):
    table = _table(db, with_range=False)
    _seed(db, table, False)
    check = _failing_check(table, False)
    check["ConditionCheck"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"

    with pytest.raises(ClientError) as raised:
        db.transact_write_items(TransactItems=[*_mix(table, False)[:4], check])

    reason = raised.value.response["CancellationReasons"][4]
    assert reason["Code"] == "ConditionalCheckFailed"
    assert reason["Item"] == {"pk": {"S": "checked"}, "owner": {"S": "bob"}, "n": {"N": "1"}}


def test_two_operations_on_one_item_are_refused_and_write_nothing(db):
    table = _table(db, with_range=True)
    _seed(db, table, True)
    before = _state(db, table, OWNERS)
    items = _mix(table, True)
    items.append({"Delete": {"TableName": table, "Key": _key(True, "new")}})  # "new" is Put first

    with pytest.raises(ClientError) as raised:
        db.transact_write_items(TransactItems=items)

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert _state(db, table, OWNERS) == before


def test_more_than_100_items_are_refused_and_write_nothing(db):
    table = _table(db, with_range=False)
    items = [
        {"Put": {"TableName": table, "Item": {"pk": {"S": f"p{i}"}, "owner": {"S": "ann"}}}}
        for i in range(101)
    ]

    with pytest.raises(ClientError) as raised:
        db.transact_write_items(TransactItems=items)

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert db.scan(TableName=table)["Items"] == []


def test_100_items_across_two_tables_are_one_transaction(db):
    first, second = _table(db, with_range=False), _table(db, with_range=True)
    puts = [
        {"Put": {"TableName": t, "Item": {**_key(t == second, f"p{i}"), "owner": {"S": "ann"}}}}
        for i in range(50)
        for t in (first, second)
    ]
    failing = [*puts[:99], _failing_check(second, True, pk="absent")]

    assert _cancelled(db, failing)[-1] == "ConditionalCheckFailed"
    assert db.scan(TableName=first)["Items"] == db.scan(TableName=second)["Items"] == []

    db.transact_write_items(TransactItems=puts)
    assert db.scan(TableName=first)["Count"] == db.scan(TableName=second)["Count"] == 50


def test_a_cancelled_transaction_leaves_nothing_behind_for_later_ones(db):
    """After a rollback, the rolled-back keys behave as never written: a later conditional Put
    of the same new item succeeds, and an update of a restored item sees its old value."""
    table = _table(db, with_range=True)
    _seed(db, table, True)
    _cancelled(db, [*_mix(table, True)[:4], _failing_check(table, True)])

    db.transact_write_items(TransactItems=[_mix(table, True)[0], _mix(table, True)[2]])

    updated = db.get_item(TableName=table, Key=_key(True, "updated"), ConsistentRead=True)["Item"]
    assert updated["n"] == {"N": "2"}
    assert db.get_item(TableName=table, Key=_key(True, "new"), ConsistentRead=True)["Item"]["expires"] == {
        "N": EXPIRES
    }


def test_the_journal_refuses_a_moto_it_was_not_written_for(monkeypatch):
    monkeypatch.setattr(moto_journal.moto, "__version__", "5.2.6")
    with pytest.raises(moto_journal.MotoChanged, match=r"5\.2\.5"):
        moto_journal.install()


def test_the_journal_refuses_a_changed_transact_write_items(monkeypatch):
    monkeypatch.setattr(moto_journal, "ORIGINAL_SOURCE_SHA256", "0" * 64)
    with pytest.raises(moto_journal.MotoChanged, match="not the source"):
        moto_journal.install()

"""moto's TransactWriteItems with a journal of the touched items instead of a copy of every table.

moto 5.2.5 deep-copies each table a transaction names before it starts, so that it
can restore them if the transaction is cancelled: a transaction costs time in
proportion to the data already stored (4.6 ms at 100 items, 397 ms at 20,000).
A rollback only needs the items the transaction touched, as they were before it
touched them, so this keeps those (one deep copy of one item each) and puts them
back in reverse order on cancellation.

Everything else is moto's own code: the function below is moto 5.2.5's
`DynamoDBBackend.transact_write_items`, line for line, except the marked lines.
It calls the same backend methods (parsing, validation, condition evaluation) and
raises the same exceptions (TransactionCanceledException with its reasons in
order, the 100-item and one-operation-per-item limits). `install()` refuses to
patch any other moto: a new moto needs this file read against its source again.

moto serves each transaction to completion before the next one in both places
this runs (the locked server, and single-threaded mock_aws), so no other request
can see or change the journaled items in between, as with the table copies.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import moto
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

MOTO_VERSION = "5.2.5"
# sha256 of inspect.getsource(DynamoDBBackend.transact_write_items) in moto 5.2.5.
ORIGINAL_SOURCE_SHA256 = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"

TransactWrite = Callable[[DynamoDBBackend, list[dict[str, Any]]], None]


class MotoChanged(RuntimeError):
    """The installed moto is not the one the journaled transaction was written against."""


@dataclass
class _Before:
    """One item as it was before the transaction touched it (None: it did not exist)."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None
    bucket_existed: bool  # range tables: whether the hash key's bucket was there


@dataclass
class Journal:
    """The touched items and the stream lengths, to put back on cancellation."""

    before: list[_Before] = field(default_factory=list)
    stream_lengths: dict[int, tuple[Table, int]] = field(default_factory=dict)

    def remember(self, backend: DynamoDBBackend, table_name: str, key: dict[str, Any]) -> None:
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        bucket_existed = hash_key in table.items
        current = table.get_item(hash_key, range_key) if bucket_existed else None
        self.before.append(_Before(table, hash_key, range_key, copy.deepcopy(current), bucket_existed))
        if table.stream_shard is not None and id(table) not in self.stream_lengths:
            self.stream_lengths[id(table)] = (table, len(table.stream_shard.items))

    def roll_back(self) -> None:
        for entry in reversed(self.before):
            items = entry.table.items
            if entry.range_key is None:
                if entry.item is None:
                    items.pop(entry.hash_key, None)
                else:
                    items[entry.hash_key] = entry.item  # type: ignore[assignment]
                continue
            if entry.item is not None:
                items[entry.hash_key][entry.range_key] = entry.item
                continue
            bucket = items.get(entry.hash_key)
            if bucket is not None:
                bucket.pop(entry.range_key, None)
                if not bucket and not entry.bucket_existed:
                    del items[entry.hash_key]
        for table, length in self.stream_lengths.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]


def journaled_transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    # JOURNAL: instead of a deep copy of every table named, the items touched, as they were.
    journal = Journal()

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[
        tuple[str, str, dict[str, Any]] | tuple[None, None, None]
    ] = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            journal.remember(self, table_name, key)  # JOURNAL: before anything can change it
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            # Rollback to the original state, and reraise the error
            journal.roll_back()  # JOURNAL
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore
        except Exception as e:
            # For other exceptions, capture their details
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore

    if any(code is not None for code, _, _ in errors):
        # Rollback to the original state, and reraise the errors
        journal.roll_back()  # JOURNAL
        raise TransactionCanceledException(errors)


def _source_sha256(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def _check_moto() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise MotoChanged(
            f"sscard_ops.moto_journal was written for moto {MOTO_VERSION}, found {moto.__version__}: "
            "compare DynamoDBBackend.transact_write_items with this file's copy, then update both pins"
        )
    found = _source_sha256(ORIGINAL)
    if found != ORIGINAL_SOURCE_SHA256:
        raise MotoChanged(
            f"moto {MOTO_VERSION}'s DynamoDBBackend.transact_write_items is not the source this file "
            f"copies (sha256 {found}): compare them, then update ORIGINAL_SOURCE_SHA256"
        )


# moto's own, kept to check against and for the semantics suite to compare with.
ORIGINAL: TransactWrite = DynamoDBBackend.transact_write_items


def install() -> None:
    """Make every moto DynamoDB backend of this process (server and mock_aws) journal its
    transactions. Idempotent; raises MotoChanged if moto is not the pinned version."""
    _check_moto()
    DynamoDBBackend.transact_write_items = journaled_transact_write_items  # type: ignore[method-assign]


def installed() -> bool:
    return DynamoDBBackend.transact_write_items is journaled_transact_write_items


def use(transact_write: TransactWrite) -> None:
    """Set the backend's TransactWriteItems (ORIGINAL or journaled_transact_write_items): for tests."""
    DynamoDBBackend.transact_write_items = transact_write  # type: ignore[method-assign,assignment]

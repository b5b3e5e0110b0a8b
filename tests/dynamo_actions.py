"""Which DynamoDB actions each deployed function's code performs, on which table.

A botocore hook (`before-parameter-build.dynamodb`, on every client created while
recording) turns each request into the IAM actions it needs, one per table:
TransactWriteItems is authorised per contained Put/Update/Delete/ConditionCheck,
TransactGetItems as GetItem, Batch* per table of RequestItems. Each call is charged
to the function whose entry point is running, as the stack deploys them:
`app.app` (Chalice.__call__, the API handler) or a queue worker's handler from the
app's handler_map. Calls outside any entry point (seeding, the operator's CLI, test
set-up) run with operator credentials and are recorded under None.

Used by tests/infra/test_dynamo_actions.py against infra/access.py's declaration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from chalice.app import Chalice, EventSourceHandler

from chalicelib.storage.models import ALL_MODELS, table_name
from infra import access

_running: ContextVar[str | None] = ContextVar("sscard_running_function", default=None)

# TransactWriteItems element -> the IAM action it is authorised as.
TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
SINGLE_TABLE_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}
)
BATCH_OPERATIONS = frozenset({"BatchGetItem", "BatchWriteItem"})


@dataclass(frozen=True)
class DynamoCall:
    function: str | None  # Chalice handler name (access.API_HANDLER or a worker), None: no function
    action: str  # IAM action without "dynamodb:"
    table: str  # logical table name (no stage prefix)


@dataclass
class Recording:
    calls: set[DynamoCall] = field(default_factory=set)
    # A Put on an append-only table without attribute_not_exists can overwrite history.
    overwriting_puts: set[DynamoCall] = field(default_factory=set)
    routes: set[tuple[str, str]] = field(default_factory=set)  # (method, resource path) served
    workers: set[str] = field(default_factory=set)  # worker handlers invoked

    def of(self, function: str) -> dict[str, set[str]]:
        """table -> actions the function performed there."""
        out: dict[str, set[str]] = {}
        for call in self.calls:
            if call.function == function:
                out.setdefault(call.table, set()).add(call.action)
        return out


def logical_names() -> dict[str, str]:
    """Table name -> logical name, for the models as loaded (chalice.test swaps the
    environment during a request, so the prefix is read here, not then)."""
    prefix = table_name("")
    return {m.Meta.table_name: m.Meta.table_name.removeprefix(prefix) for m in ALL_MODELS}


def actions_of(operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(IAM action, table name, the element's parameters) for one request."""
    if operation in SINGLE_TABLE_OPERATIONS:
        return [(operation, params["TableName"], params)]
    if operation in BATCH_OPERATIONS:
        return [(operation, name, {}) for name in params["RequestItems"]]
    if operation == "TransactGetItems":
        return [("GetItem", item["Get"]["TableName"], item["Get"]) for item in params["TransactItems"]]
    if operation == "TransactWriteItems":
        found = []
        for item in params["TransactItems"]:
            ((kind, element),) = item.items()
            found.append((TRANSACT_WRITE_ACTIONS[kind], element["TableName"], element))
        return found
    # PartiQL, table management...: nothing a function's role grants. Recorded as it is,
    # so that the declaration check names it.
    return [(operation, params.get("TableName", "?"), params)]


@contextmanager
def recording(app: Chalice) -> Iterator[Recording]:
    """Record every DynamoDB call of the clients created inside, charged to the running function."""
    found = Recording()
    worker_names = {id(handler): name for name, handler in app.handler_map.items()}
    logical = logical_names()

    def on_request(params: dict[str, Any], model: Any, **_: Any) -> None:
        function = _running.get()
        for action, table, element in actions_of(model.name, params):
            if table not in logical:
                raise AssertionError(f"a DynamoDB call to {table!r}, which no model declares")
            call = DynamoCall(function, action, logical[table])
            found.calls.add(call)
            condition = str(element.get("ConditionExpression", ""))
            if (
                action == "PutItem"
                and call.table in access.APPEND_ONLY_TABLES
                and "attribute_not_exists" not in condition
            ):
                found.overwriting_puts.add(call)

    original_create_client = botocore.session.Session.create_client
    original_api = Chalice.__call__
    original_worker = EventSourceHandler.__call__

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original_create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.dynamodb", on_request)
        return client

    def api_entry(self: Chalice, event: Any, context: Any) -> Any:
        context_ = event["requestContext"]
        found.routes.add((context_["httpMethod"], context_["resourcePath"]))
        token = _running.set(access.API_HANDLER)
        try:
            return original_api(self, event, context)
        finally:
            _running.reset(token)

    def worker_entry(self: EventSourceHandler, event: Any, context: Any) -> Any:
        name = worker_names.get(id(self))
        if name is None:
            raise AssertionError(f"{self.func.__name__} is not a handler of the app being recorded")
        found.workers.add(name)
        token = _running.set(name)
        try:
            return original_worker(self, event, context)
        finally:
            _running.reset(token)

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    Chalice.__call__ = api_entry  # type: ignore[method-assign]
    EventSourceHandler.__call__ = worker_entry  # type: ignore[method-assign]
    try:
        yield found
    finally:
        botocore.session.Session.create_client = original_create_client  # type: ignore[method-assign]
        Chalice.__call__ = original_api  # type: ignore[method-assign]
        EventSourceHandler.__call__ = original_worker  # type: ignore[method-assign]

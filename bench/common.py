"""Shared by the benchmarks: a safe environment, a recorder of every DynamoDB request with
the capacity units it costs, computed from item sizes, and a warm pharmacy payment (the one
`pay()` every benchmark's service path goes through).

Import this module before anything from chalicelib: the storage models read the table
prefix and region when they are first imported. Nothing here can reach real AWS: fake
credentials, and every benchmark runs inside moto (mock_aws) or against the local stack.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.domain.holders import Institution
    from chalicelib.services.payment_ports import PaymentStore
    from chalicelib.services.ports import CardStore, IdempotencyStore

ROOT = Path(__file__).resolve().parent.parent
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "cn-north-1",
        "SSCARD_STAGE": "local",
        "TABLE_PREFIX": "sscard-bench-",
        "LOG_LEVEL": "WARNING",
    }
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The benchmarks' mock_aws journals its transactions and parses each expression once, as the
# local stack's server does.
from sscard_ops import moto_journal, moto_speedups  # noqa: E402

moto_journal.install()
moto_speedups.install()


# --- item sizes and capacity units (DynamoDB's published rules) ---------------------------


def value_size(value: dict[str, Any]) -> int:
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in raw.items())
    return 1  # BOOL, NULL


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _units(size: int, per: int) -> int:
    return max(1, -(-size // per))


@dataclass
class Units:
    rru: float = 0.0  # read request units (on-demand) = RCUs
    wru: float = 0.0  # write request units, base tables
    gsi_wru: float = 0.0  # write request units of the indexes the writes propagate to
    moto: float = 0.0  # what moto reported in ConsumedCapacity (none for transactions)

    def __iadd__(self, other: Units) -> Units:
        self.rru += other.rru
        self.wru += other.wru
        self.gsi_wru += other.gsi_wru
        self.moto += other.moto
        return self


@dataclass
class Call:
    operation: str
    params: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)
    units: Units = field(default_factory=Units)


class Recorder:
    """Every DynamoDB request, with its parameters, answer and capacity units.

    Hooks: `before-parameter-build` (the request as the caller built it; asks for
    ReturnConsumedCapacity so moto's figure can be shown beside ours), `before-send`
    (one per HTTP request, retries included: the round trips) and `after-call` (the
    parsed answer, from which read units are computed). Write units need each written
    item's size: a Put carries it; for an Update or ConditionCheck the item is read back
    after the call with a separate, unrecorded client.
    """

    def __init__(self, units: bool = True) -> None:
        # units=False: record and time only (no ReturnConsumedCapacity, no read-backs), for
        # throughput runs, so the recording adds next to nothing to what it measures.
        self.units = units
        # CPU seconds from building each request to its parsed answer: the in-process benchmarks
        # run moto in this one thread, so CPU time is the cost and other load does not count.
        self.db_seconds = 0.0
        self.calls: list[Call] = []
        self.sent: Counter[str] = Counter()
        self.on = True
        self._pending = threading.local()
        self._schemas: dict[str, tuple[list[str], list[list[str]]]] = {}
        self._peek_client: Any = None

    # hooks
    def register(self, emitter: Any) -> None:
        # By unique id: the tables' connections share their thread's session and its emitter.
        emitter.register_first("before-parameter-build.dynamodb", self._before, unique_id=self._id(0))
        emitter.register_first("before-send.dynamodb", self._send, unique_id=self._id(1))
        emitter.register_last("after-call.dynamodb", self._after, unique_id=self._id(2))

    def unregister(self, emitter: Any) -> None:
        emitter.unregister("before-parameter-build.dynamodb", unique_id=self._id(0))
        emitter.unregister("before-send.dynamodb", unique_id=self._id(1))
        emitter.unregister("after-call.dynamodb", unique_id=self._id(2))

    def _id(self, n: int) -> str:
        return f"recorder-{id(self)}-{n}"

    def attach(self, client: Any) -> None:
        self.register(client.meta.events)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.on:
            return
        self._pending.at = time.process_time()
        if (
            self.units
            and model.name not in ("CreateTable", "DescribeTable", "DeleteTable")
            and ("ReturnConsumedCapacity" in model.input_shape.members)
        ):
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        self._pending.call = Call(model.name, params)

    def _send(self, event_name: str = "", **_: Any) -> None:
        if self.on:
            self.sent[event_name.rsplit(".", 1)[-1]] += 1

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        call = getattr(self._pending, "call", None)
        self._pending.call = None
        if call is not None:
            self.db_seconds += time.process_time() - self._pending.at
        if not self.on or call is None or call.operation != model.name:
            return
        call.response = parsed
        if call.operation not in ("CreateTable", "DescribeTable", "DeleteTable", "UpdateTimeToLive"):
            if self.units:
                call.units = self._units_of(call)
            self.calls.append(call)

    def reset(self) -> None:
        self.calls = []
        self.sent.clear()
        self.db_seconds = 0.0

    # capacity
    def _schema(self, table: str) -> tuple[list[str], list[list[str]]]:
        if table not in self._schemas:
            desc = self._peek().describe_table(TableName=table)["Table"]
            key = [k["AttributeName"] for k in desc["KeySchema"]]
            gsis = [
                [k["AttributeName"] for k in g["KeySchema"]] for g in desc.get("GlobalSecondaryIndexes", [])
            ]
            self._schemas[table] = (key, gsis)
        return self._schemas[table]

    def _peek(self) -> Any:
        if self._peek_client is None:
            import boto3

            self._peek_client = boto3.client("dynamodb")
        return self._peek_client

    def _stored(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._peek().get_item(TableName=table, Key=key).get("Item")
        return item

    def _write(self, table: str, item: dict[str, Any] | None, factor: int) -> Units:
        _keys, gsis = self._schema(table)
        units = Units(wru=factor * _units(item_size(item), 1024))
        for gsi_key in gsis:
            if item and all(k in item for k in gsi_key):
                units.gsi_wru += _units(item_size(item), 1024)
        return units

    def _units_of(self, call: Call) -> Units:
        p, r, op = call.params, call.response, call.operation
        units = Units()
        reported = r.get("ConsumedCapacity")
        if isinstance(reported, dict):
            units.moto = float(reported.get("CapacityUnits", 0))
        elif isinstance(reported, list):
            units.moto = float(sum(c.get("CapacityUnits", 0) for c in reported))
        consistent = 1.0 if p.get("ConsistentRead") else 0.5
        if op == "GetItem":
            units.rru = consistent * _units(item_size(r.get("Item")), 4096)
        elif op in ("Query", "Scan"):
            units.rru = consistent * _units(sum(item_size(i) for i in r.get("Items", [])), 4096)
        elif op == "BatchGetItem":
            for items in r.get("Responses", {}).values():
                units.rru += sum(consistent * _units(item_size(i), 4096) for i in items)
        elif op == "TransactGetItems":
            for resp in r.get("Responses", []):
                units.rru += 2 * _units(item_size(resp.get("Item")), 4096)
        elif op == "PutItem":
            units += self._write(p["TableName"], p["Item"], 1)
        elif op in ("UpdateItem", "DeleteItem"):
            units += self._write(p["TableName"], self._stored(p["TableName"], p["Key"]) or p["Key"], 1)
        elif op == "BatchWriteItem":
            for table, requests in p.get("RequestItems", {}).items():
                for req in requests:
                    item = req.get("PutRequest", {}).get("Item") or req.get("DeleteRequest", {}).get("Key")
                    units += self._write(table, item, 1)
        elif op == "TransactWriteItems":
            for entry in p["TransactItems"]:
                kind, body = next(iter(entry.items()))
                if kind == "Put":
                    units += self._write(body["TableName"], body["Item"], 2)
                else:  # Update, ConditionCheck, Delete: billed on the stored item's size
                    stored = self._stored(body["TableName"], body["Key"]) or body["Key"]
                    written = self._write(body["TableName"], stored, 2)
                    if kind == "ConditionCheck":
                        written.gsi_wru = 0  # nothing is written, so no index is touched
                    units += written
        return units

    def total(self) -> Units:
        out = Units()
        for c in self.calls:
            out += c.units
        return out

    def detail(self) -> str:
        """Each request with the tables it touched, in order."""
        parts = []
        for c in self.calls:
            tables = {c.params.get("TableName")} if "TableName" in c.params else set()
            for entry in c.params.get("TransactItems", []):
                tables.add(next(iter(entry.values()))["TableName"])
            tables.update(c.params.get("RequestItems", {}))
            names = "+".join(sorted(t.removeprefix("sscard-bench-") for t in tables if t))
            parts.append(f"{c.operation}({names})")
        return ", ".join(parts)

    def operations(self) -> dict[str, int]:
        return dict(sorted(Counter(c.operation for c in self.calls).items()))


@contextmanager
def recording_pynamodb(units: bool = True) -> Iterator[Recorder]:
    """Record every request of the PynamoDB connections created inside the block."""
    from sscard_ops.dynamo_calls import hooking_pynamodb

    recorder = Recorder(units)
    with hooking_pynamodb(recorder):
        yield recorder


# --- one payment through the use case, and a world to make it in --------------------------

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BALANCE = 10**12  # never runs out
AMOUNT = 1_234


class Stores(Protocol):
    cards: CardStore
    keys: IdempotencyStore
    payments: PaymentStore


def pay(
    stores: Stores,
    institution: Institution,
    card_no: str,
    amount: int,
    at: datetime,
    visit: str | None = None,
) -> dict[str, Any]:
    """services.payments.pay() as POST /v1/payments calls it (a fresh Idempotency-Key, the body's
    fingerprint, the answer rendered and stored); the answer as the API would send it."""
    import json
    import uuid

    from chalicelib.api.payments import payment_answer
    from chalicelib.services import payments
    from chalicelib.services.idempotency import StoredResponse, fingerprint, keyed

    sent: dict[str, Any] = {"card_no": card_no, "amount_fen": amount}
    if visit is not None:
        sent["visit"] = visit
    body = json.dumps(sent).encode()
    key = keyed(
        institution.institution_id,
        uuid.uuid4().hex,
        fingerprint("POST", "/v1/payments", body),
        int(at.timestamp()),
    )
    done = payments.pay(
        stores.cards,
        stores.payments,
        stores.keys,
        institution,
        payments.PaymentRequest(card_no, amount, visit=visit),
        key,
        at,
        lambda p: StoredResponse(201, payment_answer(p).model_dump_json()),
        new_id=lambda: uuid.uuid4().hex,
    )
    if done.response.status != 201:
        raise SystemExit(f"a benchmark payment failed: {done.response}")
    answer: dict[str, Any] = json.loads(done.response.body)
    return answer


class PharmacyWorld:
    """Inside mock_aws: the tables, one funded holder's card and a designated pharmacy with its
    token, on the DynamoDB stores; the container (bootstrap.built) over them is in use, so the
    API and the queue handlers see the same stores."""

    def __init__(self) -> None:
        from chalicelib import bootstrap
        from chalicelib.domain.holders import InstitutionKind
        from chalicelib.services import admin
        from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
        from chalicelib.storage.models import create_tables
        from chalicelib.storage.payments import DynamoPaymentStore
        from tests.fakes import FakeSecrets
        from tests.payment_helpers import funded_holder

        create_tables()
        self.secrets = FakeSecrets()
        self.cards = DynamoCardStore()
        self.keys = DynamoIdempotencyStore()
        self.payments = DynamoPaymentStore()
        self.person_id, self.card_no = funded_holder(self.cards, self.secrets.key, NOW, BALANCE, seq=1)
        self.pharmacy, self.token = admin.add_institution(
            self.cards,
            self.secrets.key,
            InstitutionKind.PHARMACY,
            "Bench Pharmacy",
            NOW,
            designated=True,
            institution_id="BENCH-PH",
        )
        self.clock = NOW
        bootstrap.use(
            bootstrap.built(
                store=self.cards, idempotency=self.keys, secrets=self.secrets, payments=self.payments,
                clock=self.now,
            )
        )  # fmt: skip

    def now(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock

    def service_payments(self, n: int) -> int:
        """n payments of the holder at the pharmacy through the use case; how many were made."""
        for _ in range(n):
            pay(self, self.pharmacy, self.card_no, AMOUNT, self.now())
        return n

    def api_payments(self, n: int) -> int:
        """n POST /v1/payments through the Chalice app (authentication, validation, rendering)."""
        import uuid

        from tests.client import ApiClient

        headers = {"Authorization": f"Bearer {self.token}"}
        body = {"card_no": self.card_no, "amount_fen": AMOUNT}
        with ApiClient() as client:
            for _ in range(n):
                r = client.post(
                    "/v1/payments", body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
                )
                if r.status != 201:
                    raise SystemExit(f"a benchmark payment failed: {r!r}")
        return n


def git_commit() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"

"""Card payments: payments a second and DynamoDB calls per payment, the service against
raw boto3 doing the same DynamoDB operations.

    .venv/bin/python bench/bench_payments.py [--payments 200] [--rounds 5]

Three paths, each making N payments on one warm card (the token and the card's holder
already cached, as on a warm Lambda container), in process, against moto's in-process
DynamoDB (mock_aws; single-threaded here, so that is safe):

  api       POST /v1/payments through the Chalice app (chalice.test.Client): middleware,
            authentication, pydantic, the use case, PynamoDB
  service   services.payments.pay() on the DynamoDB stores: the use case and PynamoDB
  boto3     a bare botocore client sending the same two requests per payment, with
            prebuilt expressions: TransactGetItems (card, account, key record) and
            TransactWriteItems (card check, payment put, key put, account update)

moto is far slower than DynamoDB, so the absolute rates measure this machine and moto;
the ratio boto3/service (and boto3/api) is the service's overhead, and the per-payment
call counts (botocore before-send hook) are what carry over to AWS. moto's own time
swings by a third from run to run, so the steadier measure of overhead is the time spent
outside DynamoDB (wall time less the time from sending each request to its parsed
answer, summed by the same hook). Each path runs `rounds` times, interleaved, each in a
fresh moto world; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import common  # noqa: F401  (the benchmarks' environment, before anything reads it)
from moto import mock_aws

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BALANCE = 10**12  # never runs out
AMOUNT = 1_234


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings UTF-8, numbers ~1 byte/2 digits)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        kind, raw = next(iter(value.items()))
        if kind == "S":
            size += len(raw.encode())
        elif kind == "N":
            size += len(raw.lstrip("-").replace(".", "")) // 2 + 1
        else:  # BOOL, NULL
            size += 1
    return size


def capacity(read_items: list[dict[str, Any]], write_items: list[dict[str, Any]]) -> tuple[int, int]:
    """Transactional reads: 2 RCU per 4 KB item; transactional writes: 2 WCU per 1 KB item."""
    rcu = sum(2 * -(-max(item_size(i), 1) // 4096) for i in read_items)
    wcu = sum(2 * -(-max(item_size(i), 1) // 1024) for i in write_items)
    return rcu, wcu


class World:
    def __init__(self) -> None:
        from chalicelib import bootstrap as deps_module
        from chalicelib.domain.holders import InstitutionKind
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
        from chalicelib.services import admin

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
        self.deps = deps_module.Deps(
            self.cards, self.keys, self.secrets, clock=self.now, payments=self.payments
        )
        deps_module.use(self.deps)

    def now(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock


def api_path(world: World, n: int) -> list[int]:
    from tests.client import ApiClient

    headers = {"Authorization": f"Bearer {world.token}"}
    body = {"card_no": world.card_no, "amount_fen": AMOUNT}
    statuses = []
    with ApiClient() as client:
        for _ in range(n):
            r = client.post("/v1/payments", body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            statuses.append(r.status)
    return statuses


def service_path(world: World, n: int) -> list[int]:
    from chalicelib.api.payments import RENDER
    from chalicelib.services import payments

    body = json.dumps({"card_no": world.card_no, "amount_fen": AMOUNT})
    request = payments.PaymentRequest(world.card_no, AMOUNT)
    statuses = []
    for _ in range(n):
        done = payments.pay(
            world.cards,
            world.payments,
            world.keys,
            world.pharmacy,
            request,
            payments.KeyedRequest(f"BENCH-PH#{uuid.uuid4().hex}", body),
            world.now(),
            RENDER,
            new_id=lambda: uuid.uuid4().hex,
        )
        statuses.append(done.response.status)
    return statuses


class RawBoto3:
    """The same two DynamoDB requests per payment, built by hand with a bare client."""

    def __init__(self, world: World) -> None:
        import boto3
        from botocore.config import Config

        from chalicelib.storage.models import AccountModel, CardModel, IdempotencyModel, PaymentModel

        # Configured as PynamoDB configures its client, so only the code around the calls differs.
        self.client = boto3.client("dynamodb", config=Config(parameter_validation=False))
        self.world = world
        self.t_card = CardModel.Meta.table_name
        self.t_account = AccountModel.Meta.table_name
        self.t_key = IdempotencyModel.Meta.table_name
        self.t_payment = PaymentModel.Meta.table_name
        self.last_read: list[dict[str, Any]] = []
        self.last_write: list[dict[str, Any]] = []

    def pay(self) -> int:
        w = self.world
        scope = f"BENCH-PH#{uuid.uuid4().hex}"
        got = self.client.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": self.t_card, "Key": {"card_no": {"S": w.card_no}}}},
                {"Get": {"TableName": self.t_account, "Key": {"person_id": {"S": w.person_id}}}},
                {"Get": {"TableName": self.t_key, "Key": {"scope_key": {"S": scope}}}},
            ]
        )["Responses"]
        card, account = got[0]["Item"], got[1]["Item"]
        if card["state"]["S"] != "active" or "Item" in got[2]:
            return 409
        version, balance = int(account["version"]["N"]), int(account["balance_fen"]["N"])
        paid = min(AMOUNT, balance)
        at = w.now()
        payment_id = uuid.uuid4().hex
        sort_key = f"{at:%Y-%m-%dT%H:%M:%S.%fZ}#{payment_id}"
        answer = json.dumps(
            {
                "payment_id": payment_id,
                "account_paid_fen": paid,
                "self_pay_fen": AMOUNT - paid,
                "balance_fen": balance - paid,
                "card_activated": False,
                "amount_fen": AMOUNT,
                "state": "completed",
                "paid_at": at.isoformat(),
            }
        )
        payment: dict[str, Any] = {
            "payment_id": {"S": payment_id},
            "institution_id": {"S": "BENCH-PH"},
            "institution_name": {"S": "Bench Pharmacy"},
            "institution_day": {"S": f"BENCH-PH#{(at + timedelta(hours=8)).date().isoformat()}"},
            "card_no": {"S": w.card_no},
            "person_id": {"S": w.person_id},
            "sort_key": {"S": sort_key},
            "amount_fen": {"N": str(AMOUNT)},
            "account_paid_fen": {"N": str(paid)},
            "self_pay_fen": {"N": str(AMOUNT - paid)},
            "self_pay": {"S": "allowed"},
            "state": {"S": "completed"},
            "paid_at": {"S": at.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},
            "balance_after_fen": {"N": str(balance - paid)},
            "card_activated": {"BOOL": False},
        }
        now = int(at.timestamp())
        key_record: dict[str, Any] = {
            "scope_key": {"S": scope},
            "fingerprint": {"S": "f" * 64},
            "in_flight": {"BOOL": False},
            "expires_at": {"N": str(now + 86_400)},
            "locked_until": {"N": "0"},
            "status": {"N": "201"},
            "body": {"S": answer},
        }
        self.client.transact_write_items(
            ClientRequestToken=uuid.uuid4().hex,
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": self.t_card,
                        "Key": {"card_no": {"S": w.card_no}},
                        "ConditionExpression": "#s = :active",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":active": {"S": "active"}},
                    }
                },
                {
                    "Put": {
                        "TableName": self.t_payment,
                        "Item": payment,
                        "ConditionExpression": "attribute_not_exists(payment_id)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.t_key,
                        "Item": key_record,
                        "ConditionExpression": (
                            "attribute_not_exists(scope_key) OR expires_at < :now "
                            "OR (in_flight = :true AND locked_until < :now)"
                        ),
                        "ExpressionAttributeValues": {":now": {"N": str(now)}, ":true": {"BOOL": True}},
                    }
                },
                {
                    "Update": {
                        "TableName": self.t_account,
                        "Key": {"person_id": {"S": w.person_id}},
                        "UpdateExpression": "ADD balance_fen :minus SET version = :next",
                        "ConditionExpression": (
                            "version = :read AND balance_fen >= :paid AND #s = :normal AND card_no = :card"
                        ),
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {
                            ":minus": {"N": str(-paid)},
                            ":next": {"N": str(version + 1)},
                            ":read": {"N": str(version)},
                            ":paid": {"N": str(paid)},
                            ":normal": {"S": "normal"},
                            ":card": {"S": w.card_no},
                        },
                    }
                },
            ],
        )
        self.last_read = [card, account, {}]  # the absent key record is read (and billed) too
        self.last_write = [card, payment, key_record, account]  # a ConditionCheck is billed as a write
        return 201


def boto3_path(raw: RawBoto3, n: int) -> list[int]:
    return [raw.pay() for _ in range(n)]


@dataclass
class Run:
    rate: float  # payments a second
    calls: float  # DynamoDB requests per payment
    outside_ms: float  # per payment, outside DynamoDB (moto) and the parsing of its answers
    operations: dict[str, int]
    units: tuple[int, int] = (0, 0)  # RCU, WCU of one payment (boto3 only)


def measure(path: str, n: int) -> Run:
    """One fresh moto world per measurement: moto's transactions copy every table (for their
    rollback), so their cost grows with the items stored; each path starts from the same state."""
    from sscard_ops.dynamo_calls import DynamoCalls, counting_pynamodb

    with mock_aws(), counting_pynamodb() as calls:
        world = World()
        raw = RawBoto3(world)
        raw_calls = DynamoCalls()
        raw_calls.attach(raw.client)
        run: Callable[[int], list[int]] = {
            "api": lambda k: api_path(world, k),
            "service": lambda k: service_path(world, k),
            "boto3": lambda k: boto3_path(raw, k),
        }[path]
        counter = raw_calls if path == "boto3" else calls
        run(3)  # warm: token and card->holder caches, clients, imports
        counter.reset()
        started = time.perf_counter()
        statuses = run(n)
        elapsed = time.perf_counter() - started
        assert set(statuses) == {201}, set(statuses)
        return Run(
            rate=n / elapsed,
            calls=counter.total / n,
            outside_ms=(elapsed - counter.seconds) * 1000 / n,
            operations=counter.snapshot(),
            units=capacity(raw.last_read, raw.last_write) if path == "boto3" else (0, 0),
        )


def median_run(runs: list[Run]) -> Run:
    return Run(
        rate=statistics.median(r.rate for r in runs),
        calls=statistics.median(r.calls for r in runs),
        outside_ms=statistics.median(r.outside_ms for r in runs),
        operations=runs[-1].operations,
        units=runs[-1].units,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.payments

    paths = ("api", "service", "boto3")
    runs: dict[str, list[Run]] = {path: [] for path in paths}
    for _ in range(args.rounds):
        for path in paths:  # interleaved, so a slow moment of the machine hits every path
            runs[path].append(measure(path, n))
    # moto's own time varies from run to run (by a third); medians are steadier than bests.
    best = {path: median_run(runs[path]) for path in paths}
    raw = best["boto3"]
    print(f"{n} payments per run, median of {args.rounds} runs, moto in process (mock_aws)\n")
    header = (
        "path",
        "payments/s",
        "ms/payment",
        "outside DB ms",
        "calls/payment",
        "boto3/path",
        "outside ratio",
    )
    print("{:<8} {:>11} {:>11} {:>14} {:>14} {:>11} {:>14}".format(*header))
    for path in paths:
        r = best[path]
        print(
            f"{path:<8} {r.rate:>11.1f} {1000 / r.rate:>11.2f} {r.outside_ms:>14.2f} {r.calls:>14.2f} "
            f"{raw.rate / r.rate:>11.2f} {r.outside_ms / raw.outside_ms:>14.2f}"
        )
    print("\nboto3/path: raw boto3's payments/s over the path's (1.00 = no overhead at all).")
    print("outside DB: wall time less the time from sending each request to its parsed answer;")
    print("outside ratio: the path's outside-DB time over raw boto3's (the code's own overhead).")
    print(f"requests by operation ({n} payments): { {p: best[p].operations for p in paths} }")
    rcu, wcu = raw.units
    print(
        f"capacity per payment from item sizes: {rcu} RCU (TransactGetItems), {wcu} WCU (TransactWriteItems)"
    )
    print("  + one write per GSI (2) of the payment item, about 1 WCU each")


if __name__ == "__main__":
    main()

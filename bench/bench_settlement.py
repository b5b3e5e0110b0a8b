"""Settlement's own overhead: a hospital payment the pooled fund and the serious-illness
insurance both pay part of, through the service, against raw boto3 doing the same DynamoDB
work; and its round trips and capacity units next to a plain pharmacy payment's.

    .venv/bin/python bench/bench_settlement.py [--payments 200] [--rounds 3]

Paths, each making N payments of one warm holder (the hospital's holder cache warm, as on a
warm Lambda container), in process against moto (mock_aws, single-threaded), each
measurement in a fresh moto world set up the same way:

  service   services.payments.pay() on the DynamoDB stores, a hospital outpatient bill of
            100 yuan for a serious-illness-eligible holder whose deductible is used up and whose
            serious-illness base is past its threshold: the fund pays 50, the serious-illness
            insurance 30, the account 20
  boto3     a bare client (configured as PynamoDB configures its own) sending the same two
            requests built by hand: TransactGetItems (card, key record, account, year counters,
            paid months) and TransactWriteItems (card check, payment, key record with the
            answer, day entry, account debit, year counters, the medical book's outflow shard),
            with the same conditions. It parses the items by hand and calls the same pure rules
            (domain/settlement.settle), so what differs is the code around the calls: the use
            case, the stores, PynamoDB's models and the rendering of the answer.

Before timing, one payment of each path is recorded and the two requests compared: the same
operations, tables, item attributes and conditions (else the benchmark stops). Round trips are
counted at botocore (`before-send`); capacity units are computed from item sizes
(common.Recorder), since moto reports none for transactions. Prints a markdown section.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import common
from common import recording_pynamodb
from moto import mock_aws

NOW, BALANCE = common.NOW, common.BALANCE
BILL = 10_000  # 100 yuan outpatient, all in scope
PHARMACY_BILL = 1_234
TARGET = 1.3
SHARDS = 256  # the fund books' shards (storage/contributions.py)


class World:
    """A hospital, a pharmacy, a serious-illness-eligible holder warmed past the deductible and
    the serious-illness threshold, and a plain holder (no contributions) for the pharmacy."""

    def __init__(self) -> None:
        from chalicelib.domain.holders import InstitutionKind
        from chalicelib.services import admin
        from chalicelib.storage.contributions import DynamoContributionStore
        from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
        from chalicelib.storage.models import create_tables
        from chalicelib.storage.payments import DynamoPaymentStore
        from sscard_ops.seed import post_months_paid_on_time
        from tests.payment_helpers import funded_holder

        create_tables()
        self.key = b"bench-hashing-key-of-32-bytes!!!"
        self.cards = DynamoCardStore()
        self.keys = DynamoIdempotencyStore()
        self.payments = DynamoPaymentStore()
        self.person_id, self.card_no = funded_holder(self.cards, self.key, NOW, BALANCE, seq=1)
        self.plain_card_no = funded_holder(self.cards, self.key, NOW, BALANCE, seq=2)[1]
        post_months_paid_on_time(
            DynamoContributionStore(),
            self.person_id,
            12,
            NOW,
            id_prefix="bench",
            medical_fen=2_000,
            serious_illness_fen=500,
            source=None,
        )
        self.hospital, _ = admin.add_institution(
            self.cards, self.key, InstitutionKind.HOSPITAL, "Bench Hospital", NOW, designated=True,
            institution_id="BENCH-H",
        )  # fmt: skip
        self.pharmacy, _ = admin.add_institution(
            self.cards, self.key, InstitutionKind.PHARMACY, "Bench Pharmacy", NOW, designated=True,
            institution_id="BENCH-PH",
        )  # fmt: skip
        self.clock = NOW
        # Two stays take the serious-illness base past 15,000 yuan; an outpatient bill uses up
        # the deductible. Every bill after that: fund 50 %, serious illness 60 % of the rest.
        for amount, visit in ((5_000_000, "inpatient"), (5_000_000, "inpatient"), (200_000, "outpatient")):
            service_pay(self, amount, visit)
        service_pay(self, PHARMACY_BILL, "pharmacy")  # the plain holder's card->person cached too

    def now(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock


def service_pay(world: World, amount: int, visit: str) -> dict[str, Any]:
    """The hospital bill of the eligible holder, or (visit "pharmacy") the plain holder's."""
    if visit == "pharmacy":
        return common.pay(world, world.pharmacy, world.plain_card_no, amount, world.now(), visit)
    return common.pay(world, world.hospital, world.card_no, amount, world.now(), visit)


class RawBoto3:
    """The settlement payment's two requests, built by hand with a bare client."""

    def __init__(self, world: World) -> None:
        import boto3
        from botocore.config import Config

        from chalicelib.storage.models import (
            AccountModel,
            CardModel,
            DayEntryModel,
            FundBookShardModel,
            IdempotencyModel,
            PaidMonthsModel,
            PaymentModel,
            YearCountersModel,
        )

        self.client = boto3.client("dynamodb", config=Config(parameter_validation=False))
        self.world = world
        self.t = {
            "card": CardModel.Meta.table_name,
            "account": AccountModel.Meta.table_name,
            "key": IdempotencyModel.Meta.table_name,
            "payment": PaymentModel.Meta.table_name,
            "counters": YearCountersModel.Meta.table_name,
            "months": PaidMonthsModel.Meta.table_name,
            "entry": DayEntryModel.Meta.table_name,
            "book": FundBookShardModel.Meta.table_name,
        }

    def pay(self) -> dict[str, Any]:
        from chalicelib.domain.contributions import InsuranceType
        from chalicelib.domain.coverage import PaidMonth
        from chalicelib.domain.periods import Period
        from chalicelib.domain.settlement import (
            DEFAULT_SETTLEMENT_POLICY,
            Bill,
            SelfPay,
            SeriousIllnessOnDay,
            Visit,
            YearCounters,
            settle,
        )

        w, t = self.world, self.t
        at = w.now()
        day = (at + timedelta(hours=8)).date()  # China time
        body = json.dumps({"card_no": w.card_no, "amount_fen": BILL, "visit": "outpatient"}).encode()
        scope = f"BENCH-H#{uuid.uuid4().hex}"
        person = {"person_id": {"S": w.person_id}}
        got = self.client.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": t["card"], "Key": {"card_no": {"S": w.card_no}}}},
                {"Get": {"TableName": t["key"], "Key": {"scope_key": {"S": scope}}}},
                {"Get": {"TableName": t["account"], "Key": person}},
                {"Get": {"TableName": t["counters"], "Key": {**person, "year": {"N": str(day.year)}}}},
                {"Get": {"TableName": t["months"], "Key": person}},
            ]
        )["Responses"]
        card, account, counters_item, months_item = (got[i].get("Item") for i in (0, 2, 3, 4))
        assert card and account and card["state"]["S"] == "active" and "Item" not in got[1]
        assert account["state"]["S"] == "normal" and account["card_no"]["S"] == w.card_no
        version, balance = int(account["version"]["N"]), int(account["balance_fen"]["N"])
        names = ("outpatient_deductible_used_fen", "inpatient_stays", "fund_paid_fen")
        names += ("outpatient_fund_paid_fen", "serious_illness_base_fen", "serious_illness_paid_fen")
        counters = YearCounters(**{n: int(counters_item[n]["N"]) if n in counters_item else 0 for n in names})
        counters_version = int(counters_item["version"]["N"])
        lists = ((InsuranceType.MEDICAL, "medical"), (InsuranceType.SERIOUS_ILLNESS, "serious_illness"))
        months = [  # "YYYY-MM=YYYY-MM-DD" entries
            PaidMonth(insurance, Period.parse(entry["S"][:7]), 0, date.fromisoformat(entry["S"][8:]))
            for insurance, attribute in lists
            for entry in months_item[attribute]["L"]
        ]
        policy = DEFAULT_SETTLEMENT_POLICY
        split = settle(
            Bill(Visit.OUTPATIENT, BILL, BILL),
            balance_fen=balance,
            self_pay=SelfPay.ALLOWED,
            counters=counters,
            in_force=policy.medical_in_force(months, day),
            serious_illness=SeriousIllnessOnDay.of(months, day),
            policy=policy,
        )
        paid, after = split.account_paid_fen, balance - split.account_paid_fen
        payment_id = uuid.uuid4().hex
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f")
        delta = split.delta.as_dict()
        parts = {
            "fund_paid_fen": split.fund_paid_fen,
            "serious_illness_paid_fen": split.serious_illness_paid_fen,
            "account_paid_fen": paid,
            "self_pay_fen": split.self_pay_fen,
        }
        notes = [{"code": n.code.value, "detail": n.detail} for n in split.notes]
        answer = {
            "visit": "outpatient",
            "amount_fen": BILL,
            "in_scope_fen": BILL,
            **parts,
            "deductible_fen": split.deductible_fen,
            "out_of_scope_fen": 0,
            "notes": notes,
            "payment_id": payment_id,
            "balance_fen": after,
            "card_activated": False,
            "state": "completed",
            "paid_at": at.isoformat().replace("+00:00", "Z"),
        }
        n = {k: {"N": str(v)} for k, v in parts.items()}
        institution_day = f"BENCH-H#{day.isoformat()}"
        payment = {
            "payment_id": {"S": payment_id},
            **n,
            "amount_fen": {"N": str(BILL)},
            "balance_after_fen": {"N": str(after)},
            "card_activated": {"BOOL": False},
            "card_no": {"S": w.card_no},
            "counters_delta": {"S": json.dumps(delta)},
            "counters_year": {"N": str(day.year)},
            "deductible_fen": {"N": str(split.deductible_fen)},
            "in_scope_fen": {"N": str(BILL)},
            "institution_day": {"S": institution_day},
            "institution_id": {"S": "BENCH-H"},
            "institution_name": {"S": "Bench Hospital"},
            "notes": {"S": json.dumps(notes)},
            "paid_at": {"S": f"{stamp}+0000"},
            **person,
            "self_pay": {"S": "allowed"},
            "sort_key": {"S": f"{stamp}Z#{payment_id}"},
            "state": {"S": "completed"},
            "visit": {"S": "outpatient"},
        }
        now = int(at.timestamp())
        key_record = {
            "scope_key": {"S": scope},
            "body": {"S": json.dumps(answer, separators=(",", ":"))},
            "expires_at": {"N": str(now + 86_400)},
            "fingerprint": {"S": hashlib.sha256(b"POST /v1/payments\n" + body).hexdigest()},
            "in_flight": {"BOOL": False},
            "locked_until": {"N": "0"},
            "status": {"N": "201"},
        }
        entry = {
            "institution_day": {"S": institution_day},
            "entry_key": {"S": f"{stamp}Z#{payment_id}#payment"},
            **{k: v for k, v in n.items() if k != "self_pay_fen"},
            "amount_fen": {"N": str(BILL)},
            "at": {"S": f"{stamp}+0000"},
            "kind": {"S": "payment"},
            "payment_id": {"S": payment_id},
            "self_pay_fen": n["self_pay_fen"],
        }
        added = [k for k, v in delta.items() if v]
        shard = int.from_bytes(hashlib.sha256(f"{payment_id}#0".encode()).digest()[:8], "big") % SHARDS
        self.client.transact_write_items(
            ClientRequestToken=uuid.uuid4().hex,
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": t["card"],
                        "Key": {"card_no": {"S": w.card_no}},
                        "ConditionExpression": "#s = :active",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":active": {"S": "active"}},
                    }
                },
                {
                    "Put": {
                        "TableName": t["payment"],
                        "Item": payment,
                        "ConditionExpression": "attribute_not_exists(payment_id)",
                    }
                },
                {
                    "Put": {
                        "TableName": t["key"],
                        "Item": key_record,
                        "ConditionExpression": (
                            "attribute_not_exists(scope_key) OR expires_at < :now "
                            "OR (in_flight = :true AND locked_until < :now)"
                        ),
                        "ExpressionAttributeValues": {":now": {"N": str(now)}, ":true": {"BOOL": True}},
                    }
                },
                {
                    "Put": {
                        "TableName": t["entry"],
                        "Item": entry,
                        "ConditionExpression": "attribute_not_exists(entry_key)",
                    }
                },
                {
                    "Update": {
                        "TableName": t["account"],
                        "Key": person,
                        "UpdateExpression": "SET version = :next ADD balance_fen :minus",
                        "ConditionExpression": (
                            "version = :read AND balance_fen >= :paid AND #s = :normal AND card_no = :card"
                        ),
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {
                            ":read": {"N": str(version)},
                            ":paid": {"N": str(paid)},
                            ":normal": {"S": "normal"},
                            ":card": {"S": w.card_no},
                            ":next": {"N": str(version + 1)},
                            ":minus": {"N": str(-paid)},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": t["counters"],
                        "Key": {**person, "year": {"N": str(day.year)}},
                        "ConditionExpression": "version = :read",
                        "UpdateExpression": "SET version = :next ADD "
                        + ", ".join(f"{k} :{k}" for k in added),
                        "ExpressionAttributeValues": {
                            ":read": {"N": str(counters_version)},
                            ":next": {"N": str(counters_version + 1)},
                            **{f":{k}": {"N": str(delta[k])} for k in added},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": t["book"],
                        "Key": {"shard_key": {"S": f"medical#{shard:03d}"}},
                        "UpdateExpression": "SET #b = :book, #h = :shard ADD outflow_fen :out, outflows :one",
                        "ExpressionAttributeNames": {"#b": "book", "#h": "shard"},  # reserved words
                        "ExpressionAttributeValues": {
                            ":book": {"S": "medical"},
                            ":shard": {"N": str(shard)},
                            ":out": {"N": str(split.fund_paid_fen + split.serious_illness_paid_fen)},
                            ":one": {"N": "1"},
                        },
                    }
                },
            ],
        )
        return answer


def shape(calls: list[common.Call]) -> list[tuple[str, list[tuple[str, str, tuple[str, ...], bool]]]]:
    """Each request's operation and, per item, its kind, table, attribute names and condition."""
    out = []
    for c in calls:
        items = []
        for entry in c.params["TransactItems"]:
            kind, body = next(iter(entry.items()))
            attributes = tuple(sorted(body.get("Item") or body.get("Key") or {}))
            updated = body.get("UpdateExpression", "")
            names = body.get("ExpressionAttributeNames", {})
            for alias, name in names.items():
                updated = updated.replace(alias, name)
            if updated:  # the attributes an update sets or adds
                words = updated.replace(",", " ").split()
                attributes += tuple(sorted(w for w in words if w.isidentifier() and w not in ("SET", "ADD")))
            items.append((kind, body["TableName"], attributes, "ConditionExpression" in body))
        out.append((c.operation, items))
    return out


@dataclass
class Run:
    seconds: float  # CPU time of the N payments
    db_seconds: float  # the part from building each request to its parsed answer
    trips: float  # requests sent per payment


def measure(path: str, n: int) -> Run:
    """One fresh moto world per measurement: moto's cost grows with what is stored."""
    with mock_aws(), recording_pynamodb(units=False) as rec:
        world = World()
        raw = RawBoto3(world)
        rec.attach(raw.client)
        run: Callable[[], object] = (
            (lambda: service_pay(world, BILL, "outpatient")) if path == "service" else raw.pay
        )
        for _ in range(3):  # warm: clients, imports
            run()
        rec.reset()
        started = time.process_time()
        for _ in range(n):
            run()
        elapsed = time.process_time() - started
        return Run(elapsed, rec.db_seconds, sum(rec.sent.values()) / n)


def profile() -> dict[str, tuple[int, dict[str, int], common.Units, str, dict[str, Any]]]:
    """One payment of each kind with its capacity units; the settlement's two paths compared."""
    out = {}
    with mock_aws(), recording_pynamodb() as rec:
        world = World()
        raw = RawBoto3(world)
        rec.attach(raw.client)
        recorded: dict[str, list[common.Call]] = {}
        for label, do in (
            ("settlement (service)", lambda: service_pay(world, BILL, "outpatient")),
            ("settlement (raw boto3)", raw.pay),
            ("pharmacy payment (service)", lambda: service_pay(world, PHARMACY_BILL, "pharmacy")),
        ):
            rec.reset()
            answer = do()
            recorded[label] = list(rec.calls)
            out[label] = (sum(rec.sent.values()), rec.operations(), rec.total(), rec.detail(), answer)
    service, hand = (shape(recorded[f"settlement ({p})"]) for p in ("service", "raw boto3"))
    if service != hand:
        raise SystemExit(f"the hand-built requests differ from the service's:\n{service}\n{hand}")
    a, b = (out[f"settlement ({p})"][4] for p in ("service", "raw boto3"))
    drop = ("payment_id", "balance_fen", "paid_at")
    if {k: v for k, v in a.items() if k not in drop} != {k: v for k, v in b.items() if k not in drop}:
        raise SystemExit(f"the hand-built payment split differently:\n{a}\n{b}")
    assert a["fund_paid_fen"] > 0 and a["serious_illness_paid_fen"] > 0, a
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.payments
    profiled = profile()
    runs: dict[str, list[Run]] = {"service": [], "boto3": []}
    for _ in range(args.rounds):
        for path in runs:  # interleaved, so a slow moment of the machine hits both
            runs[path].append(measure(path, n))
    ratios = [s.seconds / r.seconds for s, r in zip(runs["service"], runs["boto3"], strict=True)]
    ratio = statistics.median(ratios)
    outside = {
        path: statistics.median((r.seconds - r.db_seconds) / n * 1000 for r in rs)
        for path, rs in runs.items()
    }
    rate = {path: statistics.median(n / r.seconds for r in rs) for path, rs in runs.items()}
    sample = profiled["settlement (service)"][4]
    print(
        f"A hospital outpatient bill of {BILL // 100} yuan for a serious-illness-eligible holder past "
        f"the deductible and the threshold: fund {sample['fund_paid_fen']} fen, serious illness "
        f"{sample['serious_illness_paid_fen']} fen, account {sample['account_paid_fen']} fen. "
        f"{n} payments per run, median of {args.rounds} interleaved rounds, each in a fresh moto "
        "world (mock_aws, in process); raw = bare boto3 sending the same two requests, built by "
        "hand (checked: the same operations, tables, attributes and conditions, and the same split). "
        "Times are CPU time of this one process (moto runs in it), so other load does not count.\n"
    )
    verdict = "met" if ratio <= TARGET else f"missed by {ratio - TARGET:.2f}"
    print(
        "| path | payments per CPU s (service) | payments per CPU s (raw boto3) | service time / raw time "
        "| target "
        "| outside DynamoDB ms/payment: service | raw |"
    )
    print("|---|---:|---:|---:|---|---:|---:|")
    print(
        f"| settlement (fund + serious illness) | {rate['service']:,.0f} | {rate['boto3']:,.0f} | "
        f"{ratio:.2f} | <= {TARGET} {verdict} | {outside['service']:.2f} | {outside['boto3']:.2f} |"
    )
    print()
    print("| payment | round trips | requests (tables) | RRU | WRU (tables) | WRU (indexes) |")
    print("|---|---:|---|---:|---:|---:|")
    for label, (trips, _ops, units, detail, _answer) in profiled.items():
        print(f"| {label} | {trips} | {detail} | {units.rru:g} | {units.wru:g} | {units.gsi_wru:g} |")
    print(
        "\nRound trips measured per payment in the timed runs: "
        + ", ".join(f"{p} {statistics.median(r.trips for r in rs):.2f}" for p, rs in runs.items())
        + ". Units from item sizes (common.Recorder): transactional reads 2 per 4 KB item, "
        "transactional writes 2 per 1 KB item (a ConditionCheck billed as one), plus a write per "
        "index the written item appears in."
    )
    (_, _, settled, _, _), (_, _, plain, _, _) = (
        profiled[k] for k in ("settlement (service)", "pharmacy payment (service)")
    )
    print(
        f"The settlement's extra over the pharmacy payment: {settled.rru - plain.rru:g} RRU, "
        f"{settled.wru - plain.wru:g} WRU (the medical book's outflow shard); both read the year "
        "counters and paid months and write the counters, in the same two round trips."
    )


if __name__ == "__main__":
    main()

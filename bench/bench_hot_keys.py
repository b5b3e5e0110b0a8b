"""Hot keys: 100,000 simulated payments and 100,000 simulated postings over many holders and
institutions; the most writes any single item (or index partition) receives.

    .venv/bin/python bench/bench_hot_keys.py [--payments 100000] [--postings 100000]

Payments, in two steps:
  1. A real run: a few hundred payments through services.payments.pay() against moto, over
     several holders and institutions, with a botocore hook recording the keys of every
     item each TransactWriteItems writes (and the index partitions its puts land in). Each
     written key is matched to what it depends on: the card, the holder, the institution
     and day, or nothing (a key new to each payment). Every payment must show the same shape.
  2. That shape applied to N simulated payments in memory: holders and institutions drawn
     with a heavy skew (holders uniformly; institutions Zipf 1.0: a few very big hospitals), one day,
     the writes per key counted. Writing 100,000 payments through moto would take an hour
     (moto copies its tables for every transaction); the keys are the same.
Postings: bench_contributions.simulated(), which builds each posting's transaction with the
store's own posting_items() and counts the keys (no DynamoDB needed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
from collections import Counter
from datetime import timedelta
from typing import Any

import common  # environment first
from common import recording_pynamodb
from moto import mock_aws

PARTITION_WRITES = 1_000  # a DynamoDB partition: 1,000 WCU/s (and 3,000 RCU/s)


def payment_shape(n: int = 300, holders: int = 30, institutions: int = 6) -> set[tuple[str, ...]]:
    """Run real payments; return each payment's written keys by what they depend on."""
    from chalicelib.domain.holders import InstitutionKind
    from chalicelib.services import admin
    from tests.payment_helpers import funded_holder

    shapes: set[tuple[str, ...]] = set()
    with mock_aws(), recording_pynamodb(units=True) as rec:
        rec.on = False
        world = common.PharmacyWorld()
        key = world.secrets.key
        people = [funded_holder(world.cards, key, common.NOW, 10**9) for _ in range(holders)]
        places = [
            admin.add_institution(
                world.cards,
                key,
                InstitutionKind.PHARMACY if i % 2 else InstitutionKind.HOSPITAL,
                f"Bench {i}",
                common.NOW,
                designated=True,
                institution_id=f"BENCH-{i}",
            )[0]
            for i in range(institutions)
        ]
        rng = random.Random(3)
        for i in range(n):
            person_id, card_no = rng.choice(people)
            place = rng.choice(places)
            at = common.NOW + timedelta(minutes=i)
            rec.reset()
            rec.on = True
            common.pay(world, place, card_no, 100, at)
            rec.on = False
            day = (at + timedelta(hours=8)).date().isoformat()
            meaning = {
                card_no: "card",
                person_id: "holder",
                f"{place.institution_id}#{day}": "institution-day",
            }
            shape = []
            for call in rec.calls:
                if call.operation != "TransactWriteItems":
                    continue
                for entry in call.params["TransactItems"]:
                    kind, body = next(iter(entry.items()))
                    table = body["TableName"].removeprefix("sscard-bench-")
                    item = body.get("Item") or body["Key"]
                    _, gsis = rec._schema(body["TableName"])
                    keys = rec._schema(body["TableName"])[0]
                    value = next(iter(item[keys[0]].values()))
                    shape.append(f"{kind} {table}: {meaning.get(value, 'new')}")
                    if kind == "Put":
                        for gsi in gsis:
                            if gsi[0] in item:
                                v = next(iter(item[gsi[0]].values()))
                                shape.append(f"index {table}/{gsi[0]}: {meaning.get(v, 'new')}")
            shapes.add(tuple(sorted(shape)))
    return shapes


def zipf_weights(count: int, s: float) -> list[float]:
    return [1 / (k**s) for k in range(1, count + 1)]


def simulate_payments(shape: tuple[str, ...], total: int, holders: int, institutions: int) -> list[str]:
    rng = random.Random(5)
    who = [rng.randrange(holders) for _ in range(total)]
    where = rng.choices(range(institutions), weights=zipf_weights(institutions, 1.0), k=total)
    writes: Counter[tuple[str, Any]] = Counter()
    for i, (h, inst) in enumerate(zip(who, where, strict=True)):
        for entry in shape:
            target, depends = entry.rsplit(": ", 1)
            key = {"card": h, "holder": h, "institution-day": inst, "new": i}[depends]
            writes[(f"{target} ({depends})", key)] += 1
    top: dict[str, int] = {}
    for (target, _), n in writes.items():
        top[target] = max(top.get(target, 0), n)
    busiest_holder = Counter(who).most_common(1)[0][1]
    busiest_inst = Counter(where).most_common(1)[0][1]
    lines = [
        f"{total:,} simulated payments in one day over {holders:,} holders (uniformly) and "
        f"{institutions:,} institutions (Zipf 1.0); the busiest holder paid {busiest_holder:,} times, "
        f"the busiest institution took {busiest_inst:,} payments ({busiest_inst / total:.1%}).",
        "",
        "| item written by a payment | most writes to one item (or partition key) | share of payments |",
        "|---|---:|---:|",
    ]
    for target, n in sorted(top.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {target} | {n:,} | {n / total:.2%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--postings", type=int, default=100_000)
    parser.add_argument("--holders", type=int, default=50_000)
    parser.add_argument("--institutions", type=int, default=2_000)
    args = parser.parse_args()

    shapes = payment_shape()
    print("### Payments\n")
    print("The items one payment's TransactWriteItems writes, recorded on 300 real payments (moto):\n")
    if len(shapes) != 1:
        print(f"**{len(shapes)} different shapes** (expected one): {sorted(shapes)}\n")
    shape = sorted(shapes)[0]
    for entry in shape:
        print(f"- {entry}")
    print()
    for line in simulate_payments(shape, args.payments, args.holders, args.institutions):
        print(line)
    print(
        "\n'new' keys (payment, idempotency record) are written once each. The account, the card and "
        "the year counters take one write per payment of their holder. The institution's day entries "
        "(one new item a payment, under the institution-day partition key) and the by-institution-day "
        "index take one write per payment at that institution that day: those count writes to one "
        "partition key, not to one item (docs/capacity.md scales these to the national peak)."
    )

    import bench_contributions as bc

    from chalicelib.storage.contributions import SHARDS

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        bc.simulated(args.postings, 20_000, SHARDS)
    print("\n### Contribution postings\n")
    print(
        "bench_contributions.simulated(): each posting's transaction from "
        "storage.contributions.posting_items().\n"
    )
    print("```")
    print(out.getvalue().rstrip())
    print("```")
    print(
        f"\nA DynamoDB partition takes about {PARTITION_WRITES:,} write units a second; a single item "
        "can never be spread over partitions, so what matters is each item's writes per second at "
        "peak (docs/capacity.md)."
    )


if __name__ == "__main__":
    main()

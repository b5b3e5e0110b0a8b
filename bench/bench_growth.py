"""Cost of one payment and one posting as the tables fill: 1,000, 10,000 and 100,000 items
already stored, with moto's own TransactWriteItems and with the journaled one (moto_journal.py).

    .venv/bin/python bench/bench_growth.py [--sizes 1000,10000,100000] [--ops 40] [--moto-sizes 1000,10000]

In process (mock_aws, single thread). For each size a fresh moto world: the payment and
posting fixtures of bench_payments.py and bench_contributions.py, then filler items put
straight into moto's tables (no HTTP, no parsing), spread evenly over every table, so
that each transaction's tables hold their share. Then `ops` payments (services.payments.pay
on the DynamoDB stores) and `ops` postings (the SQS handler, one message a batch), each
timed; the median is reported, and its ratio to the smallest size. moto's own transaction
deep-copies each table it names, so it only runs at the sizes in --moto-sizes (at 100,000
a single transaction takes seconds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import common  # noqa: F401  (the benchmarks' environment, before anything reads it)
from moto import mock_aws

from sscard_ops import moto_journal

HOLDERS = 20


def fill(total: int) -> None:
    """`total` filler items over every table of the world, straight into moto's backend."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["cn-north-1"]
    tables = [t for name, t in backend.tables.items() if name.startswith("sscard-bench-")]
    for i in range(total):
        table = tables[i % len(tables)]
        item: dict[str, Any] = {}
        for attr in (table.hash_key_attr, table.range_key_attr):
            if attr is None:
                continue
            kind = next(a["AttributeType"] for a in table.attr if a["AttributeName"] == attr)
            item[attr] = {"N": str(10**9 + i)} if kind == "N" else {"S": f"filler#{i:07d}"}
        item["filler"] = {"S": "x" * 200}
        table.put_item(item)


def measure(size: int, ops: int) -> tuple[float, float]:
    """Median seconds of one payment and of one posting with `size` items already stored."""
    import bench_contributions as contrib
    import bench_payments as pay

    from app import app
    from chalicelib.domain.holders import Participation
    from chalicelib.services import admin
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.workers import contributions as worker

    with mock_aws():
        world = pay.World()  # creates the tables, a funded card and a pharmacy
        holders = contrib.holders_list(HOLDERS)
        for ssn, participation in holders:
            admin.enroll_holder(
                world.cards, world.secrets.hashing_key(), ssn, "Bench", Participation(participation), pay.NOW
            )
        from chalicelib.api import deps as deps_module

        deps_module.use(
            deps_module.Deps(
                world.cards,
                world.keys,
                world.secrets,
                clock=world.now,
                payments=world.payments,
                contributions=DynamoContributionStore(),
            )
        )
        fill(size)
        handler = app.handler_map["post_contributions"]
        messages = contrib.messages_for(holders, ops + 5)
        random.Random(7).shuffle(messages)
        worker.holders.clear()
        pay.service_path(world, 5)  # warm: connections, caches
        for m in messages[:5]:
            handler(contrib.event([m]), None)

        payments = []
        for _ in range(ops):
            started = time.perf_counter()
            (status,) = pay.service_path(world, 1)
            payments.append(time.perf_counter() - started)
            assert status == 201, status
        postings = []
        for m in messages[5:]:
            started = time.perf_counter()
            failed = handler(contrib.event([m]), None)["batchItemFailures"]
            postings.append(time.perf_counter() - started)
            assert not failed, failed
        deps_module.use(None)
    return statistics.median(payments), statistics.median(postings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--ops", type=int, default=40, help="payments and postings timed per size")
    parser.add_argument("--moto-sizes", default="1000,10000", help="sizes also run with moto's own copy")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    moto_sizes = [int(s) for s in args.moto_sizes.split(",") if s]
    rows: list[tuple[str, int, float, float]] = []
    for label, transact, chosen in (
        ("journaled", moto_journal.journaled_transact_write_items, sizes),
        ("moto's copy", moto_journal.ORIGINAL, moto_sizes),
    ):
        moto_journal.use(transact)
        for size in chosen:
            payment, posting = measure(size, args.ops if transact is not moto_journal.ORIGINAL else 10)
            rows.append((label, size, payment, posting))
    moto_journal.install()
    print("| TransactWriteItems | items stored | one payment ms | x smallest | one posting ms | x smallest |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, size, payment, posting in rows:
        base = next(r for r in rows if r[0] == label)
        print(
            f"| {label} | {size:,} | {payment * 1000:.1f} | {payment / base[2]:.2f} | "
            f"{posting * 1000:.1f} | {posting / base[3]:.2f} |"
        )
    journaled = [r for r in rows if r[0] == "journaled"]
    worst = max(max(r[2] / journaled[0][2], r[3] / journaled[0][3]) for r in journaled)
    print(
        f"\nTarget: the largest size at most 1.3x the smallest (journaled): {worst:.2f}x, "
        f"{'met' if worst <= 1.3 else 'NOT met'}. Medians of {args.ops} (moto's copy: 10) operations "
        f"per size; filler items spread evenly over every table."
    )


if __name__ == "__main__":
    main()

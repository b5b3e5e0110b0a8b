"""Cost of one payment and one posting as the tables fill: 1,000, 10,000 and 100,000 items
already stored, with moto's own TransactWriteItems and with the journaled one (moto_journal.py).

    .venv/bin/python bench/bench_growth.py [--sizes 1000,10000,100000] [--ops 40] [--moto-sizes 1000,10000]

In process (mock_aws, single thread). For each size a fresh moto world: the payment and
posting fixtures of common.PharmacyWorld and bench_contributions.py, then filler items put
straight into moto's tables (no HTTP, no parsing), spread evenly over every table, so
that each transaction's tables hold their share. Then `ops` payments (services.payments.pay
on the DynamoDB stores) and `ops` postings (the SQS handler, one message a batch), each
timed in CPU time of this process (everything runs in this one thread, so CPU time is the
cost, and other load on a shared machine does not count); the sizes run in rounds, in
alternating order (small to large, then large to small) so that drift cancels, and the
median over all rounds is reported, with its ratio to the smallest size. moto's own transaction
deep-copies each table it names, so it only runs at the sizes in --moto-sizes (at 100,000
a single transaction takes seconds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import common  # the benchmarks' environment, before anything reads it
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


def measure(size: int, ops: int) -> tuple[list[float], list[float]]:
    """CPU seconds of each payment and each posting with `size` items already stored."""
    import bench_contributions as contrib

    from app import app
    from chalicelib import bootstrap
    from chalicelib.domain.holders import Participation
    from chalicelib.services import admin
    from chalicelib.workers import contributions as worker

    with mock_aws():
        world = common.PharmacyWorld()  # the tables, a funded card, a pharmacy; the container in use
        holders = contrib.holders_list(HOLDERS)
        for ssn, participation in holders:
            admin.enroll_holder(
                world.cards,
                world.secrets.hashing_key(),
                ssn,
                "Bench",
                Participation(participation),
                common.NOW,
            )
        fill(size)
        handler = app.handler_map["post_contributions"]
        messages = contrib.messages_for(holders, ops + 5)
        random.Random(7).shuffle(messages)
        worker.holders.clear()
        world.service_payments(5)  # warm: connections, caches
        for m in messages[:5]:
            handler(contrib.event([m]), None)

        payments = []
        for _ in range(ops):
            started = time.process_time()
            world.service_payments(1)
            payments.append(time.process_time() - started)
        postings = []
        for m in messages[5:]:
            started = time.process_time()
            failed = handler(contrib.event([m]), None)["batchItemFailures"]
            postings.append(time.process_time() - started)
            assert not failed, failed
        bootstrap.use(None)
    return payments, postings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--ops", type=int, default=40, help="payments and postings timed per size")
    parser.add_argument("--moto-sizes", default="1000,10000", help="sizes also run with moto's own copy")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    moto_sizes = [int(s) for s in args.moto_sizes.split(",") if s]
    rows: list[tuple[str, int, float, float]] = []
    for label, transact, chosen, ops in (
        ("journaled", moto_journal.journaled_transact_write_items, sizes, args.ops),
        ("moto's copy", moto_journal.ORIGINAL, moto_sizes, 10),
    ):
        moto_journal.use(transact)
        samples: dict[int, tuple[list[float], list[float]]] = {size: ([], []) for size in chosen}
        for round_ in range(args.rounds):
            for size in chosen if round_ % 2 == 0 else reversed(chosen):
                payments, postings = measure(size, ops)
                samples[size][0].extend(payments)
                samples[size][1].extend(postings)
        for size in chosen:
            rows.append(
                (label, size, statistics.median(samples[size][0]), statistics.median(samples[size][1]))
            )
    moto_journal.install()
    print(
        "| TransactWriteItems | items stored | one payment, CPU ms | x smallest "
        "| one posting, CPU ms | x smallest |"
    )
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
        f"{'met' if worst <= 1.3 else 'NOT met'}. CPU time; medians of {args.rounds} rounds x {args.ops} "
        f"operations (moto's copy: x 10) per size; filler items spread evenly over every table."
    )


if __name__ == "__main__":
    main()

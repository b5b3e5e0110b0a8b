"""Contribution posting: throughput, DynamoDB calls per posting, and the hottest item.

    .venv/bin/python bench/bench_contributions.py [--messages 2000] [--holders 200] [--simulate 100000]

1. Postings a second through the real SQS handler (app.py's `post_contributions`, batches of
   10 with distinct message ids), in process, against moto's in-process DynamoDB. moto is
   far slower than DynamoDB, so the absolute rate measures this machine and moto; the
   per-posting call counts are what carry over to AWS.
2. DynamoDB calls per posting, counted at botocore for every client (PynamoDB's included),
   with the holder cache cold and warm.
3. For N simulated postings over many holders (a monthly run's mix of types and payers),
   the writes each item receives, from the very transaction the store would send
   (storage.contributions.posting_items): the largest count any single item gets, and
   which item it is. No DynamoDB is needed for this part.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import botocore.client
import common  # noqa: F401  (the benchmarks' environment, before anything reads it)
from moto import mock_aws

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MONTHLY_MIX = [
    # (insurance, payer, typical amount in fen) for an employee's month...
    ("pension", "employer", 128_000),
    ("pension", "employee", 64_000),
    ("medical", "employer", 64_000),
    ("medical", "employee", 16_000),
    ("unemployment", "employer", 4_000),
    ("unemployment", "employee", 4_000),
    ("work_injury", "employer", 1_600),
    ("maternity", "employer", 6_400),
    ("serious_illness", "employee", 1_000),
]
FREELANCER_MIX = [
    ("pension", "individual", 96_000),
    ("medical", "individual", 48_000),
    ("unemployment", "individual", 3_000),
    ("serious_illness", "individual", 1_000),
]


class Calls:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0
        original = botocore.client.BaseClient._make_api_call
        counts = self.counts

        def counted(client, operation_name, api_params):  # type: ignore[no-untyped-def]
            counts[operation_name] += 1
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                self.seconds += time.perf_counter() - started

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]


def ssn_for(i: int) -> str:
    from sscard_ops.seed import make_ssn

    # Born 1970-1999, on days 01-28; a distinct sequence per holder.
    return make_ssn(f"110105{1970 + i % 30}{i % 12 + 1:02d}{i % 28 + 1:02d}{i % 1000:03d}"[:17])


def holders_list(count: int) -> list[tuple[str, str]]:
    """(ssn, participation): every fourth holder a freelancer."""
    out, seen, i = [], set(), 0
    while len(out) < count:
        ssn = ssn_for(i)
        i += 1
        if ssn in seen:
            continue
        seen.add(ssn)
        out.append((ssn, "freelancer" if len(out) % 4 == 3 else "employee"))
    return out


def messages_for(holders: list[tuple[str, str]], count: int) -> list[dict]:
    messages: list[dict] = []
    month = 0
    while len(messages) < count:
        period = f"{2024 + month // 12}-{month % 12 + 1:02d}"
        for ssn, participation in holders:
            for insurance, payer, amount in MONTHLY_MIX if participation == "employee" else FREELANCER_MIX:
                body = {
                    "contribution_id": uuid.uuid4().hex,
                    "ssn": ssn,
                    "period": period,
                    "insurance": insurance,
                    "payer": payer,
                    "amount_fen": amount,
                    "paid_at": f"{period}-10T09:00:00+08:00",
                }
                if payer == "employer":
                    body["employer_id"] = "EMP-BENCH"
                messages.append(body)
        month += 1
    return messages[:count]


def event(batch: list[dict]) -> dict:
    import json

    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "rh",
                "body": json.dumps(m),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:cn-north-1:123456789012:sscard-local-contributions",
                "awsRegion": "cn-north-1",
            }
            for m in batch
        ]
    }


def through_the_handler(message_count: int, holder_count: int) -> None:
    from app import app
    from chalicelib import bootstrap
    from chalicelib.domain.holders import Participation
    from chalicelib.services import admin
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.workers import contributions as worker
    from tests.fakes import FakeSecrets

    handler = app.handler_map["post_contributions"]
    calls = Calls()
    with mock_aws():
        create_tables()
        cards = DynamoCardStore()
        secrets = FakeSecrets()
        holders = holders_list(holder_count)
        for ssn, participation in holders:
            admin.enroll_holder(cards, secrets.hashing_key(), ssn, "Bench", Participation(participation), NOW)
        store = DynamoContributionStore()
        bootstrap.use(
            bootstrap.built(
                store=cards, idempotency=DynamoIdempotencyStore(), secrets=secrets, clock=lambda: NOW,
                contributions=store,
            )
        )  # fmt: skip
        messages = messages_for(holders, message_count)
        random.Random(7).shuffle(messages)
        batches = [messages[i : i + 10] for i in range(0, len(messages), 10)]

        def run(label: str, some: list[list[dict]]) -> None:
            calls.counts.clear()
            calls.seconds = 0.0
            started = time.perf_counter()
            failed = 0
            for b in some:
                failed += len(handler(event(b), None)["batchItemFailures"])
            seconds = time.perf_counter() - started
            posted = sum(len(b) for b in some) - failed
            per = {op: n / posted for op, n in sorted(calls.counts.items())}
            rate = posted / seconds
            print(
                f"  {label}: {posted} postings in {seconds:.2f} s = {rate:,.0f} postings/s; failed {failed}"
            )
            print(
                f"    DynamoDB calls per posting: {sum(per.values()):.3f}  "
                + ", ".join(f"{k} {v:.3f}" for k, v in per.items())
            )
            own = (seconds - calls.seconds) / posted * 1000
            print(f"    time outside the DynamoDB calls (handler, service, PynamoDB): {own:.2f} ms a posting")

        worker.holders.clear()
        half = len(batches) // 2
        print(f"Through the handler, in process, moto mock_aws ({holder_count} holders, batches of 10):")
        run("holder cache cold at start", batches[:half])
        run("holder cache warm", batches[half:])
        calls.counts.clear()
        started = time.perf_counter()
        for b in batches[:50]:
            handler(event(b), None)  # the same messages again: every one a duplicate
        print(
            f"  redelivered {sum(len(b) for b in batches[:50])} messages: "
            f"{time.perf_counter() - started:.2f} s, calls {dict(calls.counts)}"
        )
        books, postings = store.book_totals(), store.postings_by_book()
        print(f"  books equal the sum of their postings: {books == postings}")
        bootstrap.use(None)


def simulated(total: int, holders: int, shards: int) -> None:
    from chalicelib.domain.contribution_policy import ContributionPolicy, personal_account_share
    from chalicelib.domain.contributions import Contribution, InsuranceType, Payer
    from chalicelib.domain.identifiers import Ssn
    from chalicelib.domain.periods import Period
    from chalicelib.services.contribution_ports import Posting
    from chalicelib.storage.contributions import posting_items, shard_of

    policy = ContributionPolicy()
    anyone = Ssn.parse(ssn_for(0))
    writes: Counter[tuple[str, str]] = Counter()
    rng = random.Random(11)
    people = [(f"P{i:07d}", "freelancer" if i % 4 == 3 else "employee") for i in range(holders)]
    made = 0
    month = 0
    while made < total:
        period = Period(2024, 1).shift(month)
        for person_id, participation in people:
            for insurance, payer, amount in MONTHLY_MIX if participation == "employee" else FREELANCER_MIX:
                if made == total:
                    break
                cid = uuid.UUID(int=rng.getrandbits(128)).hex
                kind, who = InsuranceType(insurance), Payer(payer)
                share = personal_account_share(
                    Contribution(cid, anyone, period, kind, who, None, amount, NOW), policy
                )
                posting = Posting(cid, person_id, kind, period, who, None, amount, share, NOW, NOW)
                items = posting_items(posting, shard_of(cid, 0, shards))
                for _, item, *_ in items.puts + items.updates:
                    table = item.Meta.table_name.removeprefix("sscard-bench-")
                    writes[(table, repr(sorted(item._get_keys().items())))] += 1
                made += 1
        month += 1
    (table, key), top = writes.most_common(1)[0]
    by_table: dict[str, int] = {}
    for (t, _), n in writes.items():
        by_table[t] = max(by_table.get(t, 0), n)
    all_writes = sum(writes.values())
    print(f"{total:,} simulated postings over {holders:,} holders ({month} months), {shards} shards a book:")
    print(f"  items written: {len(writes):,}; writes: {all_writes:,} ({all_writes / total:.2f} per posting)")
    print(f"  the most writes any single item received: {top} ({table} {key})")
    for t, n in sorted(by_table.items(), key=lambda kv: -kv[1]):
        print(f"    max per item in {t}: {n}")
    per_book: Counter[str] = Counter()
    for (t, k), n in writes.items():
        if t == "fund-books":
            per_book[k.split("#")[0].split("'")[-1]] += n
    print(
        "  one counter per book would have taken: "
        + ", ".join(f"{b} {n:,}" for b, n in per_book.most_common())
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--holders", type=int, default=200)
    parser.add_argument("--simulate", type=int, default=100_000)
    parser.add_argument("--simulate-holders", type=int, default=20_000)
    args = parser.parse_args()
    from chalicelib.storage.contributions import SHARDS

    through_the_handler(args.messages, args.holders)
    print()
    simulated(args.simulate, args.simulate_holders, SHARDS)


if __name__ == "__main__":
    main()

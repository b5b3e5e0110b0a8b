"""DynamoDB round trips and capacity units per operation, beside the minimum the design allows.

    .venv/bin/python bench/bench_round_trips.py

Every operation goes through the real entry point (chalice.test.Client for HTTP routes,
the SQS handler for postings) against moto in process, with the caches warm as on a warm
Lambda container (each institution's token used once before; the holder cache warm for
postings). Requests are counted at botocore (`before-send`, one per HTTP request sent);
capacity units are computed from item sizes (common.Recorder), because moto reports none
for transactions and a wrong 0.5 for an UpdateItem. Prints a markdown table.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import common  # noqa: F401  (environment first)
from common import recording_pynamodb
from moto import mock_aws

# operation -> (minimum round trips, minimum capacity, why)
MINIMUM: dict[str, tuple[str, str]] = {
    "activation: service center": (
        "3",
        "the card and the Idempotency-Key record in one TransactGetItems; the card names the holder, "
        "so holder and account in a second; one transaction (card, history event, account, key "
        "record); a replacement reads the old card too, unless the process has seen the new card",
    ),
    "activation: hospital registration": (
        "3",
        "card and key record, then account (dependent reads), then one transaction: card, event, "
        "account, registration, key record",
    ),
    "activation: bank webhook": (
        "3",
        "card with the webhook-id receipt (a redelivery stops there), then holder and account together, "
        "then one transaction that also puts the receipt under attribute_not_exists",
    ),
    "activation: pharmacy first use (pays too)": (
        "3",
        "new card, old card and key in one TransactGetItems (the new card names the holder), then "
        "account, year counters and paid months, then one transaction: both cards, events, account, "
        "payment, key, counters, day entry",
    ),
    "payment": (
        "2",
        "one TransactGetItems (card, key, and the holder's account, year counters and paid months: "
        "the card's holder is cached), one TransactWriteItems (card check, payment, key, account, "
        "counters, day entry): the write must be conditional on what was read",
    ),
    "payment, card not seen by the process": (
        "3",
        "card and key first, to learn the holder; then account, year counters and paid months; "
        "then the same transaction (a cold container, or the first payment of a card on it)",
    ),
    "cancellation": (
        "2",
        "one TransactGetItems (the payment, whose institution must match, its cancellation, the key), "
        "one transaction: the cancellation item, account credit, day entry, Idempotency-Key record",
    ),
    "GET /v1/payments/{id}": (
        "1",
        "one TransactGetItems: the payment and its cancellation (a cancellation is an item of its own)",
    ),
    "contribution posting": (
        "1",
        "one TransactWriteItems (posting, month record, the holder's paid months, fund-book shard, "
        "account when it credits); the holder's person id is cached",
    ),
    "GET /v1/me/card": (
        "2",
        "the account names the current card, then one Query of the holder's history items, each "
        "carrying the card as its change left it (so the newest is the card itself)",
    ),
    "GET /v1/me/account": ("1", "one GetItem of the account"),
    "GET /v1/me/payments": ("1", "one Query of the holder's index, one page"),
    "GET /v1/me/contributions": ("1", "one Query of the holder's months"),
    "GET /v1/me/coverage": ("1", "one Query of the holder's months"),
}


def main() -> None:
    from app import app
    from chalicelib import bootstrap as deps_module
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.payments import DynamoPaymentStore
    from chalicelib.workers import contributions as worker
    from tests.client import ApiClient
    from tests.contribution_helpers import message, record
    from tests.fakes import FakeSecrets
    from tests.payment_helpers import funded_holder
    from tests.world import World

    results: list[tuple[str, int, dict[str, int], Any, str]] = []
    now = datetime.fromisoformat("2026-11-25T09:00:00+00:00")

    with mock_aws(), recording_pynamodb() as rec:
        rec.on = False
        create_tables()
        world = World(
            DynamoCardStore(), DynamoIdempotencyStore(), FakeSecrets(), now, payments=DynamoPaymentStore()
        )
        contributions = DynamoContributionStore()
        deps = world.deps()
        deps.contributions = contributions
        deps_module.use(deps)
        handler = app.handler_map["post_contributions"]
        h = world.seeded.holders
        with ApiClient() as api:

            def measure(label: str, do: Any, expect: int | None = None) -> Any:
                rec.reset()
                rec.on = True
                r = do()
                rec.on = False
                status = getattr(r, "status", 0)
                if expect is not None and status != expect:
                    raise SystemExit(f"{label}: {r!r}")
                results.append((label, sum(rec.sent.values()), rec.operations(), rec.total(), rec.detail()))
                return r

            # Warm: every institution token once, the JWT keys once (as on a warm container).
            for role in ("service_center", "pharmacy", "hospital"):
                api.get(f"/v1/payments/{uuid.uuid4().hex}", headers=world.auth(role))
            api.get("/v1/me/account", headers=world.auth("bob"))

            def pay(card: str, amount: int, **more: str) -> Any:
                """POST /v1/payments at the pharmacy, with a fresh Idempotency-Key."""
                return api.post(
                    "/v1/payments",
                    {"card_no": card, "amount_fen": amount, **more},
                    headers={**world.auth("pharmacy"), "Idempotency-Key": uuid.uuid4().hex},
                )

            _, card_no = funded_holder(world.store, world.secrets.hashing_key(), now, 10**9)
            pay(card_no, 100)  # this card's holder now cached, as on a warm container

            measure(
                "activation: service center",
                lambda: api.post(
                    f"/v1/cards/{h['alice'].card_no}/activate",
                    {"ssn": h["alice"].ssn},
                    headers={**world.auth("service_center"), "Idempotency-Key": uuid.uuid4().hex},
                ),
                200,
            )
            measure(
                "activation: hospital registration",
                lambda: api.post(
                    "/v1/registrations",
                    {"card_no": h["bob"].card_no, "visit": "outpatient"},
                    headers={**world.auth("hospital"), "Idempotency-Key": uuid.uuid4().hex},
                ),
                201,
            )
            payload = {
                "type": "card.counter_activated",
                "timestamp": "2026-11-25T09:00:00Z",
                "data": {"card_no": h["dan"].card_no, "ssn": h["dan"].ssn, "outlet_id": "ICBC-BJ-0012"},
            }
            body, wh = world.signed_webhook(payload, "msg_bench_1")
            world.signed_webhook(payload, "msg_warm")  # nothing sent: signing only
            measure(
                "activation: bank webhook",
                lambda: api.request(
                    "POST", f"/v1/webhooks/banks/{world.seeded.bank_code}", raw=body, headers=wh
                ),
                200,
            )
            measure(
                "activation: pharmacy first use (pays too)",
                lambda: pay(h["carol"].card_no, 100, previous_card_no=h["carol"].old_card_no),
                201,
            )
            paid = measure("payment", lambda: pay(card_no, 1_234), 201)
            payment_id = paid.json["payment_id"]
            _, unseen_card_no = funded_holder(world.store, world.secrets.hashing_key(), now, 10**9)
            measure("payment, card not seen by the process", lambda: pay(unseen_card_no, 1_234), 201)
            measure(
                "cancellation",
                lambda: api.post(
                    f"/v1/payments/{payment_id}/cancel",
                    headers={**world.auth("pharmacy"), "Idempotency-Key": uuid.uuid4().hex},
                ),
                200,
            )
            measure(
                "GET /v1/payments/{id}",
                lambda: api.get(f"/v1/payments/{payment_id}", headers=world.auth("pharmacy")),
                200,
            )

            def post(body: dict[str, Any]) -> Any:
                event = {"Records": [record(body)]}
                out = handler(event, None)

                class R:
                    status = 200 if not out["batchItemFailures"] else 500

                return R()

            worker.holders.clear()
            post(message(h["alice"].ssn, period="2026-01"))  # the holder cache warm, as in a run
            measure(
                "contribution posting",
                lambda: post(
                    message(
                        h["alice"].ssn,
                        period="2026-02",
                        insurance="medical",
                        payer="employee",
                        employer_id=None,
                        amount_fen=16_000,
                    )
                ),
                200,
            )
            for path in ("/v1/me/card", "/v1/me/account", "/v1/me/payments", "/v1/me/contributions"):
                measure(f"GET {path}", lambda p=path: api.get(p, headers=world.auth("alice")), 200)
            measure(
                "GET /v1/me/coverage",
                lambda: api.get("/v1/me/coverage?on=2026-11-25", headers=world.auth("alice")),
                200,
            )
        deps_module.use(None)
    print_table(results)


def print_table(results: list[tuple[str, int, dict[str, int], Any, str]]) -> None:
    print(
        "| operation | round trips | minimum | requests (tables) | RRU | WRU (tables) "
        "| WRU (indexes) | moto reported | why the minimum |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---|")
    for label, trips, _ops, units, detail in results:
        minimum, why = MINIMUM[label]
        mark = "" if trips <= int(minimum) else f" (+{trips - int(minimum)})"
        print(
            f"| {label} | {trips}{mark} | {minimum} | {detail} | {units.rru:g} | {units.wru:g} | "
            f"{units.gsi_wru:g} | {units.moto:g} | {why} |"
        )
    print()
    print(
        "Units are computed from item sizes: a read unit per 4 KB (eventually consistent 0.5, "
        "strongly consistent 1, transactional 2), a write unit per 1 KB (transactional 2), and "
        "one more write unit per global secondary index the written item appears in. A "
        "ConditionCheck inside TransactWriteItems is billed as a transactional write. 'moto "
        "reported' is the sum of moto's ConsumedCapacity where it gives one: none for "
        "TransactWriteItems (a posting shows 0), 0.5 for an UpdateItem, 1 an item for "
        "TransactGetItems: shown for comparison, not used."
    )


if __name__ == "__main__":
    main()

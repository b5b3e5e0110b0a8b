"""DynamoDB round trips and capacity units per inpatient-stay operation, beside the target the
design allows.

    .venv/bin/python bench/bench_stays.py

Every operation goes through the real HTTP entry point (chalice.test.Client) against moto in
process, with the hospital's token cache warm as on a warm Lambda container. Requests are
counted at botocore (`before-send`, one per HTTP request sent: common.recording_pynamodb),
capacity units computed from item sizes (common.Recorder).
Prints a markdown table (section 1b of bench/results.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import common  # noqa: F401  (environment first)
from common import Units, git_commit, recording_pynamodb
from moto import mock_aws

# operation -> (target round trips, why)
TARGET: dict[str, tuple[int, str]] = {
    "charge upload": (
        1,
        "one TransactWriteItems: the charge put if its id is new, the stay's totals ADDed if open",
    ),
    "charge upload, sent again": (
        2,
        "the write fails on the charge id; one read of the charge to answer the same",
    ),
    "charge upload, stay closed": (
        2,
        "the write fails on the stay; one read of the stay to say why (stay-closed)",
    ),
    "cancel charge (Idempotency-Key)": (
        2,
        "one TransactGetItems (stay, charge, key), one TransactWriteItems",
    ),
    "withdraw (Idempotency-Key)": (2, "one TransactGetItems (stay, key), one TransactWriteItems"),
    "GET stay with a page of charges": (2, "one read of the stay, one Query of its charges"),
    "discharge (Idempotency-Key), stay seen by the process": (
        2,
        "one TransactGetItems (stay, key, card, account, year counters, paid months), "
        "one TransactWriteItems (card check, payment, account, counters, day entry, stay closed, key; "
        "the fund book's outflow shard too when a fund pays)",
    ),
    "discharge (Idempotency-Key), stay not seen": (
        3,
        "the stay and its key first, to learn its card and holder; then as above",
    ),
}


def main() -> None:
    from chalicelib import bootstrap as deps_module
    from chalicelib.services.ports import CardChange, Registration
    from chalicelib.services.stay_ports import StayClosing
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.payments import DynamoPaymentStore
    from chalicelib.storage.stays import DynamoStayStore, RegistrationCache
    from tests.client import ApiClient
    from tests.fakes import FakeSecrets
    from tests.world import World

    now = datetime.fromisoformat("2026-11-25T09:00:00+00:00")
    results: list[tuple[str, int, str, Units]] = []
    with mock_aws(), recording_pynamodb() as rec:
        rec.on = False
        create_tables()
        # One process: its stores share the registration -> (card, holder) cache, as bootstrap's.
        seen = RegistrationCache()
        world = World(
            DynamoCardStore(registrations=seen),
            DynamoIdempotencyStore(),
            FakeSecrets(),
            now,
            payments=DynamoPaymentStore(registrations=seen),
        )
        world.stays = DynamoStayStore(seen)
        deps_module.use(world.deps())
        other_process = DynamoCardStore()  # registers without warming this process
        hospital = world.seeded.institutions["hospital"]
        holder = world.seeded.holders["alice"]
        auth = world.auth("hospital")

        def admit(store: Any = world.store) -> str:
            rid = uuid.uuid4().hex
            registration = Registration(
                rid, holder.card_no, holder.person_id, hospital, "inpatient", now, False
            )
            store.commit(CardChange(registration=registration))
            return rid

        def body(charge_id: str) -> dict[str, Any]:
            return {
                "charge_id": charge_id,
                "amount_fen": 12_000,
                "in_scope_fen": 9_000,
                "description": "Ward",
            }

        with ApiClient() as api:

            def measure(
                label: str, method: str, path: str, payload: Any, status: int, **headers: str
            ) -> None:
                rec.reset()
                rec.on = True
                r = api.request(method, path, payload, headers={**auth, **headers})
                rec.on = False
                if r.status != status:
                    raise SystemExit(f"{label}: {r!r}")
                results.append((label, sum(rec.sent.values()), rec.detail(), rec.total()))

            rid = admit()
            api.get(f"/v1/registrations/{rid}", headers=auth)  # warm: the token cache, the connections
            api.post(f"/v1/registrations/{rid}/charges", body("warm"), headers=auth)
            charges = f"/v1/registrations/{rid}/charges"
            measure("charge upload", "POST", charges, body("C-1"), 201)
            measure("charge upload, sent again", "POST", charges, body("C-1"), 201)
            measure(
                "cancel charge (Idempotency-Key)",
                "POST",
                f"{charges}/C-1/cancel",
                None,
                200,
                **{"Idempotency-Key": uuid.uuid4().hex},
            )
            measure("GET stay with a page of charges", "GET", f"/v1/registrations/{rid}", None, 200)
            world.stays.close(StayClosing(world.stays.read_stay(rid).stay, "pay-bench", now))
            measure("charge upload, stay closed", "POST", charges, body("C-2"), 409)
            empty = admit()
            measure(
                "withdraw (Idempotency-Key)",
                "POST",
                f"/v1/registrations/{empty}/cancel",
                None,
                200,
                **{"Idempotency-Key": uuid.uuid4().hex},
            )
            activated = api.post(
                f"/v1/cards/{holder.card_no}/activate",
                {"ssn": holder.ssn},
                headers=world.auth("service_center"),
            )
            if activated.status != 200:
                raise SystemExit(f"activate: {activated!r}")
            for label, store in (
                ("discharge (Idempotency-Key), stay seen by the process", world.store),
                ("discharge (Idempotency-Key), stay not seen", other_process),
            ):
                stay = admit(store)
                api.post(f"/v1/registrations/{stay}/charges", body("D-1"), headers=auth)
                measure(
                    label,
                    "POST",
                    f"/v1/registrations/{stay}/discharge",
                    None,
                    201,
                    **{"Idempotency-Key": uuid.uuid4().hex},
                )
    deps_module.use(None)

    print(f"Inpatient stays: round trips and units per operation (moto in process, at {git_commit()})\n")
    print(
        "| operation | round trips | target | requests (tables) | RRU | WRU (tables) | WRU (indexes) "
        "| why the target |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---|")
    for label, sent, detail, units in results:
        target, why = TARGET[label]
        print(
            f"| {label} | {sent} | {target} | {detail} | {units.rru:g} | {units.wru:g} | {units.gsi_wru:g} "
            f"| {why} |"
        )
    print(
        "\nUnits from item sizes, as in section 1 (common.Recorder). 'Seen by the process': this "
        "container registered the stay, so it knows the stay's card and holder (a warm discharge)."
    )


if __name__ == "__main__":
    main()

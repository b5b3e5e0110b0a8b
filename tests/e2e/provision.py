"""Enroll fresh holders and issue each a new card in a running local stack; prints JSON.

Run as a subprocess (`python -m tests.e2e.provision N [--paid-months M]`) with
AWS_ENDPOINT_URL set: the storage models must be imported with the stack's settings, not
the test process's. With --paid-months, each holder's medical and serious-illness months are
posted on time up to last month, as the seed posts Erin's (serious-illness eligible from 7).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from datetime import UTC, date, datetime, timedelta

from chalicelib.domain.errors import AlreadyExists
from chalicelib.domain.holders import Participation
from chalicelib.services import admin
from sscard_ops.cli import connect
from sscard_ops.seed import BANK_CODE, make_ssn


def random_ssn() -> str:
    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(40 * 365))
    return make_ssn(f"110105{born:%Y%m%d}{secrets.randbelow(1000):03d}")


def paid_on_time(person_id: str, months: int, medical_fen: int, now: datetime) -> None:
    """Medical (all of it to the personal account) and serious-illness months, each paid on
    the 5th of its month, the last one last month's."""
    from chalicelib.storage.contributions import DynamoContributionStore
    from sscard_ops.seed import post_months_paid_on_time

    post_months_paid_on_time(
        DynamoContributionStore(),
        person_id,
        months,
        now,
        id_prefix=f"e2e-{person_id}",
        medical_fen=medical_fen,
    )


def main(count: int, paid_months: int = 0, medical_fen: int = 0) -> None:
    ops = connect()
    key = ops.hashing_key()
    now = datetime.now(UTC)
    made = []
    while len(made) < count:
        ssn = random_ssn()
        try:
            holder = admin.enroll_holder(ops.store, key, ssn, "E2E Holder", Participation.EMPLOYEE, now)
        except AlreadyExists:
            continue
        card = admin.issue_card(ops.store, holder.person_id, now, bank_code=BANK_CODE)
        if paid_months:
            paid_on_time(holder.person_id, paid_months, medical_fen, now)
        made.append({"person_id": holder.person_id, "ssn": ssn, "card_no": card.card_no})
    json.dump(made, sys.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.provision")
    parser.add_argument("count", type=int)
    parser.add_argument("--paid-months", type=int, default=0)
    parser.add_argument("--monthly-medical-fen", type=int, default=10_000)
    arguments = parser.parse_args()
    main(arguments.count, arguments.paid_months, arguments.monthly_medical_fen)

"""Enroll fresh holders and issue each a new card in a running local stack; prints JSON.

Run as a subprocess (`python -m tests.e2e.provision N`) with AWS_ENDPOINT_URL set:
the storage models must be imported with the stack's settings, not the test
process's.
"""

from __future__ import annotations

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


def main(count: int) -> None:
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
        made.append({"person_id": holder.person_id, "ssn": ssn, "card_no": card.card_no})
    json.dump(made, sys.stdout)


if __name__ == "__main__":
    main(int(sys.argv[1]))

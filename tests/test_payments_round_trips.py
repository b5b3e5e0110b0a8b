"""DynamoDB round trips per request, counted with a botocore event hook (before-send):
a count, not a time. The common path of a payment is one read and one write."""

from __future__ import annotations

import pytest
from moto import mock_aws

from chalicelib import bootstrap as deps_module
from sscard_ops.dynamo_calls import counting_pynamodb
from tests.conftest import NOW
from tests.fakes import FakeSecrets
from tests.payment_helpers import funded_holder
from tests.world import World


@pytest.fixture
def counted(fake_world):  # after fake_world, whose deps this replaces
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.payments import DynamoPaymentStore

    with mock_aws(), counting_pynamodb() as calls:
        create_tables()
        world = World(
            DynamoCardStore(), DynamoIdempotencyStore(), FakeSecrets(), NOW, payments=DynamoPaymentStore()
        )
        deps_module.use(world.deps())
        try:
            yield world, calls
        finally:
            deps_module.use(None)


def test_a_payment_is_one_read_and_one_write_on_the_common_path(api, counted):
    world, calls = counted
    _, card_no = funded_holder(world.store, world.secrets.hashing_key(), world.now, 100_000)
    headers = world.auth("pharmacy")

    def pay(key: str, amount: int = 100, **extra):
        calls.reset()
        body = {"card_no": card_no, "amount_fen": amount, **extra}
        r = api.post("/v1/payments", body, headers={**headers, "Idempotency-Key": key})
        return r, calls.snapshot()

    r, cold = pay("first")
    assert r.status == 201, r
    # This process has seen neither the token nor the card: two reads for the token
    # (then cached for 60 s) and one for the card's holder (cached for good).
    # Cold: the token's credential and institution, then the card, then the holder's items
    # (account, year counters, paid months) in one more TransactGetItems.
    assert cold == {"GetItem": 2, "TransactGetItems": 2, "TransactWriteItems": 1}, cold

    r, warm = pay("second")
    assert r.status == 201, r
    assert warm == {"TransactGetItems": 1, "TransactWriteItems": 1}, warm

    r, replay = pay("second")
    assert r.headers["idempotent-replayed"] == "true"
    assert replay == {"TransactGetItems": 1}, replay

    r, refused = pay("third", 10**6, self_pay="refused")
    assert r.status == 409
    assert refused == {"TransactGetItems": 1, "PutItem": 1}, refused  # the refusal is stored under the key


def test_cancel_and_lookup_round_trips(api, counted):
    world, calls = counted
    _, card_no = funded_holder(world.store, world.secrets.hashing_key(), world.now, 100_000)
    headers = world.auth("hospital")
    paid = api.post(
        "/v1/payments", {"card_no": card_no, "amount_fen": 500}, headers={**headers, "Idempotency-Key": "a"}
    )
    payment_id = paid.json["payment_id"]
    calls.reset()
    # A payment is read with its cancellation (a record of its own): one TransactGetItems.
    assert api.get(f"/v1/payments/{payment_id}", headers=headers).status == 200
    assert calls.snapshot() == {"TransactGetItems": 1}
    calls.reset()
    assert api.post(f"/v1/payments/{payment_id}/cancel", headers=headers).status == 200
    assert calls.snapshot() == {"TransactGetItems": 1, "TransactWriteItems": 1}

"""Discharge (issue #12): a stay's totals settled as one inpatient payment that closes it;
cancelling that payment reopens it and gives every part back. Over the fakes; a discharge
whose answer was lost after its commit on the fakes and on DynamoDB (moto)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.domain.holders import Bank, Institution, InstitutionKind, Participation
from chalicelib.domain.stays import Charge, StayState
from chalicelib.services import admin, payments, registrations, stays
from chalicelib.services.idempotency import StoredResponse
from chalicelib.services.payment_ports import PaymentStore, PaymentWrite
from chalicelib.services.ports import CardStore, IdempotencyStore
from chalicelib.services.stay_ports import StayStore
from sscard_ops.seed import make_ssn
from tests.conftest import NOW
from tests.fake_payments import FakePaymentStore
from tests.fake_stays import FakeStayStore
from tests.fakes import FakeCardStore, FakeIdempotencyStore
from tests.service_helpers import key_for, render_payment, render_registration
from tests.test_api_settlement import paid_for_a_year, parts
from tests.test_api_stays import admit, charge

PROBLEM = "application/problem+json"


def stay_with_charges(api, world, *charges):
    paid_for_a_year(world, world.seeded.holders["alice"].person_id)
    rid = admit(world)
    hospital = world.auth("hospital")
    for c in charges:
        r = api.post(f"/v1/registrations/{rid}/charges", c, headers=hospital)
        assert r.status == 201, r
    return rid, hospital


def activate(api, world):
    alice = world.seeded.holders["alice"]
    r = api.post(
        f"/v1/cards/{alice.card_no}/activate", {"ssn": alice.ssn}, headers=world.auth("service_center")
    )
    assert r.status == 200, r


def test_a_stay_walked_through_admit_charges_quote_discharge_cancel_and_discharge_again(api, fake_world):
    activate(api, fake_world)
    rid, hospital = stay_with_charges(
        api,
        fake_world,
        charge("C-1", 500_000, 450_000, "Ward"),
        charge("C-2", 300_000, 300_000, "Surgery"),
        charge("C-3", 100_000, 0, "Private room"),
    )
    assert api.post(f"/v1/registrations/{rid}/charges/C-3/cancel", headers=hospital).status == 200
    quote = api.post(f"/v1/registrations/{rid}/quote", headers=hospital)
    assert quote.status == 200 and quote.json["quote"] is True, quote
    assert (quote.json["amount_fen"], quote.json["in_scope_fen"]) == (800_000, 750_000)
    done = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "d-1"})
    assert done.status == 201 and done.json["visit"] == "inpatient", done
    assert parts(done.json) == parts(quote.json) and sum(parts(done.json)) == 800_000
    # 1,300 yuan deductible for the year's first stay, 85 % of the rest in scope.
    assert (
        done.json["deductible_fen"] == 130_000
        and done.json["fund_paid_fen"] == (750_000 - 130_000) * 85 // 100
    )
    again = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "d-1"})
    assert again.status == 201 and again.json == done.json and again.headers["idempotent-replayed"] == "true"
    late = api.post(f"/v1/registrations/{rid}/charges", charge("C-4", 1_000, 1_000, "Late"), headers=hospital)
    assert late.status == 409 and late.json["type"] == "urn:sscard:problem:stay-closed", late
    cancelled = api.post(f"/v1/payments/{done.json['payment_id']}/cancel", headers=hospital)
    assert cancelled.status == 200 and cancelled.json["state"] == "cancelled", cancelled
    assert fake_world.payments.outflow_fen == 0
    assert (
        api.post(
            f"/v1/registrations/{rid}/charges", charge("C-4", 1_000, 1_000, "Late"), headers=hospital
        ).status
        == 201
    )
    second = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "d-2"})
    assert second.status == 201 and second.json["amount_fen"] == 801_000, second
    # The cancelled stay gave its stay count back: this is again the year's first stay.
    assert second.json["deductible_fen"] == 130_000


def test_a_discharge_above_the_per_payment_maximum_settles(api, fake_world):
    activate(api, fake_world)
    rid, hospital = stay_with_charges(api, fake_world, charge("C-1", 9_000_000, 9_000_000, "Long stay"))
    done = api.post(f"/v1/registrations/{rid}/discharge", headers={**hospital, "Idempotency-Key": "big"})
    assert done.status == 201 and done.json["amount_fen"] == 9_000_000, done


def test_another_hospital_cannot_discharge_and_a_key_is_required(api, fake_world):
    from tests.test_api_stays import another_hospital

    activate(api, fake_world)
    rid, hospital = stay_with_charges(api, fake_world, charge())
    r = api.post(
        f"/v1/registrations/{rid}/discharge", headers={**another_hospital(fake_world), "Idempotency-Key": "x"}
    )
    assert r.status == 404 and r.headers["content-type"] == PROBLEM
    assert api.post(f"/v1/registrations/{rid}/discharge", headers=hospital).status == 400


# --- a discharge whose answer was lost after its commit (service level, fake and DynamoDB) ---

HASHING = b"d" * 32
HOSPITAL = Institution("HO-1", InstitutionKind.HOSPITAL, "Hospital", designated=True)


class LostAnswer(RuntimeError):
    """The function died after the commit, before its answer reached the hospital."""


class CrashingFakePayments(FakePaymentStore):
    """The fake whose next commit is applied whole, and then the function dies."""

    armed = False

    def commit_payment(self, write: PaymentWrite) -> None:
        super().commit_payment(write)
        if self.armed:
            self.armed = False
            raise LostAnswer("killed after the commit")


@dataclass
class Hospital:
    cards: CardStore
    payments: PaymentStore
    stays: StayStore
    keys: IdempotencyStore
    arm: Callable[[], None]  # the next TransactWriteItems commits, then the function dies


@pytest.fixture(params=["fake", "dynamodb"])
def hospital(request) -> Iterator[Hospital]:
    if request.param == "fake":
        keys = FakeIdempotencyStore()
        cards = FakeCardStore(keys)
        fake = CrashingFakePayments(cards, keys)
        fake.stays = FakeStayStore(cards, keys)

        def arm_fake() -> None:
            fake.armed = True

        yield Hospital(cards, fake, fake.stays, keys, arm_fake)
        return
    from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.payments import DynamoPaymentStore
    from chalicelib.storage.stays import DynamoStayStore, RegistrationCache

    with mock_aws():
        create_tables()
        seen = RegistrationCache()
        payments_ = DynamoPaymentStore(registrations=seen)
        armed: list[bool] = []

        def after_write(**_: Any) -> None:
            # botocore's after-call: DynamoDB has answered the TransactWriteItems (committed).
            if armed:
                armed.clear()
                raise LostAnswer("killed after the commit")

        payments_.connection.client.meta.events.register(
            "after-call.dynamodb.TransactWriteItems", after_write
        )
        yield Hospital(
            DynamoCardStore(registrations=seen),
            payments_,
            DynamoStayStore(seen),
            DynamoIdempotencyStore(),
            lambda: armed.append(True),
        )


def test_a_discharge_whose_answer_was_lost_is_answered_by_the_retry_and_settled_once(hospital):
    h = hospital
    h.cards.add_bank(Bank("ICBC", "ICBC"))
    holder = admin.enroll_holder(
        h.cards, HASHING, make_ssn("11010519900307456"), "H", Participation.EMPLOYEE, NOW, balance_fen=60_000
    )
    card = admin.issue_card(h.cards, holder.person_id, NOW, bank_code="ICBC")
    registrations.register(
        h.cards, card.card_no, "inpatient", HOSPITAL, NOW, lambda: "stay-1", None, render_registration
    )
    for charge_id, fen in (("C-1", 300_000), ("C-2", 200_000)):
        stays.add_charge(h.stays, Charge("stay-1", charge_id, "HO-1", fen, fen, "Ward", NOW), 100_000_000)
    ids = iter(f"pay-{n}" for n in range(1, 10))

    def discharge() -> Any:
        return payments.discharge(
            h.cards,
            h.payments,
            h.stays,
            HOSPITAL,
            "stay-1",
            key_for("HO-1", "d-1", NOW),
            NOW,
            render_payment,
            new_id=lambda: next(ids),
        )

    h.arm()
    with pytest.raises(LostAnswer):
        discharge()
    stored = h.keys.get(key_for("HO-1", "d-1", NOW).scope_key)
    assert stored is not None and stored.status == 201

    retry = discharge()

    assert retry.replayed and retry.response == StoredResponse(201, stored.body)
    first = json.loads(stored.body)
    assert first["payment_id"] == "pay-1"
    stay = h.stays.read_stay("stay-1").stay
    assert stay is not None and stay.state is StayState.DISCHARGED and stay.discharge_payment_id == "pay-1"
    assert stay.version == 3  # two charges, one close: closed once
    mine, _ = h.payments.payments_of_holder(holder.person_id, 10)
    assert [p.payment_id for p in mine] == ["pay-1"]
    paid = mine[0]
    assert paid.amount_fen == 500_000 and first["account_paid_fen"] == paid.account_paid_fen > 0
    assert h.cards.get_account(holder.person_id).balance_fen == 60_000 - paid.account_paid_fen
    counted = h.payments.read_for_payment(card.card_no, None, 2026)
    # The year's counters were written once (each write bumps their version).
    assert counted.counters == paid.counters_delta and counted.counters_version == 1

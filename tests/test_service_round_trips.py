"""DynamoDB round trips of each state-changing use case and of the holder's card view, at the
service level over moto, counted with a botocore event hook (before-send): a count, not a time.

"Cold" is a process that has never seen the card (the card -> holder binding is cached for good
once seen), or for a discharge the stay (registration -> card and holder, likewise); every keyed
write carries its idempotency record in its own transaction. A payment's state is whether its
cancellation (a record of its own) exists, so every read of a payment reads that too.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from chalicelib.domain.cards import Action, CardKind, Channel
from chalicelib.domain.holders import Bank, Institution, InstitutionKind, Participation
from chalicelib.domain.stays import Charge
from chalicelib.services import activation, admin, payments, registrations, stays
from chalicelib.services.bank_webhooks import handle_counter_activation
from sscard_ops.dynamo_calls import counting_pynamodb
from sscard_ops.seed import make_ssn
from tests.conftest import NOW
from tests.payment_helpers import funded_holder
from tests.service_helpers import (
    key_for,
    render_activation,
    render_card,
    render_payment,
    render_registration,
)

HASHING = b"r" * 32
CENTER = Institution("SC-1", InstitutionKind.SERVICE_CENTER, "Center")
HOSPITAL = Institution("HO-1", InstitutionKind.HOSPITAL, "Hospital", designated=True)
PHARMACY = Institution("PH-1", InstitutionKind.PHARMACY, "Pharmacy", designated=True)
_seq = iter(range(100, 999))


class Rig:
    def __init__(self, calls: Any) -> None:
        from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
        from chalicelib.storage.payments import DynamoPaymentStore
        from chalicelib.storage.stays import DynamoStayStore, RegistrationCache

        self.calls = calls
        # One process: its stores share the registration -> (card, holder) cache, as bootstrap builds them.
        registrations = RegistrationCache()
        self.cards = DynamoCardStore(registrations=registrations)
        self.keys = DynamoIdempotencyStore()
        self.payments = DynamoPaymentStore(registrations=registrations)
        self.stays = DynamoStayStore(registrations)
        # The stores an operator writes through: their reads warm nothing the use cases use.
        self.admin = DynamoCardStore()
        self.admin.add_bank(Bank("ICBC", "ICBC"))
        self.ssns: dict[str, str] = {}  # person id -> the raw SSN, for a bank's webhook

    def new_card(self, *, old_balance: int | None = None) -> tuple[Any, Any]:
        ssn = make_ssn(f"11010519900307{next(_seq):03d}")
        holder = admin.enroll_holder(
            self.admin, HASHING, ssn, "H", Participation.EMPLOYEE, NOW, balance_fen=old_balance or 0
        )
        self.ssns[holder.person_id] = ssn
        if old_balance is not None:
            admin.issue_card(self.admin, holder.person_id, NOW, kind=CardKind.MEDICAL_INSURANCE)
        card = admin.issue_card(self.admin, holder.person_id, NOW, bank_code="ICBC")
        return holder, card

    def count(self, do: Any) -> dict[str, int]:
        self.calls.reset()
        do()
        return self.calls.snapshot()


@pytest.fixture
def rig():
    from chalicelib.storage.models import create_tables

    with mock_aws(), counting_pynamodb() as calls:
        create_tables()
        yield Rig(calls)


def activate(rig: Rig, holder: Any, card: Any, key: str) -> Any:
    return activation.activate_at_service_center(
        rig.cards, card.card_no, holder.ssn_digest, CENTER, NOW, key_for("SC-1", key, NOW), render_activation
    )


def test_a_payment_is_two_round_trips_and_three_cold(rig):
    _, card_no = funded_holder(rig.admin, HASHING, NOW, 100_000)

    def pay(key: str) -> Any:
        return payments.pay(
            rig.cards,
            rig.payments,
            rig.keys,
            PHARMACY,
            payments.PaymentRequest(card_no, 100),
            key_for("PH-1", key, NOW),
            NOW,
            render_payment,
            new_id=lambda: f"pay-{key}",
        )

    # Cold: the holder's account, year counters and paid months in a second TransactGetItems.
    assert rig.count(lambda: pay("a")) == {"TransactGetItems": 2, "TransactWriteItems": 1}
    assert rig.count(lambda: pay("b")) == {"TransactGetItems": 1, "TransactWriteItems": 1}
    assert rig.count(lambda: pay("b")) == {"TransactGetItems": 1}  # the replay


def test_a_pharmacys_first_use_reads_the_original_card_with_the_new_one(rig):
    holder, card = rig.new_card(old_balance=5_000)
    old_no = rig.admin.get_account(holder.person_id).card_no
    paid: list[Any] = []

    def first_use() -> None:
        paid.append(
            payments.pay(
                rig.cards,
                rig.payments,
                rig.keys,
                PHARMACY,
                payments.PaymentRequest(card.card_no, 100, previous_card_no=old_no),
                key_for("PH-1", "first", NOW),
                NOW,
                render_payment,
                new_id=lambda: "pay-first",
            )
        )

    # New card, original card and key together; the account (cold); the one transaction.
    assert rig.count(first_use) == {"TransactGetItems": 2, "TransactWriteItems": 1}
    assert paid[0].result.card_activated and paid[0].result.account_paid_fen == 100


def test_a_cancellation_is_two_round_trips_and_its_replay_one(rig):
    _, card_no = funded_holder(rig.admin, HASHING, NOW, 100_000)
    payments.pay(
        rig.cards,
        rig.payments,
        rig.keys,
        HOSPITAL,
        payments.PaymentRequest(card_no, 500),
        key_for("HO-1", "p", NOW),
        NOW,
        render_payment,
        new_id=lambda: "pay-1",
    )

    def cancel() -> Any:
        return payments.cancel(
            rig.payments, HOSPITAL, "pay-1", NOW, key_for("HO-1", "c", NOW), render_payment
        )

    assert rig.count(cancel) == {"TransactGetItems": 1, "TransactWriteItems": 1}
    assert rig.count(cancel) == {"TransactGetItems": 1}


def test_a_payment_is_read_with_its_cancellation_in_one_round_trip_and_a_page_in_two(rig):
    person_id, card_no = funded_holder(rig.admin, HASHING, NOW, 100_000)
    for n in range(3):
        payments.pay(
            rig.cards,
            rig.payments,
            rig.keys,
            HOSPITAL,
            payments.PaymentRequest(card_no, 100 + n),
            key_for("HO-1", f"p{n}", NOW),
            NOW,
            render_payment,
            new_id=lambda n=n: f"pay-{n}",
        )
    payments.cancel(rig.payments, HOSPITAL, "pay-1", NOW, key_for("HO-1", "c", NOW), render_payment)
    seen: list[Any] = []
    # GET /v1/payments/{id}: the payment and its cancellation together.
    assert rig.count(lambda: seen.append(payments.get(rig.payments, HOSPITAL, "pay-1"))) == {
        "TransactGetItems": 1
    }
    assert seen[0].state.value == "cancelled"
    # GET /v1/me/payments: the page from the holder index, then the page's cancellations.
    assert rig.count(lambda: seen.append(payments.my_payments(rig.payments, person_id, 20))) == {
        "Query": 1,
        "BatchGetItem": 1,
    }
    page, _ = seen[1]
    assert [(p.payment_id, p.state.value) for p in page] == [
        ("pay-2", "completed"),
        ("pay-1", "cancelled"),
        ("pay-0", "completed"),
    ]
    # No page, no second round trip.
    assert rig.count(lambda: payments.my_payments(rig.payments, "P-nobody", 20)) == {"Query": 1}


def _admitted_with_a_charge(rig: Rig, reg_id: str) -> None:
    _, card = rig.new_card()
    registrations.register(
        rig.cards,
        card.card_no,
        "inpatient",
        HOSPITAL,
        NOW,
        lambda: reg_id,
        key_for("HO-1", f"admit-{reg_id}", NOW),
        render_registration,
    )
    charge = Charge(reg_id, "C-1", "HO-1", 80_000, 80_000, "Ward", NOW)
    stays.add_charge(rig.stays, charge, 100_000_000)


def _discharge(rig: Rig, payment_store: Any, reg_id: str, key: str) -> Any:
    return payments.discharge(
        rig.cards,
        payment_store,
        rig.stays,
        HOSPITAL,
        reg_id,
        key_for("HO-1", key, NOW),
        NOW,
        render_payment,
        new_id=lambda: f"pay-{key}",
    )


def test_a_discharge_is_two_round_trips_once_the_process_has_seen_the_stay_and_three_cold(rig):
    from chalicelib.storage.payments import DynamoPaymentStore

    _admitted_with_a_charge(rig, "stay-warm")
    done: list[Any] = []
    # Registered by this process: the stay, its key record, the card, the account, the year's
    # counters and the paid months in one TransactGetItems; then the one TransactWriteItems.
    assert rig.count(lambda: done.append(_discharge(rig, rig.payments, "stay-warm", "d1"))) == {
        "TransactGetItems": 1,
        "TransactWriteItems": 1,
    }
    assert done[0].result.amount_fen == 80_000 and done[0].result.registration_id == "stay-warm"
    assert rig.count(lambda: _discharge(rig, rig.payments, "stay-warm", "d1")) == {"TransactGetItems": 1}
    # Another process (nothing cached): the stay and its key first, to learn its card and holder.
    _admitted_with_a_charge(rig, "stay-cold")
    cold = DynamoPaymentStore()
    assert rig.count(lambda: done.append(_discharge(rig, cold, "stay-cold", "d2"))) == {
        "TransactGetItems": 2,
        "TransactWriteItems": 1,
    }
    assert done[1].result.amount_fen == 80_000
    assert rig.stays.read_stay("stay-cold").stay.state.value == "discharged"


def test_a_service_center_activation_is_three_round_trips(rig):
    holder, card = rig.new_card()
    # The card and its key; the holder and the account; the write with the key's record.
    assert rig.count(lambda: activate(rig, holder, card, "a")) == {
        "TransactGetItems": 2,
        "TransactWriteItems": 1,
    }
    assert rig.count(lambda: activate(rig, holder, card, "a")) == {"TransactGetItems": 1}  # the replay


def test_a_replacement_reads_the_old_card_too_unless_the_new_card_was_seen(rig):
    holder, card = rig.new_card(old_balance=500)
    cold = rig.count(lambda: activate(rig, holder, card, "a"))
    assert cold == {"TransactGetItems": 2, "GetItem": 1, "TransactWriteItems": 1}
    holder, card = rig.new_card(old_balance=500)
    rig.cards.read_card(card.card_no)  # the process has seen the card (a refused attempt, say)
    warm = rig.count(lambda: activate(rig, holder, card, "b"))
    assert warm == {"TransactGetItems": 1, "GetItem": 1, "TransactWriteItems": 1}


def test_a_hospital_registration_is_three_round_trips_and_two_on_an_active_card(rig):
    _, card = rig.new_card()

    def register(key: str, reg_id: str) -> Any:
        return registrations.register(
            rig.cards,
            card.card_no,
            "outpatient",
            HOSPITAL,
            NOW,
            lambda: reg_id,
            key_for("HO-1", key, NOW),
            render_registration,
        )

    # The card and its key; the account; the write (card, event, account, registration, key).
    assert rig.count(lambda: register("a", "r1")) == {
        "TransactGetItems": 1,
        "GetItem": 1,
        "TransactWriteItems": 1,
    }
    assert rig.count(lambda: register("b", "r2")) == {"TransactGetItems": 1, "TransactWriteItems": 1}


def test_a_bank_webhook_is_three_round_trips_and_its_redelivery_one(rig):
    holder, card = rig.new_card()
    ssn = rig.ssns[holder.person_id]
    payload = {"type": "card.counter_activated", "data": {"card_no": card.card_no, "ssn": ssn}}

    def deliver() -> Any:
        return handle_counter_activation(rig.cards, HASHING, "ICBC", "wh-1", payload, NOW)

    first: list[Any] = []
    assert rig.count(lambda: first.append(deliver())) == {"TransactGetItems": 2, "TransactWriteItems": 1}
    assert first[0][0].outcome == "activated" and first[0][1] is False
    again: list[Any] = []
    assert rig.count(lambda: again.append(deliver())) == {"TransactGetItems": 1}
    assert again[0] == (first[0][0], True)


def test_the_holders_card_view_is_two_round_trips(rig):
    holder, card = rig.new_card(old_balance=100)
    activate(rig, holder, card, "a")
    activation.change_state(
        rig.cards,
        card.card_no,
        Action.REPORT_LOSS,
        Channel.MOBILE,
        NOW,
        owner=holder.person_id,
        key=None,
        render=render_card,
    )
    seen: list[Any] = []
    # The account, then one Query of the holder's cards with their histories.
    assert rig.count(lambda: seen.append(activation.my_cards(rig.cards, holder.person_id))) == {
        "GetItem": 1,
        "Query": 1,
    }
    mine = seen[0]
    assert mine.card == rig.cards.get_card(card.card_no) and mine.pending is None
    assert [e.action for e in mine.history] == [Action.ISSUE, Action.ACTIVATE, Action.REPORT_LOSS]


def test_a_state_change_is_two_round_trips(rig):
    holder, card = rig.new_card()
    activate(rig, holder, card, "a")

    def report_loss() -> Any:
        return activation.change_state(
            rig.cards,
            card.card_no,
            Action.REPORT_LOSS,
            Channel.MOBILE,
            NOW,
            owner=holder.person_id,
            key=key_for(f"holder:{holder.person_id}", "l", NOW),
            render=render_card,
        )

    assert rig.count(report_loss) == {"TransactGetItems": 1, "TransactWriteItems": 1}


def test_a_cached_binding_that_does_not_match_the_stay_is_not_used(rig):
    from chalicelib.storage.payments import DynamoPaymentStore
    from chalicelib.storage.stays import RegistrationCache

    _admitted_with_a_charge(rig, "stay-x")
    wrong = RegistrationCache()
    wrong.put("stay-x", "no-such-card", "P-nobody")  # a binding from somewhere else
    done: list[Any] = []
    store = DynamoPaymentStore(registrations=wrong)
    # The first read shows the stay belongs to another card: read again as a cold process would.
    assert rig.count(lambda: done.append(_discharge(rig, store, "stay-x", "dx"))) == {
        "TransactGetItems": 3,
        "TransactWriteItems": 1,
    }
    assert done[0].result.amount_fen == 80_000 and done[0].result.card_no != "no-such-card"
    assert wrong.get("stay-x") == (done[0].result.card_no, done[0].result.person_id)

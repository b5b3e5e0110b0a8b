"""One stay-store contract, two implementations: the fake and PynamoDB on moto.

Every failed condition leaves nothing written: no charge without its totals, no totals
without the charge, no key record without the change; each failure is labelled with the
item whose condition failed, so the use case knows what to read.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from moto import mock_aws

from chalicelib.domain.errors import ConcurrentUpdate, DuplicateDelivery
from chalicelib.domain.stays import Charge, ChargeState, StayState, Totals
from chalicelib.services.ports import IDEMPOTENCY_LABEL, CardChange, IdempotencyRecord, Registration
from chalicelib.services.stay_ports import CHARGE_LABEL, STAY_LABEL, StayClosing, StayReopening
from tests.conftest import NOW
from tests.fake_stays import FakeStayStore
from tests.fakes import FakeCardStore, FakeIdempotencyStore

EPOCH = int(NOW.timestamp())
MAX = 1_000_000


class Stores:
    def __init__(self, cards, stays) -> None:
        self.cards, self.stays = cards, stays

    def admit(self, rid="R-1", visit="inpatient", hospital="HOSPITAL") -> str:
        self.cards.commit(
            CardChange(
                registration=Registration(rid, "6222020000000000001", "P-1", hospital, visit, NOW, False)
            )
        )
        return rid


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request):
    if request.param == "fake":
        cards, keys = FakeCardStore(), FakeIdempotencyStore()
        yield Stores(cards, FakeStayStore(cards, keys))
        return
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.models import create_tables
    from chalicelib.storage.stays import DynamoStayStore

    with mock_aws():
        create_tables()
        yield Stores(DynamoCardStore(), DynamoStayStore())


def a_charge(charge_id="C-1", amount=1_000, in_scope=600, hospital="HOSPITAL", rid="R-1") -> Charge:
    return Charge.new(rid, charge_id, hospital, amount, in_scope, f"Item {charge_id}", NOW)


def record(scope="HOSPITAL#k") -> IdempotencyRecord:
    return IdempotencyRecord(scope, "fp", False, EPOCH + 3600, 0, 200, '{"ok": true}')


def refused(label: str, kind: type[Exception] = ConcurrentUpdate):
    return pytest.raises(kind, check=lambda e: e.extra.get("label") == label)


def test_an_admitted_stay_reads_open_with_zero_totals_and_an_outpatient_one_is_no_stay(stores):
    stores.admit()
    stores.admit("R-out", visit="outpatient")
    stay = stores.stays.read_stay("R-1").stay
    assert (stay.state, stay.totals, stay.version, stay.hospital_id) == (
        StayState.OPEN,
        Totals(),
        0,
        "HOSPITAL",
    )
    assert stay.admitted_at == NOW and stay.card_no == "6222020000000000001"
    assert stores.stays.read_stay("R-out").stay is None
    assert stores.stays.read_stay("R-none").stay is None


def test_charges_add_to_the_totals_and_the_version(stores):
    stores.admit()
    stores.stays.add_charge(a_charge(), MAX)
    stores.stays.add_charge(a_charge("C-2", 500, 0), MAX)
    stay = stores.stays.read_stay("R-1").stay
    assert (stay.totals, stay.version) == (Totals(1_500, 600, 2), 2)
    read = stores.stays.read_charge("R-1", "C-1")
    assert read.charge == a_charge() and read.stay == stay


def test_a_charge_id_seen_before_is_refused_with_the_charge_label_and_changes_nothing(stores):
    stores.admit()
    stores.stays.add_charge(a_charge(), MAX)
    with refused(CHARGE_LABEL):
        stores.stays.add_charge(a_charge(amount=7_000), MAX)
    assert stores.stays.read_charge("R-1", "C-1").charge.amount_fen == 1_000
    assert stores.stays.read_stay("R-1").stay.totals == Totals(1_000, 600, 1)


@pytest.mark.parametrize("case", ["another hospital", "outpatient", "unknown", "maximum", "closed"])
def test_a_charge_the_stay_may_not_take_is_refused_with_the_stay_label_and_writes_nothing(stores, case):
    stores.admit()
    stores.admit("R-out", visit="outpatient")
    stores.stays.add_charge(a_charge("C-0", 400_000, 0), MAX)
    charge = {
        "another hospital": a_charge(hospital="HOSPITAL-2"),
        "outpatient": a_charge(rid="R-out"),
        "unknown": a_charge(rid="R-none"),
        "maximum": a_charge(amount=600_001),
        "closed": a_charge(),
    }[case]
    if case == "closed":
        stores.stays.close(StayClosing(stores.stays.read_stay("R-1").stay, "pay-1", NOW))
    with refused(STAY_LABEL):
        stores.stays.add_charge(charge, MAX)
    assert stores.stays.read_charge(charge.registration_id, charge.charge_id).charge is None
    assert stores.stays.read_stay("R-1").stay.totals == Totals(400_000, 0, 1)
    if case != "closed":  # the refusal left the stay as it was: it still takes what fits
        stores.stays.add_charge(a_charge("C-9", 600_000, 0), MAX)
        assert stores.stays.read_stay("R-1").stay.totals == Totals(MAX, 0, 2)


def test_the_total_may_reach_the_maximum_exactly(stores):
    stores.admit()
    stores.stays.add_charge(a_charge("C-1", MAX - 1, 0), MAX)
    stores.stays.add_charge(a_charge("C-2", 1, 0), MAX)
    assert stores.stays.read_stay("R-1").stay.totals.amount_fen == MAX


def test_cancel_takes_the_charge_back_with_its_key_record_once(stores):
    stores.admit()
    stores.stays.add_charge(a_charge(), MAX)
    stores.stays.add_charge(a_charge("C-2", 500, 0), MAX)
    cancelled = stores.stays.read_charge("R-1", "C-1").charge.cancelled(NOW + timedelta(hours=1))
    stores.stays.cancel_charge(cancelled, record(), EPOCH)
    read = stores.stays.read_charge("R-1", "C-1", "HOSPITAL#k")
    assert (read.charge.state, read.charge.cancelled_at) == (ChargeState.CANCELLED, NOW + timedelta(hours=1))
    assert read.key_record == record()
    assert (read.stay.totals, read.stay.version) == (Totals(500, 0, 1), 3)
    with refused(CHARGE_LABEL):
        stores.stays.cancel_charge(cancelled, None, EPOCH)
    assert stores.stays.read_stay("R-1").stay.totals == Totals(500, 0, 1)


def test_a_cancel_whose_key_was_taken_or_whose_stay_closed_writes_nothing(stores):
    stores.admit()
    stores.stays.add_charge(a_charge(), MAX)
    stores.stays.add_charge(a_charge("C-2", 500, 0), MAX)
    first = stores.stays.read_charge("R-1", "C-2").charge.cancelled(NOW)
    stores.stays.cancel_charge(first, record(), EPOCH)
    cancelled = stores.stays.read_charge("R-1", "C-1").charge.cancelled(NOW)
    with refused(IDEMPOTENCY_LABEL, DuplicateDelivery):
        stores.stays.cancel_charge(cancelled, record(), EPOCH)
    stores.stays.close(StayClosing(stores.stays.read_stay("R-1").stay, "pay-1", NOW))
    with refused(STAY_LABEL):
        stores.stays.cancel_charge(cancelled, record("HOSPITAL#k2"), EPOCH)
    read = stores.stays.read_charge("R-1", "C-1", "HOSPITAL#k2")
    assert (read.charge.state, read.key_record, read.stay.totals) == (
        ChargeState.APPLIED,
        None,
        Totals(1_000, 600, 1),
    )


def test_withdraw_holds_only_at_the_version_read(stores):
    stores.admit()
    stale = stores.stays.read_stay("R-1").stay.withdrawn(NOW)
    stores.stays.add_charge(a_charge(), MAX)  # a charge raced it
    with refused(STAY_LABEL):
        stores.stays.withdraw(stale, record(), EPOCH)
    assert stores.stays.read_stay("R-1", "HOSPITAL#k").key_record is None
    cancelled = stores.stays.read_charge("R-1", "C-1").charge.cancelled(NOW)
    stores.stays.cancel_charge(cancelled, None, EPOCH)
    withdrawn = stores.stays.read_stay("R-1").stay.withdrawn(NOW)
    stores.stays.withdraw(withdrawn, record(), EPOCH)
    read = stores.stays.read_stay("R-1", "HOSPITAL#k")
    assert (read.stay.state, read.stay.version, read.stay.closed_at) == (StayState.WITHDRAWN, 3, NOW)
    assert read.key_record == record()


def test_close_holds_only_if_nothing_changed_since_the_settled_read_and_reopen_only_for_its_payment(stores):
    stores.admit()
    stores.stays.add_charge(a_charge(), MAX)
    settled = stores.stays.read_stay("R-1").stay
    stores.stays.add_charge(a_charge("C-2", 500, 0), MAX)  # a charge racing the discharge
    with refused(STAY_LABEL):
        stores.stays.close(StayClosing(settled, "pay-1", NOW))
    assert stores.stays.read_stay("R-1").stay.state is StayState.OPEN
    settled = stores.stays.read_stay("R-1").stay
    stores.stays.close(StayClosing(settled, "pay-1", NOW))
    closed = stores.stays.read_stay("R-1").stay
    assert (closed.state, closed.discharge_payment_id, closed.version) == (StayState.DISCHARGED, "pay-1", 3)
    assert closed.totals == settled.totals
    with refused(STAY_LABEL):
        stores.stays.close(StayClosing(settled, "pay-2", NOW))
    with refused(STAY_LABEL):
        stores.stays.reopen(StayReopening("R-1", "pay-2"))
    stores.stays.reopen(StayReopening("R-1", "pay-1"))
    reopened = stores.stays.read_stay("R-1").stay
    assert (reopened.state, reopened.discharge_payment_id, reopened.closed_at) == (StayState.OPEN, None, None)
    assert (reopened.version, reopened.totals) == (4, settled.totals)
    with refused(STAY_LABEL):
        stores.stays.reopen(StayReopening("R-1", "pay-1"))
    stores.stays.add_charge(a_charge("C-3", 1, 1), MAX)
    assert stores.stays.read_stay("R-1").stay.totals.charge_count == 3


def test_charges_page_in_charge_id_order(stores):
    stores.admit()
    stores.admit("R-2")
    for n in (5, 2, 4, 1, 3):
        stores.stays.add_charge(a_charge(f"C-{n}", n, 0), MAX)
    stores.stays.add_charge(a_charge("C-0", 1, 0, rid="R-2"), MAX)
    page, last = stores.stays.charges("R-1", 2)
    assert ([c.charge_id for c in page], last) == (["C-1", "C-2"], "C-2")
    page, last = stores.stays.charges("R-1", 2, last)
    assert ([c.charge_id for c in page], last) == (["C-3", "C-4"], "C-4")
    page, last = stores.stays.charges("R-1", 2, last)
    assert ([c.charge_id for c in page], last) == (["C-5"], None)
    assert stores.stays.charges("R-none", 10) == ([], None)


def test_a_registration_written_before_stays_existed_reads_as_an_open_stay_and_takes_charges():
    from chalicelib.storage.models import RegistrationModel, create_tables
    from chalicelib.storage.stays import DynamoStayStore

    with mock_aws():
        create_tables()
        item = RegistrationModel("R-old", card_no="6222020000000000001", person_id="P-1")
        item.institution_id, item.visit, item.at, item.card_activated = "HOSPITAL", "inpatient", NOW, False
        # As the item was written then: none of the stay's attributes.
        raw = {
            k: v
            for k, v in item.serialize().items()
            if k
            in {"registration_id", "card_no", "person_id", "institution_id", "visit", "at", "card_activated"}
        }
        RegistrationModel._get_connection().connection.put_item(
            RegistrationModel.Meta.table_name, "R-old", attributes=raw
        )
        stored = RegistrationModel._get_connection().connection.get_item(
            RegistrationModel.Meta.table_name, "R-old"
        )
        assert {"state", "version", "amount_fen"}.isdisjoint(stored["Item"])
        stays = DynamoStayStore()
        old = stays.read_stay("R-old").stay
        assert (old.state, old.totals, old.version) == (StayState.OPEN, Totals(), 0)
        stays.close(StayClosing(old, "pay-0", NOW))  # its version 0 is "absent"
        stays.reopen(StayReopening("R-old", "pay-0"))
        stays.add_charge(a_charge(rid="R-old"), MAX)
        assert stays.read_stay("R-old").stay.totals == Totals(1_000, 600, 1)


# --- a charge racing the discharge ---------------------------------------------------------------


@pytest.fixture(params=["fake", "locked moto server"])
def racing_stores(request):
    if request.param == "fake":
        cards, keys = FakeCardStore(), FakeIdempotencyStore()
        yield Stores(cards, FakeStayStore(cards, keys))
        return
    from chalicelib.storage import models
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.stays import DynamoStayStore
    from sscard_ops.motoserver import LockedMotoServer

    server = LockedMotoServer().start()  # moto's in-process mock is not thread-safe
    models.use_endpoint(server.endpoint)
    try:
        models.create_tables()
        yield Stores(DynamoCardStore(), DynamoStayStore())
    finally:
        models.use_endpoint(None)
        server.stop()


def test_a_charge_racing_the_discharge_is_in_the_settled_totals_or_refused(racing_stores):
    """Uploaders and a discharge at once: the discharge settles what it read and closes only if
    nothing changed since (else it reads and settles again, as the payment's retry does)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    from chalicelib.domain.stays import StayClosed
    from chalicelib.services import stays as service
    from chalicelib.services.backoff import Backoff

    stores = racing_stores
    stores.admit()
    patient = Backoff(attempts=50, base_seconds=0.001, cap_seconds=0.01)
    halfway = Event()
    accepted: list[Charge] = []
    refused_: list[Charge] = []

    def upload(n: int) -> None:
        charge = a_charge(f"C-{n:03d}", 100 + n, n)
        try:
            service.add_charge(stores.stays, charge, MAX, patient)
            accepted.append(charge)
        except StayClosed:
            refused_.append(charge)
        if len(accepted) >= 20:
            halfway.set()

    def discharge():
        halfway.wait(30)
        while True:
            settled = stores.stays.read_stay("R-1").stay
            try:
                stores.stays.close(StayClosing(settled, "pay-1", NOW))
                return settled
            except ConcurrentUpdate:
                continue  # a charge got in first: settle the new totals

    with ThreadPoolExecutor(6) as pool:
        discharged = pool.submit(discharge)
        list(pool.map(upload, range(80)))
        settled = discharged.result(timeout=60)
    assert len(accepted) + len(refused_) == 80 and len(accepted) >= 20
    closed = stores.stays.read_stay("R-1").stay
    assert closed.state is StayState.DISCHARGED
    assert (
        closed.totals
        == settled.totals
        == Totals(sum(c.amount_fen for c in accepted), sum(c.in_scope_fen for c in accepted), len(accepted))
    )
    stored, _ = stores.stays.charges("R-1", 200)
    assert {c.charge_id for c in stored} == {c.charge_id for c in accepted}

"""StayStore on DynamoDB: the registration item is the stay, charges have a table of their own.

Round trips:
- a charge upload: ONE TransactWriteItems (labels in request order, see dynamo.py):
    put     charge          charge_id does not exist on this stay
    update  stay            ADD amount_fen, in_scope_fen, charge_count, version;
                            if it is an open inpatient stay of the charge's hospital and
                            amount_fen <= maximum - this charge
  Totals are ADDed under a condition that does not mention them beyond the maximum, so
  concurrent charges never fail each other's conditions (only DynamoDB's transaction
  conflict on the one item, which the service retries). A duplicate costs one read more.
- cancel charge, withdraw: one TransactGetItems (stay, charge, key record), one write.
- the discharge's and the reopening's stay writes are items a payment's own
  TransactWriteItems includes: close_item and reopen_item.

A registration's card and holder are fixed when it is made, so RegistrationCache keeps
registration -> (card, holder) for good once this process has made or read it: a discharge
then reads the stay with the holder's items in one round trip (storage/payments.py).

Items written before stays existed lack state, totals and version: their conditions accept
"absent" where absent means the default (open, 0).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactGet

from chalicelib.domain.stays import INPATIENT, Charge, ChargeState, Stay, StayState, Totals
from chalicelib.services.ports import IdempotencyRecord
from chalicelib.services.stay_ports import (
    CHARGE_LABEL,
    STAY_LABEL,
    ChargeRead,
    StayClosing,
    StayRead,
    StayReopening,
)

from .dynamo import TransactionItems, key_record_put, record_of
from .errors import translated
from .models import ChargeModel, IdempotencyModel, RegistrationModel, _region

REGISTRATION_CACHE_SIZE = 50_000  # registration id -> (card number, person id), about 15 MB


class RegistrationCache:
    """Registration id -> (card number, person id), an LRU: the binding never changes, so it is
    never stale. Shared by the stores of one process (the composition root builds one)."""

    def __init__(self, size: int = REGISTRATION_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._bound: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def get(self, registration_id: str) -> tuple[str, str] | None:
        with self._lock:
            bound = self._bound.get(registration_id)
            if bound is not None:
                self._bound.move_to_end(registration_id)
            return bound

    def put(self, registration_id: str, card_no: str, person_id: str) -> None:
        with self._lock:
            self._bound[registration_id] = (card_no, person_id)
            self._bound.move_to_end(registration_id)
            while len(self._bound) > self._size:
                self._bound.popitem(last=False)


# A TransactWriteItems update: (label, item with its key, actions, condition), as TransactionItems takes it.
StayUpdate = tuple[str, RegistrationModel, list[Any], Any]


def stay_of(item: RegistrationModel) -> Stay | None:
    """The stay an inpatient registration is; None for an outpatient one."""
    if item.visit != INPATIENT:
        return None
    return Stay(
        registration_id=item.registration_id,
        card_no=item.card_no,
        person_id=item.person_id,
        hospital_id=item.institution_id,
        admitted_at=item.at,
        state=StayState(item.state),
        totals=Totals(int(item.amount_fen), int(item.in_scope_fen), int(item.charge_count)),
        version=int(item.version),
        discharge_payment_id=item.discharge_payment_id,
        closed_at=item.closed_at,
    )


def charge_item(charge: Charge) -> ChargeModel:
    return ChargeModel(
        charge.registration_id,
        charge.charge_id,
        hospital_id=charge.hospital_id,
        amount_fen=charge.amount_fen,
        in_scope_fen=charge.in_scope_fen,
        description=charge.description,
        state=charge.state.value,
        applied_at=charge.applied_at,
        cancelled_at=charge.cancelled_at,
    )


def charge_of(item: ChargeModel) -> Charge:
    return Charge(
        registration_id=item.registration_id,
        charge_id=item.charge_id,
        hospital_id=item.hospital_id,
        amount_fen=int(item.amount_fen),
        in_scope_fen=int(item.in_scope_fen),
        description=item.description,
        applied_at=item.applied_at,
        state=ChargeState(item.state),
        cancelled_at=item.cancelled_at,
    )


def _open() -> Any:
    return RegistrationModel.state.does_not_exist() | (RegistrationModel.state == StayState.OPEN.value)


def _version_is(version: int) -> Any:
    if version == 0:  # never changed: written with 0, or before versions existed
        return RegistrationModel.version.does_not_exist() | (RegistrationModel.version == 0)
    return RegistrationModel.version == version


def _open_stay_of(hospital_id: str) -> Any:
    """An open inpatient stay of this hospital (a missing item fails the equalities)."""
    return (
        (RegistrationModel.institution_id == hospital_id) & (RegistrationModel.visit == INPATIENT) & _open()
    )


def close_item(closing: StayClosing) -> StayUpdate:
    """The discharge's write of the stay, for the payment's own TransactWriteItems: closed by
    the payment, on condition that it is still open at the version whose totals were settled.
    A failed condition is ConcurrentUpdate labelled STAY_LABEL: read the stay and settle again."""
    read, closed = closing.stay, closing.closed
    actions = [
        RegistrationModel.state.set(StayState.DISCHARGED.value),
        RegistrationModel.version.set(closed.version),
        RegistrationModel.discharge_payment_id.set(closing.payment_id),
        RegistrationModel.closed_at.set(closing.at),
    ]
    condition = _open_stay_of(read.hospital_id) & _version_is(read.version)
    return (STAY_LABEL, RegistrationModel(read.registration_id), actions, condition)


def reopen_item(reopening: StayReopening) -> StayUpdate:
    """The cancelled discharge payment's write of the stay, for the cancel's own
    TransactWriteItems: open again, on condition that this payment closed it."""
    actions = [
        RegistrationModel.state.set(StayState.OPEN.value),
        RegistrationModel.version.add(1),
        RegistrationModel.discharge_payment_id.remove(),
        RegistrationModel.closed_at.remove(),
    ]
    condition = (RegistrationModel.state == StayState.DISCHARGED.value) & (
        RegistrationModel.discharge_payment_id == reopening.payment_id
    )
    return (STAY_LABEL, RegistrationModel(reopening.registration_id), actions, condition)


class DynamoStayStore:
    def __init__(self, registrations: RegistrationCache | None = None) -> None:
        self._connection: Connection | None = None
        self._registrations = registrations if registrations is not None else RegistrationCache()

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=_region())
        return self._connection

    # --- reads ---
    def read_stay(self, registration_id: str, scope_key: str | None = None) -> StayRead:
        with translated(), TransactGet(connection=self.connection) as tx:
            stay_future = tx.get(RegistrationModel, registration_id)
            key_future = tx.get(IdempotencyModel, scope_key) if scope_key else None
        return StayRead(self._seen(stay_future), _record(key_future))

    def read_charge(self, registration_id: str, charge_id: str, scope_key: str | None = None) -> ChargeRead:
        with translated(), TransactGet(connection=self.connection) as tx:
            stay_future = tx.get(RegistrationModel, registration_id)
            charge_future = tx.get(ChargeModel, registration_id, charge_id)
            key_future = tx.get(IdempotencyModel, scope_key) if scope_key else None
        charge = _resolved(charge_future)
        return ChargeRead(self._seen(stay_future), charge_of(charge) if charge else None, _record(key_future))

    def charges(
        self, registration_id: str, limit: int, after: str | None = None
    ) -> tuple[list[Charge], str | None]:
        condition = ChargeModel.charge_id > after if after else None
        with translated():
            found = list(
                ChargeModel.query(
                    registration_id, range_key_condition=condition, consistent_read=True, limit=limit + 1
                )
            )
        page = [charge_of(item) for item in found[:limit]]
        return page, (page[-1].charge_id if len(found) > limit else None)

    # --- writes ---
    def add_charge(self, charge: Charge, max_total_fen: int) -> None:
        items = TransactionItems()
        items.puts.append((CHARGE_LABEL, charge_item(charge), ChargeModel.charge_id.does_not_exist()))
        room = max_total_fen - charge.amount_fen
        within = RegistrationModel.amount_fen.does_not_exist() | (RegistrationModel.amount_fen <= room)
        items.updates.append(
            (
                STAY_LABEL,
                RegistrationModel(charge.registration_id),
                [
                    RegistrationModel.amount_fen.add(charge.amount_fen),
                    RegistrationModel.in_scope_fen.add(charge.in_scope_fen),
                    RegistrationModel.charge_count.add(1),
                    RegistrationModel.version.add(1),
                ],
                _open_stay_of(charge.hospital_id) & within,
            )
        )
        items.commit(self.connection, token=uuid.uuid4().hex)

    def cancel_charge(self, cancelled: Charge, key_record: IdempotencyRecord | None, now: int) -> None:
        assert cancelled.cancelled_at is not None  # Charge.cancelled() sets it
        items = TransactionItems()
        if key_record is not None:
            items.puts.append(key_record_put(key_record, now))
        items.updates.append(
            (
                CHARGE_LABEL,
                ChargeModel(cancelled.registration_id, cancelled.charge_id),
                [
                    ChargeModel.state.set(ChargeState.CANCELLED.value),
                    ChargeModel.cancelled_at.set(cancelled.cancelled_at),
                ],
                ChargeModel.state == ChargeState.APPLIED.value,
            )
        )
        items.updates.append(
            (
                STAY_LABEL,
                RegistrationModel(cancelled.registration_id),
                [
                    RegistrationModel.amount_fen.add(-cancelled.amount_fen),
                    RegistrationModel.in_scope_fen.add(-cancelled.in_scope_fen),
                    RegistrationModel.charge_count.add(-1),
                    RegistrationModel.version.add(1),
                ],
                _open_stay_of(cancelled.hospital_id),
            )
        )
        items.commit(self.connection, token=uuid.uuid4().hex)

    def withdraw(self, withdrawn: Stay, key_record: IdempotencyRecord | None, now: int) -> None:
        assert withdrawn.closed_at is not None  # Stay.withdrawn() sets it
        items = TransactionItems()
        if key_record is not None:
            items.puts.append(key_record_put(key_record, now))
        items.updates.append(
            (
                STAY_LABEL,
                RegistrationModel(withdrawn.registration_id),
                [
                    RegistrationModel.state.set(withdrawn.state.value),
                    RegistrationModel.version.set(withdrawn.version),
                    RegistrationModel.closed_at.set(withdrawn.closed_at),
                ],
                _open_stay_of(withdrawn.hospital_id) & _version_is(withdrawn.version - 1),
            )
        )
        items.commit(self.connection, token=uuid.uuid4().hex)

    def _seen(self, future: Any) -> Stay | None:
        """The stay read, its card and holder remembered for the discharge's one read."""
        stay = _stay(future)
        if stay is not None:
            self._registrations.put(stay.registration_id, stay.card_no, stay.person_id)
        return stay

    def close(self, closing: StayClosing) -> None:
        items = TransactionItems()
        items.updates.append(close_item(closing))
        items.commit(self.connection, token=uuid.uuid4().hex)

    def reopen(self, reopening: StayReopening) -> None:
        items = TransactionItems()
        items.updates.append(reopen_item(reopening))
        items.commit(self.connection, token=uuid.uuid4().hex)


def _resolved(future: Any) -> Any:
    try:
        return future.get()
    except DoesNotExist:  # TransactGetItems found no such item
        return None


def _stay(future: Any) -> Stay | None:
    item = _resolved(future)
    return stay_of(item) if item else None


def _record(future: Any) -> IdempotencyRecord | None:
    if future is None:
        return None
    item = _resolved(future)
    return record_of(item) if item else None

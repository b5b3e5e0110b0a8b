"""The stay store on the in-memory fakes: the same contract as DynamoDB.

The stays are the fake card store's inpatient registrations (what a registration writes),
with their state, totals and version kept here; key records are the fake idempotency
store's. Conditions are checked in DynamoDB's label order before anything is applied.
A fake payment store includes a discharge's stay write with check_close/apply_close (and
check_reopen/apply_reopen) under its own lock, as close_item joins a payment's transaction.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from chalicelib.domain.errors import ConcurrentUpdate, DuplicateDelivery
from chalicelib.domain.stays import INPATIENT, Charge, ChargeState, Stay, StayState
from chalicelib.services.ports import IDEMPOTENCY_LABEL, IdempotencyRecord
from chalicelib.services.stay_ports import (
    CHARGE_LABEL,
    STAY_LABEL,
    ChargeRead,
    StayClosing,
    StayRead,
    StayReopening,
    StayStore,
)
from tests.fakes import FakeCardStore, FakeIdempotencyStore, key_is_free


class FakeStayStore(StayStore):
    def __init__(self, cards: FakeCardStore, keys: FakeIdempotencyStore) -> None:
        self.cards = cards
        self.keys = keys
        self.lock = threading.RLock()
        self.changed: dict[str, Stay] = {}  # registration id -> the stay as last written
        self.charge_items: dict[tuple[str, str], Charge] = {}

    # --- reads ---
    def stay(self, registration_id: str) -> Stay | None:
        with self.lock:
            if registration_id in self.changed:
                return self.changed[registration_id]
            registration = self.cards.registrations.get(registration_id)
            if registration is None or registration.visit != INPATIENT:
                return None
            return Stay(
                registration.registration_id,
                registration.card_no,
                registration.person_id,
                registration.institution_id,
                registration.at,
            )

    def read_stay(self, registration_id: str, scope_key: str | None = None) -> StayRead:
        with self.lock:
            return StayRead(self.stay(registration_id), self._record(scope_key))

    def read_charge(self, registration_id: str, charge_id: str, scope_key: str | None = None) -> ChargeRead:
        with self.lock:
            return ChargeRead(
                self.stay(registration_id),
                self.charge_items.get((registration_id, charge_id)),
                self._record(scope_key),
            )

    def charges(
        self, registration_id: str, limit: int, after: str | None = None
    ) -> tuple[list[Charge], str | None]:
        with self.lock:
            ids = sorted(
                c for (r, c) in self.charge_items if r == registration_id and (after is None or c > after)
            )
            page = [self.charge_items[(registration_id, c)] for c in ids[:limit]]
        return page, (page[-1].charge_id if len(ids) > limit else None)

    # --- writes ---
    def add_charge(self, charge: Charge, max_total_fen: int) -> None:
        with self.lock:
            if (charge.registration_id, charge.charge_id) in self.charge_items:
                raise ConcurrentUpdate("charge exists already", label=CHARGE_LABEL)
            stay = self._open_stay_of(charge.registration_id, charge.hospital_id)
            if stay.totals.amount_fen > max_total_fen - charge.amount_fen:
                raise ConcurrentUpdate("stay total at its maximum", label=STAY_LABEL)
            self.charge_items[(charge.registration_id, charge.charge_id)] = charge
            self.changed[stay.registration_id] = replace(
                stay, totals=stay.totals.plus(charge), version=stay.version + 1
            )

    def cancel_charge(self, cancelled: Charge, key_record: IdempotencyRecord | None, now: int) -> None:
        with self.lock, self.keys.lock:
            self._check_key(key_record, now)
            current = self.charge_items.get((cancelled.registration_id, cancelled.charge_id))
            if current is None or current.state is not ChargeState.APPLIED:
                raise ConcurrentUpdate("charge not applied", label=CHARGE_LABEL)
            stay = self._open_stay_of(cancelled.registration_id, cancelled.hospital_id)
            self._put_key(key_record)
            self.charge_items[(cancelled.registration_id, cancelled.charge_id)] = replace(
                current, state=ChargeState.CANCELLED, cancelled_at=cancelled.cancelled_at
            )
            self.changed[stay.registration_id] = replace(
                stay, totals=stay.totals.minus(current), version=stay.version + 1
            )

    def withdraw(self, withdrawn: Stay, key_record: IdempotencyRecord | None, now: int) -> None:
        with self.lock, self.keys.lock:
            self._check_key(key_record, now)
            stay = self._open_stay_of(withdrawn.registration_id, withdrawn.hospital_id)
            if stay.version != withdrawn.version - 1:
                raise ConcurrentUpdate("stay changed", label=STAY_LABEL)
            self._put_key(key_record)
            self.changed[stay.registration_id] = replace(
                stay, state=withdrawn.state, version=withdrawn.version, closed_at=withdrawn.closed_at
            )

    def close(self, closing: StayClosing) -> None:
        with self.lock:
            self.check_close(closing)
            self.apply_close(closing)

    def reopen(self, reopening: StayReopening) -> None:
        with self.lock:
            self.check_reopen(reopening)
            self.apply_reopen(reopening)

    # --- the parts a fake payment store's transaction includes (hold self.lock) ---
    def check_close(self, closing: StayClosing) -> None:
        stay = self._open_stay_of(closing.stay.registration_id, closing.stay.hospital_id)
        if stay.version != closing.stay.version:
            raise ConcurrentUpdate("stay changed since it was settled", label=STAY_LABEL)

    def apply_close(self, closing: StayClosing) -> None:
        current = self.stay(closing.stay.registration_id)
        assert current is not None
        closed = closing.closed
        self.changed[current.registration_id] = replace(
            current,
            state=closed.state,
            version=closed.version,
            discharge_payment_id=closed.discharge_payment_id,
            closed_at=closed.closed_at,
        )

    def check_reopen(self, reopening: StayReopening) -> None:
        stay = self.stay(reopening.registration_id)
        if (
            stay is None
            or stay.state is not StayState.DISCHARGED
            or stay.discharge_payment_id != reopening.payment_id
        ):
            raise ConcurrentUpdate("stay not closed by this payment", label=STAY_LABEL)

    def apply_reopen(self, reopening: StayReopening) -> None:
        stay = self.stay(reopening.registration_id)
        assert stay is not None
        self.changed[stay.registration_id] = replace(
            stay, state=StayState.OPEN, version=stay.version + 1, discharge_payment_id=None, closed_at=None
        )

    # --- helpers ---
    def _open_stay_of(self, registration_id: str, hospital_id: str) -> Stay:
        stay = self.stay(registration_id)
        if stay is None or stay.hospital_id != hospital_id or stay.state is not StayState.OPEN:
            raise ConcurrentUpdate("not an open stay of this hospital", label=STAY_LABEL)
        return stay

    def _record(self, scope_key: str | None) -> IdempotencyRecord | None:
        return self.keys.records.get(scope_key) if scope_key else None

    def _check_key(self, key_record: IdempotencyRecord | None, now: int) -> None:
        if key_record is not None and not key_is_free(self.keys.records.get(key_record.scope_key), now):
            raise DuplicateDelivery("idempotency exists already", label=IDEMPOTENCY_LABEL)

    def _put_key(self, key_record: IdempotencyRecord | None) -> None:
        if key_record is not None:
            self.keys.records[key_record.scope_key] = key_record

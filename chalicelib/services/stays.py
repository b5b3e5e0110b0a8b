"""Inpatient stays at the hospital that registered them: charges, their cancellation, the stay
and its charges, withdrawal. (Quote and discharge settle the stay: services/payments.py.)

Only the hospital that registered a stay may touch it; to any other caller it does not exist
(404 stay-not-found), and neither does an outpatient registration.

- A charge upload is one write (stay_ports.StayStore.add_charge) and no read: the write's
  conditions carry the rules. Only when it fails does the use case read, to say which rule
  refused it (domain/stays.py), or to find the charge uploaded before under the same id
  (same body: that charge again; another body: 422 charge-id-reused). Charges are idempotent
  by charge_id, so they take no Idempotency-Key.
- Cancel charge and withdraw: one read (stay, charge, key record), then one write carrying
  the completed key record. A retry with the key gets the first answer.
Lost races and throttling are retried with jittered backoff, then answered 503.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from chalicelib.domain.errors import ConcurrentUpdate
from chalicelib.domain.stays import (
    Charge,
    ChargeNotFound,
    Stay,
    StayNotFound,
    StayTotalExceeded,
    applied_once,
)

from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .idempotency import IdempotentRequest, Outcome, StoredResponse, commit_keyed
from .stay_ports import CHARGE_LABEL, STAY_LABEL, StayStore

T = TypeVar("T")
DEFAULT_PAGE = 50
MAX_PAGE = 200


@dataclass(frozen=True)
class ChargeUpload:
    charge: Charge  # as applied (for a repeated upload: as it stands now)
    repeated: bool  # the same charge_id and body were uploaded before


@dataclass(frozen=True)
class StayPage:
    stay: Stay
    charges: list[Charge]
    last_charge_id: str | None  # the page key when more charges may follow


def found_stay(stay: Stay | None, registration_id: str, hospital_id: str) -> Stay:
    if stay is None:
        raise StayNotFound(f"No stay {registration_id}")
    return stay.ensure_hospital(hospital_id)


def add_charge(
    store: StayStore, wanted: Charge, max_total_fen: int, backoff: Backoff = DEFAULT_BACKOFF
) -> ChargeUpload:
    """Apply the charge once; `wanted.hospital_id` is the caller, `max_total_fen` the policy's
    per-stay maximum."""

    if wanted.amount_fen > max_total_fen:  # no stay could take it: refused without a round trip
        raise StayTotalExceeded(
            f"A stay's total may be at most {max_total_fen} fen", maximum_fen=max_total_fen
        )

    def attempt() -> ChargeUpload:
        try:
            store.add_charge(wanted, max_total_fen)
            return ChargeUpload(wanted, repeated=False)
        except ConcurrentUpdate as refused:
            label = refused.extra.get("label")
            if label == CHARGE_LABEL:
                read = store.read_charge(wanted.registration_id, wanted.charge_id)
                if read.charge is not None:  # else it was a transaction conflict: try again
                    if read.charge.hospital_id != wanted.hospital_id:
                        raise StayNotFound(f"No stay {wanted.registration_id}") from refused
                    return ChargeUpload(applied_once(read.charge, wanted), repeated=True)
            elif label == STAY_LABEL:
                stay = found_stay(
                    store.read_stay(wanted.registration_id).stay, wanted.registration_id, wanted.hospital_id
                )
                stay.charged(wanted, max_total_fen)  # the rule that refused it raises; else a race
            raise

    return with_backoff(attempt, backoff)


def cancel_charge(
    store: StayStore,
    hospital_id: str,
    registration_id: str,
    charge_id: str,
    at: datetime,
    key: IdempotentRequest | None,
    render: Callable[[Charge], StoredResponse],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[Charge]:
    def attempt() -> Outcome[Charge]:
        read = store.read_charge(registration_id, charge_id, key.scope_key if key else None)
        stored = key.decide(read.key_record) if key else None
        if stored is not None:
            return Outcome(stored, replayed=True)
        stay = found_stay(read.stay, registration_id, hospital_id)
        if read.charge is None:
            raise ChargeNotFound(f"No charge {charge_id} on stay {registration_id}")
        stay.uncharged(read.charge)
        cancelled = read.charge.cancelled(at)
        return commit_keyed(
            key, cancelled, render, lambda record: store.cancel_charge(cancelled, record, _now(key))
        )

    return with_backoff(attempt, backoff)


def withdraw(
    store: StayStore,
    hospital_id: str,
    registration_id: str,
    at: datetime,
    key: IdempotentRequest | None,
    render: Callable[[Stay], StoredResponse],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[Stay]:
    """An open stay with no live charges is withdrawn (admitted by mistake, or left unused)."""

    def attempt() -> Outcome[Stay]:
        read = store.read_stay(registration_id, key.scope_key if key else None)
        stored = key.decide(read.key_record) if key else None
        if stored is not None:
            return Outcome(stored, replayed=True)
        withdrawn = found_stay(read.stay, registration_id, hospital_id).withdrawn(at)
        return commit_keyed(
            key, withdrawn, render, lambda record: store.withdraw(withdrawn, record, _now(key))
        )

    return with_backoff(attempt, backoff)


def stay_page(
    store: StayStore, hospital_id: str, registration_id: str, limit: int, after: str | None
) -> StayPage:
    stay = found_stay(store.read_stay(registration_id).stay, registration_id, hospital_id)
    charges, last = store.charges(registration_id, limit, after)
    return StayPage(stay, charges, last)


def _now(key: IdempotentRequest | None) -> int:
    return key.now if key is not None else 0  # only a key record's condition uses it

"""What the stay use cases need from storage. DynamoDB implements it; tests fake it.

The stay is the inpatient registration's item; its charges are items of their own keyed
(registration_id, charge_id). A store answers None for a registration that is not an
inpatient one: an outpatient registration is not a stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.stays import Charge, Stay

from .ports import IdempotencyRecord

# Transaction labels: a ConcurrentUpdate's `label` says which item's condition failed (or
# which item another transaction held), so the use case knows what to read to explain it.
CHARGE_LABEL = "charge"  # the charge exists already (add), or is no longer applied (cancel)
STAY_LABEL = "stay"  # the stay is not an open inpatient stay of this hospital, or changed


@dataclass(frozen=True)
class StayRead:
    """One consistent round trip: the stay and whatever is stored under the request's key."""

    stay: Stay | None
    key_record: IdempotencyRecord | None = None


@dataclass(frozen=True)
class ChargeRead:
    """One consistent round trip: the stay, one of its charges and the request's key record."""

    stay: Stay | None
    charge: Charge | None
    key_record: IdempotencyRecord | None = None


@dataclass(frozen=True)
class StayClosing:
    """What a discharge writes to the stay, inside the discharge payment's own transaction.

    `stay` is the stay as read when its totals were settled. The write holds only if the stay
    is still that open inpatient stay of that hospital at that version: every charge and
    cancel bumps the version, so a charge racing the discharge either committed before the
    read (and is in the settled totals) or makes this write fail (and the discharge reads
    and settles again), never accepted and left out.
    """

    stay: Stay
    payment_id: str
    at: datetime

    @property
    def closed(self) -> Stay:
        return self.stay.discharged(self.payment_id, self.at)


@dataclass(frozen=True)
class StayReopening:
    """What cancelling a discharge payment writes to its stay, inside the cancel's transaction:
    open again (version + 1), if it is still closed by that very payment."""

    registration_id: str
    payment_id: str


class StayStore(Protocol):
    def read_stay(self, registration_id: str, scope_key: str | None = None) -> StayRead: ...

    def read_charge(
        self, registration_id: str, charge_id: str, scope_key: str | None = None
    ) -> ChargeRead: ...

    def charges(
        self, registration_id: str, limit: int, after: str | None = None
    ) -> tuple[list[Charge], str | None]:
        """At most `limit` charges in charge_id order after the charge_id `after`; the second
        value is this page's last charge_id when more may follow."""
        ...

    def add_charge(self, charge: Charge, max_total_fen: int) -> None:
        """ONE write: the charge, if its id is new on the stay (else ConcurrentUpdate labelled
        CHARGE_LABEL), and the stay's totals and version added to, if the stay is an open
        inpatient stay of `charge.hospital_id` whose amount total stays within
        `max_total_fen` (else labelled STAY_LABEL). Totals are added, not set, so concurrent
        charges need not see each other. StorageBusy when throttled."""
        ...

    def cancel_charge(self, cancelled: Charge, key_record: IdempotencyRecord | None, now: int) -> None:
        """ONE write: the charge marked cancelled if it was applied (CHARGE_LABEL), the stay's
        totals taken back if it is still an open stay of the charge's hospital (STAY_LABEL),
        and the key record unless a live one exists (DuplicateDelivery, "idempotency")."""
        ...

    def withdraw(self, withdrawn: Stay, key_record: IdempotencyRecord | None, now: int) -> None:
        """ONE write: the stay withdrawn if it is still open at version `withdrawn.version - 1`
        (STAY_LABEL), and the key record as for cancel_charge."""
        ...

    def close(self, closing: StayClosing) -> None:
        """The discharge's stay write on its own (tests, tools); a payment includes it in its
        own transaction instead (storage.stays.close_item). ConcurrentUpdate, STAY_LABEL."""
        ...

    def reopen(self, reopening: StayReopening) -> None:
        """The reopening on its own (storage.stays.reopen_item inside a payment's cancel)."""
        ...

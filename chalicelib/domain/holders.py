"""Holders, their personal accounts, and the institutions that serve them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from .errors import AccountHeld


class Participation(StrEnum):
    """How a holder takes part in social insurance."""

    EMPLOYEE = "employee"
    INDIVIDUAL = "individual"  # owner or employee of an individual industrial and commercial household
    FREELANCER = "freelancer"  # flexible employment


@dataclass(frozen=True)
class Holder:
    person_id: str
    name: str
    ssn_digest: str  # keyed hash: lets us match an SSN without storing it
    ssn_masked: str
    birth_date: date
    sex: str
    participation: Participation
    enrolled_at: datetime


class AccountState(StrEnum):
    NORMAL = "normal"
    HELD = "held"  # a new card is issued and not yet activated


@dataclass(frozen=True)
class Account:
    """The holder's medical-insurance personal account. Money is integer fen."""

    person_id: str
    balance_fen: int
    state: AccountState
    card_no: str | None  # the card the account is on
    pending_card_no: str | None = None  # a newly issued card awaiting activation
    version: int = 0

    def ensure_can_pay(self) -> None:
        if self.state is AccountState.HELD:
            raise AccountHeld("The account is held until the new card is activated")

    def hold_for(self, new_card_no: str) -> Account:
        """A new card was issued: hold the account if an older card still reaches it."""
        state = AccountState.HELD if self.card_no else AccountState.NORMAL
        return replace(self, state=state, pending_card_no=new_card_no, version=self.version + 1)

    def move_to(self, card_no: str) -> Account:
        """The new card is activated: the account is normal again and its balance is on that card."""
        return replace(
            self,
            state=AccountState.NORMAL,
            card_no=card_no,
            pending_card_no=None,
            version=self.version + 1,
        )


class InstitutionKind(StrEnum):
    PHARMACY = "pharmacy"
    HOSPITAL = "hospital"
    SERVICE_CENTER = "service_center"
    COLLECTION_SYSTEM = "collection_system"


@dataclass(frozen=True)
class Institution:
    institution_id: str
    kind: InstitutionKind
    name: str
    # Only designated pharmacies and hospitals take the card.
    designated: bool = False


@dataclass(frozen=True)
class Bank:
    bank_code: str
    name: str


@dataclass(frozen=True)
class Credential:
    """An institution's bearer token, known to us only by its keyed digest."""

    token_digest: str
    institution_id: str
    kind: InstitutionKind
    created_at: datetime

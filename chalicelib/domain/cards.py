"""Cards, their states, and the one table of allowed state changes.

A card is the key to the holder's personal account; the balance lives in the
account (see holders.py), so carrying an old card's account over to a new card
is re-pointing the account, never copying money.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from .errors import CardNotActivated, CardSuspended, CardUnusable, TransitionNotAllowed


class CardKind(StrEnum):
    SOCIAL_SECURITY = "social_security"
    # The old medical insurance card a social security card replaces.
    MEDICAL_INSURANCE = "medical_insurance"


class CardState(StrEnum):
    ISSUED = "issued"  # printed and handed over, not yet activated
    ACTIVE = "active"
    SUSPENDED = "suspended"  # reported lost; a service center resumes or cancels
    CANCELLED = "cancelled"
    REPLACED = "replaced"  # a newer card of the holder was activated


class Action(StrEnum):
    ISSUE = "issue"  # recorded in the history; a card comes into being, no transition
    ACTIVATE = "activate"
    ENABLE_FINANCIAL = "enable_financial"
    REPORT_LOSS = "report_loss"
    RESUME = "resume"
    CANCEL = "cancel"
    RETIRE = "retire"


class Channel(StrEnum):
    BANK_COUNTER = "bank_counter"
    SERVICE_CENTER = "service_center"
    HOSPITAL = "hospital"
    PHARMACY = "pharmacy"
    MOBILE = "mobile"
    OPS = "ops"
    SYSTEM = "system"


class IdentityCheck(StrEnum):
    """How the person at the counter was shown to be the card's holder, for the history."""

    SSN = "ssn"  # the social security number on the ID document is the holder's


# Resume returns a card to the state it had when it was suspended.
PREVIOUS = None

# The single source of truth for card state changes: action -> {from: to}.
TRANSITIONS: dict[Action, dict[CardState, CardState | None]] = {
    Action.ACTIVATE: {CardState.ISSUED: CardState.ACTIVE},
    Action.ENABLE_FINANCIAL: {CardState.ACTIVE: CardState.ACTIVE},
    Action.REPORT_LOSS: {
        CardState.ISSUED: CardState.SUSPENDED,
        CardState.ACTIVE: CardState.SUSPENDED,
    },
    Action.RESUME: {CardState.SUSPENDED: PREVIOUS},
    Action.CANCEL: {
        CardState.ISSUED: CardState.CANCELLED,
        CardState.ACTIVE: CardState.CANCELLED,
        CardState.SUSPENDED: CardState.CANCELLED,
    },
    Action.RETIRE: {
        CardState.ISSUED: CardState.REPLACED,
        CardState.ACTIVE: CardState.REPLACED,
        CardState.SUSPENDED: CardState.REPLACED,
    },
}

# Which channels may activate a card, and whether they switch on its bank-card function.
ACTIVATION_CHANNELS: dict[Channel, bool] = {
    Channel.BANK_COUNTER: True,
    Channel.SERVICE_CENTER: False,
    Channel.HOSPITAL: False,
    Channel.PHARMACY: False,
}


@dataclass(frozen=True)
class Card:
    card_no: str
    person_id: str
    kind: CardKind
    state: CardState
    issued_at: datetime
    issuing_bank: str | None = None
    financial_active: bool = False
    activated_at: datetime | None = None
    suspended_from: CardState | None = None
    # Optimistic concurrency: every write is conditional on the version it read.
    version: int = 0

    def ensure_usable(self) -> None:
        """Refuse a card that cannot pay or register, with the reason."""
        if self.state is CardState.ACTIVE:
            return
        if self.state is CardState.ISSUED:
            raise CardNotActivated("The card must be activated before use")
        if self.state is CardState.SUSPENDED:
            raise CardSuspended("The card is suspended (reported lost)")
        raise CardUnusable(f"The card is {self.state.value}")


@dataclass(frozen=True)
class CardEvent:
    """One line of a card's auditable history."""

    card_no: str
    at: datetime
    action: Action
    from_state: CardState
    to_state: CardState
    channel: Channel
    institution_id: str | None = None
    detail: str | None = None
    # The card's version after this change: orders a card's history exactly.
    version: int = 0


def apply(
    card: Card,
    action: Action,
    *,
    channel: Channel,
    at: datetime,
    institution_id: str | None = None,
    detail: str | None = None,
    identity_checked: IdentityCheck | None = None,
) -> tuple[Card, CardEvent]:
    """Apply one transition from the table, or refuse it with a clear error. The event's
    detail says how the holder's identity was checked, when it was."""
    allowed = TRANSITIONS[action]
    if card.state not in allowed:
        _refuse(card, action)
    target = allowed[card.state]
    if target is PREVIOUS:
        target = card.suspended_from or CardState.ACTIVE
    changes: dict[str, object] = {"state": target, "version": card.version + 1}
    if action is Action.ACTIVATE:
        changes["activated_at"] = at
    if action in (Action.ACTIVATE, Action.ENABLE_FINANCIAL) and ACTIVATION_CHANNELS.get(channel):
        changes["financial_active"] = True
    if action is Action.REPORT_LOSS:
        changes["suspended_from"] = card.state
    if action is Action.RESUME:
        changes["suspended_from"] = None
    new_card = replace(card, **changes)  # type: ignore[arg-type]
    event = CardEvent(
        card_no=card.card_no,
        at=at,
        action=action,
        from_state=card.state,
        to_state=target,
        channel=channel,
        institution_id=institution_id,
        detail=_detail(detail, identity_checked),
        version=new_card.version,
    )
    return new_card, event


def _detail(detail: str | None, identity_checked: IdentityCheck | None) -> str | None:
    notes = [detail] if detail else []
    if identity_checked is not None:
        notes.append(f"identity checked: {identity_checked.value}")
    return "; ".join(notes) or None


def _refuse(card: Card, action: Action) -> None:
    if card.state is CardState.SUSPENDED and action is not Action.RESUME:
        raise CardSuspended("The card is suspended (reported lost)")
    if card.state in (CardState.CANCELLED, CardState.REPLACED):
        raise CardUnusable(f"The card is {card.state.value}")
    raise TransitionNotAllowed(f"A card that is {card.state.value} cannot {action.value.replace('_', ' ')}")


def activation_action(card: Card, channel: Channel) -> Action | None:
    """What activating through `channel` does to this card; None when nothing is left to do."""
    if channel not in ACTIVATION_CHANNELS:
        raise TransitionNotAllowed(f"Cards are not activated through {channel.value}")
    if card.kind is not CardKind.SOCIAL_SECURITY:
        raise TransitionNotAllowed("Only a social security card is activated")
    if card.state is CardState.ACTIVE:
        if ACTIVATION_CHANNELS[channel] and not card.financial_active:
            return Action.ENABLE_FINANCIAL
        return None
    if card.state is CardState.ISSUED:
        return Action.ACTIVATE
    _refuse(card, Action.ACTIVATE)
    return None  # pragma: no cover - _refuse always raises

"""Card activation through every channel, and the card's other state changes.

Each use case reads what it needs, lets the domain decide, and commits one
atomic CardChange. A concurrent change makes the commit fail; we then read
again and decide again, so two channels racing to activate one card record
exactly one activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from chalicelib.domain import cards as card_rules
from chalicelib.domain.cards import Action, Card, CardEvent, CardKind, CardState, Channel
from chalicelib.domain.errors import (
    CardNotFound,
    ConcurrentUpdate,
    HolderNotFound,
    NotFound,
    PreviousCardInvalid,
    SsnMismatch,
)
from chalicelib.domain.holders import Account, AccountState, Institution

from .ports import CardChange, CardStore

T = TypeVar("T")
ATTEMPTS = 4


def retry_on_conflict(fn: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Re-run a read-decide-commit step when another writer got there first."""
    for attempt in range(attempts):
        try:
            return fn()
        except ConcurrentUpdate:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ActivationResult:
    card: Card
    card_activated: bool  # this call took the card from issued to active
    financial_activated: bool = False
    carried_over: bool = False


@dataclass(frozen=True)
class ActivationPlan:
    change: CardChange
    result: ActivationResult


def read_card(store: CardStore, card_no: str) -> Card:
    card = store.get_card(card_no)
    if card is None:
        raise CardNotFound(f"No card {card_no[:6]}...{card_no[-4:]} is known")
    return card


def read_account(store: CardStore, person_id: str) -> Account:
    account = store.get_account(person_id)
    if account is None:
        raise HolderNotFound("The card's holder has no personal account")
    return account


def plan_activation(
    store: CardStore,
    card: Card,
    channel: Channel,
    at: datetime,
    institution_id: str | None,
    previous_card_no: str | None = None,
) -> ActivationPlan:
    """Decide what activating `card` through `channel` writes (reads the account and old card).

    The payments use case merges this plan into its own transaction for a
    pharmacy's first use, so activation and the first payment are one step.
    """
    action = card_rules.activation_action(card, channel)
    if action is None:
        return ActivationPlan(CardChange(unchanged_cards=(card,)), ActivationResult(card, False))
    new_card, event = card_rules.apply(card, action, channel=channel, at=at, institution_id=institution_id)
    if action is Action.ENABLE_FINANCIAL:
        change = CardChange(cards=(new_card,), events=(event,))
        return ActivationPlan(change, ActivationResult(new_card, False, financial_activated=True))

    account = read_account(store, card.person_id)
    cards: list[Card] = [new_card]
    events: list[CardEvent] = [event]
    carried_over = False
    if channel is Channel.PHARMACY:
        _check_previous_card(store, card, account, previous_card_no)
        carried_over = True
    old_no = account.card_no
    if old_no and old_no != card.card_no:
        # Replacement: the old card stops working the moment the new one starts.
        old = store.get_card(old_no)
        if old is not None and old.state in card_rules.TRANSITIONS[Action.RETIRE]:
            retired, retire_event = card_rules.apply(
                old,
                Action.RETIRE,
                channel=Channel.SYSTEM,
                at=at,
                institution_id=institution_id,
                detail=f"replaced by card ending {card.card_no[-4:]}",
            )
            cards.append(retired)
            events.append(retire_event)
            carried_over = True
    change = CardChange(cards=cards, events=events, account=account.move_to(card.card_no))
    result = ActivationResult(
        new_card,
        card_activated=True,
        financial_activated=new_card.financial_active and not card.financial_active,
        carried_over=carried_over,
    )
    return ActivationPlan(change, result)


def _check_previous_card(
    store: CardStore, card: Card, account: Account, previous_card_no: str | None
) -> None:
    if not previous_card_no:
        raise PreviousCardInvalid(
            "At a pharmacy, insert the original medical insurance card first (previous_card_no)"
        )
    previous = store.get_card(previous_card_no)
    if previous is None or previous.person_id != card.person_id:
        raise PreviousCardInvalid("The previous card is not a card of this holder")
    if previous.card_no != account.card_no or previous.state is not CardState.ACTIVE:
        raise PreviousCardInvalid("The previous card does not hold the holder's current account")


def activate(
    store: CardStore,
    card_no: str,
    channel: Channel,
    at: datetime,
    institution_id: str | None = None,
    check: Callable[[Card], None] | None = None,
    previous_card_no: str | None = None,
) -> ActivationResult:
    def attempt() -> ActivationResult:
        card = read_card(store, card_no)
        if check is not None:
            check(card)
        plan = plan_activation(store, card, channel, at, institution_id, previous_card_no)
        if plan.result.card_activated or plan.result.financial_activated:
            store.commit(plan.change)
        return plan.result

    return retry_on_conflict(attempt)


def ssn_matches_holder(store: CardStore, ssn_digest: str) -> Callable[[Card], None]:
    def check(card: Card) -> None:
        holder = store.get_holder(card.person_id)
        if holder is None or holder.ssn_digest != ssn_digest:
            raise SsnMismatch("The social security number given is not the card holder's")

    return check


def activate_at_service_center(
    store: CardStore, card_no: str, ssn_digest: str, center: Institution, at: datetime
) -> ActivationResult:
    return activate(
        store,
        card_no,
        Channel.SERVICE_CENTER,
        at,
        center.institution_id,
        check=ssn_matches_holder(store, ssn_digest),
    )


def activate_at_pharmacy(
    store: CardStore, card_no: str, previous_card_no: str, pharmacy: Institution, at: datetime
) -> ActivationResult:
    """First use at a designated pharmacy: the old card's account carries over to the new card."""
    return activate(
        store,
        card_no,
        Channel.PHARMACY,
        at,
        pharmacy.institution_id,
        previous_card_no=previous_card_no,
    )


# --- Other state changes: loss, resume, cancel ------------------------------------------


def change_state(
    store: CardStore,
    card_no: str,
    action: Action,
    channel: Channel,
    at: datetime,
    institution_id: str | None = None,
    owner: str | None = None,
) -> Card:
    """Report loss, resume or cancel a card. `owner` limits a holder to their own cards."""

    def attempt() -> Card:
        card = store.get_card(card_no)
        if card is None or (owner is not None and card.person_id != owner):
            raise CardNotFound("No such card")
        new_card, event = card_rules.apply(
            card, action, channel=channel, at=at, institution_id=institution_id
        )
        account = None
        if action is Action.CANCEL and card.kind is CardKind.SOCIAL_SECURITY:
            account = _release_pending(store, card)
        store.commit(CardChange(cards=(new_card,), events=(event,), account=account))
        return new_card

    return retry_on_conflict(attempt)


def _release_pending(store: CardStore, card: Card) -> Account | None:
    """Cancelling a card that was awaiting activation lifts the hold on the account."""
    account = store.get_account(card.person_id)
    if account is None or account.pending_card_no != card.card_no:
        return None
    return replace(account, pending_card_no=None, state=AccountState.NORMAL, version=account.version + 1)


def current_cards(store: CardStore, person_id: str) -> tuple[Card, Card | None]:
    """The card the holder uses (or the new one if none), and a new card awaiting activation."""
    account = store.get_account(person_id)
    if account is None:
        raise NotFound("No card is issued to you")
    main_no = account.card_no or account.pending_card_no
    if main_no is None:
        raise NotFound("No card is issued to you")
    main = read_card(store, main_no)
    pending = None
    if account.pending_card_no and account.pending_card_no != main_no:
        pending = store.get_card(account.pending_card_no)
    return main, pending

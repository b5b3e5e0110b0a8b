"""Card activation through every channel, and the card's other state changes.

Each use case reads what it needs (the card with the request's idempotency
record in one round trip, then the holder and account if the rules need
them), lets the domain decide, and commits one atomic CardChange that carries
the completed idempotency record. A concurrent change makes the commit fail;
the backoff loop then reads again and decides again, so two channels racing
to activate one card record exactly one activation, and a request whose key
another request finished meanwhile replays that request's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from chalicelib.domain import cards as card_rules
from chalicelib.domain.cards import Action, Card, CardEvent, CardKind, CardState, Channel, IdentityCheck
from chalicelib.domain.errors import (
    CardNotFound,
    HolderNotFound,
    NotFound,
    PreviousCardInvalid,
    SsnMismatch,
)
from chalicelib.domain.holders import Account, AccountState, Institution

from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .idempotency import IdempotentRequest, Outcome, StoredResponse, commit_keyed, replayed
from .ports import CardChange, CardRead, CardStore, HolderRead, IdempotencyRecord

T = TypeVar("T")


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


def found_card(card: Card | None, card_no: str) -> Card:
    if card is None:
        raise CardNotFound(f"No card {card_no[:6]}...{card_no[-4:]} is known")
    return card


def first_read(
    store: CardStore, card_no: str, key: IdempotentRequest | None
) -> tuple[CardRead, StoredResponse | None]:
    """The use case's first round trip, and the answer to replay if the key has one."""
    read = store.read_card(card_no, key.scope_key if key else None)
    return read, key.decide(read.key_record) if key else None


def holder_of(store: CardStore, read: CardRead, card: Card) -> HolderRead:
    """The card's holder and account: from the first read when storage knew them, else one read."""
    return read.holder if read.holder is not None else store.read_holder(card.person_id)


def committed(
    store: CardStore,
    key: IdempotentRequest | None,
    change: CardChange,
    result: T,
    render: Callable[[T], StoredResponse],
) -> Outcome[T]:
    """Commit the change with the key's completed record in the same transaction."""

    def commit(record: IdempotencyRecord | None) -> None:
        if record is None and not change.writes_items:
            return  # nothing to write and no key: no round trip
        store.commit(replace(change, key_record=record, now=key.now if key else 0))

    return commit_keyed(key, result, render, commit)


def plan_activation(
    store: CardStore,
    card: Card,
    channel: Channel,
    at: datetime,
    institution_id: str | None,
    previous_card_no: str | None = None,
    account: Account | None = None,
    previous: Card | None = None,
    identity_checked: IdentityCheck | None = None,
) -> ActivationPlan:
    """Decide what activating `card` through `channel` writes (reads the old card, and the
    holder's account, unless the caller read them already: `previous` is the card numbered
    `previous_card_no` as read). `identity_checked`: how the caller checked the holder.

    The payments use case merges this plan into its own transaction for a
    pharmacy's first use, so activation and the first payment are one step.
    """
    action = card_rules.activation_action(card, channel)
    if action is None:
        return ActivationPlan(CardChange(unchanged_cards=(card,)), ActivationResult(card, False))
    new_card, event = card_rules.apply(
        card, action, channel=channel, at=at, institution_id=institution_id, identity_checked=identity_checked
    )
    if action is Action.ENABLE_FINANCIAL:
        change = CardChange(cards=(new_card,), events=(event,))
        return ActivationPlan(change, ActivationResult(new_card, False, financial_activated=True))

    if account is None:
        account = store.get_account(card.person_id)
    if account is None:
        raise HolderNotFound("The card's holder has no personal account")
    cards: list[Card] = [new_card]
    events: list[CardEvent] = [event]
    carried_over = False
    if channel is Channel.PHARMACY:
        previous = _check_previous_card(store, card, account, previous_card_no, previous)
        carried_over = True
    old_no = account.card_no
    if old_no and old_no != card.card_no:
        # Replacement: the old card stops working the moment the new one starts.
        old = previous if previous is not None and previous.card_no == old_no else store.get_card(old_no)
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
    store: CardStore, card: Card, account: Account, previous_card_no: str | None, read: Card | None
) -> Card:
    if not previous_card_no:
        raise PreviousCardInvalid(
            "At a pharmacy, insert the original medical insurance card first (previous_card_no)"
        )
    previous = (
        read if read is not None and read.card_no == previous_card_no else store.get_card(previous_card_no)
    )
    if previous is None or previous.person_id != card.person_id:
        raise PreviousCardInvalid("The previous card is not a card of this holder")
    if previous.card_no != account.card_no or previous.state is not CardState.ACTIVE:
        raise PreviousCardInvalid("The previous card does not hold the holder's current account")
    return previous


def activate_at_service_center(
    store: CardStore,
    card_no: str,
    ssn_digest: str,
    center: Institution,
    at: datetime,
    key: IdempotentRequest | None,
    render: Callable[[ActivationResult], StoredResponse],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[ActivationResult]:
    """Staff checked the ID document: the SSN given must be the card holder's."""

    def attempt() -> Outcome[ActivationResult]:
        read, stored = first_read(store, card_no, key)
        if stored is not None:
            return replayed(stored)
        card = found_card(read.card, card_no)
        known = holder_of(store, read, card)
        ensure_holder(known, ssn_digest)
        plan = plan_activation(
            store,
            card,
            Channel.SERVICE_CENTER,
            at,
            center.institution_id,
            account=known.account,
            identity_checked=IdentityCheck.SSN,
        )
        return committed(store, key, plan.change, plan.result, render)

    return with_backoff(attempt, backoff)


def ensure_holder(known: HolderRead, ssn_digest: str) -> None:
    if known.holder is None or known.holder.ssn_digest != ssn_digest:
        raise SsnMismatch("The social security number given is not the card holder's")


# --- Other state changes: loss, resume, cancel ------------------------------------------


def change_state(
    store: CardStore,
    card_no: str,
    action: Action,
    channel: Channel,
    at: datetime,
    institution_id: str | None = None,
    owner: str | None = None,
    *,
    key: IdempotentRequest | None,
    render: Callable[[Card], StoredResponse],
    backoff: Backoff = DEFAULT_BACKOFF,
    ssn_digest: str | None = None,
) -> Outcome[Card]:
    """Report loss, resume or cancel a card. `owner` limits a holder to their own cards;
    `ssn_digest`, the SSN staff read from the ID document, must be the holder's, and the
    history then records that the identity was checked."""

    def attempt() -> Outcome[Card]:
        read, stored = first_read(store, card_no, key)
        if stored is not None:
            return replayed(stored)
        card = read.card
        if card is None or (owner is not None and card.person_id != owner):
            raise CardNotFound("No such card")
        known = read.holder
        if ssn_digest is not None:
            known = holder_of(store, read, card)
            ensure_holder(known, ssn_digest)
        new_card, event = card_rules.apply(
            card,
            action,
            channel=channel,
            at=at,
            institution_id=institution_id,
            identity_checked=IdentityCheck.SSN if ssn_digest is not None else None,
        )
        account = None
        if action is Action.CANCEL and card.kind is CardKind.SOCIAL_SECURITY:
            account = _release_pending(store, known, card)
        change = CardChange(cards=(new_card,), events=(event,), account=account)
        return committed(store, key, change, new_card, render)

    return with_backoff(attempt, backoff)


def _release_pending(store: CardStore, known: HolderRead | None, card: Card) -> Account | None:
    """Cancelling a card that was awaiting activation lifts the hold on the account."""
    account = known.account if known is not None else store.get_account(card.person_id)
    if account is None or account.pending_card_no != card.card_no:
        return None
    return replace(account, pending_card_no=None, state=AccountState.NORMAL, version=account.version + 1)


@dataclass(frozen=True)
class MyCards:
    card: Card  # the card the holder uses (or the new one if none)
    pending: Card | None  # a new card awaiting activation
    history: list[CardEvent]  # the card's history, oldest first


def my_cards(store: CardStore, person_id: str) -> MyCards:
    """Two round trips: the account, then the holder's cards with their histories."""
    seen = store.holder_cards(person_id)
    account = seen.account
    main_no = account and (account.card_no or account.pending_card_no)
    if account is None or main_no is None or main_no not in seen.cards:
        raise NotFound("No card is issued to you")
    pending = None
    if account.pending_card_no and account.pending_card_no != main_no:
        pending = seen.cards.get(account.pending_card_no)
    return MyCards(seen.cards[main_no], pending, seen.events.get(main_no, []))


def current_cards(store: CardStore, person_id: str) -> tuple[Card, Card | None]:
    """The card the holder uses (or the new one if none), and a new card awaiting activation."""
    mine = my_cards(store, person_id)
    return mine.card, mine.pending

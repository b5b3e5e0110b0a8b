"""Outpatient and inpatient registration at a designated hospital; the first one activates the card.

An issued card is activated by it; a card in use (also an old medical insurance card, which
pays as it is) registers without any activation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.cards import CardState, Channel
from chalicelib.domain.errors import CardUnusable, HolderNotFound, NotDesignated
from chalicelib.domain.holders import Institution

from .activation import committed, first_read, found_card, plan_activation
from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .idempotency import IdempotentRequest, Outcome, StoredResponse, replayed
from .ports import CardChange, CardStore, Registration


def register(
    store: CardStore,
    card_no: str,
    visit: str,
    hospital: Institution,
    at: datetime,
    new_id: Callable[[], str],
    key: IdempotentRequest | None,
    render: Callable[[Registration], StoredResponse],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[Registration]:
    """Three round trips for a card's first registration (card and key; account; the write),
    two for an active card whose holder this process has seen (else the account is read)."""
    if not hospital.designated:
        raise NotDesignated("Only a designated medical-insurance hospital registers with the card")
    registration_id = new_id()

    def attempt() -> Outcome[Registration]:
        read, stored = first_read(store, card_no, key)
        if stored is not None:
            return replayed(stored)
        card = found_card(read.card, card_no)
        if card.state is CardState.ISSUED:
            known = read.holder.account if read.holder is not None else None
            plan = plan_activation(store, card, Channel.HOSPITAL, at, hospital.institution_id, account=known)
            change, activated = plan.change, plan.result.card_activated
        else:
            # A card in use (a social security card, or an old medical insurance card, which is
            # never activated) registers as it is if it could pay, on condition it is still as read.
            card.ensure_usable()
            account = read.holder.account if read.holder is not None else store.get_account(card.person_id)
            if account is None:
                raise HolderNotFound("The card's holder has no personal account")
            account.ensure_can_pay()
            if account.card_no != card.card_no:
                raise CardUnusable("The holder's account is on another card")
            change, activated = CardChange(unchanged_cards=(card,)), False
        registration = Registration(
            registration_id=registration_id,
            card_no=card_no,
            person_id=card.person_id,
            institution_id=hospital.institution_id,
            visit=visit,
            at=at,
            card_activated=activated,
        )
        return committed(store, key, replace(change, registration=registration), registration, render)

    return with_backoff(attempt, backoff)

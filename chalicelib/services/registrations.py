"""Outpatient and inpatient registration at a designated hospital; the first one activates the card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.cards import Channel
from chalicelib.domain.errors import NotDesignated
from chalicelib.domain.holders import Institution

from .activation import committed, first_read, found_card, plan_activation
from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .idempotency import IdempotentRequest, Outcome, StoredResponse, replayed
from .ports import CardStore, Registration


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
    two for an active card."""
    if not hospital.designated:
        raise NotDesignated("Only a designated medical-insurance hospital registers with the card")
    registration_id = new_id()

    def attempt() -> Outcome[Registration]:
        read, stored = first_read(store, card_no, key)
        if stored is not None:
            return replayed(stored)
        card = found_card(read.card, card_no)
        known = read.holder.account if read.holder is not None else None
        plan = plan_activation(store, card, Channel.HOSPITAL, at, hospital.institution_id, account=known)
        # An activated card must be usable; an issued one has just been activated by the plan.
        plan.result.card.ensure_usable()
        registration = Registration(
            registration_id=registration_id,
            card_no=card_no,
            person_id=card.person_id,
            institution_id=hospital.institution_id,
            visit=visit,
            at=at,
            card_activated=plan.result.card_activated,
        )
        return committed(store, key, replace(plan.change, registration=registration), registration, render)

    return with_backoff(attempt, backoff)

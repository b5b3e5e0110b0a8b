"""Outpatient and inpatient registration at a designated hospital; the first one activates the card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.cards import Channel
from chalicelib.domain.errors import NotDesignated
from chalicelib.domain.holders import Institution

from .activation import plan_activation, read_card, retry_on_conflict
from .ports import CardStore, Registration

VISITS = ("outpatient", "inpatient")


def register(
    store: CardStore,
    card_no: str,
    visit: str,
    hospital: Institution,
    at: datetime,
    new_id: Callable[[], str],
) -> Registration:
    if not hospital.designated:
        raise NotDesignated("Only a designated medical-insurance hospital registers with the card")
    registration_id = new_id()

    def attempt() -> Registration:
        card = read_card(store, card_no)
        plan = plan_activation(store, card, Channel.HOSPITAL, at, hospital.institution_id)
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
        store.commit(replace(plan.change, registration=registration))
        return registration

    return retry_on_conflict(attempt)

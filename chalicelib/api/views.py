"""Turning domain objects into answer models."""

from __future__ import annotations

from chalicelib.domain.cards import Card, CardEvent

from .schemas import CardEventView, CardView


def card_view(card: Card) -> CardView:
    return CardView(
        card_no=card.card_no,
        kind=card.kind.value,
        state=card.state.value,
        issuing_bank=card.issuing_bank,
        financial_active=card.financial_active,
        issued_at=card.issued_at,
        activated_at=card.activated_at,
    )


def event_view(event: CardEvent) -> CardEventView:
    return CardEventView(
        at=event.at,
        action=event.action.value,
        from_state=event.from_state.value,
        to_state=event.to_state.value,
        channel=event.channel.value,
        institution_id=event.institution_id,
        detail=event.detail,
    )

"""The mobile app's view of its own holder."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.domain.cards import Action, Channel
from chalicelib.domain.identifiers import parse_card_no
from chalicelib.services import activation

from .auth import require_holder
from .deps import deps
from .http import answer, parse
from .idempotent import idempotent
from .operations import operation
from .schemas import CardView, MyCardAnswer, ReportLossRequest
from .views import card_view, event_view

bp = Blueprint(__name__)


@operation(
    bp,
    "/v1/me/card",
    "GET",
    summary="The holder's current card, a new card awaiting activation, and the card's history",
    callers=("mobile",),
    responses={200: MyCardAnswer},
    errors=(401, 403, 404, 503),
)
def my_card() -> Response:
    person_id = require_holder(bp.current_request)
    store = deps().store
    card, pending = activation.current_cards(store, person_id)
    return answer(
        MyCardAnswer(
            card=card_view(card),
            pending_card=card_view(pending) if pending else None,
            history=[event_view(e) for e in store.card_events(card.card_no)],
        )
    )


@operation(
    bp,
    "/v1/me/card/report-loss",
    "POST",
    summary="Report a card lost: it is suspended at once",
    callers=("mobile",),
    request=ReportLossRequest,
    responses={200: CardView},
    errors=(400, 401, 403, 404, 409, 422, 503),
    headers=("Idempotency-Key",),
)
def report_loss() -> Response:
    request = bp.current_request
    person_id = require_holder(request)

    def run() -> Response:
        body = parse(request, ReportLossRequest, optional=True)
        d = deps()
        if body.card_no:
            card_no = parse_card_no(body.card_no)
        else:
            card_no = activation.current_cards(d.store, person_id)[0].card_no
        suspended = activation.change_state(
            d.store, card_no, Action.REPORT_LOSS, Channel.MOBILE, d.clock(), owner=person_id
        )
        return answer(card_view(suspended))

    return idempotent(request, f"holder:{person_id}", run)

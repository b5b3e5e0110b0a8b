"""The mobile app's view of its own holder's card."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.domain.cards import Action, Card, Channel
from chalicelib.domain.identifiers import parse_card_no
from chalicelib.services import activation
from chalicelib.services.idempotency import Outcome

from .auth import MOBILE
from .operations import Call, Idempotency, operation
from .schemas import CardView, MyCardAnswer, ReportLossRequest
from .views import card_view, event_view

bp = Blueprint(__name__)


@operation(
    bp,
    "/v1/me/card",
    "GET",
    summary="The holder's current card, a new card awaiting activation, and the card's history",
    callers=(MOBILE,),
    responses={200: MyCardAnswer},
    errors=(404,),
)
def my_card(call: Call[None, None]) -> MyCardAnswer:
    mine = activation.my_cards(call.deps.store, call.person_id)
    return MyCardAnswer(
        card=card_view(mine.card),
        pending_card=card_view(mine.pending) if mine.pending else None,
        history=[event_view(e) for e in mine.history],
    )


@operation(
    bp,
    "/v1/me/card/report-loss",
    "POST",
    summary="Report a card lost: it is suspended at once",
    callers=(MOBILE,),
    body=ReportLossRequest,
    body_optional=True,
    idempotency=Idempotency.ACCEPTED,
    responses={200: CardView},
    errors=(404, 409),
)
def report_loss(call: Call[ReportLossRequest, None]) -> Outcome[Card]:
    d = call.deps
    if call.body.card_no:
        card_no = parse_card_no(call.body.card_no)
    else:
        card_no = activation.current_cards(d.store, call.person_id)[0].card_no
    return activation.change_state(
        d.store,
        card_no,
        Action.REPORT_LOSS,
        Channel.MOBILE,
        d.clock(),
        owner=call.person_id,
        key=call.key,
        render=call.renders(card_view),
    )

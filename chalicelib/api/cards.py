"""Counter-side card endpoints: service center activation and care, hospital registration."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.domain.cards import Action, Channel
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.identifiers import Ssn, parse_card_no
from chalicelib.services import activation, registrations
from chalicelib.services.digests import ssn_digest

from .auth import require_institution
from .deps import deps
from .http import answer, parse
from .idempotent import idempotent
from .operations import operation
from .schemas import (
    ActivateCardRequest,
    ActivationAnswer,
    CardView,
    RegistrationAnswer,
    RegistrationRequest,
)
from .views import card_view

bp = Blueprint(__name__)
IDEMPOTENCY = ("Idempotency-Key",)


@operation(
    bp,
    "/v1/cards/{card_no}/activate",
    "POST",
    summary="Activate the social-security function at a service center (the SSN must be the holder's)",
    callers=("service_center",),
    request=ActivateCardRequest,
    responses={200: ActivationAnswer},
    errors=(400, 401, 403, 404, 409, 422, 503),
    headers=IDEMPOTENCY,
)
def activate_at_service_center(card_no: str) -> Response:
    request = bp.current_request
    center = require_institution(request, InstitutionKind.SERVICE_CENTER)

    def run() -> Response:
        body = parse(request, ActivateCardRequest)
        card = parse_card_no(card_no)
        ssn = Ssn.parse(body.ssn)
        d = deps()
        result = activation.activate_at_service_center(
            d.store, card, ssn_digest(d.secrets.hashing_key(), ssn.value), center, d.clock()
        )
        return answer(
            ActivationAnswer(
                card_no=card,
                state=result.card.state.value,
                card_activated=result.card_activated,
                financial_active=result.card.financial_active,
            )
        )

    return idempotent(request, center.institution_id, run)


def _service_center_change(card_no: str, action: Action) -> Response:
    request = bp.current_request
    center = require_institution(request, InstitutionKind.SERVICE_CENTER)

    def run() -> Response:
        card = parse_card_no(card_no)
        d = deps()
        changed = activation.change_state(
            d.store, card, action, Channel.SERVICE_CENTER, d.clock(), center.institution_id
        )
        return answer(card_view(changed))

    return idempotent(request, center.institution_id, run)


@operation(
    bp,
    "/v1/cards/{card_no}/resume",
    "POST",
    summary="Resume a suspended (reported lost) card at a service center",
    callers=("service_center",),
    responses={200: CardView},
    errors=(401, 403, 404, 409, 422, 503),
    headers=IDEMPOTENCY,
)
def resume_card(card_no: str) -> Response:
    return _service_center_change(card_no, Action.RESUME)


@operation(
    bp,
    "/v1/cards/{card_no}/cancel",
    "POST",
    summary="Cancel a card for good at a service center",
    callers=("service_center",),
    responses={200: CardView},
    errors=(401, 403, 404, 409, 422, 503),
    headers=IDEMPOTENCY,
)
def cancel_card(card_no: str) -> Response:
    return _service_center_change(card_no, Action.CANCEL)


@operation(
    bp,
    "/v1/registrations",
    "POST",
    summary="Register an outpatient or inpatient visit; the first one activates the card",
    callers=("hospital",),
    request=RegistrationRequest,
    responses={201: RegistrationAnswer},
    errors=(400, 401, 403, 404, 409, 422, 503),
    headers=IDEMPOTENCY,
)
def register_visit() -> Response:
    request = bp.current_request
    hospital = require_institution(request, InstitutionKind.HOSPITAL)

    def run() -> Response:
        body = parse(request, RegistrationRequest)
        card = parse_card_no(body.card_no)
        d = deps()
        done = registrations.register(d.store, card, body.visit, hospital, d.clock(), d.new_id)
        return answer(
            RegistrationAnswer(
                registration_id=done.registration_id,
                card_no=card,
                visit=done.visit,
                card_activated=done.card_activated,
                state="active",
            ),
            status=201,
        )

    return idempotent(request, hospital.institution_id, run)

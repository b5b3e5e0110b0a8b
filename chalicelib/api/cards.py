"""Counter-side card endpoints: service center activation and care, hospital registration."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.domain.cards import Action, Card, Channel
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.identifiers import Ssn, parse_card_no
from chalicelib.services import activation, registrations
from chalicelib.services.activation import ActivationResult
from chalicelib.services.digests import ssn_digest
from chalicelib.services.idempotency import Outcome
from chalicelib.services.ports import Registration

from .operations import Call, Idempotency, operation
from .schemas import (
    ActivateCardRequest,
    ActivationAnswer,
    CardView,
    HolderIdentityRequest,
    RegistrationAnswer,
    RegistrationRequest,
)
from .views import card_view

bp = Blueprint(__name__)
SERVICE_CENTER = (InstitutionKind.SERVICE_CENTER.value,)


def activation_answer(result: ActivationResult) -> ActivationAnswer:
    return ActivationAnswer(
        card_no=result.card.card_no,
        state=result.card.state.value,
        card_activated=result.card_activated,
        financial_active=result.card.financial_active,
    )


@operation(
    bp,
    "/v1/cards/{card_no}/activate",
    "POST",
    summary="Activate the social-security function at a service center (the SSN must be the holder's)",
    callers=SERVICE_CENTER,
    body=ActivateCardRequest,
    idempotency=Idempotency.ACCEPTED,
    responses={200: ActivationAnswer},
    errors=(404, 409),
)
def activate_at_service_center(
    call: Call[ActivateCardRequest, None], card_no: str
) -> Outcome[ActivationResult]:
    d = call.deps
    digest = ssn_digest(d.secrets.hashing_key(), Ssn.parse(call.body.ssn).value)
    return activation.activate_at_service_center(
        d.store, card_no, digest, call.institution, d.clock(), call.key, call.renders(activation_answer)
    )


def _service_center_change(
    call: Call[HolderIdentityRequest, None], card_no: str, action: Action
) -> Outcome[Card]:
    d = call.deps
    return activation.change_state(
        d.store,
        card_no,
        action,
        Channel.SERVICE_CENTER,
        d.clock(),
        call.institution.institution_id,
        key=call.key,
        render=call.renders(card_view),
        ssn_digest=ssn_digest(d.secrets.hashing_key(), Ssn.parse(call.body.ssn).value),
    )


@operation(
    bp,
    "/v1/cards/{card_no}/resume",
    "POST",
    summary="Resume a suspended (reported lost) card at a service center (the SSN must be the holder's)",
    callers=SERVICE_CENTER,
    body=HolderIdentityRequest,
    idempotency=Idempotency.ACCEPTED,
    responses={200: CardView},
    errors=(404, 409),
)
def resume_card(call: Call[HolderIdentityRequest, None], card_no: str) -> Outcome[Card]:
    return _service_center_change(call, card_no, Action.RESUME)


@operation(
    bp,
    "/v1/cards/{card_no}/cancel",
    "POST",
    summary="Cancel a card for good at a service center (the SSN must be the holder's)",
    callers=SERVICE_CENTER,
    body=HolderIdentityRequest,
    idempotency=Idempotency.ACCEPTED,
    responses={200: CardView},
    errors=(404, 409),
)
def cancel_card(call: Call[HolderIdentityRequest, None], card_no: str) -> Outcome[Card]:
    return _service_center_change(call, card_no, Action.CANCEL)


def registration_answer(registration: Registration) -> RegistrationAnswer:
    return RegistrationAnswer(
        registration_id=registration.registration_id,
        card_no=registration.card_no,
        visit=registration.visit,
        card_activated=registration.card_activated,
        state="active",
    )


@operation(
    bp,
    "/v1/registrations",
    "POST",
    summary="Register an outpatient or inpatient visit; the first one activates the card",
    callers=(InstitutionKind.HOSPITAL.value,),
    body=RegistrationRequest,
    idempotency=Idempotency.ACCEPTED,
    responses={201: RegistrationAnswer},
    errors=(404, 409),
)
def register_visit(call: Call[RegistrationRequest, None]) -> Outcome[Registration]:
    d = call.deps
    return registrations.register(
        d.store,
        parse_card_no(call.body.card_no),
        call.body.visit,
        call.institution,
        d.clock(),
        d.new_id,
        call.key,
        call.renders(registration_answer),
    )

"""Inpatient stays at the hospital that registered them: charges as they happen, their
cancellation, the stay with its running totals and charges, and withdrawal. Any other caller
gets 404 stay-not-found, as for an outpatient registration or an unknown id."""

from __future__ import annotations

import re

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.payments import Payment
from chalicelib.domain.stays import Charge, Stay
from chalicelib.services import payments, stays
from chalicelib.services.idempotency import Outcome, StoredResponse

from .operations import Call, Idempotency, operation
from .params import Query, WholeNumber
from .payment_schemas import PaymentAnswer, QuoteAnswer
from .payments import payment_answer, quote_answer
from .stay_schemas import ChargeRequest, ChargeView, StayTotalsView, StayView, StayWithChargesView

bp = Blueprint(__name__)
HOSPITAL = (InstitutionKind.HOSPITAL.value,)
STAY = "/v1/registrations/{registration_id}"
# A stay's charge page key: the last charge_id of the page (storage/stays.py pages by it).
CHARGE_PAGE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class StayQuery(Query):
    limit: WholeNumber = Field(default=stays.DEFAULT_PAGE, ge=1, le=stays.MAX_PAGE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="The previous page's next_cursor"
    )


def charge_view(charge: Charge) -> ChargeView:
    return ChargeView(
        registration_id=charge.registration_id,
        charge_id=charge.charge_id,
        amount_fen=charge.amount_fen,
        in_scope_fen=charge.in_scope_fen,
        description=charge.description,
        state=charge.state.value,
        applied_at=charge.applied_at,
        cancelled_at=charge.cancelled_at,
    )


def _stay_fields(stay: Stay) -> dict[str, object]:
    return {
        "registration_id": stay.registration_id,
        "card_no": stay.card_no,
        "visit": "inpatient",
        "state": stay.state.value,
        "admitted_at": stay.admitted_at,
        "totals": StayTotalsView(
            amount_fen=stay.totals.amount_fen,
            in_scope_fen=stay.totals.in_scope_fen,
            out_of_scope_fen=stay.totals.out_of_scope_fen,
            charge_count=stay.totals.charge_count,
        ),
        "discharge_payment_id": stay.discharge_payment_id,
        "closed_at": stay.closed_at,
    }


def stay_view(stay: Stay) -> StayView:
    return StayView.model_validate(_stay_fields(stay))


@operation(
    bp,
    f"{STAY}/charges",
    "POST",
    summary=(
        "Upload a charge to an open stay, as it happens. Applied once per charge_id: the same id "
        "and body again answer the same charge (Idempotent-Replayed: true), another body is "
        "charge-id-reused (422); no Idempotency-Key needed. A closed stay refuses it (stay-closed, "
        "409) and changes nothing"
    ),
    callers=HOSPITAL,
    body=ChargeRequest,
    responses={201: ChargeView},
    errors=(404, 409),
)
def upload_charge(call: Call[ChargeRequest, None], registration_id: str) -> ChargeView | Outcome[Charge]:
    body, d = call.body, call.deps
    wanted = Charge.new(
        registration_id,
        body.charge_id,
        call.institution.institution_id,
        body.amount_fen,
        body.in_scope_fen,
        body.description,
        d.clock(),
    )
    upload = stays.add_charge(d.stays, wanted, d.settlement_policy.max_stay_fen)
    answer = charge_view(upload.charge)
    if upload.repeated:
        return Outcome(StoredResponse(call.status, answer.model_dump_json()), replayed=True)
    return answer


@operation(
    bp,
    f"{STAY}/charges/{{charge_id}}/cancel",
    "POST",
    summary="Take a charge back while the stay is open; a second cancel is charge-already-cancelled (409)",
    callers=HOSPITAL,
    idempotency=Idempotency.ACCEPTED,
    responses={200: ChargeView},
    errors=(404, 409),
)
def cancel_charge(call: Call[None, None], registration_id: str, charge_id: str) -> Outcome[Charge]:
    d = call.deps
    return stays.cancel_charge(
        d.stays,
        call.institution.institution_id,
        registration_id,
        charge_id,
        d.clock(),
        call.key,
        call.renders(charge_view),
    )


@operation(
    bp,
    STAY,
    "GET",
    summary=(
        "The stay: its state, running totals and a page of its charges (limit, cursor: the "
        "previous page's next_cursor), for the hospital that registered it"
    ),
    callers=HOSPITAL,
    query=StayQuery,
    page_key=CHARGE_PAGE_KEY,
    responses={200: StayWithChargesView},
    errors=(404,),
)
def get_stay(call: Call[None, StayQuery], registration_id: str) -> StayWithChargesView:
    assert call.page is not None
    page = stays.stay_page(
        call.deps.stays, call.institution.institution_id, registration_id, call.page.limit, call.page.after
    )
    return StayWithChargesView.model_validate(
        {
            **_stay_fields(page.stay),
            "charges": [charge_view(c) for c in page.charges],
            "next_cursor": call.page.next_cursor(page.last_charge_id),
        }
    )


@operation(
    bp,
    f"{STAY}/cancel",
    "POST",
    summary="Withdraw an open stay with no live charges (stay-has-charges, 409, otherwise)",
    callers=HOSPITAL,
    idempotency=Idempotency.ACCEPTED,
    responses={200: StayView},
    errors=(404, 409),
)
def withdraw_stay(call: Call[None, None], registration_id: str) -> Outcome[Stay]:
    d = call.deps
    return stays.withdraw(
        d.stays,
        call.institution.institution_id,
        registration_id,
        d.clock(),
        call.key,
        call.renders(stay_view),
    )


@operation(
    bp,
    f"{STAY}/quote",
    "POST",
    summary=(
        "The settlement the stay would get now: its running totals as one inpatient bill, as "
        "/v1/payments/quote answers it. Changes nothing"
    ),
    callers=HOSPITAL,
    responses={200: QuoteAnswer},
    errors=(403, 404, 409),
)
def quote_stay(call: Call[None, None], registration_id: str) -> QuoteAnswer:
    d = call.deps
    found = payments.quote_stay(
        d.payments, d.stays, call.institution, registration_id, d.clock(), d.settlement_policy
    )
    return quote_answer(found)


@operation(
    bp,
    f"{STAY}/discharge",
    "POST",
    summary=(
        "Discharge: settle the stay's totals as one inpatient payment and close the stay, in one "
        "step. Needs an Idempotency-Key. The per-payment maximum does not apply; the stay's own "
        "maximum is the settlement policy's max_stay_fen. Cancelling the payment reopens the stay"
    ),
    callers=HOSPITAL,
    idempotency=Idempotency.REQUIRED,
    responses={201: PaymentAnswer},
    errors=(403, 404, 409),
)
def discharge(call: Call[None, None], registration_id: str) -> Outcome[Payment]:
    d = call.deps
    assert call.key is not None  # required by the declaration
    return payments.discharge(
        d.store,
        d.payments,
        d.stays,
        call.institution,
        registration_id,
        call.key,
        d.clock(),
        call.renders(payment_answer),
        new_id=d.new_id,
        settlement_policy=d.settlement_policy,
    )

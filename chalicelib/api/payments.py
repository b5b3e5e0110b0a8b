"""Card swipes at designated pharmacies and hospitals: pay, look up, cancel, reconcile.

POST /v1/payments requires an Idempotency-Key (IETF idempotency-key draft):
missing 400; the same key and body answer the first response again (same
status, same body, header Idempotent-Replayed: true); the same key with another
body 422; the same key while the first is being written 409. Keys are scoped to
the institution and kept for 24 hours (services/idempotency.py RETENTION_SECONDS,
the DynamoDB TTL of the idempotency table). The answer is stored in the same
transaction as the payment (services/payments.py), so a retry after any crash
gets it again and never pays twice.
"""

from __future__ import annotations

import re
from datetime import date

from chalice.app import Blueprint, Response

from chalicelib.domain.errors import DomainError
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.identifiers import parse_card_no
from chalicelib.domain.payments import DayFigures, Payment, PaymentNotFound, Reconciliation, SelfPay
from chalicelib.services import idempotency, payments
from chalicelib.services.idempotency import RETENTION_SECONDS, IdempotencyKeyMissing, StoredResponse
from chalicelib.services.payment_ports import PaymentStore

from .auth import require_institution
from .deps import Deps, deps
from .http import answer, parse
from .idempotent import REPLAYED_HEADER, idempotent, request_fingerprint
from .operations import operation
from .payment_schemas import (
    PAYMENT_ID,
    DayFiguresView,
    DifferenceView,
    PaymentAnswer,
    PaymentRequestBody,
    PaymentView,
    ReconciliationAnswer,
    ReconciliationRequest,
)
from .problems import CONTENT_TYPE, from_domain

bp = Blueprint(__name__)
TERMINALS = (InstitutionKind.PHARMACY, InstitutionKind.HOSPITAL)
_PAYMENT_ID = re.compile(PAYMENT_ID)


class Render:
    """The answers the payment service writes into its transaction, as this API sends them."""

    def paid(self, payment: Payment) -> StoredResponse:
        body = PaymentAnswer(
            payment_id=payment.payment_id,
            account_paid_fen=payment.account_paid_fen,
            self_pay_fen=payment.self_pay_fen,
            balance_fen=payment.balance_after_fen,
            card_activated=payment.card_activated,
            amount_fen=payment.amount_fen,
            state=payment.state.value,
            paid_at=payment.paid_at,
        )
        return StoredResponse(201, body.model_dump_json())

    def refused(self, error: DomainError) -> StoredResponse:
        response = from_domain(error).response()
        return StoredResponse(response.status_code, str(response.body))


RENDER = Render()


def payment_store(d: Deps) -> PaymentStore:
    if d.payments is None:
        raise RuntimeError("No payment store is configured")
    return d.payments


@operation(
    bp,
    "/v1/payments",
    "POST",
    summary=(
        "Pay from the holder's personal account at a designated pharmacy or hospital; what the "
        "account cannot cover is self_pay_fen. A pharmacy's first use with previous_card_no "
        "activates the card, carries the account over and pays in one step. Needs an "
        f"Idempotency-Key, kept {RETENTION_SECONDS // 3600} hours per institution"
    ),
    callers=("pharmacy", "hospital"),
    request=PaymentRequestBody,
    responses={201: PaymentAnswer},
    errors=(400, 401, 403, 404, 409, 422, 503),
    headers=("Idempotency-Key",),
)
def create_payment() -> Response:
    request = bp.current_request
    institution = require_institution(request, *TERMINALS)
    key = request.headers.get("idempotency-key")
    if key is None:
        raise IdempotencyKeyMissing("A payment needs an Idempotency-Key header")
    scoped = idempotency.scope_key(institution.institution_id, key)
    body = parse(request, PaymentRequestBody)
    wanted = payments.PaymentRequest(
        card_no=parse_card_no(body.card_no),
        amount_fen=body.amount_fen,
        self_pay=SelfPay(body.self_pay),
        previous_card_no=parse_card_no(body.previous_card_no) if body.previous_card_no else None,
    )
    d = deps()
    done = payments.pay(
        d.store,
        payment_store(d),
        d.idempotency,
        institution,
        wanted,
        payments.KeyedRequest(scoped, request_fingerprint(request)),
        d.clock(),
        RENDER,
        new_id=d.new_id,
        policy=d.payment_policy,
    )
    return stored_response(done.response, replayed=done.replayed)


def stored_response(stored: StoredResponse, *, replayed: bool) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": CONTENT_TYPE if stored.status >= 400 else "application/json"
    }
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(body=stored.body, status_code=stored.status, headers=headers)


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView(
        payment_id=payment.payment_id,
        card_no=payment.card_no,
        amount_fen=payment.amount_fen,
        account_paid_fen=payment.account_paid_fen,
        self_pay_fen=payment.self_pay_fen,
        self_pay=payment.self_pay.value,
        state=payment.state.value,
        paid_at=payment.paid_at,
        cancelled_at=payment.cancelled_at,
        card_activated=payment.card_activated,
    )


def _payment_id(raw: str) -> str:
    if not _PAYMENT_ID.match(raw):
        raise PaymentNotFound("No such payment of yours")
    return raw


@operation(
    bp,
    "/v1/payments/{payment_id}",
    "GET",
    summary="A payment and its state, for the institution that took it (404 for any other)",
    callers=("pharmacy", "hospital"),
    responses={200: PaymentView},
    errors=(401, 403, 404, 503),
)
def get_payment(payment_id: str) -> Response:
    institution = require_institution(bp.current_request, *TERMINALS)
    found = payments.get(payment_store(deps()), institution, _payment_id(payment_id))
    return answer(payment_view(found))


@operation(
    bp,
    "/v1/payments/{payment_id}/cancel",
    "POST",
    summary=(
        "Reverse a payment, once, by the institution that took it: the account is credited back "
        "in the same step. A second cancel is payment-already-cancelled (409)"
    ),
    callers=("pharmacy", "hospital"),
    responses={200: PaymentView},
    errors=(400, 401, 403, 404, 409, 503),
    headers=("Idempotency-Key",),
)
def cancel_payment(payment_id: str) -> Response:
    request = bp.current_request
    institution = require_institution(request, *TERMINALS)

    def run() -> Response:
        d = deps()
        cancelled = payments.cancel(payment_store(d), institution, _payment_id(payment_id), d.clock())
        return answer(payment_view(cancelled))

    return idempotent(request, institution.institution_id, run)


@operation(
    bp,
    "/v1/reconciliations",
    "POST",
    summary=(
        "Reconcile a business day (China time): your count and total of account_paid_fen against "
        "ours, and, if you list your payments, each one that differs"
    ),
    callers=("pharmacy", "hospital"),
    request=ReconciliationRequest,
    responses={200: ReconciliationAnswer},
    errors=(400, 401, 403, 422, 503),
)
def reconcile() -> Response:
    request = bp.current_request
    institution = require_institution(request, *TERMINALS)
    body = parse(request, ReconciliationRequest)
    listed = None
    if body.payments is not None:
        listed = [(p.payment_id, p.account_paid_fen) for p in body.payments]
    result = payments.reconcile_day(
        payment_store(deps()),
        institution,
        date.fromisoformat(body.date),
        DayFigures(body.count, body.total_fen),
        listed,
    )
    return answer(reconciliation_answer(result, listed_by_them=listed is not None))


def reconciliation_answer(result: Reconciliation, *, listed_by_them: bool) -> ReconciliationAnswer:
    return ReconciliationAnswer(
        date=result.day.isoformat(),
        status="matched" if result.matched else "mismatched",
        ours=DayFiguresView(count=result.ours.count, total_fen=result.ours.total_fen),
        theirs=DayFiguresView(count=result.theirs.count, total_fen=result.theirs.total_fen),
        differences=[
            DifferenceView(
                payment_id=d.payment_id, reason=d.reason.value, ours_fen=d.ours_fen, theirs_fen=d.theirs_fen
            )
            for d in result.differences
        ],
        our_payments=(
            [payment_view(p) for p in result.payments] if not result.matched and not listed_by_them else []
        ),
    )

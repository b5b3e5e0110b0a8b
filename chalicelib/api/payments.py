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

from chalice.app import Blueprint

from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.identifiers import parse_card_no, parse_day
from chalicelib.domain.payments import DayFigures, Payment, Reconciliation, SelfPay
from chalicelib.services import payments
from chalicelib.services.idempotency import RETENTION_SECONDS, Outcome

from .operations import Call, Idempotency, operation
from .payment_schemas import (
    DayFiguresView,
    DifferenceView,
    PaymentAnswer,
    PaymentRequestBody,
    PaymentView,
    ReconciliationAnswer,
    ReconciliationRequest,
)

bp = Blueprint(__name__)
TERMINALS = (InstitutionKind.PHARMACY.value, InstitutionKind.HOSPITAL.value)


def payment_answer(payment: Payment) -> PaymentAnswer:
    return PaymentAnswer(
        payment_id=payment.payment_id,
        account_paid_fen=payment.account_paid_fen,
        self_pay_fen=payment.self_pay_fen,
        balance_fen=payment.balance_after_fen,
        card_activated=payment.card_activated,
        amount_fen=payment.amount_fen,
        state=payment.state.value,
        paid_at=payment.paid_at,
    )


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
    callers=TERMINALS,
    body=PaymentRequestBody,
    idempotency=Idempotency.REQUIRED,
    responses={201: PaymentAnswer},
    errors=(404, 409),
)
def create_payment(call: Call[PaymentRequestBody, None]) -> Outcome[Payment]:
    body, d = call.body, call.deps
    assert call.key is not None  # required by the declaration
    wanted = payments.PaymentRequest(
        card_no=parse_card_no(body.card_no),
        amount_fen=body.amount_fen,
        self_pay=SelfPay(body.self_pay),
        previous_card_no=parse_card_no(body.previous_card_no) if body.previous_card_no else None,
    )
    return payments.pay(
        d.store,
        d.payments,
        d.idempotency,
        call.institution,
        wanted,
        call.key,
        d.clock(),
        call.renders(payment_answer),
        new_id=d.new_id,
        policy=d.payment_policy,
    )


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


@operation(
    bp,
    "/v1/payments/{payment_id}",
    "GET",
    summary="A payment and its state, for the institution that took it (404 for any other)",
    callers=TERMINALS,
    responses={200: PaymentView},
    errors=(404,),
)
def get_payment(call: Call[None, None], payment_id: str) -> PaymentView:
    return payment_view(payments.get(call.deps.payments, call.institution, payment_id))


@operation(
    bp,
    "/v1/payments/{payment_id}/cancel",
    "POST",
    summary=(
        "Reverse a payment, once, by the institution that took it: the account is credited back "
        "in the same step. A second cancel is payment-already-cancelled (409); a retry with the "
        "first cancel's Idempotency-Key gets the first answer"
    ),
    callers=TERMINALS,
    idempotency=Idempotency.ACCEPTED,
    responses={200: PaymentView},
    errors=(404, 409),
)
def cancel_payment(call: Call[None, None], payment_id: str) -> Outcome[Payment]:
    d = call.deps
    return payments.cancel(
        d.payments, call.institution, payment_id, d.clock(), call.key, call.renders(payment_view)
    )


@operation(
    bp,
    "/v1/reconciliations",
    "POST",
    summary=(
        "Reconcile a business day (China time): your count and total of account_paid_fen against "
        "ours, and, if you list your payments, each one that differs"
    ),
    callers=TERMINALS,
    body=ReconciliationRequest,
    responses={200: ReconciliationAnswer},
)
def reconcile(call: Call[ReconciliationRequest, None]) -> ReconciliationAnswer:
    body = call.body
    listed = None
    if body.payments is not None:
        listed = [(p.payment_id, p.account_paid_fen) for p in body.payments]
    result = payments.reconcile_day(
        call.deps.payments,
        call.institution,
        parse_day(body.date),
        DayFigures(body.count, body.total_fen),
        listed,
    )
    return reconciliation_answer(result, listed_by_them=listed is not None)


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

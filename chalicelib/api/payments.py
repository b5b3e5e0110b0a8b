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

import datetime as dt
import re

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.domain.cursors import TIME_KEY_PATTERN
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.identifiers import parse_card_no, parse_day
from chalicelib.domain.ledger import DayEntry
from chalicelib.domain.payments import DayFigures, Payment, Reconciliation
from chalicelib.domain.periods import china_date
from chalicelib.domain.settlement import SelfPay, Settlement
from chalicelib.services import payments
from chalicelib.services.idempotency import RETENTION_SECONDS, Outcome

from .operations import Call, Idempotency, operation
from .params import Query, WholeNumber
from .payment_schemas import (
    DayEntriesAnswer,
    DayFiguresView,
    DifferenceView,
    EntryView,
    InsuredAnswer,
    NoteView,
    PaymentAnswer,
    PaymentRequestBody,
    PaymentView,
    QuoteAnswer,
    ReconciliationAnswer,
    ReconciliationRequest,
    SeriousIllnessStandingView,
    YearView,
)

bp = Blueprint(__name__)
TERMINALS = (InstitutionKind.PHARMACY.value, InstitutionKind.HOSPITAL.value)
# A day entry's page key: its time, payment id and kind (storage/payments.py writes it).
ENTRY_PAGE_KEY = re.compile(TIME_KEY_PATTERN + r"#[A-Za-z0-9_-]{1,64}#(payment|cancellation)")


def _split(s: Settlement | Payment) -> dict[str, object]:
    in_scope = s.in_scope_fen if s.in_scope_fen is not None else s.amount_fen
    return {
        "visit": s.visit.value,
        "amount_fen": s.amount_fen,
        "in_scope_fen": in_scope,
        "fund_paid_fen": s.fund_paid_fen,
        "serious_illness_paid_fen": s.serious_illness_paid_fen,
        "account_paid_fen": s.account_paid_fen,
        "self_pay_fen": s.self_pay_fen,
        "deductible_fen": s.deductible_fen,
        "out_of_scope_fen": s.out_of_scope_fen,
        "notes": [NoteView(code=n.code.value, detail=n.detail) for n in s.notes],
    }


def payment_answer(payment: Payment) -> PaymentAnswer:
    return PaymentAnswer(
        payment_id=payment.payment_id,
        balance_fen=payment.balance_after_fen,
        card_activated=payment.card_activated,
        state=payment.state.value,
        paid_at=payment.paid_at,
        **_split(payment),  # type: ignore[arg-type]
    )


def _wanted(body: PaymentRequestBody) -> payments.PaymentRequest:
    return payments.PaymentRequest(
        card_no=parse_card_no(body.card_no),
        amount_fen=body.amount_fen,
        self_pay=SelfPay(body.self_pay),
        previous_card_no=parse_card_no(body.previous_card_no) if body.previous_card_no else None,
        visit=body.visit,
        in_scope_fen=body.in_scope_fen,
    )


@operation(
    bp,
    "/v1/payments",
    "POST",
    summary=(
        "Settle a bill at a designated pharmacy or hospital: split between the pooled medical fund, "
        "the serious-illness insurance, the personal account and cash (self_pay_fen). A pharmacy's "
        "first use with previous_card_no activates the card, carries the account over and pays in "
        f"one step. Needs an Idempotency-Key, kept {RETENTION_SECONDS // 3600} hours per institution"
    ),
    callers=TERMINALS,
    body=PaymentRequestBody,
    idempotency=Idempotency.REQUIRED,
    responses={201: PaymentAnswer},
    errors=(403, 404, 409),
)
def create_payment(call: Call[PaymentRequestBody, None]) -> Outcome[Payment]:
    d = call.deps
    assert call.key is not None  # required by the declaration
    return payments.pay(
        d.store,
        d.payments,
        d.idempotency,
        call.institution,
        _wanted(call.body),
        call.key,
        d.clock(),
        call.renders(payment_answer),
        new_id=d.new_id,
        policy=d.payment_policy,
        settlement_policy=d.settlement_policy,
    )


@operation(
    bp,
    "/v1/payments/quote",
    "POST",
    summary=(
        "A pre-settlement: the split POST /v1/payments would make now, by the same rules on the same "
        "reads. Changes nothing and needs no Idempotency-Key"
    ),
    callers=TERMINALS,
    body=PaymentRequestBody,
    responses={200: QuoteAnswer},
    errors=(403, 404, 409),
)
def quote_payment(call: Call[PaymentRequestBody, None]) -> QuoteAnswer:
    d = call.deps
    found = payments.quote(
        d.payments,
        call.institution,
        _wanted(call.body),
        d.clock(),
        policy=d.payment_policy,
        settlement_policy=d.settlement_policy,
    )
    return quote_answer(found)


def quote_answer(found: payments.Quote) -> QuoteAnswer:
    return QuoteAnswer(
        quote=True,
        card_no=found.card_no,
        balance_fen=found.balance_after_fen,
        **_split(found.settlement),  # type: ignore[arg-type]
    )


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView(
        payment_id=payment.payment_id,
        card_no=payment.card_no,
        self_pay=payment.self_pay.value,
        state=payment.state.value,
        paid_at=payment.paid_at,
        cancelled_at=payment.cancelled_at,
        card_activated=payment.card_activated,
        **_split(payment),  # type: ignore[arg-type]
    )


@operation(
    bp,
    "/v1/payments/{payment_id}",
    "GET",
    summary="A payment, its split and its state, for the institution that took it (404 for any other)",
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
        "Reverse a payment, once, by the institution that took it: every part is given back in the "
        "same step (the account, the medical fund book, the holder's year counters). A second "
        "cancel is payment-already-cancelled (409); a retry with the first cancel's Idempotency-Key "
        "gets the first answer"
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


class InsuredQuery(Query):
    on: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="The day, YYYY-MM-DD (China time); default today",
    )


@operation(
    bp,
    "/v1/cards/{card_no}/insured",
    "GET",
    summary=(
        "A card presented at the counter: its state, whether medical insurance is in force, "
        "serious-illness eligibility, the account balance and the year's counters. No name, no SSN"
    ),
    callers=TERMINALS,
    query=InsuredQuery,
    responses={200: InsuredAnswer},
    errors=(403, 404),
)
def card_insured(call: Call[None, InsuredQuery], card_no: str) -> InsuredAnswer:
    d = call.deps
    on = parse_day(call.query.on) if call.query.on else china_date(d.clock())
    found = payments.insured(d.payments, call.institution, card_no, on, d.settlement_policy)
    c = found.counters
    return InsuredAnswer(
        card_no=found.card.card_no,
        state=found.card.state.value,
        medical_in_force=found.medical_in_force,
        serious_illness=SeriousIllnessStandingView(
            eligible=found.serious_illness.eligible, reason=found.serious_illness.reason
        ),
        balance_fen=found.balance_fen,
        year=YearView(year=found.year, **c.as_dict()),
    )


@operation(
    bp,
    "/v1/reconciliations",
    "POST",
    summary=(
        "Reconcile a business day (China time): your count and total of account_paid_fen (and, when "
        "sent, the day's fund_paid_fen and serious_illness_paid_fen) against our entries of that day; "
        "a cancellation counts, negative, on the day it was made. List your payments to have each "
        "one that differs named"
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
        DayFigures(body.count, body.total_fen, body.fund_paid_fen, body.serious_illness_paid_fen),
        listed,
    )
    return reconciliation_answer(result)


class EntriesQuery(Query):
    limit: WholeNumber = Field(default=100, ge=1, le=500)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="The previous page's next_cursor"
    )


@operation(
    bp,
    "/v1/reconciliations/{date}/entries",
    "GET",
    summary=(
        "Our entries of a business day for you, in time order, each with its split: payments, and "
        "cancellations (negative) made that day. Paged by limit and cursor"
    ),
    callers=TERMINALS,
    query=EntriesQuery,
    page_key=ENTRY_PAGE_KEY,
    responses={200: DayEntriesAnswer},
)
def day_entries(call: Call[None, EntriesQuery], date: dt.date) -> DayEntriesAnswer:
    assert call.page is not None
    page, last = payments.day_entries(
        call.deps.payments, call.institution, date, call.page.limit, call.page.after
    )
    return DayEntriesAnswer(
        date=date.isoformat(), entries=[entry_view(e) for e in page], next_cursor=call.page.next_cursor(last)
    )


def entry_view(entry: DayEntry) -> EntryView:
    assert entry.at is not None
    return EntryView(
        kind="cancellation" if entry.cancellation else "payment",
        payment_id=entry.payment_id,
        at=entry.at,
        amount_fen=entry.amount_fen,
        fund_paid_fen=entry.fund_paid_fen,
        serious_illness_paid_fen=entry.serious_illness_paid_fen,
        account_paid_fen=entry.account_paid_fen,
        self_pay_fen=entry.self_pay_fen,
    )


def _figures(f: DayFigures) -> DayFiguresView:
    return DayFiguresView(
        count=f.count,
        total_fen=f.total_fen,
        fund_paid_fen=f.fund_paid_fen,
        serious_illness_paid_fen=f.serious_illness_paid_fen,
    )


def reconciliation_answer(result: Reconciliation) -> ReconciliationAnswer:
    return ReconciliationAnswer(
        date=result.day.isoformat(),
        status="matched" if result.matched else "mismatched",
        ours=_figures(result.ours),
        theirs=_figures(result.theirs),
        differences=[
            DifferenceView(
                payment_id=d.payment_id, reason=d.reason.value, ours_fen=d.ours_fen, theirs_fen=d.theirs_fen
            )
            for d in result.differences
        ],
        our_entries=[entry_view(e) for e in result.sample],
    )

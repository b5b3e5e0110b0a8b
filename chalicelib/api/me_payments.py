"""The mobile app's view of its holder's personal account and payments."""

from __future__ import annotations

import re

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.domain.cursors import TIME_KEY_PATTERN
from chalicelib.domain.payments import Payment
from chalicelib.services import payments

from .auth import MOBILE
from .operations import Call, operation
from .params import Query, WholeNumber
from .payment_schemas import AccountAnswer, MyPaymentsAnswer, MyPaymentView

bp = Blueprint(__name__)
# A holder's payment page key: the payment's time and id (storage/payments.py writes it).
PAYMENT_PAGE_KEY = re.compile(TIME_KEY_PATTERN + r"#[A-Za-z0-9_-]{1,64}")


class MyPaymentsQuery(Query):
    limit: WholeNumber = Field(default=payments.DEFAULT_PAGE, ge=1, le=payments.MAX_PAGE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="The previous page's next_cursor"
    )


@operation(
    bp,
    "/v1/me/account",
    "GET",
    summary="The holder's medical-insurance personal account: balance (fen) and state",
    callers=(MOBILE,),
    responses={200: AccountAnswer},
    errors=(404,),
)
def my_account(call: Call[None, None]) -> AccountAnswer:
    account = payments.my_account(call.deps.store, call.person_id)
    return AccountAnswer(
        balance_fen=account.balance_fen,
        state=account.state.value,
        card_no=account.card_no,
        pending_card_no=account.pending_card_no,
    )


@operation(
    bp,
    "/v1/me/payments",
    "GET",
    summary=(
        "The holder's payments, newest first, paged by limit and cursor (the previous page's "
        "next_cursor). Payments made while paging appear on page one and never shift later pages"
    ),
    callers=(MOBILE,),
    query=MyPaymentsQuery,
    page_key=PAYMENT_PAGE_KEY,
    responses={200: MyPaymentsAnswer},
)
def my_payments(call: Call[None, MyPaymentsQuery]) -> MyPaymentsAnswer:
    assert call.page is not None
    page, last = payments.my_payments(call.deps.payments, call.person_id, call.page.limit, call.page.after)
    return MyPaymentsAnswer(payments=[_view(p) for p in page], next_cursor=call.page.next_cursor(last))


def _view(payment: Payment) -> MyPaymentView:
    return MyPaymentView(
        payment_id=payment.payment_id,
        paid_at=payment.paid_at,
        institution_name=payment.institution_name,
        card_last4=payment.card_no[-4:],
        amount_fen=payment.amount_fen,
        account_paid_fen=payment.account_paid_fen,
        self_pay_fen=payment.self_pay_fen,
        state=payment.state.value,
        cancelled_at=payment.cancelled_at,
    )

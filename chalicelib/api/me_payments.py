"""The mobile app's view of its holder's personal account and payments."""

from __future__ import annotations

from collections.abc import Mapping

from chalice.app import Blueprint, Response

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.payments import InvalidCursor, Payment
from chalicelib.services import payments

from .auth import require_holder
from .deps import deps
from .http import answer
from .operations import operation
from .payment_schemas import AccountAnswer, MyPaymentsAnswer, MyPaymentView
from .payments import payment_store

bp = Blueprint(__name__)
MAX_CURSOR_LENGTH = 200


@operation(
    bp,
    "/v1/me/account",
    "GET",
    summary="The holder's medical-insurance personal account: balance (fen) and state",
    callers=("mobile",),
    responses={200: AccountAnswer},
    errors=(401, 403, 404, 503),
)
def my_account() -> Response:
    person_id = require_holder(bp.current_request)
    account = payments.my_account(deps().store, person_id)
    return answer(
        AccountAnswer(
            balance_fen=account.balance_fen,
            state=account.state.value,
            card_no=account.card_no,
            pending_card_no=account.pending_card_no,
        )
    )


@operation(
    bp,
    "/v1/me/payments",
    "GET",
    summary=(
        "The holder's payments, newest first. Query: limit (1 to 100, default 20) and cursor (the "
        "previous page's next_cursor). Payments made while paging appear on page one and never "
        "shift later pages"
    ),
    callers=("mobile",),
    responses={200: MyPaymentsAnswer},
    errors=(401, 403, 422, 503),
)
def my_payments() -> Response:
    request = bp.current_request
    person_id = require_holder(request)
    query: Mapping[str, str] = request.query_params or {}
    limit = _limit(query.get("limit"))
    cursor = query.get("cursor")
    if cursor is not None and (not cursor or len(cursor) > MAX_CURSOR_LENGTH):
        raise InvalidCursor("Pass back the next_cursor of the previous page unchanged")
    page, next_cursor = payments.my_payments(payment_store(deps()), person_id, limit, cursor)
    return answer(MyPaymentsAnswer(payments=[_view(p) for p in page], next_cursor=next_cursor))


def _limit(raw: str | None) -> int:
    if raw is None:
        return payments.DEFAULT_PAGE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= payments.MAX_PAGE:
        raise InvalidInput(f"limit is a whole number from 1 to {payments.MAX_PAGE}")
    return int(raw)


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

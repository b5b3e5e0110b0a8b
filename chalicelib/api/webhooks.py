"""Partner bank webhooks (Standard Webhooks): counter activation."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.services.bank_webhooks import handle_counter_activation

from .auth import PARTNER_BANK
from .operations import Call, operation
from .schemas import CounterActivatedEvent, WebhookAnswer

bp = Blueprint(__name__)


@operation(
    bp,
    "/v1/webhooks/banks/{bank_code}",
    "POST",
    summary=(
        "Counter activation reported by the card's issuing bank. Verified with the bank's "
        "Standard Webhooks secret; answered 200 once verified, with the outcome (a body that is "
        "not a valid event is rejected with its reason), and a redelivered webhook-id changes nothing"
    ),
    callers=(PARTNER_BANK,),
    body=CounterActivatedEvent,
    body_to_view_when_invalid=True,
    responses={200: WebhookAnswer},
    headers=("webhook-id", "webhook-timestamp", "webhook-signature"),
)
def bank_webhook(call: Call[CounterActivatedEvent | None, None], bank_code: str) -> WebhookAnswer:
    d = call.deps
    webhook_id = call.request.headers["webhook-id"]  # the pipeline verified it
    payload = call.body.model_dump() if call.body is not None else None
    receipt, duplicate = handle_counter_activation(
        d.store, d.secrets.hashing_key(), bank_code, webhook_id, payload, d.clock()
    )
    return WebhookAnswer(
        webhook_id=webhook_id,
        outcome=receipt.outcome,  # type: ignore[arg-type]
        reason=receipt.reason,
        duplicate=duplicate,
    )

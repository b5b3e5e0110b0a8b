"""Partner bank webhooks (Standard Webhooks): counter activation."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.services.bank_webhooks import handle_counter_activation

from .deps import deps
from .http import answer, raw_body
from .operations import operation
from .problems import unauthenticated
from .schemas import CounterActivatedEvent, WebhookAnswer

bp = Blueprint(__name__)
MAX_ID_LENGTH = 200


@operation(
    bp,
    "/v1/webhooks/banks/{bank_code}",
    "POST",
    summary=(
        "Counter activation reported by the card's issuing bank. Verified with the bank's "
        "Standard Webhooks secret; answered 200 once verified, with the outcome, and a "
        "redelivered webhook-id changes nothing"
    ),
    callers=("partner_bank",),
    request=CounterActivatedEvent,
    responses={200: WebhookAnswer},
    errors=(401, 503),
    headers=("webhook-id", "webhook-timestamp", "webhook-signature"),
)
def bank_webhook(bank_code: str) -> Response:
    request = bp.current_request
    raw = raw_body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    webhook_id = headers.get("webhook-id", "")
    if not webhook_id or len(webhook_id) > MAX_ID_LENGTH or not _verified(bank_code, raw, headers):
        raise unauthenticated("The webhook signature is not valid for this bank")
    d = deps()
    receipt, duplicate = handle_counter_activation(
        d.store, d.secrets.hashing_key(), bank_code, webhook_id, _payload(raw), d.clock()
    )
    return answer(
        WebhookAnswer(
            webhook_id=webhook_id,
            outcome=receipt.outcome,  # type: ignore[arg-type]
            reason=receipt.reason,
            duplicate=duplicate,
        )
    )


def _verified(bank_code: str, raw: bytes, headers: dict[str, str]) -> bool:
    from standardwebhooks.webhooks import Webhook

    if len(bank_code) > 32:
        return False
    for secret in deps().secrets.bank_secrets(bank_code):
        try:
            Webhook(secret).verify(raw, headers, json_parse=False)
            return True
        except Exception:  # noqa: S112 - any malformed header or secret is simply "not verified"
            continue
    return False


def _payload(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None

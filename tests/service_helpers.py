"""What the service-level tests pass where the API passes its renderers and keys."""

from __future__ import annotations

import json
from datetime import datetime

from chalicelib.domain.cards import Card
from chalicelib.domain.payments import Payment
from chalicelib.services.activation import ActivationResult
from chalicelib.services.idempotency import IdempotentRequest, StoredResponse, fingerprint, keyed
from chalicelib.services.ports import Registration


def key_for(caller: str, key: str, at: datetime, body: str = "") -> IdempotentRequest:
    return keyed(caller, key, fingerprint("POST", "/test", body.encode()), int(at.timestamp()))


def render_payment(payment: Payment) -> StoredResponse:
    body = {
        "payment_id": payment.payment_id,
        "state": payment.state.value,
        "account_paid_fen": payment.account_paid_fen,
        "balance_fen": payment.balance_after_fen,
    }
    return StoredResponse(201 if payment.cancelled_at is None else 200, json.dumps(body))


def render_card(card: Card) -> StoredResponse:
    return StoredResponse(200, json.dumps({"card_no": card.card_no, "state": card.state.value}))


def render_activation(result: ActivationResult) -> StoredResponse:
    body = {"state": result.card.state.value, "card_activated": result.card_activated}
    return StoredResponse(200, json.dumps(body))


def render_registration(registration: Registration) -> StoredResponse:
    body = {"registration_id": registration.registration_id, "card_activated": registration.card_activated}
    return StoredResponse(201, json.dumps(body))

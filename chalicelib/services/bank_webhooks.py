"""Counter activation reported by the card's issuing bank (a verified Standard Webhook).

The webhook id makes delivery idempotent: the receipt is written in the same
transaction as the activation, so a redelivered webhook finds the receipt and
changes nothing, and a crash between the two cannot happen.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.domain.cards import Card, Channel
from chalicelib.domain.errors import (
    ConcurrentUpdate,
    DomainError,
    DuplicateDelivery,
    InvalidInput,
    NotIssuingBank,
    StorageBusy,
)
from chalicelib.domain.identifiers import Ssn, parse_card_no

from .activation import plan_activation, read_card, retry_on_conflict, ssn_matches_holder
from .digests import ssn_digest
from .ports import CardChange, CardStore, WebhookReceipt

COUNTER_ACTIVATED = "card.counter_activated"


def handle_counter_activation(
    store: CardStore,
    hashing_key: bytes,
    bank_code: str,
    webhook_id: str,
    payload: Any,
    at: datetime,
) -> tuple[WebhookReceipt, bool]:
    """Apply a verified bank webhook once. Returns its receipt and whether it was seen before."""
    seen = store.get_receipt(bank_code, webhook_id)
    if seen is not None:
        return seen, True

    def receipt(outcome: str, card_no: str | None, reason: str | None = None) -> WebhookReceipt:
        return WebhookReceipt(bank_code, webhook_id, outcome, card_no, reason, at)

    def attempt() -> WebhookReceipt:
        card_no, digest = _parse(payload, hashing_key)
        card = read_card(store, card_no)
        _issued_by(card, bank_code)
        ssn_matches_holder(store, digest)(card)
        plan = plan_activation(store, card, Channel.BANK_COUNTER, at, f"bank:{bank_code}")
        if plan.result.card_activated:
            outcome = "activated"
        elif plan.result.financial_activated:
            outcome = "financial_activated"
        else:
            outcome = "already_active"
        done = receipt(outcome, card_no)
        store.commit(replace(plan.change, receipt=done))
        return done

    try:
        return retry_on_conflict(attempt), False
    except DuplicateDelivery:
        # The same webhook id was delivered twice at once; the other delivery won.
        first = store.get_receipt(bank_code, webhook_id)
        if first is None:  # pragma: no cover - the condition failed because it exists
            raise
        return first, True
    except (ConcurrentUpdate, StorageBusy):
        raise  # passing: the bank redelivers and we try again
    except DomainError as refusal:
        card_no = _card_no_of(payload)
        rejected = receipt("rejected", card_no, refusal.slug)
        try:
            store.commit(CardChange(receipt=rejected))
        except DuplicateDelivery:
            first = store.get_receipt(bank_code, webhook_id)
            return (first or rejected), True
        return rejected, False


def _parse(payload: Any, hashing_key: bytes) -> tuple[str, str]:
    if not isinstance(payload, dict) or payload.get("type") != COUNTER_ACTIVATED:
        raise InvalidInput(f"Only '{COUNTER_ACTIVATED}' events are accepted")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("The event has no data object")
    card_no = parse_card_no(data.get("card_no"))
    raw_ssn = data.get("ssn")
    ssn = Ssn.parse(raw_ssn if isinstance(raw_ssn, str) else "")
    return card_no, ssn_digest(hashing_key, ssn.value)


def _card_no_of(payload: Any) -> str | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    value = data.get("card_no") if isinstance(data, dict) else None
    try:
        return parse_card_no(value)
    except DomainError:
        return None


def _issued_by(card: Card, bank_code: str) -> None:
    if card.issuing_bank != bank_code:
        raise NotIssuingBank("Only the card's issuing bank may activate it at its counter")

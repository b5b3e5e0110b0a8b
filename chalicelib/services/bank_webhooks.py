"""Counter activation reported by the card's issuing bank (a verified Standard Webhook).

The webhook id makes delivery idempotent: the receipt is written in the same
transaction as the activation, so a redelivered webhook finds the receipt and
changes nothing, and a crash between the two cannot happen. Only an applied
webhook gets a receipt: a refused one (card not issued yet, suspended...) is
answered and forgotten, so its redelivery is evaluated again once the cause is gone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.domain.cards import Card, Channel, IdentityCheck
from chalicelib.domain.errors import (
    ConcurrentUpdate,
    DomainError,
    DuplicateDelivery,
    InvalidInput,
    NotIssuingBank,
    StorageBusy,
)
from chalicelib.domain.identifiers import Ssn, parse_card_no
from chalicelib.logs import get_logger

from .activation import ensure_holder, found_card, holder_of, plan_activation
from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .digests import ssn_digest
from .ports import CardChange, CardStore, WebhookReceipt

COUNTER_ACTIVATED = "card.counter_activated"
log = get_logger("sscard.webhooks")
# "Try again" errors: the bank redelivers and we decide afresh; no receipt is written.
TRANSIENT = (ConcurrentUpdate, StorageBusy)


def handle_counter_activation(
    store: CardStore,
    hashing_key: bytes,
    bank_code: str,
    webhook_id: str,
    payload: Any,
    at: datetime,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> tuple[WebhookReceipt, bool]:
    """Apply a verified bank webhook once. Returns its receipt and whether it was applied before.

    Three round trips: the receipt with the card, the holder with the account (none when
    storage knows the card's holder), the write with the receipt."""

    def receipt(outcome: str, card_no: str | None, reason: str | None = None) -> WebhookReceipt:
        return WebhookReceipt(bank_code, webhook_id, outcome, card_no, reason, at)

    def attempt() -> tuple[WebhookReceipt, bool]:
        card_no, digest = _parse(payload, hashing_key)
        read = store.read_card(card_no, receipt=(bank_code, webhook_id))
        if read.receipt is not None:
            return read.receipt, True
        card = found_card(read.card, card_no)
        _issued_by(card, bank_code)
        known = holder_of(store, read, card)
        ensure_holder(known, digest)
        plan = plan_activation(
            store,
            card,
            Channel.BANK_COUNTER,
            at,
            f"bank:{bank_code}",
            account=known.account,
            identity_checked=IdentityCheck.SSN,  # the bank read it from the ID document; it matched
        )
        if plan.result.card_activated:
            outcome = "activated"
        elif plan.result.financial_activated:
            outcome = "financial_activated"
        else:
            outcome = "already_active"
        done = receipt(outcome, card_no)
        _commit(store, replace(plan.change, receipt=done))
        return done, False

    try:
        return with_backoff(attempt, backoff)
    except TRANSIENT:
        raise  # passing: the bank redelivers and we try again
    except DomainError as refusal:
        # Not final: nothing is stored, and a redelivery decides afresh. The log line is the
        # operator's only record of why (the card number in it is redacted by the logger).
        refused = receipt("rejected", _card_no_of(payload), refusal.slug)
        log.info(
            "bank_webhook_rejected",
            extra={
                "bank_code": bank_code,
                "webhook_id": webhook_id,
                "reason": refused.reason,
                "card_no": refused.card_no,
            },
        )
        return refused, False


def _commit(store: CardStore, change: CardChange) -> None:
    try:
        store.commit(change)
    except DuplicateDelivery as duplicate:
        # The same webhook id was delivered twice at once: read again and find the other's receipt.
        raise ConcurrentUpdate("The webhook was applied meanwhile") from duplicate


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

"""Holders with money on an active card, and the invariant every payment test ends with."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from itertools import count
from typing import Any

from chalicelib.domain.cards import CardKind
from chalicelib.domain.holders import Participation
from chalicelib.domain.payments import PaymentState
from chalicelib.services import admin
from sscard_ops.seed import make_ssn

_seq = count(100)


def funded_holder(
    store, hashing_key: bytes, now: datetime, balance_fen: int, *, seq: int | None = None
) -> tuple[str, str]:
    """A holder whose (old medical insurance) card is active and whose account holds `balance_fen`."""
    n = next(_seq) if seq is None else seq
    born = date(1980, 1, 1) + timedelta(days=n // 1000)
    holder = admin.enroll_holder(
        store,
        hashing_key,
        make_ssn(f"320102{born:%Y%m%d}{n % 1000:03d}"),
        f"Funded {n}",
        Participation.EMPLOYEE,
        now,
        balance_fen=balance_fen,
    )
    card = admin.issue_card(store, holder.person_id, now, kind=CardKind.MEDICAL_INSURANCE)
    return holder.person_id, card.card_no


def all_payments_of(payments, person_id: str) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        page, cursor = payments.payments_of_holder(person_id, 100, cursor)
        found.extend(page)
        if cursor is None:
            return found


def assert_no_partial_state(cards, payments, keys, person_id: str, initial_balance: int) -> None:
    """No payment without its debit, no debit without its payment, and no stored answer
    that names a payment that does not exist."""
    mine = all_payments_of(payments, person_id)
    standing = sum(p.account_paid_fen for p in mine if p.state is PaymentState.COMPLETED)
    balance = cards.get_account(person_id).balance_fen
    assert balance >= 0
    assert initial_balance - balance == standing, (initial_balance, balance, standing)
    for payment in mine:
        assert payments.get_payment(payment.payment_id) == payment


def stored_payment_id(keys, scope_key: str) -> str | None:
    record = keys.get(scope_key)
    if record is None or record.status != 201:
        return None
    return str(json.loads(record.body)["payment_id"])

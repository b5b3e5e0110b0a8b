"""Operator use cases (the ops CLI and the local seed): institutions, banks, holders, cards.

Credentials are returned once to the caller and kept only as digests (tokens)
or in the secret store (webhook secrets).
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Protocol

from chalicelib.domain.cards import Action, Card, CardEvent, CardKind, CardState, Channel
from chalicelib.domain.errors import AlreadyExists, HolderNotFound, InvalidInput, NotFound
from chalicelib.domain.holders import (
    Account,
    AccountState,
    Bank,
    Credential,
    Holder,
    Institution,
    InstitutionKind,
    Participation,
)
from chalicelib.domain.identifiers import Ssn, luhn_check_digit, parse_card_no

from .digests import ssn_digest, token_digest
from .institution_ports import InstitutionRegistry, IssuedToken
from .ports import CardStore

TOKEN_PREFIX = "sst_"
# Only these kinds take the card, so only they are designated for medical insurance.
DESIGNATABLE = (InstitutionKind.PHARMACY, InstitutionKind.HOSPITAL)


class SecretWriter(Protocol):
    def put(self, name: str, value: str) -> None: ...


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_card_no(prefix: str = "621700") -> str:
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(18 - len(prefix)))
    return body + luhn_check_digit(body)


def add_institution(
    store: CardStore,
    hashing_key: bytes,
    kind: InstitutionKind,
    name: str,
    at: datetime,
    *,
    designated: bool = False,
    institution_id: str | None = None,
) -> tuple[Institution, str]:
    institution = Institution(
        institution_id=institution_id or f"{kind.value[:3].upper()}-{secrets.token_hex(4)}",
        kind=kind,
        name=name,
        designated=designated and kind in DESIGNATABLE,
    )
    store.add_institution(institution)
    return institution, issue_token(store, hashing_key, institution, at)


def issue_token(store: CardStore, hashing_key: bytes, institution: Institution, at: datetime) -> str:
    token = new_token()
    store.add_credential(
        Credential(token_digest(hashing_key, token), institution.institution_id, institution.kind, at)
    )
    return token


def institution_of(store: CardStore, institution_id: str) -> Institution:
    institution = store.get_institution(institution_id)
    if institution is None:
        raise NotFound(f"No institution {institution_id}")
    return institution


# Revocations and designations reach a warm API container within its institution-token
# cache time (chalicelib/services/institution_cache.py): the CLI and the README say so.


def revoke_token(
    registry: InstitutionRegistry, hashing_key: bytes, institution_id: str, token: str, at: datetime
) -> bool:
    """Revoke one of the institution's tokens; False if it was revoked already.

    The token must be the institution's: a token of another institution is NotFound, so a
    mistyped id cannot revoke someone else's credential.
    """
    digest = token_digest(hashing_key, token.strip())
    issued = registry.token(digest)
    if issued is None or issued.institution_id != institution_id:
        raise NotFound(f"No such token of {institution_id}")
    return registry.revoke(digest, at)


def revoke_all_tokens(
    store: CardStore, registry: InstitutionRegistry, institution_id: str, at: datetime
) -> list[IssuedToken]:
    """Revoke every live token of the institution; returns the ones this call revoked."""
    institution_of(store, institution_id)
    return [
        t for t in registry.tokens_of(institution_id) if not t.revoked and registry.revoke(t.token_digest, at)
    ]


def designate(
    store: CardStore, registry: InstitutionRegistry, institution_id: str, designated: bool
) -> Institution:
    """Designate (or no longer designate) a pharmacy or hospital for medical insurance."""
    institution = institution_of(store, institution_id)
    if institution.kind not in DESIGNATABLE:
        raise InvalidInput(
            f"Only pharmacies and hospitals are designated; {institution_id} is a {institution.kind.value}"
        )
    return registry.set_designated(institution_id, designated)


def add_bank(store: CardStore, writer: SecretWriter, bank_code: str, name: str) -> str:
    """Register a partner bank; returns its webhook secret (kept only in the secret store)."""
    store.add_bank(Bank(bank_code, name))
    secret = new_webhook_secret()
    writer.put(f"banks/{bank_code}", json.dumps({"secrets": [secret]}))
    return secret


def enroll_holder(
    store: CardStore,
    hashing_key: bytes,
    raw_ssn: str,
    name: str,
    participation: Participation,
    at: datetime,
    *,
    person_id: str | None = None,
    balance_fen: int = 0,
) -> Holder:
    ssn = Ssn.parse(raw_ssn)
    holder = Holder(
        person_id=person_id or f"P{secrets.token_hex(8)}",
        name=name,
        ssn_digest=ssn_digest(hashing_key, ssn.value),
        ssn_masked=ssn.masked,
        birth_date=ssn.birth_date,
        sex=ssn.sex,
        participation=participation,
        enrolled_at=at,
    )
    if balance_fen < 0:
        raise ValueError("A balance is never negative")
    store.enroll(holder, Account(holder.person_id, balance_fen, AccountState.NORMAL, None))
    return holder


def issue_card(
    store: CardStore,
    person_id: str,
    at: datetime,
    *,
    bank_code: str | None = None,
    kind: CardKind = CardKind.SOCIAL_SECURITY,
    card_no: str | None = None,
) -> Card:
    """Issue a new card. A social security card starts unactivated and holds the account
    while an older card still reaches it; an old medical insurance card is in use at once."""
    account = store.get_account(person_id)
    if account is None:
        raise HolderNotFound("Enroll the holder first")
    number = parse_card_no(card_no) if card_no else new_card_no()
    if store.get_card(number) is not None:
        raise AlreadyExists("A card with this number exists")
    if kind is CardKind.SOCIAL_SECURITY:
        if bank_code is None or store.get_bank(bank_code) is None:
            raise NotFound("A social security card needs a registered issuing bank")
        card = Card(number, person_id, kind, CardState.ISSUED, at, issuing_bank=bank_code)
        new_account = account.hold_for(number)
    else:
        card = Card(number, person_id, kind, CardState.ACTIVE, at, activated_at=at)
        new_account = account.move_to(number)
    event = CardEvent(number, at, Action.ISSUE, CardState.ISSUED, card.state, Channel.OPS)
    store.issue(card, new_account, event)
    return card

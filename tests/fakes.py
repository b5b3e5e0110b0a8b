"""In-memory fakes of the storage ports: the same contract as DynamoDB, for fast service tests."""

from __future__ import annotations

import base64
import threading
from dataclasses import replace
from typing import Any

from chalicelib.domain.cards import Card, CardEvent
from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate, DuplicateDelivery
from chalicelib.domain.holders import Account, Bank, Credential, Holder, Institution
from chalicelib.services.ports import CardChange, IdempotencyRecord, Registration, WebhookReceipt


class FakeCardStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cards: dict[str, Card] = {}
        self.accounts: dict[str, Account] = {}
        self.holders: dict[str, Holder] = {}
        self.ssn_index: dict[str, str] = {}
        self.institutions: dict[str, Institution] = {}
        self.banks: dict[str, Bank] = {}
        self.credentials: dict[str, Credential] = {}
        self.receipts: dict[tuple[str, str], WebhookReceipt] = {}
        self.registrations: dict[str, Registration] = {}
        self.events: dict[str, list[CardEvent]] = {}

    def get_card(self, card_no: str) -> Card | None:
        return self.cards.get(card_no)

    def get_account(self, person_id: str) -> Account | None:
        return self.accounts.get(person_id)

    def get_holder(self, person_id: str) -> Holder | None:
        return self.holders.get(person_id)

    def person_by_ssn(self, ssn_digest: str) -> str | None:
        return self.ssn_index.get(ssn_digest)

    def get_institution(self, institution_id: str) -> Institution | None:
        return self.institutions.get(institution_id)

    def get_bank(self, bank_code: str) -> Bank | None:
        return self.banks.get(bank_code)

    def get_credential(self, token_digest: str) -> Credential | None:
        return self.credentials.get(token_digest)

    def get_receipt(self, bank_code: str, webhook_id: str) -> WebhookReceipt | None:
        return self.receipts.get((bank_code, webhook_id))

    def card_events(self, card_no: str) -> list[CardEvent]:
        return sorted(self.events.get(card_no, []), key=lambda e: e.version)

    def commit(self, change: CardChange) -> None:
        with self.lock:
            for card in change.unchanged_cards:
                if self._card_version(card.card_no) != card.version:
                    raise ConcurrentUpdate(f"card:{card.card_no} changed concurrently")
            for card in change.cards:
                if self._card_version(card.card_no) != card.version - 1:
                    raise ConcurrentUpdate(f"card:{card.card_no} changed concurrently")
            if change.account is not None:
                current = self.accounts.get(change.account.person_id)
                if (current.version if current else 0) != change.account.version - 1:
                    raise ConcurrentUpdate("account changed concurrently")
            if change.receipt is not None:
                key = (change.receipt.bank_code, change.receipt.webhook_id)
                if key in self.receipts:
                    raise DuplicateDelivery("receipt exists already")
            if change.registration and change.registration.registration_id in self.registrations:
                raise ConcurrentUpdate("registration exists already")
            # All conditions hold: apply everything.
            for card in change.cards:
                self.cards[card.card_no] = card
            for event in change.events:
                self.events.setdefault(event.card_no, []).append(event)
            if change.account is not None:
                self.accounts[change.account.person_id] = change.account
            if change.receipt is not None:
                self.receipts[(change.receipt.bank_code, change.receipt.webhook_id)] = change.receipt
            if change.registration is not None:
                self.registrations[change.registration.registration_id] = change.registration

    def _card_version(self, card_no: str) -> int:
        card = self.cards.get(card_no)
        return card.version if card else 0

    def add_institution(self, institution: Institution) -> None:
        self._add(self.institutions, institution.institution_id, institution)

    def add_bank(self, bank: Bank) -> None:
        self._add(self.banks, bank.bank_code, bank)

    def add_credential(self, credential: Credential) -> None:
        self._add(self.credentials, credential.token_digest, credential)

    def enroll(self, holder: Holder, account: Account) -> None:
        with self.lock:
            if holder.ssn_digest in self.ssn_index or holder.person_id in self.holders:
                raise AlreadyExists("The holder is enrolled already")
            self.ssn_index[holder.ssn_digest] = holder.person_id
            self.holders[holder.person_id] = holder
            self.accounts[account.person_id] = account

    def issue(self, card: Card, account: Account, event: CardEvent) -> None:
        with self.lock:
            current = self.accounts.get(account.person_id)
            if card.card_no in self.cards or (current.version if current else 0) != account.version - 1:
                raise AlreadyExists("The card exists already, or the account changed meanwhile")
            self.cards[card.card_no] = card
            self.accounts[account.person_id] = account
            self.events.setdefault(card.card_no, []).append(event)

    def _add(self, table: dict[str, Any], key: str, value: Any) -> None:
        with self.lock:
            if key in table:
                raise AlreadyExists("It exists already")
            table[key] = value


class FakeIdempotencyStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, IdempotencyRecord] = {}

    def get(self, scope_key: str) -> IdempotencyRecord | None:
        return self.records.get(scope_key)

    def reserve(self, record: IdempotencyRecord, now: int) -> bool:
        with self.lock:
            current = self.records.get(record.scope_key)
            free = (
                current is None
                or current.expires_at < now
                or (current.in_flight and current.locked_until < now)
            )
            if free:
                self.records[record.scope_key] = record
            return free

    def complete(self, record: IdempotencyRecord) -> None:
        with self.lock:
            self.records[record.scope_key] = replace(record)

    def release(self, scope_key: str) -> None:
        with self.lock:
            self.records.pop(scope_key, None)


class FakeSecrets:
    def __init__(self) -> None:
        self.key = b"test-hashing-key-0123456789abcdef"
        self.banks: dict[str, list[str]] = {}
        self.jwks: dict[str, Any] = {"keys": []}

    def hashing_key(self) -> bytes:
        return self.key

    def bank_secrets(self, bank_code: str) -> list[str]:
        return list(self.banks.get(bank_code, []))

    def mobile_jwks(self) -> dict[str, Any]:
        return self.jwks

    def put(self, name: str, value: str) -> None:
        if name == "token-hashing-key":
            self.key = base64.b64decode(value)

"""In-memory fakes of the storage ports: the same contract as DynamoDB, for fast service tests."""

from __future__ import annotations

import base64
import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from chalicelib.domain.cards import Card, CardEvent
from chalicelib.domain.contributions import FundBook
from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate, DuplicateDelivery, HolderNotFound
from chalicelib.domain.holders import Account, Bank, Credential, Holder, Institution
from chalicelib.domain.periods import china_date
from chalicelib.services.contribution_ports import (
    BookTotal,
    ContributionQueue,
    ContributionStore,
    MonthRecord,
    Posting,
    QueuedContribution,
    Rejection,
)
from chalicelib.services.ports import (
    IDEMPOTENCY_LABEL,
    CardChange,
    CardRead,
    CardStore,
    HolderCards,
    HolderRead,
    IdempotencyRecord,
    IdempotencyStore,
    Registration,
    SecretSource,
    WebhookReceipt,
)


def key_is_free(record: IdempotencyRecord | None, now: int) -> bool:
    """DynamoDB's condition on the key's record: none, expired, or abandoned in flight."""
    return record is None or record.expires_at < now or (record.in_flight and record.locked_until < now)


class FakeIdempotencyStore(IdempotencyStore):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, IdempotencyRecord] = {}

    def get(self, scope_key: str) -> IdempotencyRecord | None:
        return self.records.get(scope_key)

    def reserve(self, record: IdempotencyRecord, now: int) -> bool:
        with self.lock:
            free = key_is_free(self.records.get(record.scope_key), now)
            if free:
                self.records[record.scope_key] = record
            return free


class FakeCardStore(CardStore):
    """`keys` holds the idempotency records the card use cases write inside their commit
    (the World shares it with the FakeIdempotencyStore behind the API)."""

    def __init__(self, keys: FakeIdempotencyStore | None = None) -> None:
        self.lock = threading.RLock()
        self.keys = keys or FakeIdempotencyStore()
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
        self.known_persons: set[str] = set()  # cards seen, like DynamoDB's person cache

    def read_card(
        self, card_no: str, scope_key: str | None = None, receipt: tuple[str, str] | None = None
    ) -> CardRead:
        with self.lock:
            card = self.cards.get(card_no)
            holder = None
            if card is not None and card_no in self.known_persons:
                holder = self.read_holder(card.person_id)
            if card is not None:
                self.known_persons.add(card_no)
            return CardRead(
                card,
                self.keys.records.get(scope_key) if scope_key else None,
                self.receipts.get(receipt) if receipt else None,
                holder,
            )

    def read_holder(self, person_id: str) -> HolderRead:
        with self.lock:
            return HolderRead(self.holders.get(person_id), self.accounts.get(person_id))

    def holder_cards(self, person_id: str) -> HolderCards:
        with self.lock:
            mine = {no: c for no, c in self.cards.items() if c.person_id == person_id}
            return HolderCards(self.accounts.get(person_id), mine, {no: self.card_events(no) for no in mine})

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
                    raise DuplicateDelivery("receipt exists already", label="receipt")
            if change.registration and change.registration.registration_id in self.registrations:
                raise ConcurrentUpdate("registration exists already", label="registration")
            with self.keys.lock:
                if change.key_record is not None and not key_is_free(
                    self.keys.records.get(change.key_record.scope_key), change.now
                ):
                    raise DuplicateDelivery("idempotency exists already", label=IDEMPOTENCY_LABEL)
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
                if change.key_record is not None:
                    self.keys.records[change.key_record.scope_key] = change.key_record

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


class FakeSecrets(SecretSource):
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


class FakeContributionStore(ContributionStore):
    """Postings over a FakeCardStore's holders and accounts, with the DynamoDB store's contract."""

    def __init__(self, cards: FakeCardStore, shards: int = 256) -> None:
        self.cards = cards
        self.shards = shards
        self.postings: dict[str, Posting] = {}
        self.month_records: dict[tuple[str, str], MonthRecord] = {}
        self.shard_totals: dict[tuple[FundBook, int], BookTotal] = {}
        self.rejected: dict[str, Rejection] = {}
        self.fail_next: list[Exception] = []  # raised by the next post() calls, in order
        self.holder_reads = 0

    def holders_by_ssn(self, ssn_digests: Collection[str]) -> dict[str, Holder]:
        self.holder_reads += 1
        found = {}
        for digest in ssn_digests:
            person_id = self.cards.ssn_index.get(digest)
            if person_id is not None and person_id in self.cards.holders:
                found[digest] = self.cards.holders[person_id]
        return found

    def post(self, posting: Posting, attempt: int = 0) -> None:
        from chalicelib.storage.contributions import month_key, shard_of

        if self.fail_next:
            raise self.fail_next.pop(0)
        with self.cards.lock:
            if posting.contribution_id in self.postings:
                raise DuplicateDelivery("posting exists already", label="posting")
            account = self.cards.accounts.get(posting.person_id)
            if posting.personal_account_fen > 0 and account is None:
                raise HolderNotFound("The holder has no personal account")
            self.postings[posting.contribution_id] = posting
            key = (posting.person_id, month_key(posting.period, posting.insurance))
            month = self.month_records.get(key)
            paid_on = china_date(posting.paid_at)
            self.month_records[key] = MonthRecord(
                posting.person_id,
                posting.insurance,
                posting.period,
                (month.amount_fen if month else 0) + posting.amount_fen,
                (month.postings if month else 0) + 1,
                (month.personal_account_fen if month else 0) + posting.personal_account_fen,
                tuple(sorted({*(month.paid_on if month else ()), paid_on})),
                tuple(sorted({*(month.contribution_ids if month else ()), posting.contribution_id})),
            )
            shard = (posting.book, shard_of(posting.contribution_id, attempt, self.shards))
            total = self.shard_totals.get(shard, BookTotal(posting.book))
            self.shard_totals[shard] = total.plus(posting.amount_fen, 1, posting.personal_account_fen)
            if posting.personal_account_fen > 0 and account is not None:
                self.cards.accounts[posting.person_id] = replace(
                    account,
                    balance_fen=account.balance_fen + posting.personal_account_fen,
                    version=account.version + 1,
                )

    def get_posting(self, contribution_id: str) -> Posting | None:
        return self.postings.get(contribution_id)

    def reject(self, rejection: Rejection) -> None:
        with self.cards.lock:
            first = self.rejected.get(rejection.key)
            self.rejected[rejection.key] = replace(
                rejection,
                first_at=first.first_at if first else rejection.at,
                receives=(first.receives if first else 0) + 1,
            )

    def get_rejection(self, key: str) -> Rejection | None:
        return self.rejected.get(key)

    def rejections(self, limit: int, cursor: str | None = None) -> tuple[list[Rejection], str | None]:
        keys = sorted(self.rejected)
        start = keys.index(cursor) + 1 if cursor in keys else 0
        page = keys[start : start + limit]
        more = start + limit < len(keys)
        found = sorted((self.rejected[k] for k in page), key=lambda r: r.at, reverse=True)
        return found, (page[-1] if more and page else None)

    def posted(self, contribution_ids: Collection[str]) -> set[str]:
        return {i for i in contribution_ids if i in self.postings}

    def months(self, person_id: str) -> list[MonthRecord]:
        return [m for (p, _), m in sorted(self.month_records.items()) if p == person_id]

    def months_page(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[MonthRecord], str | None]:
        keys = sorted((k for p, k in self.month_records if p == person_id), reverse=True)
        if before:
            keys = [k for k in keys if k < before]
        page = keys[:limit]
        more = len(keys) > limit
        return [self.month_records[(person_id, k)] for k in page], (page[-1] if more else None)

    def book_totals(self) -> dict[FundBook, BookTotal]:
        totals = {b: BookTotal(b) for b in FundBook}
        for (book, _), t in self.shard_totals.items():
            totals[book] = totals[book].plus(t.total_fen, t.postings, t.personal_account_fen)
        return totals

    def postings_by_book(self) -> dict[FundBook, BookTotal]:
        totals = {b: BookTotal(b) for b in FundBook}
        for p in self.postings.values():
            totals[p.book] = totals[p.book].plus(p.amount_fen, 1, p.personal_account_fen)
        return totals


class FakeContributionQueue(ContributionQueue):
    def __init__(self) -> None:
        self.sent: list[QueuedContribution] = []
        self.fail: Exception | None = None

    def send(self, messages: Sequence[QueuedContribution]) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.extend(messages)

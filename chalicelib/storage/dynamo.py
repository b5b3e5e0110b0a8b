"""CardStore and IdempotencyStore on DynamoDB, through PynamoDB.

A card use case reads the card with the request's idempotency record (and the
webhook's receipt) in one TransactGetItems. The card -> holder binding is fixed
when a card is issued (a replacement is a new card number), so it is cached in
process for good (an LRU): once the process has seen a card, the same first
read brings its holder and account too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from chalicelib.domain.cards import Action, Card, CardEvent, CardKind, CardState, Channel
from chalicelib.domain.errors import AlreadyExists, ConcurrentUpdate
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
from chalicelib.services.ports import (
    IDEMPOTENCY_LABEL,
    CardChange,
    CardRead,
    HolderCards,
    HolderRead,
    IdempotencyRecord,
    Registration,
    WebhookReceipt,
)

from .errors import translated
from .models import (
    AccountModel,
    BankModel,
    CardEventModel,
    CardModel,
    CredentialModel,
    HolderModel,
    IdempotencyModel,
    InstitutionModel,
    OpeningBalanceModel,
    RegistrationModel,
    SsnIndexModel,
    WebhookReceiptModel,
    _region,
)

if TYPE_CHECKING:  # stays.py imports this module
    from .stays import RegistrationCache

RECEIPT_RETENTION = timedelta(days=30)
PERSON_CACHE_SIZE = 50_000  # card number -> person id, about 10 MB


def _get(model: type[Model], hash_key: str) -> Any:
    with translated():
        try:
            return model.get(hash_key, consistent_read=True)
        except DoesNotExist:
            return None


# --- mapping between domain objects and items ---------------------------------------


def card_item(card: Card) -> CardModel:
    return CardModel(
        card.card_no,
        person_id=card.person_id,
        kind=card.kind.value,
        state=card.state.value,
        issued_at=card.issued_at,
        issuing_bank=card.issuing_bank,
        financial_active=card.financial_active,
        activated_at=card.activated_at,
        suspended_from=card.suspended_from.value if card.suspended_from else None,
        version=card.version,
    )


def card_of(item: CardModel) -> Card:
    return Card(
        card_no=item.card_no,
        person_id=item.person_id,
        kind=CardKind(item.kind),
        state=CardState(item.state),
        issued_at=item.issued_at,
        issuing_bank=item.issuing_bank,
        financial_active=bool(item.financial_active),
        activated_at=item.activated_at,
        suspended_from=CardState(item.suspended_from) if item.suspended_from else None,
        version=int(item.version),
    )


def event_item(event: CardEvent, card: Card) -> CardEventModel:
    """The event with the card as the change left it (`card` is the written card)."""
    if (card.card_no, card.version) != (event.card_no, event.version):
        raise ValueError("An event is stored with the card it produced")
    return CardEventModel(
        card.person_id,
        f"{event.card_no}#v{event.version:010d}",
        card_no=event.card_no,
        at=event.at,
        action=event.action.value,
        from_state=event.from_state.value,
        to_state=event.to_state.value,
        channel=event.channel.value,
        institution_id=event.institution_id,
        detail=event.detail,
        kind=card.kind.value,
        issued_at=card.issued_at,
        issuing_bank=card.issuing_bank,
        financial_active=card.financial_active,
        activated_at=card.activated_at,
        suspended_from=card.suspended_from.value if card.suspended_from else None,
    )


def event_puts(cards: Any, events: Any) -> list[tuple[str, Model, Any]]:
    """The event items of one change, each with its card (one event per card and change)."""
    by_no = {card.card_no: card for card in cards}
    return [
        (
            "event",
            event_item(event, by_no[event.card_no]),
            CardEventModel.person_id.does_not_exist(),
        )
        for event in events
    ]


def event_of(item: CardEventModel) -> CardEvent:
    return CardEvent(
        card_no=item.card_no,
        at=item.at,
        action=Action(item.action),
        from_state=CardState(item.from_state),
        to_state=CardState(item.to_state),
        channel=Channel(item.channel),
        institution_id=item.institution_id,
        detail=item.detail,
        version=int(item.event_key.rsplit("#v", 1)[1]),
    )


def card_after(item: CardEventModel) -> Card:
    """The card as this event left it."""
    return Card(
        card_no=item.card_no,
        person_id=item.person_id,
        kind=CardKind(item.kind),
        state=CardState(item.to_state),
        issued_at=item.issued_at,
        issuing_bank=item.issuing_bank,
        financial_active=bool(item.financial_active),
        activated_at=item.activated_at,
        suspended_from=CardState(item.suspended_from) if item.suspended_from else None,
        version=int(item.event_key.rsplit("#v", 1)[1]),
    )


def holder_of(item: HolderModel) -> Holder:
    return Holder(
        person_id=item.person_id,
        name=item.name,
        ssn_digest=item.ssn_digest,
        ssn_masked=item.ssn_masked,
        birth_date=date.fromisoformat(item.birth_date),
        sex=item.sex,
        participation=Participation(item.participation),
        enrolled_at=item.enrolled_at,
    )


def account_item(account: Account) -> AccountModel:
    return AccountModel(
        account.person_id,
        balance_fen=account.balance_fen,
        state=account.state.value,
        card_no=account.card_no,
        pending_card_no=account.pending_card_no,
        version=account.version,
    )


def account_of(item: AccountModel) -> Account:
    return Account(
        person_id=item.person_id,
        balance_fen=int(item.balance_fen),
        state=AccountState(item.state),
        card_no=item.card_no,
        pending_card_no=item.pending_card_no,
        version=int(item.version),
    )


def receipt_item(receipt: WebhookReceipt) -> WebhookReceiptModel:
    return WebhookReceiptModel(
        f"{receipt.bank_code}#{receipt.webhook_id}",
        bank_code=receipt.bank_code,
        webhook_id=receipt.webhook_id,
        outcome=receipt.outcome,
        card_no=receipt.card_no,
        reason=receipt.reason,
        received_at=receipt.received_at,
        expires_at=receipt.received_at + RECEIPT_RETENTION,
    )


def registration_item(registration: Registration) -> RegistrationModel:
    return RegistrationModel(
        registration.registration_id,
        card_no=registration.card_no,
        person_id=registration.person_id,
        institution_id=registration.institution_id,
        visit=registration.visit,
        at=registration.at,
        card_activated=registration.card_activated,
    )


class TransactionItems:
    """Collects a TransactWriteItems request and the label of each item, in request order.

    PynamoDB sends condition checks first, then puts, then updates; the labels
    follow the same order so a cancellation reason can be traced to its item.
    """

    def __init__(self) -> None:
        self.checks: list[tuple[str, type[Model], Any, Any]] = []
        self.puts: list[tuple[str, Model, Any]] = []
        self.updates: list[tuple[str, Model, list[Any], Any]] = []

    def labels(self) -> list[str]:
        return [c[0] for c in self.checks] + [p[0] for p in self.puts] + [u[0] for u in self.updates]

    def commit(self, connection: Connection, token: str | None = None) -> None:
        with (
            translated(self.labels()),
            TransactWrite(connection=connection, client_request_token=token) as tx,
        ):
            for _, model_cls, key, condition in self.checks:
                tx.condition_check(model_cls, key, condition=condition)
            for _, item, condition in self.puts:
                tx.save(item, condition=condition)
            for _, item, actions, condition in self.updates:
                tx.update(item, actions=actions, condition=condition)


class PersonCache:
    """Card number -> person id, an LRU: the binding never changes, so it is never stale."""

    def __init__(self, size: int = PERSON_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._persons: OrderedDict[str, str] = OrderedDict()

    def get(self, card_no: str) -> str | None:
        with self._lock:
            person = self._persons.get(card_no)
            if person is not None:
                self._persons.move_to_end(card_no)
            return person

    def put(self, card_no: str, person_id: str) -> None:
        with self._lock:
            self._persons[card_no] = person_id
            self._persons.move_to_end(card_no)
            while len(self._persons) > self._size:
                self._persons.popitem(last=False)


def record_of(item: IdempotencyModel) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope_key=item.scope_key,
        fingerprint=item.fingerprint,
        in_flight=bool(item.in_flight),
        expires_at=int(item.expires_at.timestamp()),
        locked_until=int(item.locked_until or 0),
        status=int(item.status) if item.status is not None else None,
        body=item.body,
    )


def key_is_free(now: int) -> Any:
    """The idempotency record may be written: none, expired (TTL deletes late), or abandoned."""
    return (
        IdempotencyModel.scope_key.does_not_exist()
        | (IdempotencyModel.expires_at < _at(now))
        | ((IdempotencyModel.in_flight == True) & (IdempotencyModel.locked_until < now))  # noqa: E712
    )


def key_record_put(record: IdempotencyRecord, now: int) -> tuple[str, Model, Any]:
    return (IDEMPOTENCY_LABEL, _idempotency_item(record), key_is_free(now))


def resolved(future: Any) -> Any:
    try:
        return future.get()
    except DoesNotExist:  # TransactGetItems found no such item
        return None


def receipt_of(item: WebhookReceiptModel) -> WebhookReceipt:
    return WebhookReceipt(
        item.bank_code, item.webhook_id, item.outcome, item.card_no, item.reason, item.received_at
    )


class DynamoCardStore:
    def __init__(
        self, person_cache_size: int = PERSON_CACHE_SIZE, registrations: RegistrationCache | None = None
    ) -> None:
        self._connection: Connection | None = None
        self._persons = PersonCache(person_cache_size)
        self._registrations = registrations  # a stay registered here is discharged in one read

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=_region())
        return self._connection

    # --- reads ---
    def read_card(
        self, card_no: str, scope_key: str | None = None, receipt: tuple[str, str] | None = None
    ) -> CardRead:
        person_id = self._persons.get(card_no)
        with translated(), TransactGet(connection=self.connection) as tx:
            card_f = tx.get(CardModel, card_no)
            key_f = tx.get(IdempotencyModel, scope_key) if scope_key else None
            receipt_f = tx.get(WebhookReceiptModel, "#".join(receipt)) if receipt else None
            holder_f = tx.get(HolderModel, person_id) if person_id else None
            account_f = tx.get(AccountModel, person_id) if person_id else None
        card_found = resolved(card_f)
        card = card_of(card_found) if card_found else None
        if card is not None:
            self._persons.put(card_no, card.person_id)
        key_found = resolved(key_f) if key_f else None
        receipt_found = resolved(receipt_f) if receipt_f else None
        holder = None
        if holder_f is not None and account_f is not None:
            holder = _holder_read(resolved(holder_f), resolved(account_f))
        return CardRead(
            card,
            record_of(key_found) if key_found else None,
            receipt_of(receipt_found) if receipt_found else None,
            holder,
        )

    def read_holder(self, person_id: str) -> HolderRead:
        with translated(), TransactGet(connection=self.connection) as tx:
            holder_f = tx.get(HolderModel, person_id)
            account_f = tx.get(AccountModel, person_id)
        return _holder_read(resolved(holder_f), resolved(account_f))

    def holder_cards(self, person_id: str) -> HolderCards:
        account = self.get_account(person_id)
        cards: dict[str, Card] = {}
        events: dict[str, list[CardEvent]] = {}
        with translated():
            for item in CardEventModel.query(person_id, consistent_read=True):  # oldest first per card
                cards[item.card_no] = card_after(item)
                events.setdefault(item.card_no, []).append(event_of(item))
        return HolderCards(account, cards, events)

    def get_card(self, card_no: str) -> Card | None:
        item = _get(CardModel, card_no)
        return card_of(item) if item else None

    def get_account(self, person_id: str) -> Account | None:
        item = _get(AccountModel, person_id)
        return account_of(item) if item else None

    def get_holder(self, person_id: str) -> Holder | None:
        item = _get(HolderModel, person_id)
        return holder_of(item) if item else None

    def person_by_ssn(self, ssn_digest: str) -> str | None:
        item = _get(SsnIndexModel, ssn_digest)
        return item.person_id if item else None

    def get_institution(self, institution_id: str) -> Institution | None:
        item = _get(InstitutionModel, institution_id)
        if item is None:
            return None
        return Institution(
            institution_id=item.institution_id,
            kind=InstitutionKind(item.kind),
            name=item.name,
            designated=bool(item.designated),
        )

    def get_bank(self, bank_code: str) -> Bank | None:
        item = _get(BankModel, bank_code)
        return Bank(item.bank_code, item.name) if item else None

    def get_credential(self, token_digest: str) -> Credential | None:
        item = _get(CredentialModel, token_digest)
        if item is None or item.revoked_at is not None:  # revoked: storage/institutions.py
            return None
        return Credential(item.token_digest, item.institution_id, InstitutionKind(item.kind), item.created_at)

    def get_receipt(self, bank_code: str, webhook_id: str) -> WebhookReceipt | None:
        item = _get(WebhookReceiptModel, f"{bank_code}#{webhook_id}")
        return receipt_of(item) if item else None

    def card_events(self, card_no: str) -> list[CardEvent]:
        card = self.get_card(card_no)
        if card is None:
            return []
        with translated():
            found = CardEventModel.query(
                card.person_id,
                CardEventModel.event_key.startswith(f"{card_no}#v"),
                consistent_read=True,
            )
            return [event_of(i) for i in found]

    # --- the atomic write of every card use case ---
    def commit(self, change: CardChange) -> None:
        items = TransactionItems()
        for card in change.unchanged_cards:
            items.checks.append(
                (f"card:{card.card_no}", CardModel, card.card_no, CardModel.version == card.version)
            )
        for card in change.cards:
            items.puts.append(
                (f"card:{card.card_no}", card_item(card), _version_is(CardModel, card.version - 1))
            )
        items.puts.extend(event_puts(change.cards, change.events))
        if change.account is not None:
            acct = change.account
            items.puts.append(
                (
                    f"account:{acct.person_id}",
                    account_item(acct),
                    _version_is(AccountModel, acct.version - 1),
                )
            )
        if change.receipt is not None:
            items.puts.append(
                (
                    "receipt",
                    receipt_item(change.receipt),
                    WebhookReceiptModel.receipt_key.does_not_exist(),
                )
            )
        if change.registration is not None:
            items.puts.append(
                (
                    "registration",
                    registration_item(change.registration),
                    RegistrationModel.registration_id.does_not_exist(),
                )
            )
        if change.key_record is not None:
            items.puts.append(key_record_put(change.key_record, change.now))
        if items.labels():
            items.commit(self.connection)
        if change.registration is not None and self._registrations is not None:
            r = change.registration
            self._registrations.put(r.registration_id, r.card_no, r.person_id)

    # --- operator writes ---
    def add_institution(self, institution: Institution) -> None:
        item = InstitutionModel(
            institution.institution_id,
            kind=institution.kind.value,
            name=institution.name,
            designated=institution.designated,
        )
        _create(item, InstitutionModel.institution_id.does_not_exist())

    def add_bank(self, bank: Bank) -> None:
        _create(BankModel(bank.bank_code, name=bank.name), BankModel.bank_code.does_not_exist())

    def add_credential(self, credential: Credential) -> None:
        item = CredentialModel(
            credential.token_digest,
            institution_id=credential.institution_id,
            kind=credential.kind.value,
            created_at=credential.created_at,
        )
        _create(item, CredentialModel.token_digest.does_not_exist())

    def enroll(self, holder: Holder, account: Account) -> None:
        items = TransactionItems()
        items.puts.append(
            (
                "ssn",
                SsnIndexModel(holder.ssn_digest, person_id=holder.person_id),
                SsnIndexModel.ssn_digest.does_not_exist(),
            )
        )
        items.puts.append(
            (
                "holder",
                HolderModel(
                    holder.person_id,
                    name=holder.name,
                    ssn_digest=holder.ssn_digest,
                    ssn_masked=holder.ssn_masked,
                    birth_date=holder.birth_date.isoformat(),
                    sex=holder.sex,
                    participation=holder.participation.value,
                    enrolled_at=holder.enrolled_at,
                ),
                HolderModel.person_id.does_not_exist(),
            )
        )
        items.puts.append(("account", account_item(account), AccountModel.person_id.does_not_exist()))
        if account.balance_fen:
            # A balance carried over from the old system is a posting of its own, so the ledger
            # accounts for the accounts' money from the first record.
            items.puts.append(
                (
                    "opening",
                    OpeningBalanceModel(
                        holder.person_id,
                        amount_fen=account.balance_fen,
                        at=holder.enrolled_at,
                        source="carried over at enrolment",
                    ),
                    OpeningBalanceModel.person_id.does_not_exist(),
                )
            )
        _create_all(items, "The holder is enrolled already")

    def issue(self, card: Card, account: Account, event: CardEvent) -> None:
        items = TransactionItems()
        items.puts.append(("card", card_item(card), CardModel.card_no.does_not_exist()))
        items.puts.extend(event_puts((card,), (event,)))
        items.puts.append(("account", account_item(account), _version_is(AccountModel, account.version - 1)))
        _create_all(items, "The card exists already, or the account changed meanwhile")


def _version_is(model: type[CardModel] | type[AccountModel], version: int) -> Any:
    # Version 0 is an item written before versions existed or never written.
    return model.version == version


def _create(item: Model, condition: Any) -> None:
    try:
        with translated():
            item.save(condition=condition)
    except ConcurrentUpdate as exc:
        raise AlreadyExists("It exists already") from exc


def _create_all(items: TransactionItems, message: str) -> None:
    try:
        items.commit(Connection(region=_region()))
    except ConcurrentUpdate as exc:
        raise AlreadyExists(message) from exc


def _holder_read(holder: HolderModel | None, account: AccountModel | None) -> HolderRead:
    return HolderRead(holder_of(holder) if holder else None, account_of(account) if account else None)


class DynamoIdempotencyStore:
    def get(self, scope_key: str) -> IdempotencyRecord | None:
        item = _get(IdempotencyModel, scope_key)
        return record_of(item) if item else None

    def reserve(self, record: IdempotencyRecord, now: int) -> bool:
        try:
            with translated():
                _idempotency_item(record).save(condition=key_is_free(now))
        except ConcurrentUpdate:
            return False
        return True


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _idempotency_item(record: IdempotencyRecord) -> IdempotencyModel:
    return IdempotencyModel(
        record.scope_key,
        fingerprint=record.fingerprint,
        in_flight=record.in_flight,
        expires_at=_at(record.expires_at),
        locked_until=record.locked_until,
        status=record.status,
        body=record.body,
    )

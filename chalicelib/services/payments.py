"""Card swipes at designated pharmacies and hospitals: pay, look up, cancel, reconcile,
and the holder's own account and payments.

A payment is one read and one write:

1. one consistent read of the card, its holder's account and whatever is stored
   under the request's Idempotency-Key (storage does it in one TransactGetItems);
2. the rules decide (card usable, account not held, amount split);
3. one TransactWriteItems: the account debit with its conditions, the card's
   state check (or, on a pharmacy's first use, its activation), the payment
   record, and the idempotency record completed with the answer itself.

So a crash leaves either nothing or everything, and a terminal's retry after a
crash finds the stored answer and gets it again. Idempotency follows the IETF
idempotency-key draft without a separate "in flight" write (which would be a
third round trip): two requests with one key race to the same conditional put;
the loser finds the winner's answer and replays it, and if it catches the
winner inside DynamoDB's transaction (a transaction conflict on the key's item)
it answers 409. Refusals decided by the rules (card suspended, balance too low
with self-pay refused...) are stored under the key as well, so a retry gets the
same answer; requests that fail validation or before a decision are not stored.

Lost races and throttling are retried with jittered backoff (backoff.py), then
answered as StorageBusy (503 with Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from chalicelib.domain.cards import Card, CardState, Channel
from chalicelib.domain.errors import (
    CardNotActivated,
    CardNotFound,
    CardUnusable,
    ConcurrentUpdate,
    DomainError,
    DuplicateDelivery,
    HolderNotFound,
    InvalidInput,
    NotDesignated,
    StorageBusy,
)
from chalicelib.domain.holders import Account, Institution, InstitutionKind
from chalicelib.domain.payments import (
    DEFAULT_POLICY,
    DayFigures,
    InvalidCursor,
    Payment,
    PaymentNotFound,
    PaymentPolicy,
    Reconciliation,
    SelfPay,
    reconcile,
    split,
)

from .activation import plan_activation
from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .idempotency import (
    RETENTION_SECONDS,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    StoredResponse,
)
from .payment_ports import IDEMPOTENCY_LABEL, PaymentRead, PaymentStore, PaymentWrite
from .ports import CardChange, CardStore, IdempotencyRecord, IdempotencyStore

PAYING_KINDS = (InstitutionKind.PHARMACY, InstitutionKind.HOSPITAL)
# Errors that say "try again", not "no": never stored under an idempotency key.
TRANSIENT = (ConcurrentUpdate, StorageBusy, DuplicateDelivery)
DEFAULT_PAGE = 20
MAX_PAGE = 100


@dataclass(frozen=True)
class PaymentRequest:
    card_no: str
    amount_fen: int
    self_pay: SelfPay = SelfPay.ALLOWED
    previous_card_no: str | None = None  # a pharmacy's first use: the original medical insurance card


@dataclass(frozen=True)
class KeyedRequest:
    """The request's Idempotency-Key, scoped to the caller, and the request's fingerprint."""

    scope_key: str
    fingerprint: str


class Renderer(Protocol):
    """The API's answers, so the answer itself can be written inside the payment's transaction."""

    def paid(self, payment: Payment) -> StoredResponse: ...
    def refused(self, error: DomainError) -> StoredResponse: ...


@dataclass(frozen=True)
class Answer:
    response: StoredResponse
    replayed: bool  # the first answer under this key, given again
    payment: Payment | None = None  # the payment this request made, if it made one


def pay(
    cards: CardStore,
    payments: PaymentStore,
    keys: IdempotencyStore,
    institution: Institution,
    request: PaymentRequest,
    key: KeyedRequest,
    at: datetime,
    render: Renderer,
    *,
    new_id: Callable[[], str],
    policy: PaymentPolicy = DEFAULT_POLICY,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Answer:
    if institution.kind not in PAYING_KINDS or not institution.designated:
        raise NotDesignated("Only a designated medical-insurance pharmacy or hospital takes card payments")
    policy.check_amount(request.amount_fen)
    now = int(at.timestamp())

    def attempt() -> Answer:
        read = payments.read_for_payment(request.card_no, key.scope_key)
        stored = _stored_answer(read.key_record, key, now)
        if stored is not None:
            return Answer(stored, replayed=True)
        try:
            payment, account, guard, activation = _decide(cards, read, institution, request, at, new_id())
        except TRANSIENT:
            raise
        except DomainError as refusal:
            return _remember(keys, key, now, render.refused(refusal))
        response = render.paid(payment)
        write = PaymentWrite(payment, account, _completed(key, now, response), now, guard, activation)
        try:
            payments.commit_payment(write)
        except DuplicateDelivery as duplicate:
            if duplicate.extra.get("label") != IDEMPOTENCY_LABEL:
                # A payment id taken (never with random ids): the next attempt draws another.
                raise ConcurrentUpdate("The payment id is taken") from duplicate
            return _replay_after_race(keys, key, now)
        except ConcurrentUpdate as conflict:
            if conflict.extra.get("label") == IDEMPOTENCY_LABEL:
                raise IdempotencyKeyInUse("A request with this key is being written right now") from conflict
            raise
        return Answer(response, replayed=False, payment=payment)

    return with_backoff(attempt, backoff)


def _decide(
    cards: CardStore,
    read: PaymentRead,
    institution: Institution,
    request: PaymentRequest,
    at: datetime,
    payment_id: str,
) -> tuple[Payment, Account, Card | None, CardChange | None]:
    card = read.card
    if card is None:
        raise CardNotFound("No such card")
    guard: Card | None = card
    activation: CardChange | None = None
    if card.state is CardState.ISSUED and _first_use_at_pharmacy(institution, request):
        # The original card's account carries over to the new card and pays, in the same write.
        plan = plan_activation(
            cards, card, Channel.PHARMACY, at, institution.institution_id, request.previous_card_no
        )
        if plan.change.account is None:  # pragma: no cover - an activation always moves the account
            raise CardNotActivated("The card could not be activated")
        moved = plan.change.account  # its version is already the read one + 1
        activation, guard = replace(plan.change, account=None), None
        base, next_version = moved, moved.version
    else:
        if card.state is CardState.ISSUED and request.previous_card_no:
            raise CardNotActivated(
                "The card must be activated first: at a pharmacy, with the original card "
                "(previous_card_no), or by registering at a hospital"
            )
        card.ensure_usable()
        account = read.account
        if account is None:
            raise HolderNotFound("The card's holder has no personal account")
        account.ensure_can_pay()
        if account.card_no != card.card_no:
            raise CardUnusable("The holder's account is on another card")
        base, next_version = account, account.version + 1
    share = split(request.amount_fen, base.balance_fen, request.self_pay)
    after = replace(base, balance_fen=base.balance_fen - share.account_paid_fen, version=next_version)
    payment = Payment(
        payment_id=payment_id,
        institution_id=institution.institution_id,
        institution_name=institution.name,
        card_no=card.card_no,
        person_id=card.person_id,
        amount_fen=request.amount_fen,
        account_paid_fen=share.account_paid_fen,
        self_pay_fen=share.self_pay_fen,
        self_pay=request.self_pay,
        paid_at=at,
        balance_after_fen=after.balance_fen,
        card_activated=activation is not None,
    )
    return payment, after, guard, activation


def _first_use_at_pharmacy(institution: Institution, request: PaymentRequest) -> bool:
    return institution.kind is InstitutionKind.PHARMACY and bool(request.previous_card_no)


def _completed(key: KeyedRequest, now: int, response: StoredResponse) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope_key=key.scope_key,
        fingerprint=key.fingerprint,
        in_flight=False,
        expires_at=now + RETENTION_SECONDS,
        locked_until=0,
        status=response.status,
        body=response.body,
    )


def _stored_answer(record: IdempotencyRecord | None, key: KeyedRequest, now: int) -> StoredResponse | None:
    """None: the key is free. Else the first answer, or 422/409 as the draft says."""
    if record is None or record.expires_at < now:
        return None  # DynamoDB's TTL deletes expired records late; they count as gone
    if record.in_flight and record.locked_until < now:
        return None  # abandoned by a request that died (another endpoint's reservation)
    if record.fingerprint != key.fingerprint:
        raise IdempotencyKeyReused("The Idempotency-Key was first used with another request")
    if record.in_flight or record.status is None or record.body is None:
        raise IdempotencyKeyInUse("The first request with this key has not finished")
    return StoredResponse(record.status, record.body)


def _remember(keys: IdempotencyStore, key: KeyedRequest, now: int, response: StoredResponse) -> Answer:
    """Store a refusal under the key (unless another request took the key first)."""
    if keys.reserve(_completed(key, now, response), now):
        return Answer(response, replayed=False)
    return _replay_after_race(keys, key, now)


def _replay_after_race(keys: IdempotencyStore, key: KeyedRequest, now: int) -> Answer:
    stored = _stored_answer(keys.get(key.scope_key), key, now)
    if stored is None:
        raise ConcurrentUpdate("The key's record expired meanwhile")  # the next attempt decides afresh
    return Answer(stored, replayed=True)


# --- the institution's payments ------------------------------------------------------


def get(payments: PaymentStore, institution: Institution, payment_id: str) -> Payment:
    """Only the institution that took a payment sees it; to any other it does not exist."""
    payment = payments.get_payment(payment_id)
    if payment is None or payment.institution_id != institution.institution_id:
        raise PaymentNotFound("No such payment of yours")
    return payment


def cancel(
    payments: PaymentStore,
    institution: Institution,
    payment_id: str,
    at: datetime,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Payment:
    """Reverse a payment once: its state and the account's credit change in one transaction."""

    def attempt() -> Payment:
        cancelled = get(payments, institution, payment_id).cancel(at)
        payments.cancel_payment(cancelled)
        return cancelled

    return with_backoff(attempt, backoff)


def reconcile_day(
    payments: PaymentStore,
    institution: Institution,
    day: date,
    theirs: DayFigures,
    their_payments: Sequence[tuple[str, int]] | None = None,
) -> Reconciliation:
    return reconcile(day, payments.payments_of_day(institution.institution_id, day), theirs, their_payments)


# --- the holder's own view -------------------------------------------------------------


def my_account(cards: CardStore, person_id: str) -> Account:
    account = cards.get_account(person_id)
    if account is None:
        raise HolderNotFound("You have no personal account")
    return account


_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[A-Za-z0-9_-]{1,64}$")


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("Pass back the next_cursor of the previous page unchanged") from exc
    if not _SORT_KEY.match(raw):
        raise InvalidCursor("Pass back the next_cursor of the previous page unchanged")
    return raw


def my_payments(
    payments: PaymentStore, person_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None
) -> tuple[list[Payment], str | None]:
    """Newest first. The cursor is the last payment's time and id, so payments made while the
    holder pages land before page one and never shift the pages that follow."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is from 1 to {MAX_PAGE}")
    before = decode_cursor(cursor) if cursor else None
    page, last = payments.payments_of_holder(person_id, limit, before)
    return page, encode_cursor(last) if last else None

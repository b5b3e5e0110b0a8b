"""PaymentStore on DynamoDB: one read round trip and one TransactWriteItems per payment.

The read is one TransactGetItems of the card, its holder's account and the
request's idempotency record (and, for a pharmacy's first use, the original
card): a consistent snapshot in one round trip. It needs the account's key
(the holder's person id) before it has read the card, so the card -> person
binding is cached in process (dynamo.PersonCache: fixed at issue, never
stale). A card not in the cache costs one extra GetItem of the account the
first time this process sees it.

A cancellation is one TransactGetItems of the payment and the key's record,
then one TransactWriteItems: the payment's state, the account's credit and
the key's record completed with the answer.

TransactGetItems bills 2 RCU per item (6 a payment) where a consistent BatchGetItem
would bill 1 (3): the price of a snapshot of the three items in one call through
PynamoDB's typed API. Correctness does not rest on the snapshot (the write's
conditions carry it), so BatchGetItem is the cheaper choice if read cost matters.

The write is one TransactWriteItems (labels in request order, see dynamo.py):
  check   card:<no>       state = active          (not on a first use: the card is written)
  put     payment         payment_id does not exist
  put     idempotency     free: absent, expired, or abandoned in flight
  put     card:<no>, event ...                      (a pharmacy's first use only)
  update  account:<id>    ADD balance_fen -paid, SET version; if version = read
                          and balance_fen >= paid (and state = normal and card_no = card)
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactGet

from chalicelib.domain.cards import CardState
from chalicelib.domain.holders import AccountState
from chalicelib.domain.payments import Payment, PaymentState, SelfPay
from chalicelib.services.payment_ports import CancelRead, CancelWrite, PaymentRead, PaymentWrite

from .dynamo import (
    PERSON_CACHE_SIZE,
    PersonCache,
    TransactionItems,
    _get,
    account_of,
    card_item,
    card_of,
    event_puts,
    key_record_put,
    record_of,
    resolved,
)
from .errors import translated
from .models import (
    AccountModel,
    CardModel,
    IdempotencyModel,
    PaymentModel,
    _region,
)


def payment_item(payment: Payment) -> PaymentModel:
    return PaymentModel(
        payment.payment_id,
        institution_id=payment.institution_id,
        institution_name=payment.institution_name,
        institution_day=day_key(payment.institution_id, payment.day),
        card_no=payment.card_no,
        person_id=payment.person_id,
        sort_key=payment.sort_key,
        amount_fen=payment.amount_fen,
        account_paid_fen=payment.account_paid_fen,
        self_pay_fen=payment.self_pay_fen,
        self_pay=payment.self_pay.value,
        state=payment.state.value,
        paid_at=payment.paid_at,
        balance_after_fen=payment.balance_after_fen,
        card_activated=payment.card_activated,
        cancelled_at=payment.cancelled_at,
    )


def payment_of(item: PaymentModel) -> Payment:
    return Payment(
        payment_id=item.payment_id,
        institution_id=item.institution_id,
        institution_name=item.institution_name,
        card_no=item.card_no,
        person_id=item.person_id,
        amount_fen=int(item.amount_fen),
        account_paid_fen=int(item.account_paid_fen),
        self_pay_fen=int(item.self_pay_fen),
        self_pay=SelfPay(item.self_pay),
        paid_at=item.paid_at,
        balance_after_fen=int(item.balance_after_fen),
        card_activated=bool(item.card_activated),
        state=PaymentState(item.state),
        cancelled_at=item.cancelled_at,
    )


def day_key(institution_id: str, day: date) -> str:
    return f"{institution_id}#{day.isoformat()}"


class DynamoPaymentStore:
    def __init__(self, person_cache_size: int = PERSON_CACHE_SIZE) -> None:
        self._connection: Connection | None = None
        self._persons = PersonCache(person_cache_size)

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=_region())
        return self._connection

    # --- a payment: one read, one write ---
    def read_for_payment(
        self, card_no: str, scope_key: str, previous_card_no: str | None = None
    ) -> PaymentRead:
        person_id = self._persons.get(card_no)
        with translated(), TransactGet(connection=self.connection) as tx:
            card_future = tx.get(CardModel, card_no)
            key_future = tx.get(IdempotencyModel, scope_key)
            account_future = tx.get(AccountModel, person_id) if person_id else None
            previous_future = (
                tx.get(CardModel, previous_card_no)
                if previous_card_no and previous_card_no != card_no
                else None
            )
        card_item_ = resolved(card_future)
        key_item = resolved(key_future)
        card = card_of(card_item_) if card_item_ else None
        account = None
        if account_future is not None:
            found = resolved(account_future)
            account = account_of(found) if found else None
        elif card is not None:
            self._persons.put(card_no, card.person_id)
            found = _get(AccountModel, card.person_id)
            account = account_of(found) if found else None
        previous_item = resolved(previous_future) if previous_future is not None else None
        return PaymentRead(
            card,
            account,
            record_of(key_item) if key_item else None,
            card_of(previous_item) if previous_item else None,
        )

    def commit_payment(self, write: PaymentWrite) -> None:
        payment, account = write.payment, write.account
        items = TransactionItems()
        if write.card_guard is not None:
            items.checks.append(
                (
                    f"card:{payment.card_no}",
                    CardModel,
                    payment.card_no,
                    CardModel.state == CardState.ACTIVE.value,
                )
            )
        items.puts.append(("payment", payment_item(payment), PaymentModel.payment_id.does_not_exist()))
        items.puts.append(key_record_put(write.key_record, write.now))
        actions: list[Any] = [
            AccountModel.balance_fen.add(-payment.account_paid_fen),
            AccountModel.version.set(account.version),
        ]
        condition = (AccountModel.version == account.version - 1) & (
            AccountModel.balance_fen >= payment.account_paid_fen
        )
        if write.activation is None:
            condition &= (AccountModel.state == AccountState.NORMAL.value) & (
                AccountModel.card_no == payment.card_no
            )
        else:
            change = write.activation
            for card in change.unchanged_cards:
                items.checks.append(
                    (f"card:{card.card_no}", CardModel, card.card_no, CardModel.version == card.version)
                )
            for card in change.cards:
                items.puts.append(
                    (f"card:{card.card_no}", card_item(card), CardModel.version == card.version - 1)
                )
            items.puts.extend(event_puts(change.cards, change.events))
            # The activation's account move, merged into the debit: one operation per item.
            actions.append(AccountModel.state.set(account.state.value))
            actions.append(
                AccountModel.card_no.set(account.card_no)
                if account.card_no
                else AccountModel.card_no.remove()
            )
            actions.append(
                AccountModel.pending_card_no.set(account.pending_card_no)
                if account.pending_card_no
                else AccountModel.pending_card_no.remove()
            )
        items.updates.append(
            (f"account:{account.person_id}", AccountModel(account.person_id), actions, condition)
        )
        # A fresh token per attempt: botocore's own retry of this very request is then a no-op
        # if the first one committed, while our retries (new reads, new values) are new requests.
        items.commit(self.connection, token=uuid.uuid4().hex)

    # --- the institution's payments ---
    def get_payment(self, payment_id: str) -> Payment | None:
        item = _get(PaymentModel, payment_id)
        return payment_of(item) if item else None

    def read_for_cancel(self, payment_id: str, scope_key: str | None) -> CancelRead:
        if scope_key is None:
            return CancelRead(self.get_payment(payment_id), None)
        with translated(), TransactGet(connection=self.connection) as tx:
            payment_f = tx.get(PaymentModel, payment_id)
            key_f = tx.get(IdempotencyModel, scope_key)
        payment_found, key_found = resolved(payment_f), resolved(key_f)
        return CancelRead(
            payment_of(payment_found) if payment_found else None,
            record_of(key_found) if key_found else None,
        )

    def cancel_payment(self, write: CancelWrite) -> None:
        cancelled = write.cancelled
        items = TransactionItems()
        if write.key_record is not None:
            items.puts.append(key_record_put(write.key_record, write.now))
        items.updates.append(
            (
                "cancel:payment",  # not "payment...": a failed condition here is a race, not a duplicate
                PaymentModel(cancelled.payment_id),
                [
                    PaymentModel.state.set(PaymentState.CANCELLED.value),
                    PaymentModel.cancelled_at.set(cancelled.cancelled_at or datetime.now(UTC)),
                ],
                PaymentModel.state == PaymentState.COMPLETED.value,
            )
        )
        items.updates.append(
            (
                f"account:{cancelled.person_id}",
                AccountModel(cancelled.person_id),
                [
                    AccountModel.balance_fen.add(cancelled.account_paid_fen),
                    # Bumped so a card use case that read the account before this credit
                    # (and writes the whole item back) fails its version condition.
                    AccountModel.version.add(1),
                ],
                AccountModel.person_id.exists(),
            )
        )
        items.commit(self.connection, token=uuid.uuid4().hex)

    def payments_of_holder(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[Payment], str | None]:
        condition = PaymentModel.sort_key < before if before else None
        with translated():
            found = list(
                PaymentModel.by_holder.query(
                    person_id, range_key_condition=condition, scan_index_forward=False, limit=limit + 1
                )
            )
        page = [payment_of(item) for item in found[:limit]]
        return page, (page[-1].sort_key if len(found) > limit else None)

    def payments_of_day(self, institution_id: str, day: date) -> list[Payment]:
        with translated():
            return [
                payment_of(item)
                for item in PaymentModel.by_institution_day.query(day_key(institution_id, day))
            ]

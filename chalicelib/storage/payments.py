"""PaymentStore on DynamoDB: one read round trip and one TransactWriteItems per payment.

The read is one TransactGetItems of the card, its holder's account and the
request's idempotency record (and, for a pharmacy's first use, the original
card): a consistent snapshot in one round trip. It needs the account's key
(the holder's person id) before it has read the card, so the card -> person
binding is cached in process (dynamo.PersonCache: fixed at issue, never
stale). A card not in the cache costs one extra GetItem of the account the
first time this process sees it.

The payments table is append-only: a payment item is written once and never
changed. Its cancellation is an item of its own (PaymentCancellationModel),
put on condition that none exists, so a payment is cancelled at most once; a
payment's state is whether its cancellation exists. So every read of a payment
reads its cancellation too:
- a cancellation: one TransactGetItems of the payment, its cancellation and the
  key's record, then one TransactWriteItems: the cancellation put, the
  account's credit, the counters' and the fund book's give-back, the day's
  negative entry, the stay reopened (a discharge) and the key's record
  completed with the answer;
- GET /v1/payments/{id}: one TransactGetItems of the payment and its cancellation;
- a holder's page of payments: one Query of the holder index, then one
  BatchGetItem of that page's cancellations (none for an empty page).

A discharge reads the stay with the holder's items: the registration -> (card,
holder) binding is fixed when the registration is made, so it is cached in
process (stays.RegistrationCache) and a warm discharge is one TransactGetItems
(stay, card, account, year counters, paid months, key record) and one
TransactWriteItems; a cold one reads the stay (with its key record) first.

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

import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactGet

from chalicelib.domain.cards import CardState
from chalicelib.domain.contributions import FundBook, InsuranceType
from chalicelib.domain.coverage import PaidMonth
from chalicelib.domain.holders import AccountState
from chalicelib.domain.ledger import DayEntry
from chalicelib.domain.payments import Payment, PaymentState
from chalicelib.domain.periods import Period
from chalicelib.domain.settlement import Note, NoteCode, SelfPay, Visit, YearCounters
from chalicelib.services.payment_ports import (
    CancelRead,
    CancelWrite,
    DischargeRead,
    PaymentRead,
    PaymentWrite,
)
from chalicelib.services.stay_ports import StayReopening

from .contributions import shard_key, shard_of
from .dynamo import (
    PERSON_CACHE_SIZE,
    PersonCache,
    TransactionItems,
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
    DayEntryModel,
    FundBookShardModel,
    IdempotencyModel,
    PaidMonthsModel,
    PaymentCancellationModel,
    PaymentModel,
    RegistrationModel,
    YearCountersModel,
    _region,
)
from .stays import RegistrationCache, close_item, reopen_item, stay_of

# The label of the cancellation's put: not "payment..." (errors.DUPLICATE_LABELS), because a
# cancellation that exists already is a lost race (ConcurrentUpdate): the retry reads it and
# answers payment-already-cancelled.
CANCELLATION_LABEL = "cancellation"


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
        # As it was made: its cancellation is an item of its own (cancellation_item).
        state=PaymentState.COMPLETED.value,
        paid_at=payment.paid_at,
        balance_after_fen=payment.balance_after_fen,
        card_activated=payment.card_activated,
        visit=payment.visit.value,
        in_scope_fen=payment.in_scope_fen,
        fund_paid_fen=payment.fund_paid_fen,
        serious_illness_paid_fen=payment.serious_illness_paid_fen,
        deductible_fen=payment.deductible_fen,
        notes=json.dumps([[n.code.value, n.detail] for n in payment.notes]),
        counters_year=payment.counters_year,
        counters_delta=json.dumps(payment.counters_delta.as_dict()),
        registration_id=payment.registration_id,
    )


def cancellation_item(cancelled: Payment) -> PaymentCancellationModel:
    if cancelled.cancelled_at is None:
        raise ValueError("the payment is not cancelled")
    return PaymentCancellationModel(
        cancelled.payment_id,
        institution_id=cancelled.institution_id,
        person_id=cancelled.person_id,
        cancelled_at=cancelled.cancelled_at,
    )


def payment_of(item: PaymentModel, cancellation: PaymentCancellationModel | None) -> Payment:
    """The payment as it stands: cancelled exactly when its cancellation exists. (An item
    cancelled in place before cancellations were items of their own carries its state.)"""
    state, cancelled_at = PaymentState(item.state), item.cancelled_at
    if cancellation is not None:
        state, cancelled_at = PaymentState.CANCELLED, cancellation.cancelled_at
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
        state=state,
        cancelled_at=cancelled_at,
        visit=Visit(item.visit),
        in_scope_fen=None if item.in_scope_fen is None else int(item.in_scope_fen),
        fund_paid_fen=int(item.fund_paid_fen),
        serious_illness_paid_fen=int(item.serious_illness_paid_fen),
        deductible_fen=int(item.deductible_fen),
        notes=tuple(Note(NoteCode(code), detail) for code, detail in json.loads(item.notes or "[]")),
        counters_year=None if item.counters_year is None else int(item.counters_year),
        counters_delta=YearCounters.from_mapping(json.loads(item.counters_delta or "{}")),
        registration_id=item.registration_id,
    )


def counters_of(item: YearCountersModel | None) -> tuple[YearCounters, int]:
    if item is None:
        return YearCounters(), 0
    return YearCounters(**{name: int(getattr(item, name)) for name in COUNTER_NAMES}), int(item.version)


def paid_months_of(item: PaidMonthsModel | None) -> tuple[PaidMonth, ...]:
    """ "YYYY-MM=YYYY-MM-DD" entries -> one PaidMonth per insurance and month (its first payment)."""
    if item is None:
        return ()
    first: dict[tuple[InsuranceType, str], date] = {}
    for insurance, entries in (
        (InsuranceType.MEDICAL, item.medical),
        (InsuranceType.SERIOUS_ILLNESS, item.serious_illness),
    ):
        for entry in entries or ():
            period, _, paid_on = str(entry).partition("=")
            day = date.fromisoformat(paid_on)
            known = first.get((insurance, period))
            first[(insurance, period)] = day if known is None else min(known, day)
    return tuple(
        PaidMonth(insurance, Period.parse(period), 0, day)
        for (insurance, period), day in sorted(first.items())
    )


def entry_item(entry: DayEntry) -> DayEntryModel:
    return DayEntryModel(
        day_key(entry.institution_id, entry.day),
        entry.page_key,
        kind=entry.kind,
        payment_id=entry.payment_id,
        at=entry.at,
        amount_fen=entry.amount_fen,
        fund_paid_fen=entry.fund_paid_fen,
        serious_illness_paid_fen=entry.serious_illness_paid_fen,
        account_paid_fen=entry.account_paid_fen,
        self_pay_fen=entry.self_pay_fen,
    )


def entry_of(institution_id: str, item: DayEntryModel) -> DayEntry:
    return DayEntry(
        institution_id,
        date.fromisoformat(item.institution_day.rsplit("#", 1)[1]),
        item.payment_id,
        int(item.account_paid_fen),
        int(item.fund_paid_fen),
        int(item.serious_illness_paid_fen),
        cancellation=item.kind == "cancellation",
        amount_fen=int(item.amount_fen),
        self_pay_fen=int(item.self_pay_fen),
        at=item.at,
    )


COUNTER_NAMES = tuple(YearCounters().as_dict())


def counters_update(person_id: str, year: int, delta: YearCounters, read_version: int | None) -> Any:
    """Add `delta` to the year's counters. With `read_version` the write is conditioned on the
    counters being the ones the bill was settled on (0: none stored yet); without (a
    cancellation's give-back, which adds commutatively) it only bumps the version, so a bill
    settled on the counters before the give-back retries."""
    m = YearCountersModel
    actions: list[Any] = [getattr(m, name).add(value) for name, value in delta.as_dict().items() if value]
    if read_version is None:
        return (f"counters:{person_id}:{year}", m(person_id, year), [*actions, m.version.add(1)], None)
    condition = m.person_id.does_not_exist() if read_version == 0 else m.version == read_version
    return (
        f"counters:{person_id}:{year}",
        m(person_id, year),
        [*actions, m.version.set(read_version + 1)],
        condition,
    )


def outflow_update(payment: Payment, sign: int) -> Any:
    """The medical fund book's outflow for a settlement (sign -1: its cancellation's give-back), on
    one shard chosen by the payment id, never one hot item."""
    b = FundBookShardModel
    shard = shard_of(payment.payment_id, 0)
    key = shard_key(FundBook.MEDICAL, shard)
    return (
        f"book:{key}",
        b(key),
        [
            b.book.set(FundBook.MEDICAL.value),
            b.shard.set(shard),
            b.outflow_fen.add(sign * payment.outflow_fen),
            b.outflows.add(sign),
        ],
        None,
    )


def day_key(institution_id: str, day: date) -> str:
    return f"{institution_id}#{day.isoformat()}"


class DynamoPaymentStore:
    def __init__(
        self, person_cache_size: int = PERSON_CACHE_SIZE, registrations: RegistrationCache | None = None
    ) -> None:
        self._connection: Connection | None = None
        self._persons = PersonCache(person_cache_size)
        # Shared with the card store (which registers) and the stay store (which reads stays).
        self._registrations = registrations if registrations is not None else RegistrationCache()

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=_region())
        return self._connection

    # --- a payment: one read, one write ---
    def read_for_payment(
        self, card_no: str, scope_key: str | None, year: int, previous_card_no: str | None = None
    ) -> PaymentRead:
        person_id = self._persons.get(card_no)
        with translated(), TransactGet(connection=self.connection) as tx:
            card_future = tx.get(CardModel, card_no)
            key_future = tx.get(IdempotencyModel, scope_key) if scope_key else None
            holder = _holder_reads(tx, person_id, year) if person_id else None
            previous_future = (
                tx.get(CardModel, previous_card_no)
                if previous_card_no and previous_card_no != card_no
                else None
            )
        card_item_ = resolved(card_future)
        key_item = resolved(key_future) if key_future else None
        card = card_of(card_item_) if card_item_ else None
        if holder is None and card is not None:
            # A card this process has not seen: its holder's items in a second read.
            self._persons.put(card_no, card.person_id)
            with translated(), TransactGet(connection=self.connection) as tx:
                holder = _holder_reads(tx, card.person_id, year)
        account, counters, version = None, YearCounters(), 0
        months: tuple[PaidMonth, ...] = ()
        if holder is not None:
            found = resolved(holder[0])
            account = account_of(found) if found else None
            counters, version = counters_of(resolved(holder[1]))
            months = paid_months_of(resolved(holder[2]))
        previous_item = resolved(previous_future) if previous_future is not None else None
        return PaymentRead(
            card,
            account,
            record_of(key_item) if key_item else None,
            card_of(previous_item) if previous_item else None,
            counters,
            version,
            months,
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
        if payment.counters_year is not None:
            items.updates.append(
                counters_update(
                    payment.person_id, payment.counters_year, payment.counters_delta, write.counters_version
                )
            )
        if payment.outflow_fen:
            items.updates.append(outflow_update(payment, 1))
        items.puts.append(("entry", entry_item(payment.entry()), DayEntryModel.entry_key.does_not_exist()))
        if write.stay_closing is not None:
            items.updates.append(close_item(write.stay_closing))
        # A fresh token per attempt: botocore's own retry of this very request is then a no-op
        # if the first one committed, while our retries (new reads, new values) are new requests.
        items.commit(self.connection, token=uuid.uuid4().hex)

    # --- a discharge: the stay and its holder's items in one read when the stay was seen ---
    def read_for_discharge(self, registration_id: str, scope_key: str, year: int) -> DischargeRead:
        bound = self._registrations.get(registration_id)
        if bound is not None:
            card_no, person_id = bound
            with translated(), TransactGet(connection=self.connection) as tx:
                stay_f = tx.get(RegistrationModel, registration_id)
                key_f = tx.get(IdempotencyModel, scope_key)
                card_f = tx.get(CardModel, card_no)
                holder = _holder_reads(tx, person_id, year)
            stay_found = resolved(stay_f)
            if stay_found is not None and (stay_found.card_no, stay_found.person_id) == bound:
                key_found = resolved(key_f)
                return DischargeRead(
                    stay_of(stay_found),
                    record_of(key_found) if key_found else None,
                    _payment_read(resolved(card_f), holder),
                )
        # Not seen by this process (or not a registration at all): the stay, then its holder.
        with translated(), TransactGet(connection=self.connection) as tx:
            stay_f = tx.get(RegistrationModel, registration_id)
            key_f = tx.get(IdempotencyModel, scope_key)
        stay_found, key_found = resolved(stay_f), resolved(key_f)
        stay = stay_of(stay_found) if stay_found else None
        key_record = record_of(key_found) if key_found else None
        if stay_found is not None:
            self._registrations.put(registration_id, stay_found.card_no, stay_found.person_id)
        if stay is None:
            return DischargeRead(None, key_record, None)
        self._persons.put(stay.card_no, stay.person_id)  # so the holder comes with the card
        return DischargeRead(stay, key_record, self.read_for_payment(stay.card_no, None, year))

    # --- the institution's payments ---
    def get_payment(self, payment_id: str) -> Payment | None:
        return self.read_for_cancel(payment_id, None).payment

    def read_for_cancel(self, payment_id: str, scope_key: str | None) -> CancelRead:
        with translated(), TransactGet(connection=self.connection) as tx:
            payment_f = tx.get(PaymentModel, payment_id)
            cancellation_f = tx.get(PaymentCancellationModel, payment_id)
            key_f = tx.get(IdempotencyModel, scope_key) if scope_key else None
        payment_found = resolved(payment_f)
        key_found = resolved(key_f) if key_f else None
        return CancelRead(
            payment_of(payment_found, resolved(cancellation_f)) if payment_found else None,
            record_of(key_found) if key_found else None,
        )

    def cancel_payment(self, write: CancelWrite) -> None:
        cancelled = write.cancelled
        items = TransactionItems()
        if write.key_record is not None:
            items.puts.append(key_record_put(write.key_record, write.now))
        # The cancellation is a new item: that it did not exist is what makes "cancelled once"
        # hold; the payment item is never touched (the payments table is append-only).
        items.puts.append(
            (
                CANCELLATION_LABEL,
                cancellation_item(cancelled),
                PaymentCancellationModel.payment_id.does_not_exist(),
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
        # Every part the payment took is given back, by exactly what it took.
        if cancelled.counters_year is not None and any(cancelled.counters_delta.as_dict().values()):
            items.updates.append(_give_back_counters(cancelled))
        if cancelled.outflow_fen:
            items.updates.append(outflow_update(cancelled, -1))
        items.puts.append(
            ("entry", entry_item(cancelled.cancellation_entry()), DayEntryModel.entry_key.does_not_exist())
        )
        if cancelled.registration_id is not None:  # a discharge: its stay opens again
            items.updates.append(reopen_item(StayReopening(cancelled.registration_id, cancelled.payment_id)))
        items.commit(self.connection, token=uuid.uuid4().hex)

    def payments_of_holder(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[Payment], str | None]:
        """One Query of the holder index, then one BatchGetItem of that page's cancellations."""
        condition = PaymentModel.sort_key < before if before else None
        with translated():
            found = list(
                PaymentModel.by_holder.query(
                    person_id, range_key_condition=condition, scan_index_forward=False, limit=limit + 1
                )
            )
            items = found[:limit]
            cancellations = (
                {
                    c.payment_id: c
                    for c in PaymentCancellationModel.batch_get(
                        [i.payment_id for i in items], consistent_read=True
                    )
                }
                if items
                else {}
            )
        page = [payment_of(item, cancellations.get(item.payment_id)) for item in items]
        return page, (page[-1].sort_key if len(found) > limit else None)

    def day_entries(self, institution_id: str, day: date) -> Iterator[DayEntry]:
        """Streamed in time order, a page at a time (PynamoDB fetches the next page lazily)."""
        with translated():
            for item in DayEntryModel.query(day_key(institution_id, day), page_size=500):
                yield entry_of(institution_id, item)

    def day_entries_page(
        self, institution_id: str, day: date, limit: int, after: str | None = None
    ) -> tuple[list[DayEntry], str | None]:
        condition = DayEntryModel.entry_key > after if after else None
        with translated():
            found = list(
                DayEntryModel.query(
                    day_key(institution_id, day), range_key_condition=condition, limit=limit + 1
                )
            )
        page = found[:limit]
        return [entry_of(institution_id, i) for i in page], (
            page[-1].entry_key if len(found) > limit else None
        )


def _payment_read(card_found: CardModel | None, holder: tuple[Any, Any, Any]) -> PaymentRead:
    """A payment's read from a card's and its holder's futures (no key record, no first use)."""
    found = resolved(holder[0])
    counters, version = counters_of(resolved(holder[1]))
    return PaymentRead(
        card_of(card_found) if card_found else None,
        account_of(found) if found else None,
        None,
        None,
        counters,
        version,
        paid_months_of(resolved(holder[2])),
    )


def _holder_reads(tx: TransactGet, person_id: str, year: int) -> tuple[Any, Any, Any]:
    return (
        tx.get(AccountModel, person_id),
        tx.get(YearCountersModel, person_id, year),
        tx.get(PaidMonthsModel, person_id),
    )


def _give_back_counters(cancelled: Payment) -> Any:
    """ADD the negative of what the payment added (ADD takes negative numbers)."""
    assert cancelled.counters_year is not None
    m = YearCountersModel
    actions: list[Any] = [
        getattr(m, name).add(-value) for name, value in cancelled.counters_delta.as_dict().items() if value
    ]
    return (
        f"counters:{cancelled.person_id}:{cancelled.counters_year}",
        m(cancelled.person_id, cancelled.counters_year),
        [*actions, m.version.add(1)],
        m.person_id.exists(),
    )

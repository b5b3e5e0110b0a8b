"""The payment store on the in-memory fakes: the same contract as DynamoDB.

It shares the card store's cards and accounts and the idempotency store's
records, because a payment writes all three atomically. As on DynamoDB, a payment is kept as
it was made and its cancellation is a record of its own: a payment is cancelled exactly
when its cancellation exists. Conditions are checked
in DynamoDB's label order (checks, puts, updates) before anything is applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime

from chalicelib.domain.cards import CardState
from chalicelib.domain.coverage import PaidMonth
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateDelivery
from chalicelib.domain.holders import AccountState
from chalicelib.domain.ledger import DayEntry
from chalicelib.domain.payments import Payment, PaymentState
from chalicelib.domain.settlement import YearCounters
from chalicelib.services.payment_ports import (
    CancelRead,
    CancelWrite,
    DischargeRead,
    PaymentRead,
    PaymentStore,
    PaymentWrite,
)
from chalicelib.services.ports import IDEMPOTENCY_LABEL
from chalicelib.services.stay_ports import StayReopening
from tests.fake_stays import FakeStayStore
from tests.fakes import FakeCardStore, FakeIdempotencyStore, key_is_free


class FakePaymentStore(PaymentStore):
    def __init__(self, cards: FakeCardStore, keys: FakeIdempotencyStore) -> None:
        self.cards = cards
        self.keys = keys
        self.made: dict[str, Payment] = {}  # as each payment was made, never changed
        self.cancellations: dict[str, datetime] = {}  # payment id -> cancelled at
        self.counters: dict[tuple[str, int], tuple[YearCounters, int]] = {}  # -> counters, version
        self.paid_months: dict[str, list[PaidMonth]] = {}  # tests set a holder's months here
        self.outflow_fen = 0  # the medical fund book's outflows, summed over its shards
        self.entries: list[DayEntry] = []
        self.stays: FakeStayStore | None = None  # discharges close their stay in the same commit

    def read_for_payment(
        self, card_no: str, scope_key: str | None, year: int, previous_card_no: str | None = None
    ) -> PaymentRead:
        with self.cards.lock:
            card = self.cards.cards.get(card_no)
            person = card.person_id if card else ""
            account = self.cards.accounts.get(person) if card else None
            counters, version = self.counters.get((person, year), (YearCounters(), 0))
            return PaymentRead(
                card,
                account,
                self.keys.records.get(scope_key) if scope_key else None,
                self.cards.cards.get(previous_card_no) if previous_card_no else None,
                counters,
                version,
                tuple(self.paid_months.get(person, ())),
            )

    @property
    def payments(self) -> dict[str, Payment]:
        """Every payment as it stands (cancelled when its cancellation exists)."""
        with self.cards.lock:
            return {pid: self._standing(p) for pid, p in self.made.items()}

    def _standing(self, made: Payment) -> Payment:
        at = self.cancellations.get(made.payment_id)
        return made if at is None else replace(made, state=PaymentState.CANCELLED, cancelled_at=at)

    def read_for_discharge(self, registration_id: str, scope_key: str, year: int) -> DischargeRead:
        assert self.stays is not None  # a world with stays wires them in
        with self.cards.lock, self.stays.lock:
            stay = self.stays.stay(registration_id)
            record = self.keys.records.get(scope_key)
            if stay is None:
                return DischargeRead(None, record, None)
            return DischargeRead(stay, record, self.read_for_payment(stay.card_no, None, year))

    def commit_payment(self, write: PaymentWrite) -> None:
        payment, account = write.payment, write.account
        change = write.activation
        with self.cards.lock, self.keys.lock:
            if write.card_guard is not None:
                card = self.cards.cards.get(payment.card_no)
                if card is None or card.state is not CardState.ACTIVE:
                    raise ConcurrentUpdate("card changed", label=f"card:{payment.card_no}")
            for unchanged in change.unchanged_cards if change else ():
                if self.cards._card_version(unchanged.card_no) != unchanged.version:
                    raise ConcurrentUpdate("card changed", label=f"card:{unchanged.card_no}")
            if payment.payment_id in self.made:
                raise DuplicateDelivery("payment exists already", label="payment")
            if not key_is_free(self.keys.records.get(write.key_record.scope_key), write.now):
                raise DuplicateDelivery("idempotency exists already", label=IDEMPOTENCY_LABEL)
            for card in change.cards if change else ():
                if self.cards._card_version(card.card_no) != card.version - 1:
                    raise ConcurrentUpdate("card changed", label=f"card:{card.card_no}")
            current = self.cards.accounts.get(account.person_id)
            label = f"account:{account.person_id}"
            if (
                current is None
                or current.version != account.version - 1
                or current.balance_fen < payment.account_paid_fen
            ):
                raise ConcurrentUpdate("account changed", label=label)
            elsewhere = current.state is not AccountState.NORMAL or current.card_no != payment.card_no
            if change is None and elsewhere:
                raise ConcurrentUpdate("account changed", label=label)
            year_key = (payment.person_id, payment.counters_year or 0)
            counters, version = self.counters.get(year_key, (YearCounters(), 0))
            if version != write.counters_version:
                raise ConcurrentUpdate("counters changed", label=f"counters:{payment.person_id}")
            if write.stay_closing is not None:
                assert self.stays is not None
                self.stays.check_close(write.stay_closing)
            # Every condition holds: apply all of it.
            self.made[payment.payment_id] = replace(payment, state=PaymentState.COMPLETED, cancelled_at=None)
            self.keys.records[write.key_record.scope_key] = write.key_record
            for card in change.cards if change else ():
                self.cards.cards[card.card_no] = card
            for event in change.events if change else ():
                self.cards.events.setdefault(event.card_no, []).append(event)
            moved = account if change else current
            self.cards.accounts[account.person_id] = replace(
                moved,
                balance_fen=current.balance_fen - payment.account_paid_fen,
                version=account.version,
            )
            if payment.counters_year is not None:
                self.counters[year_key] = (counters.plus(payment.counters_delta), version + 1)
            self.outflow_fen += payment.outflow_fen
            self.entries.append(payment.entry())
            if write.stay_closing is not None and self.stays is not None:
                self.stays.apply_close(write.stay_closing)

    def get_payment(self, payment_id: str) -> Payment | None:
        return self.read_for_cancel(payment_id, None).payment

    def read_for_cancel(self, payment_id: str, scope_key: str | None) -> CancelRead:
        with self.cards.lock:
            record = self.keys.records.get(scope_key) if scope_key else None
            made = self.made.get(payment_id)
            return CancelRead(self._standing(made) if made else None, record)

    def cancel_payment(self, write: CancelWrite) -> None:
        cancelled = write.cancelled
        with self.cards.lock, self.keys.lock:
            if write.key_record is not None and not key_is_free(
                self.keys.records.get(write.key_record.scope_key), write.now
            ):
                raise DuplicateDelivery("idempotency exists already", label=IDEMPOTENCY_LABEL)
            assert cancelled.cancelled_at is not None  # Payment.cancel() sets it
            if cancelled.payment_id in self.cancellations:
                raise ConcurrentUpdate("cancellation exists already", label="cancellation")
            account = self.cards.accounts.get(cancelled.person_id)
            if account is None:
                raise ConcurrentUpdate("no account", label=f"account:{cancelled.person_id}")
            reopening = None
            if cancelled.registration_id is not None and self.stays is not None:
                reopening = StayReopening(cancelled.registration_id, cancelled.payment_id)
                self.stays.check_reopen(reopening)
            self.cancellations[cancelled.payment_id] = cancelled.cancelled_at
            self.cards.accounts[cancelled.person_id] = replace(
                account,
                balance_fen=account.balance_fen + cancelled.account_paid_fen,
                version=account.version + 1,
            )
            if write.key_record is not None:
                self.keys.records[write.key_record.scope_key] = write.key_record
            if cancelled.counters_year is not None:
                year_key = (cancelled.person_id, cancelled.counters_year)
                counters, version = self.counters.get(year_key, (YearCounters(), 0))
                self.counters[year_key] = (counters.minus(cancelled.counters_delta), version + 1)
            self.outflow_fen -= cancelled.outflow_fen
            self.entries.append(cancelled.cancellation_entry())
            if reopening is not None and self.stays is not None:
                self.stays.apply_reopen(reopening)

    def payments_of_holder(
        self, person_id: str, limit: int, before: str | None = None
    ) -> tuple[list[Payment], str | None]:
        with self.cards.lock:
            mine = sorted(
                (self._standing(p) for p in self.made.values() if p.person_id == person_id),
                key=lambda p: p.sort_key,
                reverse=True,
            )
        found = [p for p in mine if before is None or p.sort_key < before][: limit + 1]
        page = found[:limit]
        return page, (page[-1].sort_key if len(found) > limit else None)

    def _of_day(self, institution_id: str, day: date) -> list[DayEntry]:
        with self.cards.lock:
            return sorted(
                (e for e in self.entries if e.institution_id == institution_id and e.day == day),
                key=lambda e: e.page_key,
            )

    def day_entries(self, institution_id: str, day: date) -> Iterator[DayEntry]:
        yield from self._of_day(institution_id, day)

    def day_entries_page(
        self, institution_id: str, day: date, limit: int, after: str | None = None
    ) -> tuple[list[DayEntry], str | None]:
        found = [e for e in self._of_day(institution_id, day) if after is None or e.page_key > after]
        page = found[:limit]
        return page, (page[-1].page_key if len(found) > limit else None)

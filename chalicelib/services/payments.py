"""Card swipes at designated pharmacies and hospitals: pay, look up, cancel, reconcile,
and the holder's own account and payments.

A payment is one read and one write:

1. one consistent read of the card, its holder's account, the holder's year
   counters and paid months, and whatever is stored under the request's
   Idempotency-Key (storage does it in one TransactGetItems);
2. the rules decide (card usable, account not held) and the settlement splits
   the bill (domain/settlement.py: pooled fund, serious illness, account, cash);
3. one TransactWriteItems: the account debit with its conditions, the card's
   state check (or, on a pharmacy's first use, its activation), the year
   counters on condition they are still the ones read, the medical fund book's
   outflow on one shard, the payment record, its day entry, and the
   idempotency record completed with the answer itself.

So a crash leaves either nothing or everything, and a terminal's retry after a
crash finds the stored answer and gets it again. Idempotency (idempotency.py):
the key's record is read with the card and written, completed with the answer,
inside the payment's transaction. Refusals decided by the rules (card
suspended, balance too low with self-pay refused...) are raised; the API
pipeline stores them under the key with idempotency.remember, so a retry gets
the same answer.

Lost races and throttling are retried with jittered backoff (backoff.py), then
answered as StorageBusy (503 with Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from chalicelib.domain.cards import Card, CardState, Channel
from chalicelib.domain.errors import (
    CardNotActivated,
    CardNotFound,
    CardUnusable,
    ConcurrentUpdate,
    DuplicateDelivery,
    HolderNotFound,
    NotDesignated,
    StorageBusy,
)
from chalicelib.domain.holders import Account, Institution, InstitutionKind
from chalicelib.domain.ledger import DayEntry
from chalicelib.domain.payments import (
    DEFAULT_POLICY,
    DayFigures,
    Payment,
    PaymentNotFound,
    PaymentPolicy,
    Reconciliation,
    reconcile,
)
from chalicelib.domain.periods import china_date
from chalicelib.domain.settlement import (
    DEFAULT_SETTLEMENT_POLICY,
    Bill,
    SelfPay,
    SeriousIllnessOnDay,
    Settlement,
    SettlementPolicy,
    Visit,
    YearCounters,
    settle,
    visit_for,
)
from chalicelib.domain.stays import Stay

from .activation import plan_activation
from .backoff import DEFAULT_BACKOFF, Backoff, with_backoff
from .idempotency import IdempotentRequest, Outcome, StoredResponse, commit_keyed, replayed
from .payment_ports import CancelWrite, PaymentRead, PaymentStore, PaymentWrite
from .ports import CardChange, CardStore, IdempotencyRecord, IdempotencyStore
from .stay_ports import StayClosing, StayStore
from .stays import found_stay

PAYING_KINDS = (InstitutionKind.PHARMACY, InstitutionKind.HOSPITAL)
# Errors that say "try again", not "no": the API pipeline never stores them under a key.
TRANSIENT = (ConcurrentUpdate, StorageBusy, DuplicateDelivery)
DEFAULT_PAGE = 20
MAX_PAGE = 100


@dataclass(frozen=True)
class PaymentRequest:
    card_no: str
    amount_fen: int
    self_pay: SelfPay = SelfPay.ALLOWED
    previous_card_no: str | None = None  # a pharmacy's first use: the original medical insurance card
    visit: str | None = None  # pharmacy | outpatient | inpatient; default by the institution's kind
    in_scope_fen: int | None = None  # None: all of amount_fen


@dataclass(frozen=True)
class Quote:
    """The split a payment would make now, and the balance it would leave; nothing is written."""

    settlement: Settlement
    card_no: str
    balance_after_fen: int


def pay(
    cards: CardStore,
    payments: PaymentStore,
    keys: IdempotencyStore,
    institution: Institution,
    request: PaymentRequest,
    key: IdempotentRequest,
    at: datetime,
    render: Callable[[Payment], StoredResponse],
    *,
    new_id: Callable[[], str],
    policy: PaymentPolicy = DEFAULT_POLICY,
    settlement_policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[Payment]:
    """`keys` stays for the API's symmetry with the other stores; the record is read and
    written through `payments`, inside the payment's own read and transaction."""
    del keys
    bill = _bill(institution, request, policy)
    now = key.now

    def attempt() -> Outcome[Payment]:
        read = payments.read_for_payment(
            request.card_no, key.scope_key, china_date(at).year, request.previous_card_no
        )
        stored = key.decide(read.key_record)
        if stored is not None:
            return replayed(stored)
        payment, account, guard, activation = _decide(
            cards, read, institution, request, bill, at, new_id(), settlement_policy
        )

        def commit(record: IdempotencyRecord | None) -> None:
            assert record is not None  # a payment always has a key
            try:
                payments.commit_payment(
                    PaymentWrite(payment, account, record, now, guard, activation, read.counters_version)
                )
            except DuplicateDelivery as duplicate:
                if duplicate.extra.get("label") == "payment":
                    # A payment id taken (never with random ids): the next attempt draws another.
                    raise ConcurrentUpdate("The payment id is taken") from duplicate
                raise

        return commit_keyed(key, payment, render, commit)

    return with_backoff(attempt, backoff)


def _bill(institution: Institution, request: PaymentRequest, policy: PaymentPolicy) -> Bill:
    if institution.kind not in PAYING_KINDS or not institution.designated:
        raise NotDesignated("Only a designated medical-insurance pharmacy or hospital takes card payments")
    policy.check_amount(request.amount_fen)
    in_scope = request.amount_fen if request.in_scope_fen is None else request.in_scope_fen
    return Bill(visit_for(institution.kind, request.visit), request.amount_fen, in_scope)


def settlement_of(
    read: PaymentRead, bill: Bill, balance_fen: int, self_pay: SelfPay, at: datetime, policy: SettlementPolicy
) -> Settlement:
    """The bill's split on its day (China time), from the holder's paid months and year counters."""
    day = china_date(at)
    return settle(
        bill,
        balance_fen=balance_fen,
        self_pay=self_pay,
        counters=read.counters,
        in_force=policy.medical_in_force(read.paid_months, day),
        serious_illness=SeriousIllnessOnDay.of(read.paid_months, day),
        policy=policy,
    )


def quote(
    payments: PaymentStore,
    institution: Institution,
    request: PaymentRequest,
    at: datetime,
    *,
    policy: PaymentPolicy = DEFAULT_POLICY,
    settlement_policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
) -> Quote:
    """The same rules on the same reads as a payment, and no write (a pre-settlement)."""
    bill = _bill(institution, request, policy)
    read = payments.read_for_payment(request.card_no, None, china_date(at).year)
    card = read.card
    if card is None:
        raise CardNotFound("No such card")
    if not (card.state is CardState.ISSUED and _first_use_at_pharmacy(institution, request)):
        card.ensure_usable()
    return _quoted(read, card.card_no, bill, request.self_pay, at, settlement_policy)


def _quoted(
    read: PaymentRead, card_no: str, bill: Bill, self_pay: SelfPay, at: datetime, policy: SettlementPolicy
) -> Quote:
    account = read.account
    if account is None:
        raise HolderNotFound("The card's holder has no personal account")
    settlement = settlement_of(read, bill, account.balance_fen, self_pay, at, policy)
    return Quote(settlement, card_no, account.balance_fen - settlement.account_paid_fen)


def _decide(
    cards: CardStore,
    read: PaymentRead,
    institution: Institution,
    request: PaymentRequest,
    bill: Bill,
    at: datetime,
    payment_id: str,
    settlement_policy: SettlementPolicy,
) -> tuple[Payment, Account, Card | None, CardChange | None]:
    card = read.card
    if card is None:
        raise CardNotFound("No such card")
    guard: Card | None = card
    activation: CardChange | None = None
    if card.state is CardState.ISSUED and _first_use_at_pharmacy(institution, request):
        # The original card's account carries over to the new card and pays, in the same write.
        plan = plan_activation(
            cards,
            card,
            Channel.PHARMACY,
            at,
            institution.institution_id,
            request.previous_card_no,
            account=read.account,
            previous=read.previous,
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
    share = settlement_of(read, bill, base.balance_fen, request.self_pay, at, settlement_policy)
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
        visit=share.visit,
        in_scope_fen=share.in_scope_fen,
        fund_paid_fen=share.fund_paid_fen,
        serious_illness_paid_fen=share.serious_illness_paid_fen,
        deductible_fen=share.deductible_fen,
        notes=share.notes,
        counters_year=china_date(at).year,
        counters_delta=share.delta,
    )
    return payment, after, guard, activation


def _first_use_at_pharmacy(institution: Institution, request: PaymentRequest) -> bool:
    return institution.kind is InstitutionKind.PHARMACY and bool(request.previous_card_no)


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
    key: IdempotentRequest | None,
    render: Callable[[Payment], StoredResponse],
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[Payment]:
    """Reverse a payment once: its cancellation (a new record: payments are never changed),
    the account's credit and the key's record are written in one transaction, so a cancel
    whose answer was lost gets its first 200 on retry. A cancellation that exists already
    (a lost race) fails that write; the retry reads it and answers payment-already-cancelled."""

    def attempt() -> Outcome[Payment]:
        read = payments.read_for_cancel(payment_id, key.scope_key if key else None)
        stored = key.decide(read.key_record) if key else None
        if stored is not None:
            return replayed(stored)
        found = read.payment
        if found is None or found.institution_id != institution.institution_id:
            raise PaymentNotFound("No such payment of yours")
        cancelled = found.cancel(at)
        now = key.now if key else int(at.timestamp())
        return commit_keyed(
            key,
            cancelled,
            render,
            lambda record: payments.cancel_payment(CancelWrite(cancelled, record, now)),
        )

    return with_backoff(attempt, backoff)


def reconcile_day(
    payments: PaymentStore,
    institution: Institution,
    day: date,
    theirs: DayFigures,
    their_payments: Sequence[tuple[str, int]] | None = None,
) -> Reconciliation:
    return reconcile(day, payments.day_entries(institution.institution_id, day), theirs, their_payments)


def day_entries(
    payments: PaymentStore, institution: Institution, day: date, limit: int, after: str | None
) -> tuple[list[DayEntry], str | None]:
    return payments.day_entries_page(institution.institution_id, day, limit, after)


# --- the holder's own view -------------------------------------------------------------


def my_account(cards: CardStore, person_id: str) -> Account:
    account = cards.get_account(person_id)
    if account is None:
        raise HolderNotFound("You have no personal account")
    return account


def my_payments(
    payments: PaymentStore, person_id: str, limit: int, after: str | None = None
) -> tuple[list[Payment], str | None]:
    """Newest first, after the page key `after` (decoded by the pipeline's one cursor codec).
    The key is the last payment's time and id, so payments made while the holder pages land
    before page one and never shift the pages that follow."""
    return payments.payments_of_holder(person_id, limit, after)


# --- a card presented at a counter ------------------------------------------------------


@dataclass(frozen=True)
class Insured:
    """What a pharmacy or hospital may know of a card presented to it: no name, no SSN."""

    card: Card
    balance_fen: int
    medical_in_force: bool
    serious_illness: SeriousIllnessOnDay
    year: int
    counters: YearCounters


def insured(
    payments: PaymentStore,
    institution: Institution,
    card_no: str,
    on: date,
    settlement_policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
) -> Insured:
    if institution.kind not in PAYING_KINDS or not institution.designated:
        raise NotDesignated("Only a designated medical-insurance pharmacy or hospital reads a card")
    read = payments.read_for_payment(card_no, None, on.year)
    if read.card is None:
        raise CardNotFound("No such card")
    account = read.account
    return Insured(
        card=read.card,
        balance_fen=account.balance_fen if account and account.card_no == card_no else 0,
        medical_in_force=settlement_policy.medical_in_force(read.paid_months, on),
        serious_illness=SeriousIllnessOnDay.of(read.paid_months, on),
        year=on.year,
        counters=read.counters,
    )


# --- an inpatient stay settled at discharge -------------------------------------------------


def _hospital_of_stays(institution: Institution) -> None:
    if institution.kind is not InstitutionKind.HOSPITAL or not institution.designated:
        raise NotDesignated("Only the designated hospital of the stay settles it")


def _stay_bill(
    stay: Stay | None, institution: Institution, registration_id: str, policy: SettlementPolicy
) -> tuple[Stay, Bill]:
    stay = found_stay(stay, registration_id, institution.institution_id).ensure_open()
    # The per-payment maximum is not a stay's: its own maximum is the policy's max_stay_fen.
    policy.check_stay_amount(stay.totals.amount_fen)
    return stay, Bill(Visit.INPATIENT, stay.totals.amount_fen, stay.totals.in_scope_fen)


def quote_stay(
    payments: PaymentStore,
    stays: StayStore,
    institution: Institution,
    registration_id: str,
    at: datetime,
    settlement_policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
) -> Quote:
    """The settlement the stay would get now: its running totals as one inpatient bill."""
    _hospital_of_stays(institution)
    stay, bill = _stay_bill(
        stays.read_stay(registration_id).stay, institution, registration_id, settlement_policy
    )
    read = payments.read_for_payment(stay.card_no, None, china_date(at).year)
    return _quoted(read, stay.card_no, bill, SelfPay.ALLOWED, at, settlement_policy)


def discharge(
    cards: CardStore,
    payments: PaymentStore,
    stays: StayStore,
    institution: Institution,
    registration_id: str,
    key: IdempotentRequest,
    at: datetime,
    render: Callable[[Payment], StoredResponse],
    *,
    new_id: Callable[[], str],
    settlement_policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Outcome[Payment]:
    """Settle the stay's totals as one inpatient payment and close the stay, in one transaction
    conditioned on the stay still being at the version whose totals were settled: a charge
    racing the discharge is either in the settled totals or makes this attempt read again.

    Two round trips when this process has seen the stay (registered or read it): one read of
    the stay, its key record, its card and its holder's items (payments.read_for_discharge),
    one write. Three otherwise: the stay is read first to learn its card and holder. A retry
    with the key is answered from the first read."""
    del stays  # the stay is read with the holder's items, through `payments`
    _hospital_of_stays(institution)

    def attempt() -> Outcome[Payment]:
        read = payments.read_for_discharge(registration_id, key.scope_key, china_date(at).year)
        stored = key.decide(read.key_record)
        if stored is not None:
            return replayed(stored)
        stay, bill = _stay_bill(read.stay, institution, registration_id, settlement_policy)
        if read.payment is None:  # pragma: no cover - a stay is always read with its card
            raise CardNotFound("The stay's card could not be read")
        request = PaymentRequest(
            stay.card_no, bill.amount_fen, visit=Visit.INPATIENT.value, in_scope_fen=bill.in_scope_fen
        )
        payment, account, guard, activation = _decide(
            cards, read.payment, institution, request, bill, at, new_id(), settlement_policy
        )
        payment = replace(payment, registration_id=registration_id)
        closing = StayClosing(stay, payment.payment_id, at)
        counters_version = read.payment.counters_version
        return commit_keyed(
            key,
            payment,
            render,
            lambda record: payments.commit_payment(
                PaymentWrite(
                    payment,
                    account,
                    _required(record),
                    key.now,
                    guard,
                    activation,
                    counters_version,
                    closing,
                )
            ),
        )

    return with_backoff(attempt, backoff)


def _required(record: IdempotencyRecord | None) -> IdempotencyRecord:
    assert record is not None  # a discharge always has a key
    return record

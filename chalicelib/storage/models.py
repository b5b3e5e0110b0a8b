"""PynamoDB models: the one declaration of every table's keys, indexes and TTL.

The local stack creates tables from these, and infra/ builds the CDK tables
from them, so the three cannot drift apart.
"""

from __future__ import annotations

import os
import threading

import botocore.session
import pynamodb.connection.base
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

_thread = threading.local()


def _session_of_this_thread() -> botocore.session.Session:
    """PynamoDB gives each model's connection a botocore session of its own, and each new
    session loads DynamoDB's service model and endpoint rules from disk again (about 0.1 s of
    JSON, twenty times for twenty tables: on a cold Lambda's first request and in every test
    world). One session per thread keeps what PynamoDB wants (botocore's client creation is not
    thread-safe) and loads the files once."""
    session = getattr(_thread, "session", None)
    if session is None:
        session = _thread.session = botocore.session.get_session()
    return session


if pynamodb.connection.base.get_session is not botocore.session.get_session:  # type: ignore[attr-defined]
    raise RuntimeError("PynamoDB no longer makes its sessions with botocore's get_session: see above")
pynamodb.connection.base.get_session = _session_of_this_thread  # type: ignore[attr-defined,assignment]


def table_name(logical: str) -> str:
    return os.environ.get("TABLE_PREFIX", "sscard-local-") + logical


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "cn-north-1"


class _Meta:
    region = _region()
    # Few retries inside botocore; the services decide about retrying conflicts.
    max_retry_attempts = 2
    connect_timeout_seconds = 2
    read_timeout_seconds = 5


class CardModel(Model):
    class Meta(_Meta):
        table_name = table_name("cards")

    card_no = UnicodeAttribute(hash_key=True)
    person_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    state = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    issuing_bank = UnicodeAttribute(null=True)
    financial_active = BooleanAttribute(default=False)
    activated_at = UTCDateTimeAttribute(null=True)
    suspended_from = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


class CardEventModel(Model):
    """A card's auditable history: one item per state change, kept under the card's holder so
    one query reads every card of the holder with its history. Each item also carries the
    card as the change left it, so a card's newest event is the card itself."""

    class Meta(_Meta):
        table_name = table_name("card-events")

    person_id = UnicodeAttribute(hash_key=True)
    event_key = UnicodeAttribute(range_key=True)  # card_no + "#v" + the card's version after the change
    card_no = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    action = UnicodeAttribute()
    from_state = UnicodeAttribute()
    to_state = UnicodeAttribute()
    channel = UnicodeAttribute()
    institution_id = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    # The card after the change (its state is to_state, its version the event's).
    kind = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    issuing_bank = UnicodeAttribute(null=True)
    financial_active = BooleanAttribute(default=False)
    activated_at = UTCDateTimeAttribute(null=True)
    suspended_from = UnicodeAttribute(null=True)


class HolderModel(Model):
    class Meta(_Meta):
        table_name = table_name("holders")

    person_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    ssn_digest = UnicodeAttribute()
    ssn_masked = UnicodeAttribute()
    birth_date = UnicodeAttribute()
    sex = UnicodeAttribute()
    participation = UnicodeAttribute()
    enrolled_at = UTCDateTimeAttribute()


class SsnIndexModel(Model):
    """SSN digest -> holder: one holder per SSN (a conditional put), and a consistent lookup."""

    class Meta(_Meta):
        table_name = table_name("ssn-index")

    ssn_digest = UnicodeAttribute(hash_key=True)
    person_id = UnicodeAttribute()


class AccountModel(Model):
    """The medical-insurance personal account; its balance is integer fen."""

    class Meta(_Meta):
        table_name = table_name("accounts")

    person_id = UnicodeAttribute(hash_key=True)
    balance_fen = NumberAttribute(default=0)
    state = UnicodeAttribute()
    card_no = UnicodeAttribute(null=True)
    pending_card_no = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


class InstitutionModel(Model):
    class Meta(_Meta):
        table_name = table_name("institutions")

    institution_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    name = UnicodeAttribute()
    designated = BooleanAttribute(default=False)


class BankModel(Model):
    """A partner bank. Its webhook secret lives in the secret store, never here."""

    class Meta(_Meta):
        table_name = table_name("banks")

    bank_code = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()


class InstitutionCredentialsIndex(GlobalSecondaryIndex["CredentialModel"]):  # type: ignore[no-untyped-call]
    """An institution's tokens, so that all of them can be revoked at once."""

    class Meta:
        index_name = "by-institution"
        projection = AllProjection()

    institution_id = UnicodeAttribute(hash_key=True)


class CredentialModel(Model):
    """An institution token, stored only as its keyed digest. A revoked one is kept, with
    `revoked_at`, so the operator can see what was revoked and when."""

    class Meta(_Meta):
        table_name = table_name("credentials")

    token_digest = UnicodeAttribute(hash_key=True)
    institution_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    by_institution = InstitutionCredentialsIndex()


class WebhookReceiptModel(Model):
    class Meta(_Meta):
        table_name = table_name("webhook-receipts")

    receipt_key = UnicodeAttribute(hash_key=True)  # bank code # webhook id
    bank_code = UnicodeAttribute()
    webhook_id = UnicodeAttribute()
    outcome = UnicodeAttribute()
    card_no = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    received_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


class RegistrationModel(Model):
    class Meta(_Meta):
        table_name = table_name("registrations")

    registration_id = UnicodeAttribute(hash_key=True)
    card_no = UnicodeAttribute()
    person_id = UnicodeAttribute()
    institution_id = UnicodeAttribute()
    visit = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    card_activated = BooleanAttribute()
    # An inpatient registration is a stay (domain/stays.py). The defaults make a registration
    # written before stays existed read as an open stay with zero totals.
    state = UnicodeAttribute(default="open")
    amount_fen = NumberAttribute(default=0)
    in_scope_fen = NumberAttribute(default=0)
    charge_count = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    discharge_payment_id = UnicodeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)


class ChargeModel(Model):
    """One charge of a stay, keyed by the hospital's charge id: new ids only (a conditional put)."""

    class Meta(_Meta):
        table_name = table_name("stay-charges")

    registration_id = UnicodeAttribute(hash_key=True)
    charge_id = UnicodeAttribute(range_key=True)
    hospital_id = UnicodeAttribute()
    amount_fen = NumberAttribute()
    in_scope_fen = NumberAttribute()
    description = UnicodeAttribute()
    state = UnicodeAttribute()
    applied_at = UTCDateTimeAttribute()
    cancelled_at = UTCDateTimeAttribute(null=True)


class IdempotencyModel(Model):
    class Meta(_Meta):
        table_name = table_name("idempotency")

    scope_key = UnicodeAttribute(hash_key=True)
    fingerprint = UnicodeAttribute()
    in_flight = BooleanAttribute()
    expires_at = TTLAttribute()
    locked_until = NumberAttribute(default=0)
    status = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)


class PostingModel(Model):
    """One posted contribution. Its key makes posting idempotent: a conditional put."""

    class Meta(_Meta):
        table_name = table_name("contribution-postings")

    contribution_id = UnicodeAttribute(hash_key=True)
    person_id = UnicodeAttribute()
    insurance = UnicodeAttribute()
    book = UnicodeAttribute()
    period = UnicodeAttribute()
    payer = UnicodeAttribute()
    employer_id = UnicodeAttribute(null=True)
    amount_fen = NumberAttribute()
    personal_account_fen = NumberAttribute(default=0)
    paid_at = UTCDateTimeAttribute()
    posted_at = UTCDateTimeAttribute()
    shard = NumberAttribute()  # the shard of the book that counted it
    source = UnicodeAttribute(null=True)


class ContributionMonthModel(Model):
    """A holder's payments for one insurance type and month, added up (sort key "YYYY-MM#type")."""

    class Meta(_Meta):
        table_name = table_name("contribution-months")

    person_id = UnicodeAttribute(hash_key=True)
    month_key = UnicodeAttribute(range_key=True)
    insurance = UnicodeAttribute()
    period = UnicodeAttribute()
    book = UnicodeAttribute()
    amount_fen = NumberAttribute(default=0)
    postings = NumberAttribute(default=0)
    personal_account_fen = NumberAttribute(default=0)
    paid_on = UnicodeSetAttribute(null=True)  # China dates of the payments
    contribution_ids = UnicodeSetAttribute(null=True)


class FundBookShardModel(Model):
    """One shard of a fund book's running totals ("medical#017"), added to by each posting."""

    class Meta(_Meta):
        table_name = table_name("fund-books")

    shard_key = UnicodeAttribute(hash_key=True)
    book = UnicodeAttribute()
    shard = NumberAttribute()
    total_fen = NumberAttribute(default=0)
    postings = NumberAttribute(default=0)
    personal_account_fen = NumberAttribute(default=0)
    # Settlement pay out of the book (pooled fund and serious illness, medical only): added by
    # each settlement, given back by its cancellation. The book's balance is total - outflow.
    outflow_fen = NumberAttribute(default=0)
    outflows = NumberAttribute(default=0)


class YearCountersModel(Model):
    """What a holder's bills of one calendar year (China time) used: deductible, stays, fund
    pay. Each payment writes it on condition that its version is the one it read."""

    class Meta(_Meta):
        table_name = table_name("year-counters")

    person_id = UnicodeAttribute(hash_key=True)
    year = NumberAttribute(range_key=True)
    outpatient_deductible_used_fen = NumberAttribute(default=0)
    inpatient_stays = NumberAttribute(default=0)
    fund_paid_fen = NumberAttribute(default=0)
    outpatient_fund_paid_fen = NumberAttribute(default=0)
    serious_illness_base_fen = NumberAttribute(default=0)
    serious_illness_paid_fen = NumberAttribute(default=0)
    version = NumberAttribute(default=0)


class PaidMonthsModel(Model):
    """The months a holder's medical and serious-illness contributions paid, each as
    "YYYY-MM=YYYY-MM-DD" (the month, the China day it was paid), appended by every such
    posting: a payment reads them with its other reads, in the same round trip."""

    class Meta(_Meta):
        table_name = table_name("paid-months")

    person_id = UnicodeAttribute(hash_key=True)
    medical = ListAttribute(of=UnicodeAttribute, null=True)
    serious_illness = ListAttribute(of=UnicodeAttribute, null=True)


class DayEntryModel(Model):
    """One entry of an institution's business day: a payment (positive parts) on the day it was
    made, or a cancellation (negative parts) on the day it was made. Never rewritten, so a day
    once reconciled as matched stays matched."""

    class Meta(_Meta):
        table_name = table_name("day-entries")

    institution_day = UnicodeAttribute(hash_key=True)  # institution id # YYYY-MM-DD (China time)
    entry_key = UnicodeAttribute(range_key=True)  # UTC time (microseconds) # payment id # kind
    kind = UnicodeAttribute()  # payment | cancellation
    payment_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    amount_fen = NumberAttribute()
    fund_paid_fen = NumberAttribute()
    serious_illness_paid_fen = NumberAttribute()
    account_paid_fen = NumberAttribute()
    self_pay_fen = NumberAttribute()


class OpeningBalanceModel(Model):
    """A personal-account balance carried over from the old system, posted once per holder
    with its credit to the account, so the accounts' money is accounted for from the start."""

    class Meta(_Meta):
        table_name = table_name("opening-balances")

    person_id = UnicodeAttribute(hash_key=True)
    amount_fen = NumberAttribute()
    at = UTCDateTimeAttribute()
    source = UnicodeAttribute()


class ContributionRejectionModel(Model):
    """A contribution message that can never post, with the reason, for the operator."""

    class Meta(_Meta):
        table_name = table_name("contribution-rejections")

    rejection_key = UnicodeAttribute(hash_key=True)  # contribution id, or "message:<id>"
    contribution_id = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute()
    reason = UnicodeAttribute()
    detail = UnicodeAttribute()
    ssn_masked = UnicodeAttribute(null=True)
    period = UnicodeAttribute(null=True)
    insurance = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    first_rejected_at = UTCDateTimeAttribute()
    last_rejected_at = UTCDateTimeAttribute()
    receives = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)


class HolderPaymentsIndex(GlobalSecondaryIndex["PaymentModel"]):  # type: ignore[no-untyped-call]
    """A holder's payments, newest first (query descending on sort_key)."""

    class Meta:
        index_name = "by-holder"
        projection = AllProjection()

    person_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class InstitutionDayIndex(GlobalSecondaryIndex["PaymentModel"]):  # type: ignore[no-untyped-call]
    """An institution's payments of one business day, for reconciliation."""

    class Meta:
        index_name = "by-institution-day"
        projection = AllProjection()

    institution_day = UnicodeAttribute(hash_key=True)  # institution id # YYYY-MM-DD (China time)
    sort_key = UnicodeAttribute(range_key=True)


class PaymentModel(Model):
    """One card swipe. Money is integer fen; sort_key is paid_at (UTC, microseconds) # payment_id."""

    class Meta(_Meta):
        table_name = table_name("payments")

    payment_id = UnicodeAttribute(hash_key=True)
    institution_id = UnicodeAttribute()
    institution_name = UnicodeAttribute()
    institution_day = UnicodeAttribute()
    card_no = UnicodeAttribute()
    person_id = UnicodeAttribute()
    sort_key = UnicodeAttribute()
    amount_fen = NumberAttribute()
    account_paid_fen = NumberAttribute()
    self_pay_fen = NumberAttribute()
    self_pay = UnicodeAttribute()
    state = UnicodeAttribute()
    paid_at = UTCDateTimeAttribute()
    balance_after_fen = NumberAttribute()
    card_activated = BooleanAttribute(default=False)
    cancelled_at = UTCDateTimeAttribute(null=True)
    # The settlement split (issue #11); a payment from before it paid from the account only.
    visit = UnicodeAttribute(default="pharmacy")
    in_scope_fen = NumberAttribute(null=True)  # None: all of amount_fen
    fund_paid_fen = NumberAttribute(default=0)
    serious_illness_paid_fen = NumberAttribute(default=0)
    deductible_fen = NumberAttribute(default=0)
    notes = UnicodeAttribute(null=True)  # JSON [[code, detail], ...]
    counters_year = NumberAttribute(null=True)  # the year counters the payment added to
    counters_delta = UnicodeAttribute(null=True)  # JSON: what it added (its cancellation undoes it)
    registration_id = UnicodeAttribute(null=True)  # the stay a discharge settled

    by_holder = HolderPaymentsIndex()
    by_institution_day = InstitutionDayIndex()


class PaymentCancellationModel(Model):
    """A payment's cancellation: an item of its own, put on condition that none exists (so a
    payment is cancelled once), never an update of the append-only payment. A payment is
    cancelled exactly when this item exists."""

    class Meta(_Meta):
        table_name = table_name("payment-cancellations")

    payment_id = UnicodeAttribute(hash_key=True)
    institution_id = UnicodeAttribute()  # who cancelled it: the institution that took it
    person_id = UnicodeAttribute()
    cancelled_at = UTCDateTimeAttribute()


ALL_MODELS: tuple[type[Model], ...] = (
    CardModel,
    CardEventModel,
    HolderModel,
    SsnIndexModel,
    AccountModel,
    InstitutionModel,
    BankModel,
    CredentialModel,
    WebhookReceiptModel,
    RegistrationModel,
    ChargeModel,
    IdempotencyModel,
    PaymentModel,
    PaymentCancellationModel,
    PostingModel,
    ContributionMonthModel,
    FundBookShardModel,
    ContributionRejectionModel,
    YearCountersModel,
    PaidMonthsModel,
    DayEntryModel,
    OpeningBalanceModel,
)


def use_endpoint(url: str | None) -> None:
    """Point every model at another DynamoDB endpoint (None: the default resolution).

    PynamoDB caches a connection per model on first use, with the endpoint of
    that moment; dropping the caches makes the next call resolve it again.
    """
    if url is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = url
    for model in ALL_MODELS:
        model._connection = None


def create_tables() -> None:
    """Create every table that does not exist yet (local stack and tests)."""
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)

"""Fault injection at the botocore level (issue #7).

Every AWS call (PynamoDB's and boto3's both go through botocore.client.BaseClient.
_make_api_call) is counted while one use case runs; the Nth fails with one of:

- throttle: ProvisionedThroughputExceededException;
- conflict: TransactionCanceledException [TransactionConflict] (TransactionConflictException
  on a single-item call);
- timeout: ReadTimeoutError before the request reaches DynamoDB;
- crash: the call goes through, then ReadTimeoutError: written, but the answer is lost.

For each use case (payment, cancellation, service-center activation, contribution posting
through the worker handler; and settlement (issue #11): a hospital bill the pooled fund and the
serious-illness insurance pay part of, its cancellation, and a stay's discharge), each fault
and each N up to the number of calls it makes, the caller retries as a real one would (same
Idempotency-Key, or SQS redelivers the message), and then the invariants must hold over every
table: balance + paid - refunded == funded for every account, every payment applied once,
every contribution posted once, and every fund book equal to the sum of its postings. After
every settlement fault and its retry the ledger check (services/ledger.py, the rules `sscard
ledger check` runs) must pass too. mock_aws in process: single-threaded.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import count
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from chalice.test import Client
from moto import mock_aws

import app as app_module
from chalicelib import bootstrap as deps_module
from chalicelib.domain.holders import Participation
from chalicelib.domain.payments import PaymentState
from chalicelib.services import admin, ledger
from chalicelib.services.idempotency import LOCK_SECONDS
from chalicelib.storage.contributions import DynamoContributionStore
from chalicelib.storage.dynamo import DynamoCardStore, DynamoIdempotencyStore
from chalicelib.storage.ledger import DynamoLedgerSource
from chalicelib.storage.models import (
    AccountModel,
    CardModel,
    ContributionMonthModel,
    FundBookShardModel,
    PaymentCancellationModel,
    PaymentModel,
    PostingModel,
    create_tables,
    use_endpoint,
)
from chalicelib.storage.payments import DynamoPaymentStore, payment_of
from sscard_ops.seed import BANK_CODE, make_ssn, post_months_paid_on_time
from tests.client import ApiClient
from tests.conftest import NOW
from tests.contribution_helpers import failures, install, message, record, sqs_event
from tests.fakes import FakeSecrets
from tests.world import World

FAULTS = ("throttle", "conflict", "timeout", "crash")
TALLY: Counter[str] = Counter()
EVERY_STEP = os.environ.get("SSCARD_FAULTS_EVERY_STEP") == "1"


class Injector:
    """Fails the Nth AWS call made while armed."""

    def __init__(self, monkeypatch) -> None:
        self.armed = False
        self.fail_at = 0
        self.fault = ""
        self.calls = 0
        self.fired = False
        original = botocore.client.BaseClient._make_api_call
        injector = self

        def call(client, operation_name, api_params):
            if not injector.armed:
                return original(client, operation_name, api_params)
            injector.calls += 1
            if injector.calls != injector.fail_at:
                return original(client, operation_name, api_params)
            injector.fired = True
            if injector.fault == "crash":
                original(client, operation_name, api_params)
                raise ReadTimeoutError(endpoint_url="https://injected/after-write")
            if injector.fault == "timeout":
                raise ReadTimeoutError(endpoint_url="https://injected/before-write")
            raise ClientError(injector.error(operation_name, api_params), operation_name)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)

    def error(self, operation_name: str, api_params: dict[str, Any]) -> dict[str, Any]:
        if self.fault == "throttle":
            return {
                "Error": {
                    "Code": "ProvisionedThroughputExceededException",
                    "Message": "injected throttling",
                }
            }
        if operation_name in ("TransactWriteItems", "TransactGetItems"):
            items = api_params.get("TransactItems", [])
            reasons = [{"Code": "None"} for _ in items]
            if reasons:
                reasons[0] = {"Code": "TransactionConflict", "Message": "injected"}
            return {
                "Error": {
                    "Code": "TransactionCanceledException",
                    "Message": "Transaction cancelled, please refer cancellation reasons for specific "
                    "reasons [TransactionConflict]",
                },
                "CancellationReasons": reasons,
            }
        return {"Error": {"Code": "TransactionConflictException", "Message": "injected conflict"}}

    def arm(self, fault: str, fail_at: int) -> None:
        self.armed, self.fault, self.fail_at, self.calls, self.fired = True, fault, fail_at, 0, False

    def disarm(self) -> None:
        self.armed = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The test's own checks are not calls of the use case."""
        armed, self.armed = self.armed, False
        try:
            yield
        finally:
            self.armed = armed


class Rig:
    def __init__(self, world: World, injector: Injector) -> None:
        self.world = world
        self.injector = injector
        self.funded: dict[str, int] = {a.person_id: a.balance_fen for a in AccountModel.scan()}
        self.applied: Counter[str] = Counter()  # request key -> payments expected
        self._seq = count(1)

    def new_holder(self, balance: int = 10_000, *, card: str = "medical") -> tuple[str, str, str]:
        n = next(self._seq)
        born = date(1975, 1, 1) + timedelta(days=n)
        ssn = make_ssn(f"440301{born:%Y%m%d}{n % 1000:03d}")
        hashing_key = self.world.secrets.hashing_key()
        holder = admin.enroll_holder(
            self.world.store,
            hashing_key,
            ssn,
            f"Fault {n}",
            Participation.EMPLOYEE,
            self.world.now,
            balance_fen=balance,
        )
        if card == "medical":
            from chalicelib.domain.cards import CardKind

            issued = admin.issue_card(
                self.world.store, holder.person_id, self.world.now, kind=CardKind.MEDICAL_INSURANCE
            )
        else:
            issued = admin.issue_card(self.world.store, holder.person_id, self.world.now, bank_code=BANK_CODE)
        self.funded[holder.person_id] = balance
        return holder.person_id, issued.card_no, ssn

    def eligible_holder(self, balance: int = 50_000, *, card: str = "medical") -> str:
        """A holder with a year of medical and serious-illness months paid on time (eligible on
        the world's day), with a card as new_holder gives it; returns the card number."""
        person_id, card_no, _ = self.new_holder(balance, card=card)
        post_months_paid_on_time(
            self.world.contributions,
            person_id,
            12,
            self.world.now,
            id_prefix=card_no,
            medical_fen=2_000,
            serious_illness_fen=500,
            source=None,
        )
        return card_no

    def until_done(self, attempt: Callable[[], int]) -> list[int]:
        """The caller's retry loop: first try with the fault armed, then plain retries."""
        statuses = [attempt()]
        self.injector.disarm()
        for _ in range(4):
            if 200 <= statuses[-1] < 300:
                break
            if statuses[-1] == 409:
                # The key is still held by the crashed first try: the lock runs out.
                self.world.now += timedelta(seconds=LOCK_SECONDS + 1)
            statuses.append(attempt())
        return statuses


def check_invariants(rig: Rig) -> None:
    cancellations = {c.payment_id: c for c in PaymentCancellationModel.scan()}
    payments = [payment_of(p, cancellations.get(p.payment_id)) for p in PaymentModel.scan()]
    postings = [p for p in PostingModel.scan()]
    paid: Counter[str] = Counter()
    for p in payments:
        if p.state is PaymentState.COMPLETED:
            paid[p.person_id] += p.account_paid_fen
    credited: Counter[str] = Counter()
    for p in postings:
        credited[p.person_id] += p.personal_account_fen
    for account in AccountModel.scan():
        funded = rig.funded[account.person_id] + credited[account.person_id]
        assert account.balance_fen + paid[account.person_id] == funded, account.person_id
        assert account.balance_fen >= 0
    # Every payment applied once: one payment per card that was asked to pay once.
    per_card = Counter(p.card_no for p in payments)
    for card_no, expected in rig.applied.items():
        assert per_card[card_no] == expected, card_no
    # Every contribution posted once, and each month adds up its postings.
    months: dict[tuple[str, str], Any] = {}
    for m in ContributionMonthModel.scan():
        months[(m.person_id, m.month_key)] = m
        assert m.postings == len(m.contribution_ids or ()), m.month_key
    by_month: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for p in postings:
        by_month[(p.person_id, f"{p.period}#{p.insurance}")].append(p)
    assert set(by_month) == set(months)
    for key, posted in by_month.items():
        assert months[key].amount_fen == sum(p.amount_fen for p in posted), key
        assert months[key].contribution_ids == {p.contribution_id for p in posted}
    # Every fund book equals the sum of its postings.
    books: Counter[str] = Counter()
    book_postings: Counter[str] = Counter()
    for s in FundBookShardModel.scan():
        books[s.book] += s.total_fen
        book_postings[s.book] += s.postings
    assert books == Counter({b: v for b, v in _sum_by_book(postings, "amount_fen").items() if v})
    assert +book_postings == Counter(p.book for p in postings)


def check_ledger() -> None:
    """Every money conservation rule over every record, as `sscard ledger check` proves them."""
    failed = [r for r in ledger.check(DynamoLedgerSource()) if not r.passed]
    assert not failed, [(r.title, r.failures) for r in failed]


def _sum_by_book(postings: list[Any], attr: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for p in postings:
        out[p.book] += getattr(p, attr)
    return out


@pytest.fixture
def rig() -> Iterator[Rig]:
    # A world of its own for each use case's sweep: the invariants and the ledger check read
    # every table after each fault, so a world shared by the module made each sweep pay for
    # all the data the sweeps before it left (the last one took 5 minutes instead of 1).
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        use_endpoint(None)
        create_tables()
        world = World(
            DynamoCardStore(), DynamoIdempotencyStore(), FakeSecrets(), now=NOW, payments=DynamoPaymentStore()
        )
        world.contributions = DynamoContributionStore()
        install(world, world.contributions)
        # world.deps()'s clock reads world.now: it moves when a retry waits out a held key.
        injector = Injector(monkeypatch)
        try:
            yield Rig(world, injector)
        finally:
            deps_module.use(None)
            use_endpoint(None)


def sweep(
    rig: Rig, use_case: str, run_once: Callable[[Rig, str], Callable[[], int]], *, ledger_each: bool = False
) -> None:
    """Every fault at every position N until N passes the number of calls the use case makes;
    `ledger_each`: the ledger check after every fault and its retry."""
    for fault in FAULTS:
        n = 1
        while True:
            attempt = run_once(rig, f"{use_case}-{fault}-{n}")
            rig.injector.arm(fault, n)
            statuses = rig.until_done(attempt)
            fired = rig.injector.fired
            rig.injector.disarm()
            assert 200 <= statuses[-1] < 300, (use_case, fault, n, statuses)
            assert 500 not in statuses, (use_case, fault, n, statuses)
            if EVERY_STEP:
                check_invariants(rig)
            if ledger_each:
                check_ledger()
            if not fired:
                break  # the use case made fewer than n calls: every position was tried
            TALLY[f"{use_case}:{fault}"] += 1
            n += 1
        assert n > 1, f"{use_case} made no AWS call"
        # A broken invariant is lasting state: checked once per fault, it is still caught
        # (SSCARD_FAULTS_EVERY_STEP=1, as `make soak` sets, checks after every position).
        check_invariants(rig)


def payment_case(rig: Rig, label: str) -> Callable[[], int]:
    _, card_no, _ = rig.new_holder()
    rig.applied[card_no] = 1
    headers = {**rig.world.auth("pharmacy"), "Idempotency-Key": label}

    def attempt() -> int:
        with ApiClient() as api:
            return api.post("/v1/payments", {"card_no": card_no, "amount_fen": 1_500}, headers=headers).status

    return attempt


def cancellation_case(rig: Rig, label: str) -> Callable[[], int]:
    _, card_no, _ = rig.new_holder()
    rig.applied[card_no] = 1
    auth = rig.world.auth("pharmacy")
    with ApiClient() as api:
        r = api.post(
            "/v1/payments",
            {"card_no": card_no, "amount_fen": 2_500},
            headers={**auth, "Idempotency-Key": f"{label}-pay"},
        )
    assert r.status == 201, r
    payment_id = r.json["payment_id"]

    def attempt() -> int:
        with ApiClient() as api:
            r = api.post(f"/v1/payments/{payment_id}/cancel", headers={**auth, "Idempotency-Key": label})
            if r.status == 409 and r.json["type"].endswith(":payment-already-cancelled"):
                # The first try was applied but its answer was lost (a crash after the write): the
                # retry runs again (the key was freed by the 503) and gets API.md's documented
                # answer to a second cancel. Nothing is credited twice; the check below says so.
                with rig.injector.paused():
                    got = api.get(f"/v1/payments/{payment_id}", headers=auth)
                assert got.json["state"] == "cancelled"
                TALLY["cancellation: retry answered payment-already-cancelled"] += 1
                return 200
            return r.status

    return attempt


def activation_case(rig: Rig, label: str) -> Callable[[], int]:
    _, card_no, ssn = rig.new_holder(0, card="social_security")
    headers = {**rig.world.auth("service_center"), "Idempotency-Key": label}

    def attempt() -> int:
        with ApiClient() as api:
            status = api.post(f"/v1/cards/{card_no}/activate", {"ssn": ssn}, headers=headers).status
        if 200 <= status < 300:
            with rig.injector.paused():
                assert CardModel.get(card_no).state == "active"
        return status

    return attempt


def posting_case(rig: Rig, label: str) -> Callable[[], int]:
    _, _, ssn = rig.new_holder(0)
    body = message(ssn, label, insurance="medical", payer="employee", amount_fen=2_000)
    message_id = f"m-{label}"
    receives = count(1)

    def attempt() -> int:
        rec = record(body, message_id, receives=next(receives))
        with Client(app_module.app, stage_name="local") as client:
            try:
                payload = client.lambda_.invoke("post_contributions", sqs_event(rec)).payload
            except Exception:
                return 503  # the whole invocation failed: SQS redelivers the batch
        return 503 if failures(payload) else 200

    return attempt


# --- settlement (issue #11) -------------------------------------------------------------------

# An inpatient bill of 50,000 yuan (the per-payment maximum), all in scope: a first stay's share
# after the pooled fund is 8,605 yuan, so the holder's second such bill takes the serious-illness
# base past its 15,000-yuan threshold: the pooled fund and the serious-illness insurance both pay.
BIG_BILL = {"amount_fen": 5_000_000, "visit": "inpatient"}


def _year(api: ApiClient, rig: Rig, card_no: str) -> dict[str, Any]:
    with rig.injector.paused():
        r = api.get(f"/v1/cards/{card_no}/insured", headers=rig.world.auth("hospital"))
    assert r.status == 200, r
    year: dict[str, Any] = r.json["year"]
    return year


def _settled_bill(rig: Rig, card_no: str, key: str) -> dict[str, Any]:
    with ApiClient() as api:
        r = api.post(
            "/v1/payments",
            {"card_no": card_no, **BIG_BILL},
            headers={**rig.world.auth("hospital"), "Idempotency-Key": key},
        )
    assert r.status == 201, r
    answer: dict[str, Any] = r.json
    return answer


def settlement_case(rig: Rig, label: str) -> Callable[[], int]:
    """The holder's second big bill, with the faults: it takes fund and serious-illness pay."""
    card_no = rig.eligible_holder()
    first = _settled_bill(rig, card_no, f"{label}-first")
    rig.applied[card_no] = 2
    headers = {**rig.world.auth("hospital"), "Idempotency-Key": label}

    def attempt() -> int:
        with ApiClient() as api:
            r = api.post("/v1/payments", {"card_no": card_no, **BIG_BILL}, headers=headers)
            if r.status == 201:
                assert r.json["fund_paid_fen"] > 0 and r.json["serious_illness_paid_fen"] > 0, r
                year = _year(api, rig, card_no)
                # Counted once: the two bills' parts, whatever the faults made the first try do.
                assert year["inpatient_stays"] == 2
                assert year["fund_paid_fen"] == first["fund_paid_fen"] + r.json["fund_paid_fen"]
                assert year["serious_illness_paid_fen"] == r.json["serious_illness_paid_fen"]
            return r.status

    return attempt


def settlement_cancellation_case(rig: Rig, label: str) -> Callable[[], int]:
    """Cancelling a bill that took fund and serious-illness pay gives every part back once."""
    card_no = rig.eligible_holder()
    _settled_bill(rig, card_no, f"{label}-first")
    with ApiClient() as api:
        kept = _year(api, rig, card_no)
    second = _settled_bill(rig, card_no, f"{label}-second")
    assert second["serious_illness_paid_fen"] > 0, second
    rig.applied[card_no] = 2
    auth = rig.world.auth("hospital")
    path = f"/v1/payments/{second['payment_id']}"

    def attempt() -> int:
        with ApiClient() as api:
            r = api.post(f"{path}/cancel", headers={**auth, "Idempotency-Key": label})
            status = r.status
            if status == 409 and r.json["type"].endswith(":payment-already-cancelled"):
                # Applied, its answer lost (see cancellation_case): the retry is told so.
                TALLY["settlement cancellation: retry answered payment-already-cancelled"] += 1
                status = 200
            if 200 <= status < 300:
                with rig.injector.paused():
                    assert api.get(path, headers=auth).json["state"] == "cancelled"
                # Given back exactly once: the counters are the first bill's alone again.
                assert _year(api, rig, card_no) == kept
            return status

    return attempt


def discharge_case(rig: Rig, label: str) -> Callable[[], int]:
    """A stay of 120,000 yuan (above the per-payment maximum) settled at discharge."""
    card_no = rig.eligible_holder(card="social_security")  # the admission activates it
    auth = rig.world.auth("hospital")
    with ApiClient() as api:
        r = api.post("/v1/registrations", {"card_no": card_no, "visit": "inpatient"}, headers=auth)
        assert r.status == 201, r
        stay = f"/v1/registrations/{r.json['registration_id']}"
        for n in range(3):
            charge = {
                "charge_id": f"c{n}",
                "amount_fen": 4_000_000,
                "in_scope_fen": 4_000_000,
                "description": "ward",
            }
            assert api.post(f"{stay}/charges", charge, headers=auth).status == 201
    rig.applied[card_no] = 1

    def attempt() -> int:
        with ApiClient() as api:
            r = api.post(f"{stay}/discharge", headers={**auth, "Idempotency-Key": label})
            if r.status == 201:
                assert r.json["amount_fen"] == 12_000_000 and r.json["serious_illness_paid_fen"] > 0, r
                with rig.injector.paused():
                    closed = api.get(stay, headers=auth).json
                assert (
                    closed["state"] == "discharged" and closed["discharge_payment_id"] == r.json["payment_id"]
                )
                assert _year(api, rig, card_no)["inpatient_stays"] == 1
            return r.status

    return attempt


@pytest.mark.parametrize(
    ("use_case", "run_once"),
    [
        ("settlement", settlement_case),
        ("settlement-cancellation", settlement_cancellation_case),
        ("discharge", discharge_case),
    ],
)
def test_every_fault_in_a_settlement_is_survived_and_the_ledger_still_holds(rig, use_case, run_once):
    sweep(rig, use_case, run_once, ledger_each=True)
    survived = sum(TALLY[f"{use_case}:{fault}"] for fault in FAULTS)
    print(f"\n{use_case}: {survived} faults injected and survived, the ledger checked after each")
    assert survived >= len(FAULTS)
    check_ledger()


@pytest.mark.parametrize(
    ("use_case", "run_once"),
    [
        ("payment", payment_case),
        ("cancellation", cancellation_case),
        ("activation", activation_case),
        ("posting", posting_case),
    ],
)
def test_every_fault_at_every_call_is_survived_by_a_retry(rig, use_case, run_once):
    sweep(rig, use_case, run_once)
    survived = sum(TALLY[f"{use_case}:{fault}"] for fault in FAULTS)
    print(f"\n{use_case}: {survived} faults injected and survived: {dict(TALLY)}")
    assert survived >= len(FAULTS)


def test_posted_contributions_show_in_the_holder_history(rig):
    """A sanity check of the rig itself: a posting without faults credits the account once."""
    person_id, _, ssn = rig.new_holder(0)
    body = message(ssn, "c-sanity", insurance="medical", payer="employee", amount_fen=2_000)
    with Client(app_module.app, stage_name="local") as client:
        for receives in (1, 2):
            payload = client.lambda_.invoke(
                "post_contributions", sqs_event(record(json.dumps(body), "m-sanity", receives=receives))
            ).payload
            assert failures(payload) == []
    check_invariants(rig)
    assert AccountModel.get(person_id).balance_fen == 2_000

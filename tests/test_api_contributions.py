"""POST /v1/contributions (collection systems) and the holder's GET /v1/me/contributions and
GET /v1/me/coverage, through the HTTP API (chalice.test.Client) over fakes."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.domain.errors import StorageBusy
from tests.contribution_helpers import install, message, record, sqs_event
from tests.fakes import FakeContributionQueue, FakeContributionStore

PROBLEM = "application/problem+json"


@pytest.fixture
def world(fake_world):
    fake_world.contributions = FakeContributionStore(fake_world.store)
    fake_world.queue = FakeContributionQueue()
    install(fake_world, fake_world.contributions, fake_world.queue)
    return fake_world


def collection(world):
    return world.auth("collection")


def test_one_message_is_validated_and_queued(api, world):
    alice = world.seeded.holders["alice"]
    body = message(alice.ssn, "c-1")
    r = api.post("/v1/contributions", body, headers=collection(world))
    assert r.status == 202, r
    assert r.json == {"queued": 1, "contribution_ids": ["c-1"]}
    [sent] = world.queue.sent
    assert json.loads(sent.body) == body and sent.source == "COLLECTION"


def test_a_batch_is_queued_whole(api, world):
    alice, bob = world.seeded.holders["alice"], world.seeded.holders["bob"]
    batch = [message(alice.ssn, f"c-{i}") for i in range(3)]
    batch.append(message(bob.ssn, "c-bob", payer="individual", employer_id=None))
    r = api.post("/v1/contributions", {"contributions": batch}, headers=collection(world))
    assert r.status == 202, r
    assert r.json["queued"] == 4
    assert [json.loads(m.body) for m in world.queue.sent] == batch


def test_a_batch_with_an_invalid_message_queues_nothing_and_says_which(api, world):
    alice = world.seeded.holders["alice"]
    wrong_check = alice.ssn[:17] + ("0" if alice.ssn[17] != "0" else "1")
    batch = [
        message(alice.ssn, "c-0"),
        message(wrong_check, "c-1"),
        message(alice.ssn, "c-2", paid_at="2099-01-01T00:00:00+08:00"),
    ]
    r = api.post("/v1/contributions", {"contributions": batch}, headers=collection(world))
    assert r.status == 422 and r.headers["content-type"] == PROBLEM
    assert r.json["type"] == "urn:sscard:problem:invalid-contribution"
    assert [(e["field"], e["type"]) for e in r.json["errors"]] == [
        ("contributions.1", "invalid-ssn"),
        ("contributions.2", "invalid-contribution"),
    ]
    assert world.queue.sent == []


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"insurance": "dental"}, "insurance"),
        ({"amount_fen": "100"}, "amount_fen"),
        ({"amount_fen": 0}, "amount_fen"),
        ({"period": "2026-13"}, "period"),
        ({"extra": 1}, "extra"),
        ({"contribution_id": "has space"}, "contribution_id"),
    ],
)
def test_schema_errors_name_the_field(api, world, override, field):
    body = {**message(world.seeded.holders["alice"].ssn, "c-1"), **override}
    r = api.post("/v1/contributions", body, headers=collection(world))
    assert r.status == 422
    assert field in {e["field"] for e in r.json["errors"]}
    assert world.queue.sent == []


def test_the_employer_must_be_named_when_it_pays(api, world):
    body = message(world.seeded.holders["alice"].ssn, "c-1", employer_id=None)
    r = api.post("/v1/contributions", body, headers=collection(world))
    assert r.status == 422 and r.json["type"] == "urn:sscard:problem:invalid-contribution"
    assert "employer_id" in r.json["detail"]


def test_the_batch_size_is_bounded_and_ids_unique(api, world):
    ssn = world.seeded.holders["alice"].ssn
    too_many = [message(ssn, f"c-{i}") for i in range(101)]
    r = api.post("/v1/contributions", {"contributions": too_many}, headers=collection(world))
    assert r.status in (413, 422)
    r = api.post("/v1/contributions", {"contributions": []}, headers=collection(world))
    assert r.status == 422
    twice = [message(ssn, "c-same"), message(ssn, "c-same", period="2026-02")]
    r = api.post("/v1/contributions", {"contributions": twice}, headers=collection(world))
    assert r.status == 422 and "c-same" in r.json["detail"]
    assert world.queue.sent == []


def test_only_a_collection_system_may_queue(api, world):
    body = message(world.seeded.holders["alice"].ssn, "c-1")
    assert api.post("/v1/contributions", body, headers=world.auth("pharmacy")).status == 403
    assert api.post("/v1/contributions", body, headers=world.auth("alice")).status == 403
    assert api.post("/v1/contributions", body).status == 401
    assert world.queue.sent == []


def test_a_queue_outage_is_a_503_and_a_retry_queues_again_to_post_once_by_id(api, world):
    # Intake keeps no idempotency record: its messages are idempotent by contribution_id.
    body = message(world.seeded.holders["alice"].ssn, "c-1")
    world.queue.fail = StorageBusy("The contribution queue did not answer")
    r = api.post("/v1/contributions", body, headers=collection(world))
    assert r.status == 503 and r.headers["retry-after"]
    world.queue.fail = None
    for _ in range(2):
        r = api.post("/v1/contributions", body, headers=collection(world))
        assert r.status == 202 and "idempotent-replayed" not in r.headers
    assert [m.contribution_id for m in world.queue.sent] == ["c-1", "c-1"]
    post_through_worker(world, *[json.loads(m.body) for m in world.queue.sent])
    assert world.contributions.posted(["c-1"]) == {"c-1"}
    assert len(world.contributions.postings) == 1


# --- the holder's own ---------------------------------------------------------------------


def post_through_worker(world, *messages):
    """As the queue would: hand the messages to the worker."""
    with Client(app_module.app, stage_name="local") as client:
        answer = client.lambda_.invoke(
            "post_contributions", sqs_event(*[record(m) for m in messages])
        ).payload
    assert answer["batchItemFailures"] == []


def test_my_contributions_newest_first_and_paged(api, world):
    alice = world.seeded.holders["alice"]
    months = [f"2025-{m:02d}" for m in range(1, 6)]
    post_through_worker(
        world,
        *[message(alice.ssn, f"c-med-{p}", insurance="medical", period=p, amount_fen=8_000) for p in months],
        message(
            alice.ssn, "c-med-ee", insurance="medical", payer="employee", period="2025-05", amount_fen=2_000
        ),
    )
    r = api.get("/v1/me/contributions?limit=2", headers=world.auth("alice"))
    assert r.status == 200, r
    first = r.json["contributions"]
    assert [c["period"] for c in first] == ["2025-05", "2025-04"]
    assert first[0] == {
        "period": "2025-05",
        "insurance": "medical",
        "book": "medical",
        "amount_fen": 10_000,
        "postings": 2,
        "personal_account_fen": 2_000,
        "paid_on": ["2026-01-15"],
        "contribution_ids": ["c-med-2025-05", "c-med-ee"],
    }
    cursor = r.json["next_cursor"]
    rest = api.get(f"/v1/me/contributions?limit=10&cursor={cursor}", headers=world.auth("alice"))
    assert [c["period"] for c in rest.json["contributions"]] == ["2025-03", "2025-02", "2025-01"]
    assert rest.json["next_cursor"] is None
    other = api.get("/v1/me/contributions", headers=world.auth("bob"))
    assert other.json == {"contributions": [], "next_cursor": None}  # a holder sees only their own


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=!!", "cursor=bm90LWEta2V5"])
def test_bad_paging_is_a_422(api, world, query):
    r = api.get(f"/v1/me/contributions?{query}", headers=world.auth("alice"))
    assert r.status == 422 and r.headers["content-type"] == PROBLEM


def test_my_coverage_reports_continuity_and_serious_illness(api, world):
    bob = world.seeded.holders["bob"]  # a freelancer
    paid = [f"2025-{m:02d}" for m in range(1, 10)]
    post_through_worker(
        world,
        *[
            message(
                bob.ssn,
                f"c-si-{p}",
                insurance="serious_illness",
                payer="individual",
                employer_id=None,
                period=p,
                amount_fen=1_500,
                paid_at=f"{p}-10T09:00:00+08:00",
            )
            for p in paid
        ],
        message(
            bob.ssn,
            "c-pen",
            payer="individual",
            employer_id=None,
            period="2025-09",
            paid_at="2025-09-10T09:00:00+08:00",
        ),
    )
    r = api.get("/v1/me/coverage?on=2025-07-10", headers=world.auth("bob"))
    assert r.status == 200, r
    assert r.json["on"] == "2025-07-10"
    si = r.json["serious_illness"]
    assert (
        si["eligible"] is False
        and si["waiting_since"] == "2025-01-10"
        and si["eligible_from"] == "2025-07-11"
    )
    assert api.get("/v1/me/coverage?on=2025-07-11", headers=world.auth("bob")).json["serious_illness"][
        "eligible"
    ]
    # October unpaid: it may still be paid until 31 January (DEFAULT_GRACE_MONTHS), then it interrupts.
    grace = api.get("/v1/me/coverage?on=2025-11-02", headers=world.auth("bob")).json
    assert grace["serious_illness"]["eligible"] is True
    later = api.get("/v1/me/coverage?on=2026-02-01", headers=world.auth("bob")).json
    assert later["serious_illness"]["eligible"] is False
    by_type = {c["insurance"]: c for c in later["coverage"]}
    assert by_type["serious_illness"]["months_paid"] == 9
    assert by_type["serious_illness"]["missing_months"] == ["2025-10", "2025-11", "2025-12", "2026-01"]
    assert by_type["serious_illness"]["book"] == "medical"
    assert by_type["pension"]["first_period"] == "2025-09" and by_type["pension"]["insured"] is False
    assert by_type["work_injury"]["months_paid"] == 0


def test_coverage_defaults_to_today_and_refuses_bad_dates(api, world):
    r = api.get("/v1/me/coverage", headers=world.auth("alice"))
    assert r.status == 200 and r.json["on"] == "2026-11-25"  # the world's clock, China date
    for bad in ("2025-02-30", "tomorrow", "2025-2-1"):
        assert api.get(f"/v1/me/coverage?on={bad}", headers=world.auth("alice")).status == 422


def test_mobile_endpoints_are_for_holders_only(api, world):
    assert api.get("/v1/me/coverage", headers=collection(world)).status == 403
    assert api.get("/v1/me/contributions").status == 401


def test_the_openapi_document_describes_the_contribution_endpoints(api):
    doc = api.get("/openapi.json").json
    post = doc["paths"]["/v1/contributions"]["post"]
    assert "202" in post["responses"]
    schema = doc["components"]["schemas"]["ContributionMessage"]
    assert set(schema["required"]) >= {
        "contribution_id",
        "ssn",
        "period",
        "insurance",
        "payer",
        "amount_fen",
        "paid_at",
    }
    assert "/v1/me/coverage" in doc["paths"] and "/v1/me/contributions" in doc["paths"]

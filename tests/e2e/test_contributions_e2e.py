"""Contribution posting end to end over the real local stack: POST /v1/contributions, the queue,
the poller feeding the worker, then the fund books, the personal account, the coverage answer,
`sscard funds --check`, `sscard contributions import` and `sscard contributions rejected`."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests

from sscard_ops.seed import make_ssn

pytestmark = pytest.mark.e2e
PREFIX = "sscard-local-"  # .chalice/config.json, stage local
QUEUE = "sscard-local-contributions"
WAIT_SECONDS = 45


def aws(stack, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.aws_endpoint,
        region_name="cn-north-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def books(stack) -> dict[str, tuple[int, int]]:
    """Each book's (total fen, postings), summed over its shards, read straight from the table."""
    totals: dict[str, tuple[int, int]] = {}
    pages = aws(stack, "dynamodb").get_paginator("scan").paginate(TableName=PREFIX + "fund-books")
    for page in pages:
        for item in page["Items"]:
            book = item["book"]["S"]
            fen, count = totals.get(book, (0, 0))
            totals[book] = (fen + int(item["total_fen"]["N"]), count + int(item["postings"]["N"]))
    return totals


def delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    changed = {}
    for book in set(before) | set(after):
        b, a = before.get(book, (0, 0)), after.get(book, (0, 0))
        if a != b:
            changed[book] = (a[0] - b[0], a[1] - b[1])
    return changed


def balance(stack, person_id: str) -> int:
    item = aws(stack, "dynamodb").get_item(
        TableName=PREFIX + "accounts", Key={"person_id": {"S": person_id}}, ConsistentRead=True
    )["Item"]
    return int(item["balance_fen"]["N"])


def queue_drained(stack) -> bool:
    sqs = aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0
    )


def wait_for(what: str, check: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def queue(stack, messages: list[dict[str, Any]]) -> None:
    r = requests.post(
        stack.url("/v1/contributions"),
        json={"contributions": messages},
        headers=stack.auth("collection"),
        timeout=10,
    )
    assert r.status_code == 202, r.text
    assert r.json()["queued"] == len(messages)


def contribution(
    ssn: str, insurance: str, payer: str, amount: int, period: str = "2026-10", **kw: Any
) -> dict[str, Any]:
    body = {
        "contribution_id": f"e2e-{uuid.uuid4().hex[:16]}",
        "ssn": ssn,
        "period": period,
        "insurance": insurance,
        "payer": payer,
        "amount_fen": amount,
        "paid_at": f"{period}-10T09:00:00+08:00",
    }
    if payer == "employer":
        body["employer_id"] = "EMP-E2E"
    body.update(kw)
    return body


def working_age_ssn() -> str:
    """Born in 1990, male (odd 17th digit): within working age in 2025 and 2026."""
    seq = secrets.randbelow(500) * 2 + 1
    return make_ssn(f"1101051990{secrets.randbelow(12) + 1:02d}{secrets.randbelow(28) + 1:02d}{seq:03d}")


@pytest.fixture(scope="module")
def people(stack) -> dict[str, dict[str, str]]:
    employee_a, employee_b = stack.provision(2)
    ssn = working_age_ssn()
    enrolled = stack.cli(
        "holders", "enroll", "--ssn", ssn, "--name", "E2E Freelancer", "--participation", "freelancer"
    )
    assert enrolled.returncode == 0, enrolled.stderr
    return {"a": employee_a, "b": employee_b, "f": {"person_id": enrolled.stdout.strip(), "ssn": ssn}}


def test_posted_contributions_reach_books_account_and_coverage_once(stack, people):
    a, b, f = people["a"], people["b"], people["f"]
    serious = [
        contribution(f["ssn"], "serious_illness", "individual", 1_500, period=f"2025-{m:02d}")
        for m in range(1, 8)
    ]
    batch = [
        contribution(a["ssn"], "medical", "employer", 8_000),
        contribution(a["ssn"], "medical", "employee", 2_000),
        contribution(a["ssn"], "pension", "employer", 16_000),
        contribution(b["ssn"], "work_injury", "employer", 500),
        contribution(f["ssn"], "pension", "individual", 12_000, period="2025-07"),
        *serious,
    ]
    before_books, before_balance = books(stack), balance(stack, a["person_id"])
    queue(stack, batch)
    wait_for(
        "the poller to post the batch",
        lambda: queue_drained(stack) and balance(stack, a["person_id"]) > before_balance,
    )
    wait_for(
        "the books to count every posting",
        lambda: sum(c for _, c in delta(before_books, books(stack)).values()) == len(batch),
    )

    assert delta(before_books, books(stack)) == {
        "medical": (8_000 + 2_000 + 7 * 1_500, 2 + 7),
        "pension": (16_000 + 12_000, 2),
        "work_injury": (500, 1),
    }
    assert balance(stack, a["person_id"]) == before_balance + 2_000  # the employee's medical share
    account = requests.get(stack.url("/v1/me/account"), headers=stack.holder_auth(a["person_id"]), timeout=10)
    if account.status_code == 200:  # the payments API may answer it too
        assert account.json()["balance_fen"] == before_balance + 2_000

    coverage = requests.get(
        stack.url("/v1/me/coverage?on=2025-07-11"), headers=stack.holder_auth(f["person_id"]), timeout=10
    )
    assert coverage.status_code == 200, coverage.text
    si = coverage.json()["serious_illness"]
    assert si == {
        "eligible": True,
        "reason": "Paid without a gap since 2025-01",
        "waiting_since": "2025-01-10",
        "eligible_from": "2025-07-11",
    }
    on_boundary = requests.get(
        stack.url("/v1/me/coverage?on=2025-07-10"), headers=stack.holder_auth(f["person_id"]), timeout=10
    ).json()
    assert on_boundary["serious_illness"]["eligible"] is False
    history = requests.get(
        stack.url("/v1/me/contributions"), headers=stack.holder_auth(a["person_id"]), timeout=10
    )
    [medical] = [c for c in history.json()["contributions"] if c["insurance"] == "medical"]
    assert (medical["amount_fen"], medical["postings"], medical["personal_account_fen"]) == (10_000, 2, 2_000)

    checked = stack.cli("funds", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Every book equals the sum of its postings" in checked.stdout

    # The collection system sends the whole batch again: nothing posts twice.
    after_books = books(stack)
    queue(stack, batch)
    wait_for("the redelivered batch to be consumed", lambda: queue_drained(stack))
    assert books(stack) == after_books
    assert balance(stack, a["person_id"]) == before_balance + 2_000


def test_csv_import_queues_valid_rows_and_lists_the_others(stack, people, tmp_path):
    b = people["b"]
    rows = [
        contribution(b["ssn"], "unemployment", "employee", 300),
        contribution(b["ssn"], "unemployment", "employer", 700),
    ]
    bad = contribution(b["ssn"], "unemployment", "employer", 700, period="2026-13")
    columns = [
        "contribution_id",
        "ssn",
        "period",
        "insurance",
        "payer",
        "employer_id",
        "amount_fen",
        "paid_at",
    ]
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in [*rows, bad]]
    csv_file = tmp_path / "contributions.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    before = books(stack)
    done = stack.cli("contributions", "import", str(csv_file))
    assert done.returncode == 1, done.stdout + done.stderr  # one row was invalid
    assert "queued" in done.stdout and bad["contribution_id"] in done.stdout
    wait_for("the imported rows to post", lambda: delta(before, books(stack)) == {"unemployment": (1_000, 2)})
    again = stack.cli("contributions", "import", str(csv_file))
    assert again.returncode == 1
    wait_for("the re-import to be consumed", lambda: queue_drained(stack))
    assert delta(before, books(stack)) == {"unemployment": (1_000, 2)}


def test_an_ineligible_contribution_is_rejected_with_its_reason(stack, people):
    f = people["f"]
    ineligible = contribution(f["ssn"], "work_injury", "individual", 900)
    before = books(stack)
    queue(stack, [ineligible])

    def listed() -> bool:
        out = stack.cli("contributions", "rejected", "--limit", "1000")
        return ineligible["contribution_id"] in out.stdout and "contribution-ineligible" in out.stdout

    wait_for("the rejection to be listed", listed)
    assert books(stack) == before
    out = stack.cli("contributions", "rejected", "--limit", "1000").stdout
    assert f["ssn"] not in out  # only a masked SSN is ever stored

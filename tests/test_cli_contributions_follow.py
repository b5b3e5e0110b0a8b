"""`sscard contributions import` follows the posting: a bar that moves as rows post, and a
summary of posted, duplicate and rejected, with the queue worked by the real handler."""

from __future__ import annotations

import io

import pytest
from chalice.test import Client
from rich.console import Console
from rich.progress import Progress

import app as app_module
from sscard_ops import cli_contributions
from tests.contribution_helpers import install, message, record, sqs_event
from tests.fakes import FakeContributionStore

UNKNOWN_SSN = "11010519491231002X"  # valid, but nobody holds it


class WorkedQueue:
    """A queue the real handler drains one batch per tick, as the local poller would."""

    def __init__(self, client, bodies, progress):
        self.client = client
        self.waiting = list(bodies)
        self.progress = progress
        self.bar_at_each_tick: list[float] = []

    def pending(self) -> int:
        return len(self.waiting)

    def tick(self, _seconds: float) -> None:
        self.bar_at_each_tick.append(self.progress.tasks[0].completed)
        batch, self.waiting = self.waiting[:10], self.waiting[10:]
        if batch:
            self.client.lambda_.invoke("post_contributions", sqs_event(*[record(b) for b in batch]))


@pytest.fixture
def store(fake_world):
    contributions = FakeContributionStore(fake_world.store)
    install(fake_world, contributions)
    return contributions


def test_the_bar_follows_the_posting_and_the_summary_counts_each_outcome(fake_world, store):
    alice = fake_world.seeded.holders["alice"].ssn
    bodies = [message(alice, f"c-{i}", period=f"{2020 + i // 12}-{i % 12 + 1:02d}") for i in range(25)]
    bodies.append(message(UNKNOWN_SSN, "c-nobody"))
    progress = Progress(console=Console(file=io.StringIO()))
    with Client(app_module.app, stage_name="local") as client:
        client.lambda_.invoke("post_contributions", sqs_event(record(bodies[0]), record(bodies[1])))
        ids = [b["contribution_id"] for b in bodies]
        before = cli_contributions.already_posted(store, ids)
        queue = WorkedQueue(client, bodies, progress)  # the whole file again, as an import sends it
        new_ids = [i for i in ids if i not in before]

        summary = cli_contributions.follow_posting(
            store, new_ids, len(before), queue.pending, progress, every=0, sleep=queue.tick
        )

    assert before == {"c-0", "c-1"}
    assert (summary.posted, summary.duplicate, summary.unfinished) == (23, 2, 0)
    assert [(cid, reason) for cid, reason, _ in summary.rejected] == [("c-nobody", "holder-not-found")]
    [task] = progress.tasks
    assert task.description == "Posting" and task.completed == 23 and task.total == 24
    # It followed the queue as it drained (c-0 and c-1 are in the first batch but not new).
    assert queue.bar_at_each_tick == [0, 8, 18]


def test_rows_still_in_flight_when_the_queue_says_empty_are_counted_as_unfinished(fake_world, store):
    summary = cli_contributions.follow_posting(store, ["c-lost"], 0, lambda: 0, None, every=0)
    assert (summary.posted, summary.rejected, summary.unfinished) == (0, [], 1)

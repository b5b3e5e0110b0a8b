"""`sscard contributions import --max-waiting N`: it never lets more than N of its messages
wait in the queue, and it stops waiting as soon as the posting catches up."""

from __future__ import annotations

from sscard_ops import cli_contributions
from tests.conftest import NOW
from tests.fakes import FakeContributionQueue
from tests.test_cli_contributions import HEADER, row


class DrainedQueue(FakeContributionQueue):
    """A queue whose worker posts `per_pause` messages while the import sleeps."""

    def __init__(self, per_pause: int) -> None:
        super().__init__()
        self.per_pause = per_pause
        self.posted = 0
        self.deepest = 0

    def waiting(self) -> int:
        return len(self.sent) - self.posted

    def send(self, messages):  # type: ignore[no-untyped-def]
        super().send(messages)
        self.deepest = max(self.deepest, self.waiting())

    def pause(self, _seconds: float) -> None:
        self.posted = min(len(self.sent), self.posted + self.per_pause)


def test_the_import_waits_for_the_posting_and_queues_every_row(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text(HEADER + "".join(row(f"c-{i}") for i in range(250)))
    queue = DrainedQueue(per_pause=15)
    pressure = cli_contributions.Backpressure(queue.waiting, limit=40, sleep=queue.pause)
    summary = cli_contributions.import_file(path, queue, "OPS", NOW, backpressure=pressure)
    assert summary.queued == 250 and summary.ok
    assert queue.deepest <= 40 + 40 // 2 + cli_contributions.SEND_CHUNK  # at most one look late
    assert queue.posted > 0  # it did wait for the posting


def test_without_a_limit_nothing_waits(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text(HEADER + "".join(row(f"c-{i}") for i in range(100)))
    queue = DrainedQueue(per_pause=10)
    summary = cli_contributions.import_file(path, queue, "OPS", NOW)
    assert summary.queued == 100 and queue.posted == 0 and queue.deepest == 100

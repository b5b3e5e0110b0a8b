"""`sscard contributions import|rejected` and `sscard funds`: contribution posting for operators.

Mounted on the `sscard` app by sscard_ops/cli.py (`cli_contributions.register(app)`). The
commands reach the stage's stores the way the others do (cli.connect()), imported when a
command runs so that `sscard --help` stays fast and this module never imports cli.py at load.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from chalicelib.domain.errors import DomainError, StorageBusy
from chalicelib.services import contributions
from chalicelib.services.contribution_ports import QueuedContribution

COLUMNS = ("contribution_id", "ssn", "period", "insurance", "payer", "employer_id", "amount_fen", "paid_at")
OPTIONAL = {"employer_id"}
SEND_CHUNK = 10  # one SendMessageBatch
SHOW_PROBLEMS = 20
LOOKUP_CHUNK = 100  # one BatchGetItem of postings
LOOKUPS_PER_TICK = 10  # while following: at most this many BatchGetItems a second
DEFAULT_MAX_WAITING = 200  # messages queued ahead of the posting (Backpressure)

contributions_app = typer.Typer(help="Queue contribution files and see the ones that could not post.")
contributions_app.info.no_args_is_help = True


def register(app: typer.Typer) -> None:
    app.add_typer(contributions_app, name="contributions")
    app.command("funds")(funds)


def _consoles() -> tuple[Console, Console]:
    from sscard_ops.cli import console, err

    return console, err


# --- import ------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    rows: int = 0
    queued: int = 0
    queued_ids: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # line, id, reason
    repeated: list[tuple[int, str]] = field(default_factory=list)  # line, id
    not_queued: int = 0

    @property
    def ok(self) -> bool:
        return not (self.invalid or self.repeated or self.not_queued)


def row_message(row: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row as a contribution message: amount_fen a number, an empty employer_id absent."""
    message: dict[str, Any] = {k: (row.get(k) or "").strip() for k in COLUMNS}
    if not message["employer_id"]:
        del message["employer_id"]
    amount = message["amount_fen"]
    message["amount_fen"] = int(amount) if amount.isdigit() else amount
    return message


def check_columns(path: Path) -> None:
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL]
    if missing:
        raise typer.BadParameter(f"{path} has no column(s): {', '.join(missing)}")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    check_columns(path)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        for row in reader:
            yield reader.line_num, row


@dataclass
class Backpressure:
    """Queue no faster than the rows post: at most `limit` messages waiting in the queue.

    The local stack's SQS (moto) walks every message it holds on each send, receive and
    delete, so a file queued whole makes each of those operations cost in proportion to the
    file; kept to a few hundred, the queue stays cheap and the posting bar keeps up.
    """

    waiting: Callable[[], int]  # messages in the queue, visible or in flight
    limit: int
    pause: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    _sent_since_look: int = 0

    def before_send(self, count: int) -> None:
        self._sent_since_look += count
        if self._sent_since_look < self.limit // 2:
            return  # far from the limit since the last look: no need to ask
        while self.waiting() > self.limit:
            self.sleep(self.pause)
        self._sent_since_look = 0


def import_file(
    path: Path,
    queue: Any,
    source: str,
    now: Any,
    progress: Progress | None = None,
    backpressure: Backpressure | None = None,
) -> ImportSummary:
    """Validate every row as the API would and queue the valid ones, SEND_CHUNK at a time."""
    summary = ImportSummary()
    total = sum(1 for _ in read_rows(path))
    task = progress.add_task("Queueing", total=total) if progress else None
    seen: set[str] = set()
    chunk: list[QueuedContribution] = []

    def flush() -> None:
        if not chunk:
            return
        if backpressure is not None:
            backpressure.before_send(len(chunk))
        try:
            queue.send(list(chunk))
            summary.queued += len(chunk)
            summary.queued_ids.extend(c.contribution_id for c in chunk)
        except StorageBusy:
            summary.not_queued += len(chunk)
        chunk.clear()

    for line, row in read_rows(path):
        summary.rows += 1
        message = row_message(row)
        cid = str(message.get("contribution_id") or "")
        try:
            contributions.validate(message, now)
        except DomainError as exc:
            summary.invalid.append((line, cid, f"{exc.slug}: {exc.detail}"))
        else:
            if cid in seen:
                summary.repeated.append((line, cid))
            else:
                seen.add(cid)
                chunk.append(QueuedContribution(cid, json.dumps(message), source))
                if len(chunk) == SEND_CHUNK:
                    flush()
        if progress is not None and task is not None:
            progress.advance(task)
    flush()
    return summary


# --- following the posting ----------------------------------------------------------------


@dataclass
class PostingSummary:
    posted: int = 0  # posted by this import
    duplicate: int = 0  # had posted before this import (the worker leaves them as they are)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # id, reason, detail
    unfinished: int = 0  # neither posted nor rejected when following stopped


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def file_ids(path: Path) -> set[str]:
    return {cid for _, row in read_rows(path) if (cid := (row.get("contribution_id") or "").strip())}


def already_posted(store: Any, ids: Collection[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(list(ids), LOOKUP_CHUNK):
        found |= store.posted(chunk)
    return found


def _rejections_of(store: Any, ids: set[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    cursor: str | None = None
    while True:
        page, cursor = store.rejections(1000, cursor)
        for r in page:
            if r.contribution_id in ids:
                found[r.contribution_id] = (r.reason, r.detail)
        if cursor is None:
            return found


def follow_posting(
    store: Any,
    new_ids: list[str],
    duplicates: int,
    pending: Callable[[], int],
    progress: Progress | None = None,
    *,
    every: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PostingSummary:
    """Until the queue is drained: advance a bar as this import's new contributions post.

    `pending()` is how many messages the queue still holds (visible or in flight); each tick
    looks up at most LOOKUPS_PER_TICK x LOOKUP_CHUNK of the ids not yet seen posted, oldest
    first, so following costs the stack a few requests a second however large the file.
    When the queue is empty, every id left is looked up, then the rejections are read.
    """
    summary = PostingSummary(duplicate=duplicates)
    task = progress.add_task("Posting", total=len(new_ids)) if progress else None
    waiting = list(new_ids)

    def look(ids: list[str]) -> None:
        posted = already_posted(store, ids)
        if posted:
            waiting[:] = [i for i in waiting if i not in posted]
            summary.posted += len(posted)
            if progress is not None and task is not None:
                progress.advance(task, len(posted))

    while waiting and pending() > 0:
        look(waiting[: LOOKUP_CHUNK * LOOKUPS_PER_TICK])
        sleep(every)
    look(list(waiting))
    if waiting:
        rejected = _rejections_of(store, set(waiting))
        summary.rejected = [(i, *rejected[i]) for i in waiting if i in rejected]
        summary.unfinished = len(waiting) - len(summary.rejected)
    return summary


def queue_depth(queue_name: str) -> Callable[[], int]:
    """Messages still in `queue_name`, visible or being handled (SQS's approximate counts)."""
    import boto3

    sqs: Any = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def depth() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(n, 0)) for n in names)

    return depth


@contributions_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file")],
    source: Annotated[
        str, typer.Option(help="Recorded with each posting as the sending system")
    ] = "sscard-cli",
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow",
            help="After queueing, wait for the rows to post, with a progress bar and a summary",
        ),
    ] = True,
    max_waiting: Annotated[
        int,
        typer.Option(
            min=0,
            help="Queue no faster than the rows post: at most this many messages waiting in the "
            "queue (0: no limit). The local stack's queue slows as it fills",
        ),
    ] = DEFAULT_MAX_WAITING,
) -> None:
    """Queue a CSV file of contribution messages, one per row.

    Columns: contribution_id, ssn, period (YYYY-MM), insurance, payer, employer_id (when the
    employer pays), amount_fen, paid_at (ISO 8601). Every row is checked as POST
    /v1/contributions checks it; valid rows are queued, the others listed. Importing a file
    again is safe: a contribution_id posts once. Then (unless --no-follow) the posting is
    followed until the queue is empty, and counted: posted, duplicate (posted before this
    import), rejected (with the reason; also in `sscard contributions rejected`).
    """
    from sscard_ops.cli import connect, now, reported

    console, err = _consoles()
    check_columns(file)
    ops = connect()
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.queues import SqsContributionQueue

    queue_name = ops.stage_env["CONTRIBUTIONS_QUEUE"]
    queue = SqsContributionQueue(queue_name)
    store = DynamoContributionStore()
    posting: PostingSummary | None = None
    with reported(ops):
        # Looked up before queueing: the stack posts while the file is still being queued.
        before = already_posted(store, file_ids(file)) if follow else set()
    with (
        reported(ops),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as progress,
    ):
        depth = queue_depth(queue_name) if follow or max_waiting else None
        backpressure = Backpressure(depth, max_waiting) if depth and max_waiting else None
        started = time.monotonic()
        summary = import_file(file, queue, source, now(), progress, backpressure)
        queued_after = time.monotonic() - started
        if follow and summary.queued_ids and depth is not None:
            new_ids = [i for i in summary.queued_ids if i not in before]
            duplicates = len(summary.queued_ids) - len(new_ids)
            posting = follow_posting(store, new_ids, duplicates, depth, progress)
        finished_after = time.monotonic() - started
    table = Table(title=f"Imported {file.name}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (
        ("rows", summary.rows),
        ("queued", summary.queued),
        ("invalid", len(summary.invalid)),
        ("repeated contribution_id", len(summary.repeated)),
        ("not queued (queue unavailable)", summary.not_queued),
    ):
        table.add_row(label, str(value))
    if posting is not None:
        for label, value in (
            ("posted", posting.posted),
            ("duplicate (posted before)", posting.duplicate),
            ("rejected", len(posting.rejected)),
            ("neither yet (see `sscard contributions rejected`)", posting.unfinished),
        ):
            table.add_row(label, str(value))
    table.add_row("seconds until queued", f"{queued_after:.0f}")
    if posting is not None:
        table.add_row("seconds until posted", f"{finished_after:.0f}")
    console.print(table)
    if posting is not None and posting.rejected:
        rejected = Table(title="Rejected", title_justify="left")
        for column in ("contribution_id", "reason", "detail"):
            rejected.add_column(column, overflow="fold")
        for row in posting.rejected[:SHOW_PROBLEMS]:
            rejected.add_row(*row)
        console.print(rejected)
        if len(posting.rejected) > SHOW_PROBLEMS:
            console.print(f"... and {len(posting.rejected) - SHOW_PROBLEMS} more")
    if summary.invalid or summary.repeated:
        problems = Table(title="Rows not queued", title_justify="left")
        for column in ("line", "contribution_id", "reason"):
            problems.add_column(column, overflow="fold")
        listed = [(str(line), cid, reason) for line, cid, reason in summary.invalid]
        listed += [
            (str(line), cid, "repeated: an earlier row has this contribution_id")
            for line, cid in summary.repeated
        ]
        for row in sorted(listed, key=lambda r: int(r[0]))[:SHOW_PROBLEMS]:
            problems.add_row(*row)
        console.print(problems)
        if len(listed) > SHOW_PROBLEMS:
            console.print(f"... and {len(listed) - SHOW_PROBLEMS} more")
    if summary.not_queued:
        err.print("[yellow]Some rows were not queued; run the import again (queued rows post once).[/]")
    if not summary.ok or (posting is not None and (posting.rejected or posting.unfinished)):
        raise typer.Exit(1)


# --- rejected --------------------------------------------------------------------------------


@contributions_app.command("rejected")
def rejected_command(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many to list")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue where the previous listing stopped")] = None,
) -> None:
    """Contribution messages that can never post, with the reason (they also go to the DLQ)."""
    from sscard_ops.cli import connect, reported

    console, _ = _consoles()
    ops = connect()
    from chalicelib.storage.contributions import DynamoContributionStore

    with reported(ops):
        rows, next_cursor = contributions.rejected(DynamoContributionStore(), limit, cursor)
    table = Table(title="Rejected contributions", title_justify="left")
    for column in (
        "last rejected",
        "contribution",
        "ssn",
        "period",
        "insurance",
        "reason",
        "detail",
        "receives",
    ):
        table.add_column(column, overflow="fold")
    for r, posted_since in rows:
        table.add_row(
            r.at.isoformat(timespec="seconds"),
            r.contribution_id or r.key,
            r.ssn_masked or "",
            r.period or "",
            r.insurance or "",
            r.reason + (" (posted since)" if posted_since else ""),
            r.detail,
            str(r.receives),
        )
    console.print(table)
    if not rows:
        console.print("No rejected contributions.")
    if next_cursor:
        console.print(f"More: sscard contributions rejected --cursor {next_cursor}", soft_wrap=True)


# --- funds -----------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def funds(
    check: Annotated[
        bool,
        typer.Option(help="Also prove each book equals the sum of its postings (reads every posting)"),
    ] = False,
) -> None:
    """Each fund book's income (postings in), outflows (settlement pay out: pooled and
    serious-illness pay, medical book only) and balance = income - outflows, with its posting
    count and the part credited to personal accounts (summed over its shards)."""
    from sscard_ops.cli import connect, reported

    console, err = _consoles()
    ops = connect()
    from chalicelib.storage.contributions import DynamoContributionStore
    from chalicelib.storage.ledger import DynamoLedgerSource

    store = DynamoContributionStore()
    with reported(ops):
        checks = contributions.check_books(store) if check else None
        totals = {c.book: c.books for c in checks} if checks else store.book_totals()
        # The ledger check's own reading of the books: income, outflows and balance.
        books = {t.book: t for t in DynamoLedgerSource().book_totals()}
    table = Table(title="Fund books", title_justify="left")
    for column in (
        "book",
        "income (yuan)",
        "outflows (yuan)",
        "balance (yuan)",
        "balance fen",
        "postings",
        "to personal accounts (yuan)",
    ):
        table.add_column(column, justify="left" if column == "book" else "right")
    if checks:
        table.add_column("postings say", justify="right")
    for book, total in totals.items():
        money = books[book]
        row = [
            book.value,
            yuan(money.postings_in_fen),
            yuan(money.outflows_fen),
            yuan(money.balance_fen),
            str(money.balance_fen),
            str(total.postings),
            yuan(total.personal_account_fen),
        ]
        if checks:
            c = next(c for c in checks if c.book is book)
            row.append(
                "balanced" if c.balanced else f"[red]{c.postings.total_fen} fen, {c.postings.postings}[/]"
            )
        table.add_row(*row)
    console.print(table)
    if checks is not None:
        if all(c.balanced for c in checks):
            console.print("[green]Every book equals the sum of its postings.[/]")
        else:
            err.print("[red]A book does not equal the sum of its postings.[/]")
            raise typer.Exit(1)

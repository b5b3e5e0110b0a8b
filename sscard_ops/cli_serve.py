"""`sscard serve`: the whole service on loopback, and what it prints once it is ready."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sscard_ops import localstack
from sscard_ops.cli_common import console, err


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    api_port: Annotated[int, typer.Option(help="API port on 127.0.0.1 (0: any free port)")] = (
        localstack.DEFAULT_API_PORT
    ),
    moto_port: Annotated[
        int, typer.Option(help="moto (DynamoDB, SQS, Secrets Manager) port on 127.0.0.1 (0: any free port)")
    ] = localstack.DEFAULT_MOTO_PORT,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where seed.json and the dev issuer key go [default: .local, or $SSCARD_LOCAL_DIR]"
        ),
    ] = None,
    visibility_timeout: Annotated[
        int, typer.Option(help="Seconds before a failed queue message is delivered again")
    ] = 30,
) -> None:
    """The whole service on loopback: moto, the seeded stores, the HTTP API and the queue poller."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = localstack.LocalStack(
        api_port=api_port,
        moto_port=moto_port,
        local_dir=state_dir,
        visibility_timeout=visibility_timeout,
    )
    console.print("Starting the local stack...")
    try:
        info = stack.start()
    except localstack.PortInUse as exc:
        option = "--api-port" if exc.what == "API" else "--moto-port"
        err.print(
            f"[red]The {exc.what} port {exc.port} is in use[/] (another `sscard serve`?). Use {option}."
        )
        raise typer.Exit(1) from exc
    try:
        present(info)
        while not stop.wait(0.5):
            pass
    finally:
        console.print("Stopping: poller, API, moto...")
        stack.stop()
        console.print("Stopped.")


def present(info: localstack.StackInfo) -> None:
    seed = info.seed
    institutions = Table(title="Institutions (Authorization: Bearer <token>)", title_justify="left")
    for column in ("role", "institution id", "token"):
        institutions.add_column(column, overflow="fold")
    for role, token in seed["tokens"].items():
        institutions.add_row(role, seed["institutions"][role], token)
    holders = Table(title="Holders (new cards are issued, not yet activated)", title_justify="left")
    for column in ("role", "person id", "ssn", "new card", "old medical card", "balance fen"):
        holders.add_column(column, no_wrap=True)
    for role, h in seed["holders"].items():
        holders.add_row(
            role,
            h["person_id"],
            h["ssn"],
            h["card_no"],
            h["old_card_no"] or "",
            str(h["balance_fen"]),
        )
    bank = Table(title="Partner bank (Standard Webhooks secret)", title_justify="left")
    bank.add_column("bank code")
    bank.add_column("webhook secret", overflow="fold")
    bank.add_row(seed["bank_code"], seed["bank_secret"])
    for table in (institutions, holders, bank):
        console.print(table)

    seed_path = _shown(info.seed_file)
    console.print("\n[bold]Try it[/] (shell variables come from the seed file):")
    lines = [
        'eval "$(.venv/bin/sscard env)"',
        "curl -s $API/health -w '\\n'",
        'curl -s -X POST $API/v1/cards/$ALICE_CARD/activate -H "Authorization: Bearer $SC_TOKEN" '
        '-H \'Content-Type: application/json\' -d "{\\"ssn\\": \\"$ALICE_SSN\\"}" -w \'\\n\'',
        'curl -s -X POST $API/v1/registrations -H "Authorization: Bearer $HOSPITAL_TOKEN" '
        "-H 'Content-Type: application/json' "
        '-d "{\\"card_no\\": \\"$BOB_CARD\\", \\"visit\\": \\"outpatient\\"}" -w \'\\n\'',
        ".venv/bin/sscard webhook send $DAN_CARD $DAN_SSN --bank $BANK",
        "(README.md walks through the rest)",
    ]
    for line in lines:
        console.print("  " + line, soft_wrap=True, markup=False)
    queues = ", ".join(f"{q} -> {h}" for q, h in info.queues.items()) or "none yet"
    console.print()
    for line in (
        f"moto (DynamoDB, SQS, Secrets Manager) on {info.aws_endpoint}",
        f"API on {info.api_url}  (OpenAPI: {info.api_url}/openapi.json)",
        f"queue poller: {queues}",
        f"seeded credentials in {seed_path}. Ctrl-C stops everything.",
    ):
        console.print(f"[green]ready[/] {line}", soft_wrap=True)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)

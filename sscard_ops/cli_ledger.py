"""`sscard ledger check`: every money conservation rule, each with its figures; exit 1 when one fails."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True)
out = Console(highlight=False)


@app.callback()
def ledger() -> None:
    """The books, accounts and payments, proved to account for every fen."""


@app.command("check")
def check() -> None:
    """Prove DESIGN.md's Money conservation rules from the stored records (reads every record).

    Exit status 0 when every rule holds, 1 when one fails (its first failing records are listed).
    """
    from chalicelib.services import ledger
    from sscard_ops.cli_common import connect, reported

    ops = connect()
    from chalicelib.storage.ledger import DynamoLedgerSource

    with reported(ops):
        results = ledger.check(DynamoLedgerSource())
    table = Table(title="Money conservation", title_justify="left")
    table.add_column("rule")
    table.add_column("figures")
    table.add_column("holds", justify="center")
    for result in results:
        figures = "\n".join(f"{name} = {value:,}" for name, value in result.figures)
        table.add_row(result.title, figures, "[green]yes[/]" if result.passed else "[red]NO[/]")
    out.print(table)
    failed = [r for r in results if not r.passed]
    for result in failed:
        out.print(f"[red]{result.title}: {result.failure_count} failure(s)[/]")
        for failure in result.failures:
            out.print(f"  - {failure}")
    if failed:
        raise typer.Exit(1)
    out.print("[green]Every rule holds.[/]")

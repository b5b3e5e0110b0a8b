"""`sscard settlements policy`: the settlement policy in force, as a table.

Mounted on the `sscard` app by sscard_ops/cli.py (`app.add_typer(cli_settlements.app,
name="settlements")`). The policy is the SETTLEMENT_POLICY setting (JSON overrides of the
defaults of chalicelib/domain/settlement.py), read here from the environment as the functions
read it; an unknown key or a bad number is refused with the reason, exit 1.
"""

from __future__ import annotations

import os
from typing import assert_never

import typer
from rich.console import Console
from rich.table import Table

from chalicelib.domain.settlement import PolicyEntry, SettlementPolicy, Unit

SETTING = "SETTLEMENT_POLICY"

app = typer.Typer(no_args_is_help=True)


@app.callback()
def settlements() -> None:
    """Medical-insurance settlement: the policy that splits a bill."""
    # A callback keeps `settlements` a group of commands while it has only one.


def shown(entry: PolicyEntry) -> str:
    """The number as an operator reads it: yuan, a percentage, months."""
    value = entry.value
    match entry.unit:
        case Unit.FEN:
            return f"{value // 100:,}.{value % 100:02d} yuan"
        case Unit.BASIS_POINTS:
            whole, part = divmod(value, 100)
            return f"{whole}.{part:02d} %".replace(".00 %", " %")
        case Unit.MONTHS:
            return f"{value} month" + ("" if value == 1 else "s")
        case _:
            assert_never(entry.unit)


def _consoles() -> tuple[Console, Console]:
    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    for c in (out, err):
        if not c.is_terminal:
            c.width = 200  # piped or logged: one line per setting
    return out, err


@app.command("policy")
def policy() -> None:
    """The settlement policy in force: every number, its setting name and what it means.

    Defaults are DESIGN.md's; SETTLEMENT_POLICY (a JSON object) overrides any of them.
    """
    out, err = _consoles()
    raw = os.environ.get(SETTING, "")
    try:
        in_force = SettlementPolicy.from_json(raw)
    except ValueError as exc:
        err.print(f"[red]{SETTING} is not a valid settlement policy:[/] {exc}")
        raise typer.Exit(1) from exc
    source = f"{SETTING} over the defaults" if raw.strip() else "the defaults (SETTLEMENT_POLICY not set)"
    table = Table(title=f"Settlement policy: {source}", title_justify="left")
    table.add_column("setting")
    table.add_column("value", justify="right")
    table.add_column("as", justify="right")
    table.add_column("meaning", overflow="fold")
    defaults = SettlementPolicy()
    for entry in in_force.entries():
        changed = entry.value != getattr(defaults, entry.name)
        table.add_row(entry.name + (" *" if changed else ""), str(entry.value), shown(entry), entry.meaning)
    out.print(table)
    if in_force != defaults:
        out.print("* set by SETTLEMENT_POLICY")

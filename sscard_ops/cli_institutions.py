"""`sscard institutions` and `sscard banks`: who may call the API, and with which credential."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from chalicelib.domain.holders import InstitutionKind
from chalicelib.services import admin
from chalicelib.settings import DEFAULT_INSTITUTION_CACHE_SECONDS, INSTITUTION_CACHE_SECONDS
from sscard_ops.cli_common import connect, console, err, group, now, once, reported

institutions_app = group("Pharmacies, hospitals, service centers, collection systems.")
banks_app = group("Partner banks and their webhook secrets.")

# How long a running API may still accept a revoked token or an old designation.
TAKES_EFFECT = (
    f"It takes effect everywhere within {DEFAULT_INSTITUTION_CACHE_SECONDS:.0f} s "
    f"(the API's institution-token cache time, ${INSTITUTION_CACHE_SECONDS} where set)."
)

InstitutionArg = Annotated[str, typer.Argument(help="The institution's id")]


def register(app: typer.Typer) -> None:
    app.add_typer(institutions_app, name="institutions")
    app.add_typer(banks_app, name="banks")


@institutions_app.command("add")
def institutions_add(
    kind: Annotated[InstitutionKind, typer.Option(help="What the institution is")],
    name: Annotated[str, typer.Option(help="Its name")],
    designated: Annotated[
        bool, typer.Option(help="A designated medical-insurance pharmacy or hospital (takes the card)")
    ] = False,
    institution_id: Annotated[
        str | None, typer.Option("--id", help="The institution's id [default: generated]")
    ] = None,
) -> None:
    """Register an institution and print its first token."""
    ops = connect()
    with reported(ops):
        institution, token = admin.add_institution(
            ops.store,
            ops.hashing_key(),
            kind,
            name,
            now(),
            designated=designated,
            institution_id=institution_id,
        )
    if designated and not institution.designated:
        err.print("[yellow]Only pharmacies and hospitals are designated; ignored.[/]")
    console.print(
        f"Institution [bold]{institution.institution_id}[/]: {institution.kind.value}, "
        f"{institution.name}{', designated' if institution.designated else ''}"
    )
    once("Token", token)


@institutions_app.command("token")
def institutions_token(institution_id: InstitutionArg) -> None:
    """Issue another token to an institution. The old ones stay valid until revoked
    (`sscard institutions revoke`)."""
    ops = connect()
    with reported(ops):
        institution = admin.institution_of(ops.store, institution_id)
        token = admin.issue_token(ops.store, ops.hashing_key(), institution, now())
    once(f"Token for {institution.institution_id}", token)


@institutions_app.command("tokens")
def institutions_tokens(institution_id: InstitutionArg) -> None:
    """List an institution's tokens (by the start of their digest) and which are revoked."""
    ops = connect()
    with reported(ops):
        admin.institution_of(ops.store, institution_id)
        tokens = ops.institutions().tokens_of(institution_id)
    table = Table(title=f"Tokens of {institution_id}", title_justify="left")
    for column in ("digest", "issued", "revoked"):
        table.add_column(column, no_wrap=True)
    for t in tokens:
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        table.add_row(t.token_digest[:12], t.created_at.isoformat(timespec="seconds"), revoked)
    console.print(table)


@institutions_app.command(
    "revoke", help=f"Revoke one of an institution's tokens, or all of them. {TAKES_EFFECT}"
)
def institutions_revoke(
    institution_id: InstitutionArg,
    token: Annotated[
        str | None,
        typer.Option(
            help="The token to revoke; '-' reads it from standard input (keeps it out of shell history)"
        ),
    ] = None,
    revoke_all: Annotated[
        bool, typer.Option("--all", help="Revoke every token of the institution (then issue a new one)")
    ] = False,
) -> None:
    if (token is None) == (not revoke_all):
        err.print("[red]Give --token TOKEN or --all[/]")
        raise typer.Exit(2)
    ops = connect()
    with reported(ops):
        registry = ops.institutions()
        if revoke_all:
            revoked = admin.revoke_all_tokens(ops.store, registry, institution_id, now())
            console.print(f"Revoked {len(revoked)} token(s) of [bold]{institution_id}[/].")
            err.print("A token issued in the last moments may be missed: run it again to be sure.")
        else:
            value = sys.stdin.readline() if token == "-" else str(token)
            fresh = admin.revoke_token(registry, ops.hashing_key(), institution_id, value, now())
            console.print(
                f"Token of [bold]{institution_id}[/] " + ("revoked." if fresh else "was revoked already.")
            )
    err.print(TAKES_EFFECT)


@institutions_app.command(
    "designate", help=f"Designate a pharmacy or hospital for medical insurance. {TAKES_EFFECT}"
)
def institutions_designate(institution_id: InstitutionArg) -> None:
    _designation(institution_id, True)


@institutions_app.command(
    "undesignate", help=f"A pharmacy or hospital no longer takes the card. {TAKES_EFFECT}"
)
def institutions_undesignate(institution_id: InstitutionArg) -> None:
    _designation(institution_id, False)


def _designation(institution_id: str, designated: bool) -> None:
    ops = connect()
    with reported(ops):
        institution = admin.designate(ops.store, ops.institutions(), institution_id, designated)
    state = "designated" if institution.designated else "not designated"
    console.print(f"Institution [bold]{institution.institution_id}[/]: {institution.name}, {state}.")
    err.print(TAKES_EFFECT)


@banks_app.command("add")
def banks_add(
    code: Annotated[str, typer.Argument(help="The bank code used in the webhook path")],
    name: Annotated[str, typer.Option(help="The bank's name")],
) -> None:
    """Register a partner bank and print its webhook secret."""
    ops = connect()
    with reported(ops):
        secret = admin.add_bank(ops.store, ops.secrets, code, name)
    console.print(f"Bank [bold]{code}[/]: {name}; webhooks go to POST /v1/webhooks/banks/{code}")
    once("Webhook secret", secret)

"""`sscard holders` and `sscard cards`: enroll holders, issue cards, read a card's history."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chalicelib.domain.cards import CardKind
from chalicelib.domain.holders import Participation
from chalicelib.domain.identifiers import parse_card_no
from chalicelib.services import admin
from sscard_ops.cli_common import connect, console, err, group, now, reported

holders_app = group("Cardholders and their personal accounts.")
cards_app = group("Issue cards and read their history.")


def register(app: typer.Typer) -> None:
    app.add_typer(holders_app, name="holders")
    app.add_typer(cards_app, name="cards")


@holders_app.command("enroll")
def holders_enroll(
    ssn: Annotated[str, typer.Option(help="18-character citizen ID")],
    name: Annotated[str, typer.Option(help="The holder's name")],
    participation: Annotated[Participation, typer.Option(help="How the holder takes part")],
    balance_fen: Annotated[int, typer.Option(min=0, help="Opening personal account balance")] = 0,
    person_id: Annotated[str | None, typer.Option(help="The holder's id [default: generated]")] = None,
) -> None:
    """Enroll a holder and open their medical-insurance personal account."""
    ops = connect()
    with reported(ops):
        holder = admin.enroll_holder(
            ops.store,
            ops.hashing_key(),
            ssn,
            name,
            participation,
            now(),
            person_id=person_id,
            balance_fen=balance_fen,
        )
    # The id alone on stdout, so `ID=$(sscard holders enroll ...)` works.
    err.print(f"Holder [bold]{holder.person_id}[/]: {holder.name}, {holder.ssn_masked}, {participation}")
    typer.echo(holder.person_id)


@cards_app.command("issue")
def cards_issue(
    person_id: Annotated[str, typer.Argument(help="The enrolled holder's person id")],
    bank: Annotated[
        str | None, typer.Option(help="Issuing bank code (a social security card needs one)")
    ] = None,
    old_medical_card: Annotated[
        bool, typer.Option(help="Issue an old-style medical insurance card instead (in use at once)")
    ] = False,
    card_no: Annotated[str | None, typer.Option(help="The card number [default: generated]")] = None,
) -> None:
    """Issue a card. A new social security card starts unactivated and holds the account."""
    kind = CardKind.MEDICAL_INSURANCE if old_medical_card else CardKind.SOCIAL_SECURITY
    if kind is CardKind.SOCIAL_SECURITY and not bank:
        err.print("[red]A social security card needs --bank CODE[/]")
        raise typer.Exit(2)
    ops = connect()
    with reported(ops):
        card = admin.issue_card(ops.store, person_id, now(), bank_code=bank, kind=kind, card_no=card_no)
    err.print(f"Card [bold]{card.card_no}[/]: {card.kind.value}, {card.state.value}")
    typer.echo(card.card_no)


@cards_app.command("show")
def cards_show(card_no: Annotated[str, typer.Argument(help="The card number")]) -> None:
    """A card's state and its history of state changes."""
    ops = connect()
    with reported(ops):
        number = parse_card_no(card_no)
        card = ops.store.get_card(number)
        if card is None:
            err.print("[red]No such card[/]")
            raise typer.Exit(1)
        events = ops.store.card_events(number)
    summary = Table(show_header=False, title=f"Card {card.card_no}", title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("kind", card.kind.value),
        ("state", card.state.value),
        ("holder", card.person_id),
        ("issuing bank", card.issuing_bank or ""),
        ("financial function", "active" if card.financial_active else "inactive"),
        ("issued", card.issued_at.isoformat(timespec="seconds")),
        ("activated", card.activated_at.isoformat(timespec="seconds") if card.activated_at else ""),
    ):
        summary.add_row(label, value)
    console.print(summary)
    history = Table(title="History", title_justify="left")
    for column in ("at", "action", "from", "to", "channel", "institution", "detail"):
        history.add_column(column)
    for e in events:
        history.add_row(
            e.at.isoformat(timespec="seconds"),
            e.action.value,
            e.from_state.value,
            e.to_state.value,
            e.channel.value,
            e.institution_id or "",
            e.detail or "",
        )
    console.print(history)

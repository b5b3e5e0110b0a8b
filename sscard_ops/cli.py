"""`sscard`: the local stack, and operator tasks against the stage's stores.

Commands work against whichever endpoint AWS_ENDPOINT_URL names (the local
stack's, http://127.0.0.1:5001, by default), with the table and secret
prefixes of the `local` stage in .chalice/config.json. The operator use cases
are those of chalicelib/services/admin.py; this module only parses and prints.
Credentials are printed once and kept nowhere but their stores.

A new command group is a Typer of its own added to `app` next to the others
(see "Command groups" below); a single command is an `@app.command()`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from chalicelib.domain.cards import CardKind
from chalicelib.domain.errors import DomainError, StorageBusy
from chalicelib.domain.holders import InstitutionKind, Participation
from chalicelib.domain.identifiers import mask_ssn, parse_card_no
from chalicelib.services import admin
from sscard_ops import cli_contributions, devjwt, localstack

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
for _console in (console, err):
    if not _console.is_terminal:
        _console.width = 200  # piped or logged: do not fold tokens and card numbers at 80 columns

app = typer.Typer(
    name="sscard",
    help="Social security card service: the local stack and operator tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# --- Command groups ----------------------------------------------------------------------
institutions_app = typer.Typer(help="Pharmacies, hospitals, service centers, collection systems.")
banks_app = typer.Typer(help="Partner banks and their webhook secrets.")
holders_app = typer.Typer(help="Cardholders and their personal accounts.")
cards_app = typer.Typer(help="Issue cards and read their history.")
webhook_app = typer.Typer(help="Sign and send a bank's counter-activation webhook (local testing).")
for group, group_name in (
    (institutions_app, "institutions"),
    (banks_app, "banks"),
    (holders_app, "holders"),
    (cards_app, "cards"),
    (webhook_app, "webhook"),
):
    group.info.no_args_is_help = True
    app.add_typer(group, name=group_name)
cli_contributions.register(app)  # `contributions import|rejected`, `funds`


def main() -> None:
    app()


# --- Connection to the stage's stores ----------------------------------------------------


@dataclass
class Ops:
    endpoint: str
    store: Any  # DynamoCardStore
    secrets: Any  # SecretsManagerSource
    stage_env: dict[str, str]

    def hashing_key(self) -> bytes:
        key: bytes = self.secrets.hashing_key()
        return key


def endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or localstack.DEFAULT_ENDPOINT


def connect() -> Ops:
    """Point this process at the endpoint, then load storage (its models read the table prefix)."""
    url = endpoint()
    stage_env = localstack.use_endpoint(url, localstack.project_dir())
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.secrets import SecretsManagerSource

    return Ops(url, DynamoCardStore(), SecretsManagerSource(stage_env["SECRETS_PREFIX"]), stage_env)


@contextmanager
def reported(ops: Ops | None = None) -> Iterator[None]:
    """A refusal or an unreachable store is a one-line message and exit status 1, not a traceback."""
    try:
        yield
    except StorageBusy as exc:
        where = ops.endpoint if ops else endpoint()
        err.print(f"[red]{exc.detail}[/] ({where}). Is `sscard serve` running?")
        raise typer.Exit(1) from exc
    except DomainError as exc:
        err.print(f"[red]{exc.title}:[/] {exc.detail}")
        raise typer.Exit(1) from exc


def now() -> datetime:
    return datetime.now(UTC)


def once(label: str, value: str) -> None:
    """A credential: shown once, unwrapped so it can be copied."""
    console.print(f"[bold]{label}[/] (shown once, store it now):")
    console.print(value, soft_wrap=True, markup=False)


# --- serve ---------------------------------------------------------------------------------


@app.command()
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
        'eval "$(.venv/bin/python -c \'import json; [print(f"export {k}={v}") for k, v in '
        f'json.load(open("{seed_path}"))["env"].items()]\')"',
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


# --- institutions, banks, holders, cards ---------------------------------------------------


@institutions_app.command("add")
def institutions_add(
    kind: Annotated[InstitutionKind, typer.Option(help="What the institution is")],
    name: Annotated[str, typer.Option(help="Its name")],
    designated: Annotated[
        bool, typer.Option(help="A designated medical-insurance pharmacy or hospital (takes the card)")
    ] = False,
    institution_id: Annotated[str | None, typer.Option("--id", help="[default: generated]")] = None,
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
def institutions_token(institution_id: str) -> None:
    """Issue another token to an institution (the old ones stay valid)."""
    ops = connect()
    with reported(ops):
        institution = ops.store.get_institution(institution_id)
        if institution is None:
            err.print(f"[red]No institution {institution_id}[/]")
            raise typer.Exit(1)
        token = admin.issue_token(ops.store, ops.hashing_key(), institution, now())
    once(f"Token for {institution.institution_id}", token)


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


@holders_app.command("enroll")
def holders_enroll(
    ssn: Annotated[str, typer.Option(help="18-character citizen ID")],
    name: Annotated[str, typer.Option(help="The holder's name")],
    participation: Annotated[Participation, typer.Option(help="How the holder takes part")],
    balance_fen: Annotated[int, typer.Option(min=0, help="Opening personal account balance")] = 0,
    person_id: Annotated[str | None, typer.Option(help="[default: generated]")] = None,
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
    person_id: str,
    bank: Annotated[
        str | None, typer.Option(help="Issuing bank code (a social security card needs one)")
    ] = None,
    old_medical_card: Annotated[
        bool, typer.Option(help="Issue an old-style medical insurance card instead (in use at once)")
    ] = False,
    card_no: Annotated[str | None, typer.Option(help="[default: generated]")] = None,
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
def cards_show(card_no: str) -> None:
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


# --- development helpers ---------------------------------------------------------------------


@app.command("dev-token")
def dev_token(
    person_id: str,
    ttl: Annotated[int, typer.Option(help="Seconds until it expires")] = 3600,
) -> None:
    """Mint a mobile-app JWT for a holder, signed by the local stack's dev issuer."""
    key_file = localstack.state_dir() / localstack.ISSUER_KEY_FILE
    if not key_file.exists():
        err.print(
            f"[yellow]Created a new dev issuer key in {key_file}; (re)start `sscard serve` to trust it.[/]"
        )
    pem = devjwt.load_or_create(key_file)
    stage_env = localstack.chalice_config(localstack.project_dir()).environment_variables
    token = devjwt.mint(
        pem,
        person_id,
        issuer=stage_env["MOBILE_JWT_ISSUER"],
        audience=stage_env["MOBILE_JWT_AUDIENCE"],
        ttl_seconds=ttl,
    )
    typer.echo(token)


@dataclass(frozen=True)
class SignedWebhook:
    url: str
    headers: dict[str, str]
    body: str


def _signed_webhook(
    card_no: str,
    ssn: str,
    bank: str,
    outlet: str,
    webhook_id: str | None,
    api: str | None,
    secret: str | None,
) -> SignedWebhook:
    from standardwebhooks.webhooks import Webhook

    at = now()
    msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    payload = {
        "type": "card.counter_activated",
        "timestamp": at.isoformat(),
        "data": {"card_no": card_no, "ssn": ssn, "outlet_id": outlet},
    }
    body = json.dumps(payload)
    key = secret or _bank_secret(bank)
    signature = Webhook(key).sign(msg_id, at, body)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    base = (api or os.environ.get("SSCARD_API_URL") or localstack.DEFAULT_API_URL).rstrip("/")
    return SignedWebhook(f"{base}/v1/webhooks/banks/{bank}", headers, body)


def _bank_secret(bank: str) -> str:
    """The seeded bank's secret from seed.json; another bank's from the secret store."""
    seed_file = localstack.state_dir() / localstack.SEED_FILE
    if seed_file.exists():
        seed = json.loads(seed_file.read_text())
        if seed.get("bank_code") == bank:
            return str(seed["bank_secret"])
    ops = connect()
    with reported(ops):
        secrets = ops.secrets.bank_secrets(bank)
    if not secrets:
        err.print(f"[red]No webhook secret for bank {bank}[/] (pass --secret)")
        raise typer.Exit(1)
    return str(secrets[0])


CardArg = Annotated[str, typer.Argument(help="The card number")]
SsnArg = Annotated[str, typer.Argument(help="The holder's citizen ID, as checked at the counter")]
BankOpt = Annotated[str, typer.Option(help="The issuing bank's code")]
OutletOpt = Annotated[str, typer.Option(help="The bank outlet")]
IdOpt = Annotated[str | None, typer.Option("--id", help="webhook-id [default: new]; reuse it to redeliver")]
ApiOpt = Annotated[
    str | None, typer.Option(help="API base URL [default: $SSCARD_API_URL or http://127.0.0.1:8000]")
]
SecretOpt = Annotated[str | None, typer.Option(help="whsec_... [default: seed.json or the secret store]")]


@webhook_app.command("sign")
def webhook_sign(
    card_no: CardArg,
    ssn: SsnArg,
    bank: BankOpt,
    outlet: OutletOpt = "OUTLET-001",
    webhook_id: IdOpt = None,
    api: ApiOpt = None,
    secret: SecretOpt = None,
) -> None:
    """Print a signed card.counter_activated webhook as a curl command."""
    hook = _signed_webhook(card_no, ssn, bank, outlet, webhook_id, api, secret)
    parts = [f"curl -s -X POST '{hook.url}'"]
    parts += [f"-H '{k}: {v}'" for k, v in hook.headers.items()]
    parts.append(f"-d '{hook.body}'")
    typer.echo(" \\\n  ".join(parts))


@webhook_app.command("send")
def webhook_send(
    card_no: CardArg,
    ssn: SsnArg,
    bank: BankOpt,
    outlet: OutletOpt = "OUTLET-001",
    webhook_id: IdOpt = None,
    api: ApiOpt = None,
    secret: SecretOpt = None,
) -> None:
    """Sign a card.counter_activated webhook with the bank's secret and POST it to the API."""
    import requests

    hook = _signed_webhook(card_no, ssn, bank, outlet, webhook_id, api, secret)
    try:
        response = requests.post(hook.url, data=hook.body.encode(), headers=hook.headers, timeout=10)
    except requests.ConnectionError as exc:
        err.print(f"[red]No answer from {hook.url}[/]. Is `sscard serve` running?")
        raise typer.Exit(1) from exc
    err.print(f"HTTP {response.status_code}, webhook-id {hook.headers['webhook-id']}, ssn {mask_ssn(ssn)}")
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


if __name__ == "__main__":
    main()

"""Development helpers: the seeded credentials as shell variables, mobile-app JWTs, and
signed bank webhooks for the local stack."""

from __future__ import annotations

import json
import os
import shlex
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from chalicelib.domain.identifiers import mask_ssn
from sscard_ops import devjwt, localstack
from sscard_ops.cli_common import connect, err, group, now, reported

webhook_app = group("Sign and send a bank's counter-activation webhook (local testing).")


def register(app: typer.Typer) -> None:
    app.command("env")(env)
    app.command("dev-token")(dev_token)
    app.add_typer(webhook_app, name="webhook")


def _seed() -> dict[str, Any] | None:
    seed_file = localstack.state_dir() / localstack.SEED_FILE
    if not seed_file.exists():
        return None
    seed: dict[str, Any] = json.loads(seed_file.read_text())
    return seed


def seed_variables(seed: dict[str, Any]) -> dict[str, str]:
    """The walk-through's variables, then where the CLI and AWS clients reach the stack."""
    return {
        **seed["env"],
        "SSCARD_API_URL": seed["api_url"],
        "AWS_ENDPOINT_URL": seed["aws_endpoint"],
    }


def env() -> None:
    """Print the running local stack's credentials and endpoints as shell exports.

    Load them with: eval "$(.venv/bin/sscard env)". They include $API, the institution
    tokens, each seeded holder's id, SSN and card, and AWS_ENDPOINT_URL (moto), so later
    `sscard` commands reach the same stack.
    """
    seed = _seed()
    if seed is None:
        err.print(
            f"[red]No {localstack.state_dir() / localstack.SEED_FILE}[/]: start the local stack "
            "(`make run`) and wait for its ready lines."
        )
        raise typer.Exit(1)
    for name, value in seed_variables(seed).items():
        typer.echo(f"export {name}={shlex.quote(value)}")


def dev_token(
    person_id: Annotated[str, typer.Argument(help="The holder's person id (the JWT's sub)")],
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
    seed = _seed()
    if seed is not None and seed.get("bank_code") == bank:
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

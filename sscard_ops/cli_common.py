"""What every `sscard` command module shares: the consoles, the connection to the stage's
stores, and how refusals are reported. sscard_ops/cli.py re-exports these names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console

from chalicelib.domain.errors import DomainError, StorageBusy
from sscard_ops import localstack

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
for _console in (console, err):
    if not _console.is_terminal:
        _console.width = 200  # piped or logged: do not fold tokens and card numbers at 80 columns


@dataclass
class Ops:
    endpoint: str
    store: Any  # DynamoCardStore
    secrets: Any  # SecretsManagerSource
    stage_env: dict[str, str]

    def hashing_key(self) -> bytes:
        key: bytes = self.secrets.hashing_key()
        return key

    def institutions(self) -> Any:  # DynamoInstitutionRegistry
        from chalicelib.storage.institutions import DynamoInstitutionRegistry

        return DynamoInstitutionRegistry()


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


def group(help_text: str) -> typer.Typer:
    """A command group: `sscard <group>` alone prints its help."""
    return typer.Typer(help=help_text, no_args_is_help=True)

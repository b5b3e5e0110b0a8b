"""`sscard ... --help`: every command, option and argument says what it is, and no flag
shows a stray `<bool>` type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sscard_ops.cli import app

Command = Any  # typer's own (vendored) click command classes


def commands(group: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    yield path, group
    if hasattr(group, "list_commands"):
        ctx = typer.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            yield from commands(command, (*path, name))


ALL = list(commands(typer.main.get_command(app)))
IDS = [" ".join(path) or "sscard" for path, _ in ALL]


def test_every_command_group_is_there():
    names = {" ".join(path) for path, _ in ALL}
    for expected in (
        "serve",
        "env",
        "dev-token",
        "institutions add",
        "institutions token",
        "institutions tokens",
        "institutions revoke",
        "institutions designate",
        "institutions undesignate",
        "banks add",
        "holders enroll",
        "cards issue",
        "cards show",
        "contributions import",
        "contributions rejected",
        "funds",
        "webhook sign",
        "webhook send",
    ):
        assert expected in names


@pytest.mark.parametrize(("path", "command"), ALL, ids=IDS)
def test_every_option_and_argument_has_help(path, command):
    assert command.help, f"{' '.join(path)} has no help"
    for param in command.params:
        assert getattr(param, "help", None), f"{' '.join(path)}: {param.name} has no help"


@pytest.mark.parametrize(("path", "command"), ALL, ids=IDS)
def test_help_shows_no_type_on_flags(path, command):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    for param in command.params:
        if param.param_type_name == "option" and param.help and "[default:" in param.help:
            assert "[default:" in result.output  # not eaten as markup


def test_revoke_says_when_it_takes_effect():
    result = CliRunner().invoke(app, ["institutions", "revoke", "--help"])
    assert "within 60 s" in " ".join(result.output.split())

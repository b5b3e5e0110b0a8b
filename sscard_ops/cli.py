"""`sscard`: the local stack, and operator tasks against the stage's stores.

Commands work against whichever endpoint AWS_ENDPOINT_URL names (the local
stack's, http://127.0.0.1:5001, by default), with the table and secret
prefixes of the `local` stage in .chalice/config.json. The operator use cases
are those of chalicelib/services/admin.py; the command modules only parse and
print. Credentials are printed once and kept nowhere but their stores.

This module is the root: each job's commands live in a module of their own,
which adds them to `app` with `register(app)`. A new group (settlements, say)
is one more line below.
"""

from __future__ import annotations

import typer

from sscard_ops import (
    cli_cards,
    cli_contributions,
    cli_dev,
    cli_institutions,
    cli_ledger,
    cli_serve,
    cli_settlements,
)
from sscard_ops.cli_common import Ops, connect, console, endpoint, err, now, once, reported

__all__ = ["Ops", "app", "connect", "console", "endpoint", "err", "main", "now", "once", "reported"]

app = typer.Typer(
    name="sscard",
    help="Social security card service: the local stack and operator tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's panels give every flag a `<bool>` type and eat "[default: ...]".
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)

cli_serve.register(app)  # `serve`
cli_institutions.register(app)  # `institutions add|token|tokens|revoke|designate|undesignate`, `banks add`
cli_cards.register(app)  # `holders enroll`, `cards issue|show`
cli_contributions.register(app)  # `contributions import|rejected`, `funds`
cli_dev.register(app)  # `env`, `dev-token`, `webhook sign|send`
app.add_typer(cli_settlements.app, name="settlements")  # `settlements policy`
app.add_typer(cli_ledger.app, name="ledger")  # `ledger check`


def main() -> None:
    app()


if __name__ == "__main__":
    main()

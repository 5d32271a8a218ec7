"""The ``matcher`` command: parse, call the engine, print. No scoring happens here.

common    consoles, exit codes, the engine factory, progress bars, import reports
records   ``matcher import`` and ``matcher geo load``
matching  ``matcher index``, ``match`` and ``demo``
digest    ``matcher digest``, ``unsubscribe`` and ``reminders``
duplicates  ``matcher duplicates``
accounts  ``matcher users``
serve     ``matcher serve``
ranker    ``matcher ranker train`` and ``evaluate``
"""

from __future__ import annotations

import typer

from matcher.cli import digest, matching
from matcher.cli.accounts import users_app
from matcher.cli.duplicates import duplicates
from matcher.cli.ranker import ranker_app
from matcher.cli.records import geo_app, import_app
from matcher.cli.serve import serve

app = typer.Typer(
    help="matcher : des opportunités rurales pour des porteurs de projet urbains.",
    no_args_is_help=True,
    # A traceback's local variables would print records' values (names, addresses).
    pretty_exceptions_show_locals=False,
)
app.add_typer(import_app, name="import")
app.add_typer(geo_app, name="geo")
app.add_typer(users_app, name="users")
app.add_typer(ranker_app, name="ranker")
app.command("index")(matching.index)
app.command("match")(matching.match)
app.command("demo")(matching.demo)
app.command("duplicates")(duplicates)
app.command("digest")(digest.digest)
app.command("unsubscribe")(digest.unsubscribe)
app.command("reminders")(digest.reminders)
app.command("serve")(serve)

__all__ = ["app"]

"""``matcher digest``, ``matcher unsubscribe`` and ``matcher reminders``: the weekly e-mail jobs
from the command line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import typer

from matcher.cli.common import EXIT_INCOMPLETE, engine_for, out, progress_bar
from matcher.digest import run_digest
from matcher.digest import unsubscribe as unsubscribe_holder
from matcher.reminders import run_reminders


def _parse_clock(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"date et heure invalides : {value!r} ; format attendu AAAA-MM-JJTHH:MM[:SS][+HH:MM], "
            "par exemple 2026-11-23T08:00+01:00 (sans fuseau : heure locale)",
            param_hint="--now",
        ) from None


Now = Annotated[
    str | None,
    typer.Option(
        "--now",
        metavar="DATETIME",
        help="Horloge de l'envoi (ISO 8601), pour rejouer ou tester ; par défaut : maintenant.",
    ),
]


def digest(
    dry_run: Annotated[
        Path | None,
        typer.Option(
            "--dry-run",
            metavar="DIR",
            help="N'envoie rien : écrit un fichier .eml par e-mail dans DIR (le journal des envois "
            "n'est pas modifié).",
        ),
    ] = None,
    holder: Annotated[
        str | None, typer.Option("--holder", metavar="ID", help="Seulement ce porteur de projet.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit-per-holder", min=1, max=50, help="Offres au plus par e-mail.")
    ] = 5,
    now: Now = None,
) -> None:
    """Envoyer à chaque porteur inscrit les nouvelles offres qui lui correspondent (hebdomadaire)."""

    clock = _parse_clock(now)
    with (
        engine_for() as engine,
        progress_bar("Suggestions") as bar,
    ):
        task = bar.add_task("digest", total=None)
        summary = run_digest(
            engine,
            clock=clock,
            dry_run_dir=dry_run,
            holder_id=holder,
            limit=limit,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    for line in summary.lines():
        out.print(line, highlight=False, soft_wrap=True)
    if not summary.complete:
        raise typer.Exit(EXIT_INCOMPLETE)


def unsubscribe(
    token: Annotated[str, typer.Argument(help="Jeton du lien de désinscription (après « token= »).")],
) -> None:
    """Désinscrire un porteur des suggestions par e-mail, à partir du jeton de son lien."""
    token = token.strip()
    if "token=" in token:  # the whole link was pasted
        token = parse_qs(urlsplit(token).query).get("token", [token])[0]
    with engine_for() as engine:
        outcome = unsubscribe_holder(engine, engine.settings.secret_key, token)
    out.print(f"{outcome.holder_id} : {outcome.message}", highlight=False, soft_wrap=True)


def reminders(
    dry_run: Annotated[
        Path | None,
        typer.Option(
            "--dry-run",
            metavar="DIR",
            help="N'envoie rien : écrit un fichier .eml par e-mail dans DIR (le journal des rappels "
            "n'est pas modifié).",
        ),
    ] = None,
    now: Now = None,
) -> None:
    """Rappeler à chaque agent territorial ses offres qui expirent sous 30 jours ou sans mise à jour
    depuis 6 mois (hebdomadaire ; chaque offre une fois par échéance)."""
    clock = _parse_clock(now)
    with engine_for() as engine:
        summary = run_reminders(engine, clock=clock, dry_run_dir=dry_run)
    for line in summary.lines():
        out.print(line, highlight=False, soft_wrap=True)
    if not summary.complete:
        raise typer.Exit(EXIT_INCOMPLETE)

"""What every command shares: the consoles, the exit codes, the engine factory, progress, reports."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from matcher.config import Settings
from matcher.engine import Engine
from matcher.errors import InvalidFile, MatcherError, NotFound, without_data
from matcher.explain import decimal
from matcher.intake import ImportReport

log = logging.getLogger("matcher.cli")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

#: Exit codes, in one place: what a script calling matcher can rely on.
EXIT_REJECTED = 1  # some records (or the request) were refused
EXIT_UNREADABLE = 2  # a file could not be read at all
EXIT_NOT_FOUND = 3
EXIT_INCOMPLETE = 4  # some e-mails could not be sent (the server stopped answering): run again
EXIT_INTERNAL = 5  # an unexpected error (a bug): logged without personal data


@contextmanager
def engine_for(settings: Settings | None = None) -> Iterator[Engine]:
    """An engine over ``MATCHER_HOME``; domain errors become a French message and an exit code."""
    engine = None
    try:
        engine = Engine(settings or Settings())
        yield engine
    except InvalidFile as error:
        err.print(f"[red]Fichier illisible[/red] : {error}")
        raise typer.Exit(EXIT_UNREADABLE) from None
    except NotFound as error:
        err.print(f"[red]Introuvable[/red] : {error}")
        raise typer.Exit(EXIT_NOT_FOUND) from None
    except MatcherError as error:
        err.print(f"[red]Refusé[/red] : {error}")
        raise typer.Exit(EXIT_REJECTED) from None
    except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except Exception as error:
        # No traceback for a person: it would print a record's values (names, addresses).
        log.error("unexpected error: %s", without_data(error))
        err.print(
            "[red]Erreur interne[/red] : l'opération n'a pas abouti (rien de ce qui était déjà "
            "enregistré n'est perdu). Le type de l'erreur est écrit ci-dessus, sans donnée "
            "personnelle : signalez-le avec la commande lancée."
        )
        raise typer.Exit(EXIT_INTERNAL) from None
    finally:
        if engine is not None:
            engine.close()


class RateColumn(ProgressColumn):
    """How fast the bar moves, in what it counts: « 54,2 offres/s »."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "–" if speed is None else decimal(speed, 1 if speed < 100 else 0)
        return Text(f"{shown} {self.unit}/s", style="progress.data.speed")


def progress_bar(label: str, unit: str | None = None) -> Progress:
    """The bar long commands draw on stderr (stdout stays clean for --json); with ``unit``, the
    rate in it and the time left."""
    rate = (RateColumn(unit), TextColumn("temps restant"), TimeRemainingColumn()) if unit else ()
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        *rate,
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def refresh_with_progress(engine: Engine, full: bool = False) -> None:
    """Bring the index up to date with a progress bar (rate in offers per second, time left),
    say what changed, save it."""
    with progress_bar("Indexation", unit="offres") as bar:
        task = bar.add_task("index", total=None)
        report = engine.refresh(
            progress=lambda done, total: bar.update(task, completed=done, total=total), full=full
        )
    if report.rebuilt:
        err.print(f"Index reconstruit ({report.reason}).")
    if report.changed:
        err.print(
            f"Index : {report.embedded} offre(s) encodée(s), {report.removed} retirée(s), "
            f"{report.indexed} au total."
        )
    engine.save_index()


def print_import_report(path: Path, report: ImportReport) -> None:
    """« fichier : 3 ajouté(s), … » then one line per refused record."""
    out.print(
        f"{path.name} : {report.inserted} ajouté(s), {report.updated} mis à jour, "
        f"{report.unchanged} inchangé(s), {len(report.rejected)} refusé(s)"
    )
    for reject in report.rejected:
        out.print(f"  [red]refusé[/red] {reject.record} : {reject.reason}", highlight=False)

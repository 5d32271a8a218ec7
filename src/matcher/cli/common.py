"""What every command shares: the consoles, the exit codes, the engine factory, progress, reports."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from matcher.config import Settings
from matcher.engine import Engine
from matcher.errors import InvalidFile, MatcherError, NotFound, without_data
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


def progress_bar(label: str) -> Progress:
    """The bar long commands draw on stderr (stdout stays clean for --json)."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )


def refresh_with_progress(engine: Engine, full: bool = False) -> None:
    """Bring the index up to date with a progress bar, say what changed, save it."""
    with progress_bar("Indexation") as bar:
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

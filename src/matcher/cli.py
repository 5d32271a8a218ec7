"""The ``matcher`` command: parse, call the engine, print. No scoring happens here."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from matcher.config import Settings
from matcher.domain import KIND_LABELS, MatchResult
from matcher.engine import Engine
from matcher.errors import InvalidFile, MatcherError, NotFound
from matcher.explain import describe_exclusions, euros
from matcher.intake import (
    format_from_suffix,
    import_records,
    read_file,
    read_records,
    validate_holder,
)

app = typer.Typer(
    help="matcher : des opportunités rurales pour des porteurs de projet urbains.",
    no_args_is_help=True,
)
import_app = typer.Typer(
    help="Importer des offres ou des profils (JSON Lines, JSON ou CSV).", no_args_is_help=True
)
geo_app = typer.Typer(help="Table des communes (gazetteer).", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(geo_app, name="geo")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

#: Exit codes, in one place: what a script calling matcher can rely on.
EXIT_REJECTED = 1  # some records (or the request) were refused
EXIT_UNREADABLE = 2  # a file could not be read at all
EXIT_NOT_FOUND = 3


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
    finally:
        if engine is not None:
            engine.close()


def progress_bar(label: str) -> Progress:
    """The bar long commands draw on stderr (stdout stays clean for --json)."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )


def refresh_with_progress(engine: Engine, full: bool = False) -> None:
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


def _import(kind: str, path: Path) -> None:
    with engine_for() as engine:
        records = read_records(read_file(path), str(path), format_from_suffix(path))
        report = import_records(engine.store, engine.gazetteer, kind, records)
        out.print(f"{path.name} : {report.inserted} ajouté(s), {report.updated} mis à jour, "
                  f"{report.unchanged} inchangé(s), {len(report.rejected)} refusé(s)")  # fmt: skip
        for reject in report.rejected:
            out.print(f"  [red]refusé[/red] {reject.record} : {reject.reason}", highlight=False)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


@import_app.command("opportunities")
def import_opportunities(file: Annotated[Path, typer.Argument(help="Fichier d'offres.")]) -> None:
    """Importer des offres : ajout ou mise à jour par id."""
    _import("opportunities", file)


@import_app.command("holders")
def import_holders(file: Annotated[Path, typer.Argument(help="Fichier de profils.")]) -> None:
    """Importer des profils de porteurs de projet : ajout ou mise à jour par id."""
    _import("holders", file)


@geo_app.command("load")
def geo_load(path: Annotated[Path, typer.Argument(help="CSV INSEE des communes.")]) -> None:
    """Charger la table officielle des communes (code INSEE, code postal, coordonnées)."""
    with engine_for() as engine:
        count = engine.load_gazetteer(path)
    out.print(f"{count} communes chargées.")


@app.command("index")
def index(full: Annotated[bool, typer.Option("--full", help="Tout réencoder.")] = False) -> None:
    """Construire ou mettre à jour l'index des offres."""
    with engine_for() as engine:
        refresh_with_progress(engine, full=full)
        out.print(f"Index à jour : {len(engine.index)} offres indexées.")


def print_result(result: MatchResult, title: str) -> None:
    if not result.matches:
        out.print(f"{title} : aucune offre ne respecte tous les critères.")
    table = Table(title=title, show_lines=True, title_justify="left")
    for column in ("#", "Score", "Offre", "Raisons", "Points d'attention"):
        table.add_column(column, overflow="fold")
    for match in result.matches:
        where = f"{match.commune} ({match.department})"
        figures = [KIND_LABELS[match.kind], where]
        if match.price_eur is not None:
            figures.append(euros(match.price_eur) + (" / mois" if match.kind == "coworking" else ""))
        table.add_row(
            str(match.rank), f"{match.score:.2f}", f"[bold]{match.title}[/bold]\n" + " · ".join(figures),
            "\n".join(f"• {r}" for r in match.reasons), "\n".join(f"! {w}" for w in match.warnings),
        )  # fmt: skip
    if result.matches:
        out.print(table)
    if excluded := describe_exclusions(result.excluded):
        out.print(f"Offres écartées par les critères : {excluded}")
    for relaxation in result.relaxations:
        out.print(f"Pour élargir : {relaxation.message}")


@app.command("match")
def match(
    holder: Annotated[str | None, typer.Option("--holder", help="Id d'un porteur enregistré.")] = None,
    profile: Annotated[Path | None, typer.Option("--profile", help="Profil JSON (non enregistré).")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Un objet JSON sur la sortie standard.")] = False,
) -> None:
    """Les meilleures offres pour un porteur de projet, expliquées."""
    if (holder is None) == (profile is None):
        err.print("[red]Donnez --holder ID ou --profile FICHIER (l'un des deux).[/red]")
        raise typer.Exit(EXIT_REJECTED)
    with engine_for() as engine:
        if holder is not None:
            subject = engine.store.holder(holder)
        else:
            text = read_file(profile).decode("utf-8", errors="strict") if profile else ""
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise InvalidFile(f"{profile} : JSON invalide ({error.msg}, ligne {error.lineno})") from None
            subject = validate_holder(raw, str(profile), engine.gazetteer, require_id=False)
        refresh_with_progress(engine)
        result = engine.match(subject, top=top)
    if as_json:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        print_result(result, f"Offres pour {subject.name or subject.id or 'ce profil'}")


DEMO_HOLDERS = ("h-001", "h-026", "h-020", "h-019")


def sample_data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data"


@app.command("demo")
def demo(
    data: Annotated[Path, typer.Option("--data", help="Dossier des données d'exemple.")] = sample_data_dir(),
    top: Annotated[int, typer.Option("--top", min=1, max=20)] = 3,
) -> None:
    """Charger les données d'exemple et montrer des correspondances expliquées."""
    home = os.environ.get("MATCHER_HOME")
    temporary = None if home else tempfile.TemporaryDirectory(prefix="matcher-demo-")
    settings = Settings(home=Path(home) if home else Path(temporary.name))
    err.print(f"Dossier de travail : {settings.home}")
    try:
        with engine_for(settings) as engine:
            for kind, name in (
                ("opportunities", "opportunities.jsonl"),
                ("holders", "holders.jsonl"),
            ):
                path = data / name
                report = import_records(
                    engine.store, engine.gazetteer, kind, read_records(read_file(path), str(path))
                )
                out.print(f"{name} : {report.inserted} ajouté(s), {report.updated} mis à jour, "
                          f"{report.unchanged} inchangé(s), {len(report.rejected)} refusé(s)")  # fmt: skip
                for reject in report.rejected:
                    out.print(f"  [red]refusé[/red] {reject.record} : {reject.reason}", highlight=False)
            refresh_with_progress(engine)
            for holder_id in DEMO_HOLDERS:
                holder = engine.store.holder(holder_id)
                out.rule(f"{holder.name} ({holder.id})")
                out.print(holder.project, style="italic", highlight=False)
                print_result(engine.match(holder, top=top), f"{top} meilleures offres")
    finally:
        if temporary is not None:
            temporary.cleanup()


from matcher.cli_digest import digest, unsubscribe  # noqa: E402

app.command("digest")(digest)
app.command("unsubscribe")(unsubscribe)

from matcher.cli_service import serve, users_app  # noqa: E402

app.add_typer(users_app, name="users")
app.command("serve")(serve)

"""``matcher import`` (offers and profiles from files) and ``matcher geo load`` (the communes table)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from matcher.cli.common import EXIT_REJECTED, engine_for, out, print_import_report
from matcher.intake import RecordKind, format_from_suffix, read_file, read_records
from matcher.spreadsheet import template

import_app = typer.Typer(
    help="Importer des offres ou des profils (JSON Lines, JSON ou CSV).", no_args_is_help=True
)
geo_app = typer.Typer(help="Table des communes (gazetteer).", no_args_is_help=True)


def _import(kind: RecordKind, path: Path, organisation: str | None = None, force: bool = False) -> None:
    with engine_for() as engine:
        records = read_records(read_file(path), str(path), format_from_suffix(path), kind=kind)
        report = engine.import_records(kind, records, organisation=organisation, force=force)
        print_import_report(path, report)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


@import_app.command("opportunities")
def import_opportunities(
    file: Annotated[Path, typer.Argument(help="Fichier d'offres.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Importer aussi les offres qui ressemblent à une offre en ligne."),
    ] = False,
) -> None:
    """Importer des offres : ajout ou mise à jour par id. Une offre qui ressemble à une offre en ligne
    de son territoire ou de sa commune (ou à une offre plus haut dans le fichier) est refusée,
    sauf avec --force."""
    _import("opportunities", file, force=force)


@import_app.command("holders")
def import_holders(
    file: Annotated[Path, typer.Argument(help="Fichier de profils.")],
    organisation: Annotated[
        str | None,
        typer.Option(
            "--organisation",
            help="Organisation qui suit les porteurs du fichier qui n'en nomment pas "
            "(colonne « Organisation »).",
        ),
    ] = None,
) -> None:
    """Importer des profils de porteurs de projet : ajout ou mise à jour par id. Seuls les comptes
    counsellor de l'organisation d'un porteur le voient."""
    _import("holders", file, organisation)


@import_app.command("template")
def import_template(
    kind: Annotated[RecordKind, typer.Argument(help="opportunities (offres) ou holders (porteurs).")],
) -> None:
    """Écrire sur la sortie standard un modèle CSV à remplir dans un tableur (matcher import template
    opportunities > modele.csv)."""
    sys.stdout.buffer.write(template(kind))
    sys.stdout.buffer.flush()


@geo_app.command("load")
def geo_load(path: Annotated[Path, typer.Argument(help="CSV INSEE des communes.")]) -> None:
    """Charger la table officielle des communes (code INSEE, code postal, coordonnées)."""
    with engine_for() as engine:
        count = engine.load_gazetteer(path)
    out.print(f"{count} communes chargées.")

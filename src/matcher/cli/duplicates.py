"""``matcher duplicates``: the likely duplicate pairs among the live offers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from matcher.cli.common import engine_for, out
from matcher.duplicates import THRESHOLD
from matcher.explain import long_date


def _decimal(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def duplicates(
    territory: Annotated[
        str | None,
        typer.Option("--territory", help="Seulement les paires dont une offre est de ce territoire."),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.0, max=1.0, help="Ressemblance minimale, de 0 à 1."),
    ] = THRESHOLD,
) -> None:
    """Lister les offres en ligne qui se ressemblent (même territoire ou même commune)."""
    with engine_for() as engine:
        pairs = engine.likely_duplicates(territory, threshold)
    where = f" du territoire « {territory} »" if territory else ""
    if not pairs:
        out.print(
            f"Aucun doublon probable parmi les offres en ligne{where} (seuil {_decimal(threshold, 2)})."
        )
        return
    table = Table(
        title=f"{len(pairs)} paire(s) d'offres qui se ressemblent{where} (seuil {_decimal(threshold, 2)})",
        show_lines=True,
        title_justify="left",
    )
    table.add_column("Ressemblance", no_wrap=True)
    table.add_column("Offre publiée d'abord", overflow="fold")
    table.add_column("Offre qui lui ressemble", overflow="fold")
    for pair in pairs:
        table.add_row(
            _decimal(pair.similarity, 2),
            *(f"{o.id}\n{o.title}\npubliée le {long_date(o.published)}" for o in (pair.first, pair.second)),
        )
    out.print(table)

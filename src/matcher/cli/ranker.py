"""``matcher ranker``: train the learned ranker on a home's labels, compare it, put it in use."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from matcher.cli.common import EXIT_REJECTED, engine_for, out
from matcher.errors import InvalidFile
from matcher.explain import decimal
from matcher.intake import read_file
from matcher.ranker import read_grades

ranker_app = typer.Typer(
    help="Le classement appris : l'entraîner, le comparer, l'adopter.", no_args_is_help=True
)

Grades = Annotated[
    Path | None,
    typer.Option(
        "--qrels",
        metavar="FICHIER",
        help="Jugements gradués (TSV holder_id, opportunity_id, grade 0-2) sur des porteurs enregistrés.",
    ),
]
Today = Annotated[
    str | None,
    typer.Option("--today", metavar="AAAA-MM-JJ", help="Le jour des jugements (par défaut : aujourd'hui)."),
]


def _grades(path: Path | None) -> dict[str, dict[str, int]]:
    return {} if path is None else read_grades(read_file(path).decode("utf-8-sig"), str(path))


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"date invalide : {value!r} ; format attendu AAAA-MM-JJ", param_hint="--today"
        ) from None


@ranker_app.command("train")
def train(
    qrels: Grades = None,
    today: Today = None,
    copy_to: Annotated[
        Path | None,
        typer.Option(
            "--copy-to", metavar="FICHIER", help="Copie aussi le modèle ici (le modèle livré, par exemple)."
        ),
    ] = None,
) -> None:
    """Entraîner un modèle candidat sur les jugements et les avis des conseillers (sans l'utiliser)."""
    with engine_for() as engine:
        report = engine.train_ranker(_grades(qrels), _day(today))
        feedback = (
            f"{report.verdicts} avis de conseillers utilisés"
            if report.feedback_used
            else f"{report.verdicts} avis de conseillers (trop peu pour apprendre : ignorés)"
        )
        out.print(
            f"Modèle candidat : {report.path}\n"
            f"{report.pairs} paires sur {report.holders} porteurs ({report.graded_holders} jugés), "
            f"{feedback}\n"
            f"nDCG@10 en validation croisée par porteur : {decimal(report.cross_validated_ndcg, 3)} "
            f"(poids à la main : {decimal(report.hand_ndcg, 3)})\n"
            "Comparez-le au modèle en service avec « matcher ranker evaluate » avant de l'adopter."
        )
        if copy_to is not None:
            shutil.copyfile(report.path, copy_to)
            out.print(f"Copié dans {copy_to}")


@ranker_app.command("evaluate")
def evaluate(
    qrels: Grades = None,
    today: Today = None,
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Mettre le candidat en service s'il fait nettement mieux.")
    ] = False,
) -> None:
    """Dire si le modèle candidat classe mieux que celui en service, porteur par porteur."""
    with engine_for() as engine:
        result = engine.evaluate_ranker(_grades(qrels), _day(today))
        low, high = result.interval
        current = (
            "modèle en service" if result.current_is_learned else "poids à la main (aucun modèle lisible)"
        )
        out.print(
            f"nDCG@10 sur {result.holders} porteurs : candidat {decimal(result.candidate, 3)} "
            f"(validation croisée), {current} {decimal(result.current, 3)}, "
            f"poids à la main {decimal(result.hand, 3)}\n"
            f"Écart candidat − en service : {decimal(result.difference, 3, signed=True)} "
            f"[IC 95 % : {decimal(low, 3, signed=True)} ; {decimal(high, 3, signed=True)}]"
        )
        if not result.better:
            out.print("Le candidat ne fait pas nettement mieux : le modèle en service est gardé.")
            if adopt:
                raise typer.Exit(EXIT_REJECTED)
            return
        out.print("Le candidat fait mieux que le modèle en service.")
        if adopt:
            try:
                out.print(f"Modèle adopté : {engine.adopt_ranker()}")
            except InvalidFile as error:
                out.print(f"[red]{error}[/red]")
                raise typer.Exit(EXIT_REJECTED) from None
        else:
            out.print("Pour l'utiliser : matcher ranker evaluate --adopt")

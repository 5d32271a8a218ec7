"""``matcher index``, ``matcher match`` and ``matcher demo``: the index and explained matches."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from matcher.accounts import Role
from matcher.cli.common import (
    EXIT_REJECTED,
    engine_for,
    err,
    out,
    print_import_report,
    progress_bar,
    refresh_with_progress,
)
from matcher.cli.serve import run_service
from matcher.config import Settings
from matcher.domain import KIND_LABELS, HolderProfile, MatchResult
from matcher.engine import Engine
from matcher.errors import AlreadyExists, InvalidFile
from matcher.explain import decimal, describe_exclusions, euros
from matcher.intake import RecordKind, read_file, read_records

DEMO_HOLDERS = ("h-001", "h-026", "h-020", "h-019")
#: The organisation following the sample holders whose records name none.
DEMO_ORGANISATION = "BGE Paris"
#: The sample accounts ``matcher demo --serve`` signs in with: (name, role, e-mail, scope).
DEMO_ACCOUNTS = (
    ("Conseillère BGE Paris", Role.counsellor, "conseil@bge.example", DEMO_ORGANISATION),
    (
        "Agent Creuse Grand Sud",
        Role.officer,
        "agent@creuse.example",
        "Communauté de communes Creuse Grand Sud",
    ),
)
DEMO_FILES: tuple[tuple[RecordKind, str], ...] = (
    ("opportunities", "opportunities.jsonl"),
    ("holders", "holders.jsonl"),
)


def index(full: Annotated[bool, typer.Option("--full", help="Tout réencoder.")] = False) -> None:
    """Construire ou mettre à jour l'index des offres, et les vecteurs des porteurs."""
    with engine_for() as engine:
        refresh_with_progress(engine, full=full)
        out.print(f"Index à jour : {engine.health().indexed} offres indexées.")
        with progress_bar("Porteurs") as bar:
            task = bar.add_task("porteurs", total=None)
            embedded = engine.embed_holders(lambda done, total: bar.update(task, completed=done, total=total))
        out.print(f"Porteurs : {embedded} projet(s) encodé(s).")


def print_result(result: MatchResult, title: str) -> None:
    if not result.matches:
        out.print(f"{title} : aucune offre ne respecte tous les critères.")
    table = Table(title=title, show_lines=True, title_justify="left")
    for column in ("#", "Offre", "Raisons", "Points d'attention"):
        table.add_column(column, overflow="fold")
    for match in result.matches:
        where = f"{match.commune} ({match.department})"
        figures = [KIND_LABELS[match.kind], where]
        if match.price_eur is not None:
            figures.append(euros(match.price_eur) + (" / mois" if match.kind == "coworking" else ""))
        table.add_row(
            str(match.rank),
            f"[bold]{match.title}[/bold]\n" + " · ".join(figures) + f"\n{match.fit} ({decimal(match.score)})",
            "\n".join(f"• {r.text}" for r in match.reasons), "\n".join(f"! {w.text}" for w in match.warnings),
        )  # fmt: skip
    if result.matches:
        out.print(table)
    if excluded := describe_exclusions(result.excluded):
        out.print(f"Offres écartées par les critères : {excluded}")
    for relaxation in result.relaxations:
        out.print(f"Pour élargir : {relaxation.text}")


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
        subject: HolderProfile
        if holder is not None:
            subject = engine.holder(holder)
        else:
            assert profile is not None
            text = read_file(profile).decode("utf-8", errors="strict")
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise InvalidFile(f"{profile} : JSON invalide ({error.msg}, ligne {error.lineno})") from None
            subject = engine.validate_holder(raw, str(profile), require_id=False)
        refresh_with_progress(engine)
        result = engine.match(subject, top=top)
    if as_json:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        print_result(result, f"Offres pour {subject.name or subject.id or 'ce profil'}")


def sample_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "data"


def demo_accounts(engine: Engine) -> list[tuple[str, str, str]]:
    """Create (or give a new password to) the sample accounts: (role, e-mail, password) each."""
    signed = []
    for name, role, email, scope in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        place = {"organisation": scope} if role is Role.counsellor else {"territories": [scope]}
        try:
            engine.create_account(name, role, email=email, password=password, **place)
        except AlreadyExists:
            engine.set_password(email, password)
        signed.append((role.label, email, password))
    return signed


def demo(
    data: Annotated[Path, typer.Option("--data", help="Dossier des données d'exemple.")] = sample_data_dir(),
    top: Annotated[int, typer.Option("--top", min=1, max=20)] = 3,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Puis servir les pages, avec un compte de conseil et un d'agent."),
    ] = False,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port des pages (--serve).")] = 8000,
) -> None:
    """Charger les données d'exemple et montrer des correspondances expliquées ; avec --serve,
    les montrer aussi dans les pages."""
    home = os.environ.get("MATCHER_HOME")
    temporary = None if home else tempfile.TemporaryDirectory(prefix="matcher-demo-")
    settings = Settings(home=Path(home) if home else Path(temporary.name))  # type: ignore[union-attr]
    err.print(f"Dossier de travail : {settings.home}")
    try:
        with engine_for(settings) as engine:
            for kind, name in DEMO_FILES:
                path = data / name
                records = read_records(read_file(path), str(path), kind=kind)
                report = engine.import_records(kind, records, organisation=DEMO_ORGANISATION)
                print_import_report(path, report)
            refresh_with_progress(engine)
            engine.save_index()
            for holder_id in DEMO_HOLDERS:
                holder = engine.holder(holder_id)
                out.rule(f"{holder.name} ({holder.id})")
                out.print(holder.project, style="italic", highlight=False)
                print_result(engine.match(holder, top=top), f"{top} meilleures offres")
            signed = demo_accounts(engine) if serve else []
        if serve:
            out.rule("Pages")
            out.print(f"Ouvrez http://127.0.0.1:{port}/connexion et connectez-vous :")
            for role, email, password in signed:
                out.print(f"  {role} : {email} / mot de passe {password}", highlight=False)
            os.environ["MATCHER_HOME"] = str(settings.home)
            if not os.environ.get("MATCHER_SMTP_HOST"):
                # No mail server in a demo: the e-mails the pages send are written as files.
                outbox = os.environ.setdefault("MATCHER_OUTBOX", str(settings.home / "courriels"))
                out.print(f"Les e-mails envoyés par les pages (mises en relation) sont écrits dans {outbox}")
            run_service("127.0.0.1", port)
    finally:
        if temporary is not None:
            temporary.cleanup()

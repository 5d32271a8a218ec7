"""``matcher users`` (API accounts) and ``matcher serve`` (the HTTP service).

Registered on the main ``matcher`` command at the end of ``matcher.cli``; ``engine_for`` (exit
codes and French errors) is imported when a command runs, to keep that import one-way.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from matcher.accounts import Role, create_user, list_users, revoke_user
from matcher.config import Settings

users_app = typer.Typer(help="Comptes d'accès à l'API HTTP (jetons).", no_args_is_help=True)


@users_app.command("add")
def users_add(
    role: Annotated[Role, typer.Option("--role", help="admin, officer ou counsellor.")],
    name: Annotated[str, typer.Option("--name", help="Nom unique du compte.")],
    territory: Annotated[
        list[str] | None,
        typer.Option("--territory", help="Territoire d'un compte officer (répétable)."),
    ] = None,
) -> None:
    """Créer un compte. Le jeton s'affiche seul sur la sortie standard, une seule fois : gardez-le."""
    from matcher.cli import engine_for, err

    with engine_for() as engine:
        user, token = create_user(engine.store, name, role, territory or [])
    scope = f" ({', '.join(user.territories)})" if user.territories else ""
    err.print(f"Compte « {user.name} » créé, rôle {user.role.value}{scope}. Jeton (affiché une seule fois) :")
    sys.stdout.write(token + "\n")


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Un objet JSON sur la sortie standard.")] = False,
) -> None:
    """Lister les comptes (jamais les jetons)."""
    from matcher.cli import engine_for, out

    with engine_for() as engine:
        users = list_users(engine.store)
    if as_json:
        rows = [
            {
                "name": u.name,
                "role": u.role.value,
                "territories": list(u.territories),
                "created_at": u.created_at.isoformat(),
                "revoked_at": u.revoked_at.isoformat() if u.revoked_at else None,
            }
            for u in users
        ]
        sys.stdout.write(json.dumps({"users": rows}, ensure_ascii=False) + "\n")
        return
    if not users:
        out.print("Aucun compte. Créez-en un : matcher users add --role admin --name NOM")
        return
    table = Table(title="Comptes de l'API", title_justify="left")
    for column in ("Nom", "Rôle", "Territoires", "Créé le", "État"):
        table.add_column(column, overflow="fold")
    for user in users:
        state = f"révoqué le {user.revoked_at:%d/%m/%Y}" if user.revoked_at else "actif"
        table.add_row(
            user.name, user.role.value, ", ".join(user.territories), f"{user.created_at:%d/%m/%Y}", state
        )
    out.print(table)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="Nom du compte.")]) -> None:
    """Révoquer un compte : son jeton cesse aussitôt de fonctionner."""
    from matcher.cli import engine_for, out

    with engine_for() as engine:
        user = revoke_user(engine.store, name)
    out.print(f"Compte « {user.name} » révoqué le {user.revoked_at:%d/%m/%Y à %H:%M} (UTC).")


def serve(
    host: Annotated[str, typer.Option("--host", help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port d'écoute.")] = 8000,
) -> None:
    """Lancer le service HTTP (documentation interactive sur /docs)."""
    import uvicorn

    from service.app import create_app

    settings = Settings()
    typer.echo(f"Dossier de données : {settings.home} — documentation : http://{host}:{port}/docs", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")

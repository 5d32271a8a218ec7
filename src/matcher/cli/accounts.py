"""``matcher users``: API accounts and their tokens."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from matcher.accounts import Role
from matcher.cli.common import engine_for, err, out

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
    with engine_for() as engine:
        user, token = engine.create_account(name, role, territory or [])
    scope = f" ({', '.join(user.territories)})" if user.territories else ""
    err.print(f"Compte « {user.name} » créé, rôle {user.role.label}{scope}. Jeton (affiché une seule fois) :")
    sys.stdout.write(token + "\n")


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Un objet JSON sur la sortie standard.")] = False,
) -> None:
    """Lister les comptes (jamais les jetons)."""
    with engine_for() as engine:
        users = engine.accounts()
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
            user.name, user.role.label, ", ".join(user.territories), f"{user.created_at:%d/%m/%Y}", state
        )
    out.print(table)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="Nom du compte.")]) -> None:
    """Révoquer un compte : son jeton cesse aussitôt de fonctionner."""
    with engine_for() as engine:
        user = engine.revoke_account(name)
    out.print(f"Compte « {user.name} » révoqué le {user.revoked_at:%d/%m/%Y à %H:%M} (UTC).")

"""``matcher users``: accounts, their API tokens and their passwords for the pages."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from matcher.accounts import Role, token_lifetime
from matcher.cli.common import engine_for, err, out
from matcher.clock import utcnow

users_app = typer.Typer(help="Comptes : jetons de l'API HTTP, mots de passe des pages.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Lire le mot de passe sur l'entrée standard (une ligne)."),
]


def read_password(from_stdin: bool) -> str:
    """The password from stdin's first line, or asked twice at the terminal (never echoed)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True, err=True)


@users_app.command("add")
def users_add(
    role: Annotated[Role, typer.Option("--role", help="admin, officer ou counsellor.")],
    name: Annotated[str, typer.Option("--name", help="Nom unique du compte.")],
    territory: Annotated[
        list[str] | None,
        typer.Option("--territory", help="Territoire d'un compte officer (répétable)."),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option("--email", help="Adresse de connexion aux pages (demande alors un mot de passe)."),
    ] = None,
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="Organisation d'un compte counsellor.")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Durée de vie du jeton : 90d (jours), 12w, 6m (mois), 24h."),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Créer un compte. Le jeton s'affiche seul sur la sortie standard, une seule fois : gardez-le.
    Avec --email, le compte se connecte aussi aux pages avec son mot de passe."""
    lifetime = None if expires is None else token_lifetime(expires)
    password = read_password(password_stdin) if email is not None else None
    with engine_for() as engine:
        user, token = engine.create_account(
            name,
            role,
            territory or [],
            email=email,
            organisation=organisation,
            password=password,
            lifetime=lifetime,
        )
    scope = ", ".join(user.territories) or user.organisation
    where = f" ({scope})" if scope else ""
    sign_in = f", connexion aux pages avec {user.email}" if user.email else ""
    err.print(f"Compte « {user.name} » créé, rôle {user.role.label}{where}{sign_in}.")
    until = f", valable jusqu'au {user.expires_at:%d/%m/%Y à %H:%M} (UTC)" if user.expires_at else ""
    err.print(f"Jeton de l'API{until} (affiché une seule fois) :")
    sys.stdout.write(token + "\n")


@users_app.command("passwd")
def users_passwd(
    account: Annotated[str, typer.Argument(help="Nom ou adresse e-mail du compte.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Changer le mot de passe d'un compte ; ses sessions ouvertes sont fermées."""
    password = read_password(password_stdin)
    with engine_for() as engine:
        user = engine.set_password(account, password)
    out.print(f"Mot de passe du compte « {user.name} » changé ; ses sessions ouvertes sont fermées.")


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
                "email": u.email,
                "organisation": u.organisation,
                "created_at": u.created_at.isoformat(),
                "revoked_at": u.revoked_at.isoformat() if u.revoked_at else None,
                "expires_at": u.expires_at.isoformat() if u.expires_at else None,
                "last_used_at": u.last_used_at.isoformat() if u.last_used_at else None,
            }
            for u in users
        ]
        sys.stdout.write(json.dumps({"users": rows}, ensure_ascii=False) + "\n")
        return
    if not users:
        out.print("Aucun compte. Créez-en un : matcher users add --role admin --name NOM")
        return
    table = Table(title="Comptes", title_justify="left")
    for column in ("Nom", "Rôle", "Périmètre", "Connexion", "Créé le", "Jeton utilisé le", "État"):
        table.add_column(column, overflow="fold")
    now = utcnow()
    for user in users:
        if user.revoked_at:
            state = f"révoqué le {user.revoked_at:%d/%m/%Y}"
        elif user.expires_at and user.expires_at <= now:
            state = f"jeton expiré le {user.expires_at:%d/%m/%Y}"
        else:
            state = f"actif jusqu'au {user.expires_at:%d/%m/%Y}" if user.expires_at else "actif"
        used = f"{user.last_used_at:%d/%m/%Y}" if user.last_used_at else "jamais"
        scope = ", ".join(user.territories) or user.organisation or ""
        table.add_row(
            user.name, user.role.label, scope, user.email or "", f"{user.created_at:%d/%m/%Y}", used, state
        )
    out.print(table)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="Nom du compte.")]) -> None:
    """Révoquer un compte : son jeton cesse aussitôt de fonctionner."""
    with engine_for() as engine:
        user = engine.revoke_account(name)
    out.print(f"Compte « {user.name} » révoqué le {user.revoked_at:%d/%m/%Y à %H:%M} (UTC).")

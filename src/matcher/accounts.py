"""API accounts: roles, territories and bearer tokens, of which only a SHA-256 hash is stored.

A token is shown once, when its account is created; whoever loses it gets a new account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from matcher.errors import AlreadyExists, InvalidRecord, NotFound
from matcher.store import Store, UserRow, utcnow

#: Prefix of every token, so that a leaked one is recognisable in logs and secret scanners.
TOKEN_PREFIX = "mtk_"
MAX_NAME_CHARS = 100


class Role(StrEnum):
    """What an account may do: everything, its territories' offers, or holders and matches."""

    admin = "admin"
    officer = "officer"
    counsellor = "counsellor"


@dataclass(frozen=True)
class User:
    """An API account as the service sees it (never its token)."""

    name: str
    role: Role
    territories: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def covers(self, territory: str) -> bool:
        """Whether this account may publish for ``territory``: admins anywhere, officers in scope."""
        if self.role is Role.admin:
            return True
        if self.role is not Role.officer:
            return False
        wanted = territory_key(territory)
        return any(territory_key(t) == wanted for t in self.territories)


def territory_key(territory: str) -> str:
    """Territory names compare without case and with spaces collapsed."""
    return " ".join(territory.split()).casefold()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        role=Role(row.role),
        territories=tuple(row.territories or ()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create_user(
    store: Store, name: str, role: Role | str, territories: list[str] | None = None
) -> tuple[User, str]:
    """Create an account; returns it with its token, which is not stored and cannot be shown again."""
    name = " ".join(name.split())
    territories = list(dict.fromkeys(" ".join(t.split()) for t in territories or [] if t.strip()))
    problems = []
    if not name:
        problems.append(("name", "le nom du compte ne doit pas être vide"))
    elif len(name) > MAX_NAME_CHARS:
        problems.append(("name", f"nom trop long (au plus {MAX_NAME_CHARS} caractères)"))
    try:
        role = Role(role)
    except ValueError:
        problems.append(("role", f"rôle inconnu {role!r} ; rôles possibles : admin, officer, counsellor"))
    else:
        if role is Role.officer and not territories:
            problems.append(
                ("territories", "un compte officer doit avoir au moins un territoire (--territory)")
            )
        if role is not Role.officer and territories:
            problems.append(("territories", "seuls les comptes officer ont des territoires"))
    if problems:
        raise InvalidRecord(f"compte {name!r}", problems)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {
        "role": role.value,
        "territories": territories,
        "token_hash": hash_token(token),
        "created_at": utcnow(),
        "revoked_at": None,
    }
    taken = (
        f"un compte actif nommé « {name} » existe déjà ; révoquez-le d'abord pour lui donner un nouveau jeton"
    )
    try:
        with store.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                row = UserRow(name=name, **values)
                session.add(row)
            elif row.revoked_at is None:
                raise AlreadyExists(taken)
            else:  # a revoked name is given a fresh account: the way to replace a lost token
                for column, value in values.items():
                    setattr(row, column, value)
    except IntegrityError:  # created concurrently under the same name
        raise AlreadyExists(taken) from None
    return _user(row), token


def list_users(store: Store) -> list[User]:
    """Every account, revoked ones included, by name."""
    with store.session() as session:
        return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]


def revoke_user(store: Store, name: str) -> User:
    """Revoke an account: its token stops working at once. Revoking twice keeps the first date."""
    with store.session() as session:
        row = session.scalar(select(UserRow).where(UserRow.name == " ".join(name.split())))
        if row is None:
            raise NotFound(f"compte inconnu : {name}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _user(row)


def authenticate(store: Store, token: str) -> User | None:
    """The active account holding ``token``, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with store.session() as session:
        row = session.scalar(select(UserRow).where(UserRow.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None:
            return None
        return _user(row)

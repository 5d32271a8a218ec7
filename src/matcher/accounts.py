"""API accounts: roles, territories and bearer tokens, of which only a SHA-256 hash is stored.

No SQL here: the store keeps accounts (``matcher.store.accounts``), the engine creates them.

A token is shown once, when its account is created; whoever loses it gets a new account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from matcher.domain import territory_key
from matcher.errors import InvalidRecord

#: Prefix of every token, so that a leaked one is recognisable in logs and secret scanners.
TOKEN_PREFIX = "mtk_"
MAX_NAME_CHARS = 100


class Role(StrEnum):
    """What an account may do: everything, its territories' offers, or holders and matches."""

    admin = "admin"
    officer = "officer"
    counsellor = "counsellor"

    @property
    def label(self) -> str:
        """The role as a person reads it."""
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.admin: "administrateur·rice",
    Role.officer: "agent·e territorial·e",
    Role.counsellor: "conseiller·ère",
}


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


def scope_problem(user: User | None, territory: str, stored_territory: str | None = None) -> str | None:
    """Why ``user`` may not write an offer of ``territory`` (that is stored under
    ``stored_territory``), or None; no user is the operator at the command line."""
    if user is None:
        return None
    if stored_territory is not None and not user.covers(stored_territory):
        return f"cette offre appartient au territoire « {stored_territory} », hors de votre périmètre"
    if not user.covers(territory):
        scope = ", ".join(user.territories) or "aucun"
        return f"le territoire « {territory} » n'est pas dans votre périmètre (vos territoires : {scope})"
    return None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AccountDraft:
    """An account about to be created: its name, role and territories, already validated."""

    name: str
    role: Role
    territories: tuple[str, ...]


def draft_account(name: str, role: Role | str, territories: list[str] | None = None) -> AccountDraft:
    """Validate a new account's name, role and territories; InvalidRecord names what is wrong."""
    name = " ".join(name.split())
    scope = tuple(dict.fromkeys(" ".join(t.split()) for t in territories or [] if t.strip()))
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
        if role is Role.officer and not scope:
            problems.append(
                ("territories", "un compte officer doit avoir au moins un territoire (--territory)")
            )
        if role is not Role.officer and scope:
            problems.append(("territories", "seuls les comptes officer ont des territoires"))
    if problems:
        raise InvalidRecord(f"compte {name!r}", problems)
    return AccountDraft(name, Role(role), scope)


def new_token() -> str:
    """A fresh bearer token: shown once, only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def plausible_token(token: str) -> bool:
    """Whether ``token`` is worth looking up (our prefix, a sane length)."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= 200

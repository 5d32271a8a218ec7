"""Accounts: roles, territories or an organisation, bearer tokens and sign-in for the pages.

No SQL here: the store keeps accounts (``matcher.store.accounts``), the engine creates them.

A token is shown once, when its account is created; whoever loses it gets a new account; only
its SHA-256 hash is stored. A password (for the pages) is stored as an Argon2id hash. A web
session is a random token in an HttpOnly cookie, of which only the hash is stored too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from matcher.domain import Counsellor, HolderProfile, HolderQuery, organisation_key, territory_key
from matcher.errors import InvalidRecord, OutOfScope

#: Prefix of every token, so that a leaked one is recognisable in logs and secret scanners.
TOKEN_PREFIX = "mtk_"
MAX_NAME_CHARS = 100
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200
#: After this many wrong passwords in a row, the account is locked for LOCK_DURATION.
MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: argon2-cffi's defaults are Argon2id with RFC 9106's low-memory profile.
_HASHER = PasswordHasher()


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
    account_id: int = 0
    email: str | None = None
    organisation: str | None = None
    expires_at: datetime | None = None
    #: Bookkeeping, not part of what an account is: two reads of it compare equal.
    last_used_at: datetime | None = field(default=None, compare=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def follows(self, organisation: str | None) -> bool:
        """Whether this account may see the holders of ``organisation`` (a stored organisation
        key, None for no holder): admins all, counsellors their own organisation's."""
        if self.role is Role.admin:
            return True
        if self.role is not Role.counsellor or self.organisation is None or organisation is None:
            return False
        return organisation_key(self.organisation) == organisation

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


def caseload_query(query: HolderQuery, actor: User | None) -> HolderQuery:
    """``query`` restricted to the holders ``actor`` follows (all of them for an admin or the
    command line); OutOfScope for a role that follows none."""
    if actor is None or actor.role is Role.admin:
        return query
    if actor.role is not Role.counsellor or actor.organisation is None:
        raise OutOfScope(f"les porteurs de projet ne sont pas accessibles au rôle {actor.role.label}")
    return replace(query, organisation=actor.organisation)


def into_caseload(holder: HolderProfile, actor: User | None) -> HolderProfile:
    """The profile as ``actor`` may store it: in a counsellor's own organisation, with their name
    and address as the counsellor's contact where the record gives none; InvalidRecord for a
    record naming another organisation."""
    if actor is None or actor.role is not Role.counsellor or actor.organisation is None:
        return holder
    named = holder.counsellor.organisation if holder.counsellor else None
    if named and organisation_key(named) != organisation_key(actor.organisation):
        problem = f"vous suivez les porteurs de « {actor.organisation} », pas de « {named} »"
        raise InvalidRecord(f"porteur {holder.id}", [("counsellor.organisation", problem)])
    given = holder.counsellor or Counsellor()
    contact = given.model_copy(
        update={
            "organisation": named or actor.organisation,
            "name": given.name or actor.name,
            "email": given.email or actor.email,
        }
    )
    return holder.model_copy(update={"counsellor": contact})


def hash_token(token: str) -> str:
    """The SHA-256 kept for a bearer token or a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AccountDraft:
    """An account about to be created, already validated."""

    name: str
    role: Role
    territories: tuple[str, ...]
    email: str | None = None
    organisation: str | None = None
    password_hash: str | None = None
    expires_at: datetime | None = None


#: « 90d », « 12w », « 6m » (months of 30 days), « 24h »; « j » and « s » as French write them.
_LIFETIME = re.compile(r"^\s*(\d{1,5})\s*([hdjwsm])\s*$", re.IGNORECASE)
_LIFETIME_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "j": timedelta(days=1),
                   "w": timedelta(weeks=1), "s": timedelta(weeks=1), "m": timedelta(days=30)}  # fmt: skip


def token_lifetime(text: str) -> timedelta:
    """How long a token lives, read from « 90d » (or « 90j », « 12w », « 6m », « 24h »);
    InvalidRecord otherwise."""
    found = _LIFETIME.match(text)
    if not found or int(found[1]) == 0:
        problem = (
            f"durée illisible : {text!r} ; écrivez par exemple 90d (jours), 12w (semaines), 6m (mois) ou 24h"
        )
        raise InvalidRecord("compte", [("expires", problem)])
    return int(found[1]) * _LIFETIME_UNITS[found[2].lower()]


def draft_account(
    name: str,
    role: Role | str,
    territories: list[str] | None = None,
    *,
    email: str | None = None,
    organisation: str | None = None,
    password: str | None = None,
    expires_at: datetime | None = None,
) -> AccountDraft:
    """Validate a new account; InvalidRecord names each field that is wrong.

    An account with an e-mail signs in to the pages with its password; one without is a
    token for tools. A counsellor belongs to an organisation, whose holders they follow.
    """
    name = " ".join(name.split())
    scope = tuple(dict.fromkeys(" ".join(t.split()) for t in territories or [] if t.strip()))
    organisation = " ".join((organisation or "").split()) or None
    problems = []
    if email is not None:
        email = email.strip().lower()
        if not _EMAIL.match(email) or len(email) > 254:
            problems.append(("email", f"adresse e-mail invalide : {email!r} (exemple : conseil@bge.example)"))
        elif password is None:
            problems.append(("password", "un compte avec une adresse e-mail a besoin d'un mot de passe"))
    if password is not None and (problem := password_problem(password)):
        problems.append(("password", problem))
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
        if role is Role.counsellor and organisation is None:
            problems.append(
                ("organisation", "un compte counsellor appartient à une organisation (--organisation)")
            )
        if role is not Role.counsellor and organisation is not None:
            problems.append(("organisation", "seuls les comptes counsellor ont une organisation"))
    if problems:
        raise InvalidRecord(f"compte {name!r}", problems)
    hashed = None if password is None else hash_password(password)
    return AccountDraft(name, Role(role), scope, email, organisation, hashed, expires_at)


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"mot de passe trop court (au moins {MIN_PASSWORD_CHARS} caractères)"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"mot de passe trop long (au plus {MAX_PASSWORD_CHARS} caractères)"
    return None


def hash_password(password: str) -> str:
    """The Argon2id hash stored for ``password``."""
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one behind ``password_hash``; with no hash, the same work is
    done on a dummy so that an unknown address takes as long as a wrong password."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def normal_email(email: str) -> str:
    """How e-mail addresses compare when signing in."""
    return email.strip().lower()


def new_secret() -> str:
    """A random value for a session cookie or a CSRF token."""
    return secrets.token_urlsafe(32)


def new_token() -> str:
    """A fresh bearer token: shown once, only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def plausible_token(token: str) -> bool:
    """Whether ``token`` is worth looking up (our prefix, a sane length)."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= 200

"""Signed tokens for the links of matcher's e-mails, and unsubscribing a holder from the digest.

A token is signed with ``MATCHER_SECRET_KEY`` (itsdangerous, URL-safe), under a salt of its own
per purpose, so that a token made for one action never passes for another. The unsubscribe
token is the holder id; it does not expire: an unsubscribe link found in a months-old e-mail
must still work. The action links (« Ça m'intéresse », « Prolonger », « Archiver ») carry their
expiry in the signed payload (``LinkPurpose.lifetime``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from matcher.clock import utcnow
from matcher.engine import Engine
from matcher.errors import MatcherError

#: Separates these signatures from any other use of the same secret key.
SALT = "matcher.digest.unsubscribe"


class InvalidToken(MatcherError):
    """A forged, altered or truncated token."""


class ExpiredLink(InvalidToken):
    """A genuine action link, past its lifetime."""


class DigestNotConfigured(MatcherError):
    """A setting the digest needs (the secret key) is missing."""


MISSING_KEY = (
    "MATCHER_SECRET_KEY n'est pas défini : sans clé secrète, les liens de désinscription ne peuvent "
    "être ni signés ni vérifiés. Définissez-la (une longue chaîne aléatoire, par exemple "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), la même pour l'envoi et le service."
)


def _serializer(secret_key: str | None, salt: str = SALT) -> URLSafeSerializer:
    if not secret_key:
        raise DigestNotConfigured(MISSING_KEY)
    return URLSafeSerializer(secret_key, salt=salt)


def make_token(secret_key: str | None, holder_id: str) -> str:
    """The token of the unsubscribe link sent to ``holder_id``."""
    return _serializer(secret_key).dumps({"holder": holder_id})


def holder_from_token(secret_key: str | None, token: str) -> str:
    """The holder id a token was signed for; InvalidToken if it was not signed with this key."""
    serializer = _serializer(secret_key)
    try:
        payload = serializer.loads(token)
    except BadData:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("holder"), str):
        raise InvalidToken(
            "lien de désinscription invalide : il est incomplet, a été modifié, ou ne vient pas de nos "
            "e-mails. Copiez le lien du dernier e-mail reçu en entier."
        )
    return payload["holder"]


@dataclass(frozen=True)
class LinkPurpose:
    """What an action link does (its salt), how long it works, and its name in messages."""

    salt: str
    lifetime: timedelta
    name: str
    #: The claims a token of this purpose must carry, each a string.
    claims: tuple[str, ...]


#: An officer's reminder links act with the account's rights: short-lived. They carry the expiry
#: the e-mail showed, so that a second click on « Prolonger » does not prolong twice.
REMINDER_CLAIMS = ("account", "offer", "expires")
PROLONG_LINK = LinkPurpose("matcher.reminders.prolong", timedelta(days=30), "« Prolonger »", REMINDER_CLAIMS)
ARCHIVE_LINK = LinkPurpose("matcher.reminders.archive", timedelta(days=30), "« Archiver »", REMINDER_CLAIMS)
#: A holder may read a weekly e-mail late; the offer's own expiry still applies.
INTEREST_LINK = LinkPurpose(
    "matcher.digest.interest", timedelta(days=90), "« Ça m'intéresse »", ("holder", "offer")
)


def sign_link(
    secret_key: str | None, purpose: LinkPurpose, claims: dict[str, Any], now: datetime | None = None
) -> str:
    """The token of an action link: ``claims`` and the expiry, signed for ``purpose``."""
    expires = (now or utcnow()) + purpose.lifetime
    return _serializer(secret_key, purpose.salt).dumps({**claims, "exp": int(expires.timestamp())})


def read_link(
    secret_key: str | None, purpose: LinkPurpose, token: str, now: datetime | None = None
) -> dict[str, Any]:
    """The claims of a token signed for ``purpose``; InvalidToken for anything else, ExpiredLink
    for a genuine one past its lifetime."""
    try:
        payload = _serializer(secret_key, purpose.salt).loads(token)
    except BadData:
        payload = None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("exp"), int)
        or not all(isinstance(payload.get(claim), str) for claim in purpose.claims)
    ):
        raise InvalidToken(
            f"lien {purpose.name} invalide : il est incomplet, a été modifié, ou ne vient pas de nos "
            "e-mails. Copiez le lien de l'e-mail en entier."
        )
    expired = datetime.fromtimestamp(payload["exp"], UTC)
    if expired <= (now or utcnow()):
        days = purpose.lifetime.days
        raise ExpiredLink(
            f"ce lien {purpose.name} a expiré le {expired.astimezone():%d/%m/%Y} : les liens de nos "
            f"e-mails valent {days} jours"
        )
    return payload


@dataclass(frozen=True)
class UnsubscribeOutcome:
    """What unsubscribing did: ``changed`` is False when the holder was already out (or erased)."""

    holder_id: str
    changed: bool
    known: bool = True

    @property
    def message(self) -> str:
        if not self.known:
            return "Ce profil n'existe plus : vous ne recevrez plus aucune suggestion."
        if self.changed:
            return "C'est fait : vous ne recevrez plus les suggestions hebdomadaires par e-mail."
        return "Vous étiez déjà désinscrit·e : vous ne recevez plus les suggestions hebdomadaires."


def unsubscribe(engine: Engine, secret_key: str | None, token: str) -> UnsubscribeOutcome:
    """Clear ``digest_opt_in`` of the holder a valid token names; idempotent."""
    holder_id = holder_from_token(secret_key, token)
    changed = engine.unsubscribe(holder_id)
    # None: erased since the e-mail left (right to erasure): nothing more will be sent.
    return UnsubscribeOutcome(holder_id, changed=bool(changed), known=changed is not None)

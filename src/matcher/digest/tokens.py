"""Signed unsubscribe tokens, and unsubscribing a holder from the weekly digest.

A token is the holder id signed with ``MATCHER_SECRET_KEY`` (itsdangerous, URL-safe). It does
not expire: an unsubscribe link found in a months-old e-mail must still work.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from matcher.engine import Engine
from matcher.errors import MatcherError

#: Separates these signatures from any other use of the same secret key.
SALT = "matcher.digest.unsubscribe"


class InvalidToken(MatcherError):
    """A forged, altered or truncated unsubscribe token."""


class DigestNotConfigured(MatcherError):
    """A setting the digest needs (the secret key) is missing."""


MISSING_KEY = (
    "MATCHER_SECRET_KEY n'est pas défini : sans clé secrète, les liens de désinscription ne peuvent "
    "être ni signés ni vérifiés. Définissez-la (une longue chaîne aléatoire, par exemple "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), la même pour l'envoi et le service."
)


def _serializer(secret_key: str | None) -> URLSafeSerializer:
    if not secret_key:
        raise DigestNotConfigured(MISSING_KEY)
    return URLSafeSerializer(secret_key, salt=SALT)


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

"""Authentication and authorisation as FastAPI dependencies.

``current_user`` turns a bearer token into an account (401 otherwise); ``require_role`` lets
only some roles through (403 otherwise). An officer's territorial scope is the engine's to check
(``Engine.publish``, ``editable``, ``import_records``), on the validated record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from matcher.accounts import Role, User
from matcher.engine import Engine

_bearer = HTTPBearer(
    auto_error=False,
    description="Jeton créé par `matcher users add` : en-tête `Authorization: Bearer <jeton>`.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_engine(request: Request) -> Engine:
    """The one engine the application opened at start-up."""
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def current_user(
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The account behind the request's bearer token; 401 when missing, unknown or revoked."""
    if credentials is None:
        raise HTTPException(
            401, "jeton d'accès manquant : en-tête « Authorization: Bearer <jeton> »", _CHALLENGE
        )
    user = engine.authenticate(credentials.credentials)
    if user is None:
        raise HTTPException(401, "jeton d'accès invalide ou révoqué", _CHALLENGE)
    return user


def require_role(*roles: Role) -> Callable[[User], User]:
    """A dependency letting through only accounts with one of ``roles`` (admins always)."""
    allowed = {Role.admin, *roles}
    labels = ", ".join(sorted(r.label for r in allowed))

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise HTTPException(403, f"action réservée aux comptes {labels} (votre rôle : {user.role.label})")
        return user

    return check


AnyUser = Annotated[User, Depends(current_user)]
Publisher = Annotated[User, Depends(require_role(Role.officer))]
Counsellor = Annotated[User, Depends(require_role(Role.counsellor))]

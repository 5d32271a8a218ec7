"""Accounts' persistence: one row per account, only the hash of its token."""

from __future__ import annotations

from sqlalchemy import select

from matcher.accounts import AccountDraft, Role, User
from matcher.clock import utcnow
from matcher.errors import AlreadyExists, NotFound, WriteConflict
from matcher.store.database import Database
from matcher.store.schema import UserRow


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        role=Role(row.role),
        territories=tuple(row.territories or ()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class AccountStore:
    """Create, list, revoke accounts and find the one holding a token hash."""

    def __init__(self, database: Database):
        self.database = database

    def create(self, draft: AccountDraft, token_hash: str) -> User:
        """Store a new account; a revoked name is given a fresh account (the way to replace a lost
        token), an active one is a conflict."""
        values = {
            "role": draft.role.value,
            "territories": list(draft.territories),
            "token_hash": token_hash,
            "created_at": utcnow(),
            "revoked_at": None,
        }
        taken = (
            f"un compte actif nommé « {draft.name} » existe déjà ; révoquez-le d'abord pour lui donner "
            "un nouveau jeton"
        )
        try:
            with self.database.session() as session:
                row = session.scalar(select(UserRow).where(UserRow.name == draft.name))
                if row is None:
                    row = UserRow(name=draft.name, **values)
                    session.add(row)
                elif row.revoked_at is None:
                    raise AlreadyExists(taken)
                else:
                    for column, value in values.items():
                        setattr(row, column, value)
        except WriteConflict:  # created concurrently under the same name
            raise AlreadyExists(taken) from None
        return _user(row)

    def all(self) -> list[User]:
        """Every account, revoked ones included, by name."""
        with self.database.session() as session:
            return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def revoke(self, name: str) -> User:
        """Revoking twice keeps the first date."""
        with self.database.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFound(f"compte inconnu : {name}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _user(row)

    def by_token_hash(self, token_hash: str) -> User | None:
        """The active account with this token hash, or None."""
        with self.database.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.token_hash == token_hash))
            if row is None or row.revoked_at is not None:
                return None
            return _user(row)

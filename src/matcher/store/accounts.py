"""Accounts' persistence: one row per account (only the hashes of its token and password), and
the web sessions of those that signed in (only the hash of each cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from matcher.accounts import AccountDraft, Role, User
from matcher.clock import as_utc, utcnow
from matcher.errors import AlreadyExists, NotFound, WriteConflict
from matcher.store.database import Database
from matcher.store.schema import UserRow, WebSessionRow

#: A session's last activity is written at most this often (not on every page view).
TOUCH_EVERY = timedelta(minutes=1)


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        role=Role(row.role),
        territories=tuple(row.territories or ()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        account_id=row.user_id,
        email=row.email,
        organisation=row.organisation,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


@dataclass(frozen=True)
class Credentials:
    """What signing in checks: the account, its password hash, and whether it is locked."""

    user: User
    password_hash: str | None
    locked_until: datetime | None


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
            "email": draft.email,
            "password_hash": draft.password_hash,
            "organisation": draft.organisation,
            "failed_sign_ins": 0,
            "locked_until": None,
            "expires_at": draft.expires_at,
            "last_used_at": None,
        }
        taken = (
            f"un compte actif nommé « {draft.name} » existe déjà ; révoquez-le d'abord pour lui donner "
            "un nouveau jeton"
        )
        try:
            with self.database.session() as session:
                if draft.email is not None:
                    holder_of_email = session.scalar(
                        select(UserRow).where(UserRow.email == draft.email, UserRow.name != draft.name)
                    )
                    if holder_of_email is not None:
                        raise AlreadyExists(
                            f"l'adresse {draft.email} est déjà celle du compte « {holder_of_email.name} »"
                        )
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
        with self.database.reading() as session:
            return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def revoke(self, name: str) -> User:
        """Revoking twice keeps the first date; the account's web sessions end at once."""
        with self.database.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFound(f"compte inconnu : {name}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.user_id))
            return _user(row)

    def set_password(self, name_or_email: str, password_hash: str) -> User:
        """Replace an active account's password; its open sessions end and a lock is lifted."""
        with self.database.session() as session:
            row = session.scalar(
                select(UserRow).where(
                    or_(UserRow.name == name_or_email, UserRow.email == name_or_email.lower()),
                    UserRow.revoked_at.is_(None),
                )
            )
            if row is None:
                raise NotFound(f"compte actif inconnu : {name_or_email}")
            if row.email is None:
                raise NotFound(
                    f"le compte « {row.name} » n'a pas d'adresse e-mail : il ne se connecte pas aux pages"
                )
            row.password_hash = password_hash
            row.failed_sign_ins = 0
            row.locked_until = None
            session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.user_id))
            return _user(row)

    def credentials(self, email: str) -> Credentials | None:
        """The active account signing in with ``email``, or None."""
        with self.database.reading() as session:
            row = session.scalar(select(UserRow).where(UserRow.email == email, UserRow.revoked_at.is_(None)))
            if row is None:
                return None
            return Credentials(_user(row), row.password_hash, row.locked_until)

    def count_attempt(self, account_id: int) -> int:
        """Count one more sign-in attempt in a single UPDATE (concurrent attempts each count);
        the number of attempts not yet cleared by a success."""
        with self.database.session() as session:
            counted = session.execute(
                update(UserRow)
                .where(UserRow.user_id == account_id)
                .values(failed_sign_ins=UserRow.failed_sign_ins + 1)
                .returning(UserRow.failed_sign_ins)
            ).scalar_one()
            return int(counted)

    def lock(self, account_id: int, until: datetime) -> None:
        """Lock the account until ``until`` and start counting afresh for when it ends."""
        with self.database.session() as session:
            session.execute(
                update(UserRow)
                .where(UserRow.user_id == account_id)
                .values(locked_until=until, failed_sign_ins=0)
            )

    def clear_attempts(self, account_id: int) -> None:
        """A successful sign-in: the count of attempts starts again from zero."""
        with self.database.session() as session:
            session.execute(update(UserRow).where(UserRow.user_id == account_id).values(failed_sign_ins=0))

    def open_session(self, account_id: int, token_hash: str, csrf: str) -> None:
        now = utcnow()
        with self.database.session() as session:
            session.add(
                WebSessionRow(
                    token_hash=token_hash, user_id=account_id, csrf=csrf, created_at=now, last_seen_at=now
                )
            )

    def session_user(self, token_hash: str, idle: timedelta) -> tuple[User, str] | None:
        """The active account and CSRF token of a live session, which counts as activity; an
        idle or revoked one is closed and gives None.

        Read first, written only when needed (rarely): a request takes no write lock to
        authenticate."""
        now = utcnow()
        with self.database.reading() as session:
            found = session.execute(
                select(WebSessionRow, UserRow)
                .join(UserRow, UserRow.user_id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == token_hash)
            ).first()
        if found is None:
            return None
        web_session, row = found
        if row.revoked_at is not None or as_utc(web_session.last_seen_at) + idle < now:
            self.close_session(token_hash)
            return None
        if as_utc(web_session.last_seen_at) + TOUCH_EVERY < now:
            with self.database.session() as session:
                session.execute(
                    update(WebSessionRow)
                    .where(WebSessionRow.token_hash == token_hash)
                    .values(last_seen_at=now)
                )
        return _user(row), web_session.csrf

    def close_session(self, token_hash: str) -> None:
        with self.database.session() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_hash))

    def by_token_hash(self, token_hash: str) -> User | None:
        """The active account with this token hash, or None (revoked, or its token expired); the
        use is noted (at most every TOUCH_EVERY, not at every request, in its own short write)."""
        now = utcnow()
        with self.database.reading() as session:
            row = session.scalar(select(UserRow).where(UserRow.token_hash == token_hash))
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and as_utc(row.expires_at) <= now:
            return None
        if row.last_used_at is None or as_utc(row.last_used_at) + TOUCH_EVERY < now:
            with self.database.session() as session:
                session.execute(
                    update(UserRow).where(UserRow.user_id == row.user_id).values(last_used_at=now)
                )
            row.last_used_at = now  # the detached copy, as stored now
        return _user(row)

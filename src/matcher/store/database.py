"""The connection: SQLAlchemy engine, one-transaction sessions, and the schema brought up to date.

SQLite in ``MATCHER_HOME`` by default; nothing here is SQLite-only, so a PostgreSQL URL works.
The schema belongs to Alembic: opening a database applies the revisions it lacks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from matcher.config import PRIVATE_FILE
from matcher.errors import StoreUnavailable, WriteConflict

#: Ids per SQL ``IN (...)``: below every database's limit on bound parameters.
IN_CHUNK = 900


def in_chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in slices small enough for one ``IN (...)`` each."""
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the service read while a CLI import or the digest writes; the busy timeout
    # makes a second writer wait for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erased rows are overwritten, not left in free pages where a disk image would keep them.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _create_private_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only (SQLite then gives its -wal and
    -shm files the same permissions); an existing file is left as it is."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _create_private_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Apply the Alembic revisions the database lacks (all of them on a new database)."""
    config = Config()
    config.set_main_option("script_location", str(files("matcher.store") / "migrations"))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch mode rebuilds a table by copy, drop and rename: with foreign keys on, the
            # drop would cascade to the rows referring to it (a holder's feedback). pysqlite
            # opens no transaction for a PRAGMA, so this one takes effect.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # end the autobegun (empty) transaction
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("migration left rows whose foreign keys point nowhere")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


class Database:
    """One database: its engine and its sessions, migrated when opened."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error.

        The database's own failures become domain errors: a write that conflicts with a stored
        record (WriteConflict), a database that is locked or unreachable (StoreUnavailable).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except IntegrityError as error:
            session.rollback()
            raise WriteConflict("conflit avec un enregistrement existant ; relisez puis réessayez") from error
        except OperationalError as error:
            session.rollback()
            raise StoreUnavailable(
                "base de données momentanément indisponible ; réessayez dans quelques secondes"
            ) from error
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database and empty it (after an erasure: the
        log would otherwise keep the erased rows' old pages); nothing to do elsewhere."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.engine.dispose()

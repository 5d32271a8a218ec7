"""The connection: SQLAlchemy engine, one-transaction sessions, and the schema brought up to date.

SQLite in ``MATCHER_HOME`` by default, or PostgreSQL (``postgresql+psycopg://...``, the
``postgres`` extra). The schema belongs to Alembic: opening a database applies the revisions it
lacks.

Two kinds of transaction. ``session()`` writes: on SQLite it starts with ``BEGIN IMMEDIATE``,
so it takes the write lock first (waiting for it up to the busy timeout) and never has to
upgrade a read to a write, which SQLite refuses at once, without waiting, when another process
wrote meanwhile. ``reading()`` only reads: a plain ``BEGIN``, which never waits for a writer
(WAL). Write transactions are kept short: no network call, no encoding inside one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
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


#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 30_000
#: Marks the sessions that write (``session()``), read by ``_sqlite_begin``.
_WRITES = "matcher_writes"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling (a BEGIN it emits before some statements only) is
    # off: ``_sqlite_begin`` starts every transaction, of the kind the session asks for.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the service read while a CLI import or the digest writes; the busy timeout
    # makes a second writer wait for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erased rows are overwritten, not left in free pages where a disk image would keep them.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Apply the Alembic revisions the database lacks (all of them on a new database)."""
    config = Config()
    config.set_main_option("script_location", str(files("matcher.store") / "migrations"))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect().execution_options(**{_WRITES: True}) as connection:
        if sqlite:
            # Batch mode rebuilds a table by copy, drop and rename: with foreign keys on, the
            # drop would cascade to the rows referring to it (a holder's feedback). Said on the
            # driver's connection, outside any transaction, where SQLite takes it into account.
            _outside_transaction(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("migration left rows whose foreign keys point nowhere")
        finally:
            if sqlite:
                _outside_transaction(connection, "PRAGMA foreign_keys=ON")


def _outside_transaction(connection: Connection, statement: str) -> None:
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(statement)


class Database:
    """One database: its engine and its sessions, migrated when opened."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate(self.engine)
        self._writing = sessionmaker(self.engine.execution_options(**{_WRITES: True}), expire_on_commit=False)
        self._reading = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AbstractContextManager[Session]:
        """One write transaction: committed on success, rolled back on any error; on SQLite it
        holds the write lock from its start (waiting for another writer up to the busy timeout).

        The database's own failures become domain errors: a write that conflicts with a stored
        record (WriteConflict), a database that is locked or unreachable (StoreUnavailable).
        """
        return self._transaction(self._writing)

    def reading(self) -> AbstractContextManager[Session]:
        """One read-only transaction (a consistent snapshot): it never waits for a writer."""
        return self._transaction(self._reading)

    @contextmanager
    def _transaction(self, sessions: sessionmaker[Session]) -> Iterator[Session]:
        session = sessions()
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
            _outside_transaction(connection, "PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.engine.dispose()

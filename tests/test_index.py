"""The FAISS index: incremental upkeep, filters inside the search, drift detection and repair."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, update

from matcher import index_file
from matcher.index import VectorIndex
from matcher.intake import read_records
from matcher.lexical import LexicalModel
from matcher.store import OpportunityRow


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_add_update_remove_keep_ids():
    index = VectorIndex(16, "test")
    vectors = unit_vectors(5)
    index.upsert(np.arange(10, 15), vectors, [f"h{i}" for i in range(5)])
    _, ids = index.search(vectors[2:3], 1)
    assert ids[0, 0] == 12
    index.upsert(np.array([12]), vectors[4:5], ["changed"])  # update moves the vector
    index.remove(np.array([14]))
    assert len(index) == 4 and index.hashes[12] == "changed" and 14 not in index.hashes
    _, ids = index.search(vectors[4:5], 2)
    assert ids[0, 0] == 12 and 14 not in ids[0]


def test_a_selective_filter_still_returns_the_best_k_of_those_that_pass():
    index = VectorIndex(16, "test")
    vectors = unit_vectors(2000, seed=1)
    row_ids = np.arange(1, 2001)
    index.upsert(row_ids, vectors, ["x"] * 2000)
    query = unit_vectors(1, seed=2)
    allowed = row_ids[::97]  # 21 of 2000 pass
    scores, ids = index.search(query, 10, allowed=allowed)
    exact = allowed[np.argsort(-(vectors[allowed - 1] @ query[0]))[:10]]
    assert ids[0].tolist() == exact.tolist()
    assert np.all(np.diff(scores[0]) <= 1e-6)
    _, few = index.search(query, 10, allowed=allowed[:3])
    assert sorted(few[0][few[0] >= 0].tolist()) == sorted(allowed[:3].tolist())


def test_save_and_load_round_trip(tmp_path):
    index = VectorIndex(16, "test")
    index.upsert(np.array([3, 9]), unit_vectors(2), ["a", "b"])
    index.save(tmp_path / "i.npz")
    loaded = VectorIndex.load(tmp_path / "i.npz")
    assert loaded.fingerprint() == index.fingerprint() and loaded.hashes == {3: "a", 9: "b"}
    np.testing.assert_allclose(loaded.vectors(np.array([9])), index.vectors(np.array([9])))


def test_the_lexical_model_is_saved_as_arrays_and_read_back_identical(tmp_path):
    texts = ["Boulangerie de village avec fournil", "Cabinet médical à reprendre", "Fromagerie et caves"]
    index = VectorIndex(16, "test")
    index.upsert(np.array([1, 2, 3]), unit_vectors(3), ["a", "b", "c"])
    index.lexical = LexicalModel().fit(texts)
    index.save(tmp_path / "i.npz")
    arrays = index_file.open_contents(tmp_path / "i.npz").meta["arrays"]  # nothing needs unpickling
    assert {"lexical_terms", "lexical_idf"} <= set(arrays) and "lexical" not in arrays
    assert all(np.dtype(entry["dtype"]) != object for entry in arrays.values())
    loaded = VectorIndex.load(tmp_path / "i.npz").lexical
    query = "reprendre une boulangerie avec son fournil"
    documents = index.lexical.transform(texts)
    np.testing.assert_allclose(
        loaded.similarity(query, documents), index.lexical.similarity(query, documents)
    )
    shared = loaded.shared_words(query, loaded.stems(texts[0]))
    assert shared == index.lexical.shared_words(query, index.lexical.stems(texts[0]))
    assert set(shared) == {"boulangerie", "fournil"}
    assert loaded.n_documents_ == 3


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["MATCHER_PICKLE_CANARY"]),))


def test_an_older_file_s_pickled_lexical_model_is_never_unpickled(sample_engine, make_engine, monkeypatch):
    """Format 1 kept a pickle: whoever could write the file could run code as the service."""
    home, path = sample_engine.settings.home, sample_engine.settings.index_path
    sample_engine.refresh()
    canary = home / "ran"
    monkeypatch.setenv("MATCHER_PICKLE_CANARY", str(canary))
    meta = np.frombuffer(json.dumps({"format": 1, "encoder": "x", "dim": 16}).encode(), dtype=np.uint8)
    with open(path, "wb") as out:  # a format-1 file: a zip of arrays, one of them a pickle
        np.savez(out, meta=meta, lexical=np.frombuffer(pickle.dumps(_Payload()), dtype=np.uint8))
    engine = make_engine(home)
    report = engine.refresh()
    assert not canary.exists()  # the payload did not run
    assert report.rebuilt and "illisible" in report.reason  # an older format is rebuilt
    assert len(engine.index) == len(sample_engine.index) and engine.index.lexical is not None


def test_a_saved_index_maps_its_pieces_and_answers_as_before(tmp_path):
    index = VectorIndex(16, "test")
    vectors = unit_vectors(40, seed=3)
    pieces = [unit_vectors(1 + i % 3, seed=10 + i) for i in range(40)]
    index.upsert(np.arange(1, 41), vectors, ["h"] * 40, pieces)
    index.save(tmp_path / "i.npz")
    loaded = VectorIndex.load(tmp_path / "i.npz")
    assert isinstance(loaded.pieces.data, np.memmap)  # on disk, paged in when read
    queries = unit_vectors(3, seed=4)
    np.testing.assert_allclose(
        loaded.best_pieces(queries, np.arange(1, 41)), index.best_pieces(queries, np.arange(1, 41)), atol=1e-6
    )
    expected = np.array([[float(np.max(p @ q)) for p in pieces] for q in queries])
    np.testing.assert_allclose(loaded.best_pieces(queries, np.arange(1, 41)), expected, atol=2e-3)
    loaded.upsert(np.array([5]), vectors[:1], ["new"], [unit_vectors(2, seed=99)])  # changed after loading
    loaded.remove(np.array([7]))
    got = loaded.best_pieces(queries[:1], np.array([5, 6]))
    np.testing.assert_allclose(got[0, 0], np.max(unit_vectors(2, seed=99) @ queries[0]), atol=2e-3)
    with pytest.raises(KeyError):
        loaded.best_pieces(queries[:1], np.array([7]))
    loaded.save(tmp_path / "i.npz")  # over the file it maps
    again = VectorIndex.load(tmp_path / "i.npz")
    np.testing.assert_allclose(
        again.best_pieces(queries, np.array([5, 6])), loaded.best_pieces(queries, np.array([5, 6])), atol=1e-6
    )


@pytest.fixture
def grown_index(monkeypatch):
    """An index past the size where the inverted-file index answers (thresholds scaled down)."""
    from matcher import index as module

    monkeypatch.setattr(module, "APPROXIMATE_FROM", 1000)
    monkeypatch.setattr(module, "GATHER_AT_MOST", 50)
    monkeypatch.setattr(module, "NPROBE", 2)
    index = VectorIndex(16, "test")
    vectors = unit_vectors(3000, seed=5)
    for first in range(0, 3000, 64):  # batch by batch, as a build adds them
        rows = np.arange(first, min(first + 64, 3000))
        index.upsert(rows + 1, vectors[rows], ["h"] * len(rows))
    return index, vectors


def test_the_planner_is_exact_when_few_pass_and_never_short(grown_index):
    index, _ = grown_index
    assert index.approximate and index.trained_at >= 1000 and len(index) == 3000
    rng = np.random.default_rng(6)
    # 15 pass: gathered; 150: two probed lists hold too few of them, searched again in full;
    # 900 and everything: the probed lists hold enough (approximate, as intended).
    for share, exact_wanted in ((0.005, True), (0.05, True), (0.3, False), (1.0, False)):
        allowed = np.sort(rng.choice(np.arange(1, 3001), size=int(3000 * share), replace=False))
        query = unit_vectors(1, seed=int(share * 1000))
        scores, ids = index.search(query, 10, allowed=allowed)
        exact = index.vectors(allowed) @ query[0]
        kth = np.sort(exact)[::-1][9]
        found = ids[0][ids[0] >= 0]
        assert len(found) == 10 and set(found.tolist()) <= set(allowed.tolist())  # never short
        assert np.all(np.diff(scores[0]) <= 1e-6)
        if exact_wanted:  # every returned offer scores at least the 10th exact score
            assert np.all(exact[np.searchsorted(allowed, found)] >= kth - 1e-5)


def test_the_approximate_index_survives_changes_and_a_round_trip(grown_index, tmp_path):
    index, vectors = grown_index
    index.upsert(np.array([10]), vectors[20:21], ["moved"])
    index.remove(np.array([11]))
    index.save(tmp_path / "i.npz")
    loaded = VectorIndex.load(tmp_path / "i.npz")
    assert loaded.approximate and len(loaded) == 2999 and loaded.hashes[10] == "moved"
    _, ids = loaded.search(vectors[20:21], 2, allowed=np.array([10, 11, 21, 500]))
    assert sorted(ids[0].tolist()) == [10, 21] and 11 not in loaded.hashes


def test_missing_and_damaged_index_are_rebuilt(sample_engine, make_engine):
    home, path = sample_engine.settings.home, sample_engine.settings.index_path
    fingerprint = (sample_engine.refresh(), sample_engine.index.fingerprint())[1]
    path.write_bytes(path.read_bytes()[:1000])  # a torn write
    damaged = make_engine(home)
    report = damaged.refresh()
    assert report.rebuilt and "illisible" in report.reason
    assert damaged.index.fingerprint() == fingerprint
    path.unlink()
    missing = make_engine(home)
    report = missing.refresh()
    assert report.rebuilt and report.reason == "index absent" and report.embedded == len(missing.index)


def test_drift_behind_the_engines_back_is_detected_and_repaired(sample_engine, make_engine):
    sample_engine.refresh()
    before = dict(sample_engine.index.hashes)
    with sample_engine.store.database.session() as session:  # edits that bypass the store's bookkeeping
        victim, edited = sorted(before)[:2]
        session.execute(delete(OpportunityRow).where(OpportunityRow.row_id == victim))
        session.execute(
            update(OpportunityRow).where(OpportunityRow.row_id == edited).values(text_hash="0" * 64)
        )
    reopened = make_engine(sample_engine.settings.home)
    report = reopened.refresh()
    assert not report.rebuilt
    assert report.removed == 1 and report.embedded == 1
    assert victim not in reopened.index.hashes and reopened.index.hashes[edited] == "0" * 64
    assert set(reopened.index.hashes) == set(before) - {victim}


def test_switching_encoder_re_embeds_everything(sample_engine, make_engine):
    sample_engine.refresh()
    sample_engine.save_index()
    other = make_engine(sample_engine.settings.home)
    other._encoder = RenamedEncoder(sample_engine.encoder)
    report = other.refresh()
    assert report.rebuilt and "encodeur changé" in report.reason
    assert other.index.encoder_identity == "renamed" and report.embedded == len(other.index)


class RenamedEncoder:
    """The same model under another identity: the index must not mix their vectors."""

    identity = "renamed"

    def __init__(self, inner):
        self.inner, self.dim = inner, inner.dim

    def encode(self, texts):
        return self.inner.encode(texts)


def test_archiving_removes_from_the_index_and_writes_are_read_back(sample_engine):
    sample_engine.refresh()
    offer = sample_engine.store.catalogue.get("act-001-medecin-felletin")
    with sample_engine.store.database.session() as session:
        sample_engine.store.catalogue.save(session, offer.model_copy(update={"status": "archived"}))
        sample_engine.store.catalogue.save(
            session, offer.model_copy(update={"id": "act-new", "title": "Médecin à Felletin, bis"})
        )
    report = sample_engine.refresh()
    assert (report.removed, report.embedded, report.rebuilt) == (1, 1, False)
    ids = set(
        sample_engine.view.arrays["id"][
            np.isin(sample_engine.view.arrays["row_id"], list(sample_engine.index.hashes))
        ]
    )
    assert "act-new" in ids and "act-001-medecin-felletin" not in ids


def test_a_killed_save_s_temporary_file_is_removed_at_the_next_start(sample_engine, make_engine):
    import subprocess
    import sys

    path = sample_engine.settings.index_path
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphan = path.with_suffix(f".{int(dead.stdout)}.tmp")  # its writer is gone
    orphan.write_bytes(b"half an index")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        in_progress = path.with_suffix(f".{alive.pid}.tmp")  # another process is saving
        in_progress.write_bytes(b"being written")
        reopened = make_engine(sample_engine.settings.home)
        report = reopened.refresh()
        assert not report.rebuilt and not orphan.exists() and in_progress.exists()
    finally:
        alive.kill()
        alive.wait()


def test_everything_matcher_writes_in_its_home_is_for_its_owner_only(make_engine, tmp_path):
    home = tmp_path / "private"
    engine = make_engine(home)
    lines = (
        (Path(__file__).resolve().parents[1] / "data" / "opportunities.jsonl").read_bytes().splitlines()[:5]
    )
    engine.import_records("opportunities", read_records(b"\n".join(lines), "offres"))
    engine.refresh()
    assert engine.save_index()
    written = [home, *home.rglob("*")]
    assert {p.name for p in written} >= {"matcher.db", "matcher.db-wal", "index", "opportunities.npz"}
    loose = {
        str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777)
        for p in written
        if p.stat().st_mode & 0o077
    }
    assert not loose


class DyingEncoder(RenamedEncoder):
    """Stops the process's work after ``batches`` batches, as a kill -9 would (nothing after)."""

    def __init__(self, inner, batches):
        super().__init__(inner)
        self.identity, self.left = inner.identity, batches

    def encode(self, texts):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.encode(texts)


def test_a_killed_index_build_resumes_from_its_last_saved_batch(sample_engine, make_engine, monkeypatch):
    from matcher.engine import upkeep

    monkeypatch.setattr(upkeep, "CHECKPOINT_SECONDS", 0.0)  # saved after each batch of 64: 3 batches
    home, path = sample_engine.settings.home, sample_engine.settings.index_path
    total = sum(row.status != "archived" for row in sample_engine.store.catalogue.changed_since(0))
    path.unlink()
    dying = make_engine(home)
    dying._encoder = DyingEncoder(sample_engine.encoder, batches=2)
    with pytest.raises(KeyboardInterrupt):
        dying.refresh()
    resumed = make_engine(home)
    report = resumed.refresh()
    # The first two batches were saved as they finished: only the rest is embedded again.
    assert not report.rebuilt and report.embedded == total - 2 * upkeep.EMBED_BATCH
    assert len(resumed.index) == total

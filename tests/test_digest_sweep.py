"""The digest's batch (many holders against the week's new offers at once, engine/sweep.py) ranks
as each holder's own search does: the same matches in the same order, the same scores to 1e-4,
the same reasons; on the sample catalogue and holders, real SQLite and FAISS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from matcher.config import Settings
from matcher.digest.selection import select_digests
from matcher.domain import Match
from matcher.engine import Engine
from matcher.filters import hard_filters
from matcher.scoring import on_topic
from tests.test_digest import LIMIT, WEEK1, stamped_copy

TODAY = WEEK1.astimezone().date()


@pytest.fixture(scope="module")
def engine(sample_home, tmp_path_factory, encoder) -> Iterator[Engine]:
    engine = Engine(
        Settings(home=stamped_copy(sample_home, tmp_path_factory.mktemp("sweep") / "home")), encoder
    )
    holders = engine.store.holders.page()[1]
    # « Not relevant » marks on a few holders' best offers: the batch leaves them out too.
    for holder in holders[::5]:
        best = engine.match(holder, top=1, today=TODAY).matches
        if best:
            engine.store.holders.add_feedback(holder.key, best[0].opportunity_id, "not_relevant")
    yield engine
    engine.close()


def assert_same(batch: list[Match], alone: list[Match]) -> None:
    """The same matches, order and reasons; scores and components equal to 1e-4."""
    assert [m.opportunity_id for m in batch] == [m.opportunity_id for m in alone]
    for rank, (ours, theirs) in enumerate(zip(batch, alone, strict=True), start=1):
        ours_fields, theirs_fields = ours.model_dump(), theirs.model_dump(exclude={"rank"})
        assert ours_fields.pop("rank") == rank
        assert ours_fields.pop("score") == pytest.approx(theirs_fields.pop("score"), abs=1e-4)
        assert ours_fields.pop("components") == pytest.approx(theirs_fields.pop("components"), abs=1e-4)
        assert ours_fields == theirs_fields


def test_the_digest_batch_sends_what_each_holder_alone_would_get(engine):
    holders = engine.store.holders.page()[1]
    fresh = engine.new_opportunities(WEEK1 - timedelta(days=7), WEEK1)
    assert len(fresh) > 100  # every published sample offer is new this week
    # Small batches, so that several batches and a last short one run.
    digests = list(select_digests(engine, holders, WEEK1, LIMIT, batch_size=7))
    assert [d.holder.key for d in digests] == [h.key for h in holders]
    assert sum(len(d.suggestions) for d in digests) > 2 * len(holders)
    for digest in digests:
        # Everything published is new: the holder's own search, unrestricted, sees the same pool.
        alone = engine.match(digest.holder, top=LIMIT, today=TODAY).matches
        assert_same([s.match for s in digest.suggestions], [m for m in alone if on_topic(m.components)])


def test_a_batch_restricted_to_some_offers_ranks_them_as_each_holder_alone(engine):
    holders = engine.store.holders.page()[1]
    everything = sorted(engine.view.arrays["id"].tolist())
    some = set(everything[::3])
    # Enough results that every passing offer of the subset is scored either way.
    top = len(everything)
    results = engine.match_many(holders, top=top, today=TODAY, among=some)
    view = engine.view
    positions = [i for i, offer in enumerate(view.arrays["id"].tolist()) if offer in some]
    rejected = engine.store.holders.rejected_by([h.key for h in holders])
    assert any(rejected.values())
    for holder, result in zip(holders, results, strict=True):
        alone = engine.match(holder, top=top, today=TODAY).matches
        assert_same(result.matches, [m for m in alone if m.opportunity_id in some])
        outcome = hard_filters(holder, view, TODAY, rejected.get(holder.key, set()), positions=positions)
        assert result.excluded == outcome.excluded
        assert result.relaxations == []
    assert sum(len(r.matches) for r in results) > len(holders)


def test_holders_with_nothing_new_or_nothing_passing_get_no_match(engine):
    holders = engine.store.holders.page()[1][:3]
    assert [r.matches for r in engine.match_many(holders, top=5, today=TODAY, among=set())] == [[]] * 3
    everything = set(engine.view.arrays["id"].tolist())
    # Overseas only: no sample offer is there.
    far = [h.model_copy(update={"departments": ["976"], "regions": []}) for h in holders]
    results = engine.match_many(far + holders, top=5, today=TODAY, among=everything)
    assert all(r.matches == [] and r.excluded["department"] > 0 for r in results[:3])
    assert all(r.matches for r in results[3:])

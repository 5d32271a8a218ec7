"""Who gets what: for each opted-in holder, the engine's best matches among what is new to them.

"New" for a holder means published or updated after the clock of their last digest (the
latest ledger row), up to this run's clock; a first digest looks back ``FIRST_WINDOW``. What
the ledger says was already sent to them is left out, and so is what they marked not relevant
(the engine's hard filters do that, with all the others). Matching is batched: one
``Engine.match_many`` call per batch of holders who share the same window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from matcher.clock import as_utc
from matcher.domain import HolderProfile, HolderQuery, Match, MatchResult, Opportunity
from matcher.engine import Engine
from matcher.scoring import on_topic

FIRST_WINDOW = timedelta(days=7)
#: Holders per ``match_many`` call: large enough to batch the embedding, small enough to
#: keep the results of one batch in memory.
BATCH_SIZE = 256


@dataclass
class Suggestion:
    """One opportunity proposed in a digest: the engine's match and the record behind it."""

    match: Match
    opportunity: Opportunity


@dataclass
class HolderDigest:
    """What one holder receives this run; no suggestions means no e-mail."""

    holder: HolderProfile
    since: datetime
    first: bool
    suggestions: list[Suggestion] = field(default_factory=list)


def digest_holders(engine: Engine, holder_id: str | None = None) -> list[HolderProfile]:
    """Holders who asked for the digest (all, or the one named); NotFound for an unknown id."""
    if holder_id is None:
        return engine.holders(HolderQuery(digest_opt_in=True))[1]
    holder = engine.holder(holder_id)
    return [holder] if engine.digest_opted_in(holder_id) else []


def select_digests(
    engine: Engine,
    holders: list[HolderProfile],
    clock: datetime,
    limit: int,
    today: date | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[HolderDigest]:
    """Each holder's digest, batch by batch (holders sharing a window are matched together)."""
    clock = as_utc(clock)
    today = today or clock.astimezone().date()
    ledger = engine.ledger
    last = ledger.last_clocks()
    windows: dict[datetime, list[HolderProfile]] = defaultdict(list)
    for holder in holders:
        windows[last.get(holder.key, clock - FIRST_WINDOW)].append(holder)
    for since, group in sorted(windows.items()):
        fresh = engine.new_opportunities(since, clock) if since < clock else {}
        sent = ledger.already_sent((h.key for h in group), list(fresh))
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            results: Sequence[MatchResult | None] = [None] * len(batch)
            if fresh:
                # Ask for enough that dropping what was already sent still leaves ``limit``.
                extra = max(len(sent.get(h.key, ())) for h in batch)
                results = engine.match_many(batch, top=limit + extra, today=today, among=set(fresh))
            for holder, result in zip(batch, results, strict=True):
                digest = HolderDigest(holder, since, first=holder.key not in last)
                if result is not None:
                    # A weekly e-mail carries only offers about the project: a thin link is
                    # worth a counsellor's look, not an unsolicited message.
                    kept = [
                        m
                        for m in result.matches
                        if m.opportunity_id not in sent.get(holder.key, ()) and on_topic(m.components)
                    ]
                    digest.suggestions = [
                        Suggestion(m.model_copy(update={"rank": rank}), fresh[m.opportunity_id])
                        for rank, m in enumerate(kept[:limit], start=1)
                    ]
                yield digest

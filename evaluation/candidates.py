"""Candidates at scale: a home holding many holders who share their profile with territories,
and the time ``Engine.candidates`` takes to rank them for one offer.

Holders are recombined from the sample profiles: each keeps one sample holder's own words
(project and experience, whose vectors the benchmark's cache holds) and takes its constraints
and origin from another, so that the pool is not a few hundred copies of the same person.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from evaluation.measures import percentiles
from matcher.domain import HolderProfile
from matcher.engine import Engine

#: What a recombined holder takes from its second sample profile: constraints, what was read in
#: them on intake (families, regions), and the origin its distance is counted from.
CONSTRAINTS = (
    "kinds", "sectors", "families", "budget_eur", "max_distance_km", "departments", "regions",
    "needs_housing", "remote_worker", "partner_sector", "partner_family", "available_from", "origin",
)  # fmt: skip
#: Holders stored per transaction.
CHUNK = 5000


def sharing_holders(sample: list[HolderProfile], count: int, seed: int = 0) -> Iterator[HolderProfile]:
    """``count`` holders sharing their profile, each one sample holder's words and another's
    constraints, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    dumps = [h.model_dump(mode="json", exclude_none=True) for h in sample]
    for i in range(count):
        words, rules = (dumps[int(j)] for j in rng.integers(len(dumps), size=2))
        raw = {k: v for k, v in words.items() if k not in CONSTRAINTS}
        raw.update({k: rules[k] for k in CONSTRAINTS if k in rules})
        raw.update(id=f"bench-share-{i:07d}", email=None, share_with_territories=True, digest_opt_in=False)
        yield HolderProfile.model_validate(raw)


def store_holders(engine: Engine, holders: Iterator[HolderProfile]) -> int:
    """Store the holders through the store's bulk insert, ``CHUNK`` at a time."""
    stored = 0
    while chunk := [h for _, h in zip(range(CHUNK), holders, strict=False)]:
        engine.store.holders.bulk_insert(chunk)
        stored += len(chunk)
    return stored


def time_candidates(
    engine: Engine, offer_ids: list[str], top: int = 20, budget_s: float = 60.0
) -> dict[str, Any]:
    """p50/p95 of ``Engine.candidates`` over ``offer_ids`` once the holders' vectors are stored
    and after one untimed first call, stopping early (after three at least) once ``budget_s`` is
    spent."""
    start = time.perf_counter()
    engine.embed_holders()
    embedded = time.perf_counter()
    engine.candidates(offer_ids[0], top=top)
    first = time.perf_counter()
    timings, found = [], 0
    for offer_id in offer_ids:
        began = time.perf_counter()
        found += len(engine.candidates(offer_id, top=top))
        timings.append((time.perf_counter() - began) * 1000)
        if len(timings) >= 3 and time.perf_counter() - first > budget_s:
            break
    figures = percentiles(timings)
    return {
        "candidates_p50_ms": figures["p50"],
        "candidates_p95_ms": figures["p95"],
        "candidates_first_ms": round((first - embedded) * 1000, 1),
        "candidates_timed": len(timings),
        "candidates_per_list": round(found / len(timings), 2),
        "candidate_holders_embed_s": round(embedded - start, 2),
    }

"""What a search is asked (``Search``) and what it scores (``Pool``): shared by the one-holder
search (``ranking``) and the batch of holders against a few offers (``sweep``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from matcher.engine.caches import Document
from matcher.explain import Voice
from matcher.negation import Negation
from matcher.scoring import Pairs

#: How many semantic neighbours are re-scored with the soft features, per result wanted.
POOL_PER_RESULT = 5
MIN_POOL = 50


@dataclass(frozen=True)
class Search:
    """What a batch of profiles shares: how many results, the day, whom the reasons speak to."""

    top: int
    today: date
    voice: Voice = "holder"

    @property
    def pool(self) -> int:
        """How many semantic neighbours of each profile are re-scored with the soft features."""
        return max(self.top * POOL_PER_RESULT, MIN_POOL)


@dataclass(frozen=True)
class Pool:
    """The (holder, offer) pairs scored: records, components and the evidence reasons quote,
    aligned with ``pairs``; ``queries`` holds each holder's profile text."""

    pairs: Pairs
    documents: list[Document]
    parts: dict[str, np.ndarray]
    distances_km: np.ndarray | None
    partner_counts: np.ndarray
    denied: list[list[Negation]]
    queries: list[str]

"""Look-alike offers: how closely two opportunities resemble each other. Pure: no I/O.

Two measures, combined. The fuzzy one (rapidfuzz) compares the normalised words of the titles
and of the descriptions: it catches copies and re-posts with a changed figure. The semantic one
is the cosine of the encoder's document vectors (those the index holds): it catches the same
offer re-worded. ``similarity`` is their weighted mean; a pair at or above ``THRESHOLD``, of the
same territory or the same commune, is called a likely duplicate.

The weights and the threshold were chosen on ``evaluation/data/duplicate_pairs.tsv`` (a small
list of pairs written by hand): ``python -m evaluation.duplicates`` gives precision and recall.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from matcher.domain import Opportunity, territory_key
from matcher.errors import LookAlike
from matcher.explain import long_date, plural

#: A pair at or above this combined similarity is a likely duplicate (see the module's note).
THRESHOLD = 0.65
#: The fuzzy measure's share of the combined similarity; the semantic one has the rest.
FUZZY_WEIGHT = 0.5
#: Within the fuzzy measure, the title's share; the description has the rest.
TITLE_WEIGHT = 0.4

_NOT_WORD = re.compile(r"[^\w]+")


@lru_cache(maxsize=4096)  # an import compares each record with many others
def normalised(text: str) -> str:
    """Lower case, no accents, no punctuation, single spaces: « Épicerie-bar ! » -> « epicerie bar »."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", bare).split())


def fuzzy_similarity(first: Opportunity, second: Opportunity) -> float:
    """Likeness of the words, in [0, 1]: titles letter by letter (word order ignored), descriptions
    word by word in order. Letter-level ratios of two unrelated French descriptions sit near 0.5
    (same language, same letters); word-level ones near 0.25, which leaves room for a copy."""
    title = fuzz.token_sort_ratio(normalised(first.title), normalised(second.title)) / 100
    body = Indel.normalized_similarity(
        normalised(first.description).split(), normalised(second.description).split()
    )
    return TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * body


def combined(fuzzy: float, semantic: float) -> float:
    """The similarity a threshold is compared with: the weighted mean of both measures."""
    return FUZZY_WEIGHT * fuzzy + (1 - FUZZY_WEIGHT) * max(semantic, 0.0)


def may_reach(fuzzy: float, threshold: float = THRESHOLD) -> bool:
    """Whether a pair with this fuzzy likeness can reach ``threshold`` at all (a cosine is at
    most 1): the others need no vector."""
    return combined(fuzzy, 1.0) >= threshold


def similarity(
    first: Opportunity, second: Opportunity, first_vector: np.ndarray, second_vector: np.ndarray
) -> float:
    """How closely two offers resemble each other, in [0, 1], from their texts and vectors."""
    cosine = float(np.dot(np.ravel(first_vector), np.ravel(second_vector)))
    return combined(fuzzy_similarity(first, second), cosine)


def is_live(opportunity: Opportunity, today: date) -> bool:
    """Published and not expired: what a holder can still be shown."""
    return opportunity.status == "published" and (
        opportunity.expires_on is None or opportunity.expires_on >= today
    )


_place_key = lru_cache(maxsize=4096)(territory_key)


def same_place(first: Opportunity, second: Opportunity) -> bool:
    """Same territory (as names compare) or same commune (INSEE code): where a duplicate is looked for."""
    if _place_key(first.territory) == _place_key(second.territory):
        return True
    return first.location.insee is not None and first.location.insee == second.location.insee


def may_resemble(record: Opportunity, other: Opportunity, today: date) -> bool:
    """Whether ``other`` is a candidate look-alike of ``record``: another live offer of its place."""
    return other.id != record.id and is_live(other, today) and same_place(record, other)


@dataclass(frozen=True)
class Candidate:
    """A stored or incoming offer to compare with, its document vector, and when it was published."""

    opportunity: Opportunity
    vector: np.ndarray
    published: date


def look_alikes(
    record: Opportunity,
    vector: np.ndarray,
    candidates: Sequence[Candidate],
    threshold: float = THRESHOLD,
) -> list[LookAlike]:
    """The candidates resembling ``record`` at or above ``threshold``, most similar first."""
    found = [
        LookAlike(c.opportunity.id, c.opportunity.title, c.published, round(score, 3))
        for c in candidates
        if (score := similarity(record, c.opportunity, vector, c.vector)) >= threshold
    ]
    return sorted(found, key=lambda alike: (-alike.similarity, alike.id))


def warning(look_alikes: Sequence[LookAlike]) -> str:
    """« Cette offre ressemble à « … » publiée le 3 novembre 2026 : publier quand même ? »"""
    first, others = look_alikes[0], len(look_alikes) - 1
    more = f" (et à {plural(others, 'autre offre', 'autres offres')})" if others else ""
    return (
        f"Cette offre ressemble à « {first.title} » publiée le {long_date(first.published)}{more} : "
        "publier quand même ?"
    )

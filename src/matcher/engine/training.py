"""Training and judging the learned ranker on a home's labels: graded judgments and feedback.

A retrained model is saved as the home's *candidate*; it is used only once ``compare`` has
shown, holder by holder, that it ranks the same labels better than the ranker in use, and
``adopt`` has put it in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from matcher.engine.ranking import Ranker
from matcher.errors import InvalidFile, MatcherError
from matcher.ranker import (
    MIN_FEEDBACK,
    MIN_FEEDBACK_HOLDERS,
    HandScorer,
    LearnedRanker,
    TrainingSet,
    load_scorer,
)
from matcher.scoring import COMPONENTS
from matcher.store import Store

#: Feedback as grades: what the counsellor did with the offer for this holder.
FEEDBACK_GRADES = {"contacted": 2, "interested": 1, "not_relevant": 0}
#: Graded set rank@k, as the quality report measures it.
CUTOFF = 10
BOOTSTRAP = 2000


def adopted_model(home: Path) -> Path:
    """The home's model in use, when one was adopted (else the shipped one is)."""
    return home / "ranker" / "model.txt"


def candidate_model(home: Path) -> Path:
    return home / "ranker" / "candidate.txt"


def feedback_grades(store: Store) -> dict[str, dict[str, int]]:
    """Each holder's newest verdict per offer, as a grade."""
    _, holders = store.holders.page()
    grades: dict[str, dict[str, int]] = {}
    for holder in holders:
        for verdict in reversed(store.holders.feedback_of(holder.key)):  # oldest first: newest wins
            grades.setdefault(holder.key, {})[verdict.opportunity_id] = FEEDBACK_GRADES[verdict.verdict]
    return grades


@dataclass(frozen=True)
class Labels:
    grades: dict[str, dict[str, int]]
    complete: set[str]
    verdicts: int
    feedback_holders: int
    feedback_used: bool


def labels(store: Store, graded: dict[str, dict[str, int]]) -> Labels:
    """Graded judgments, plus the stored feedback when there is enough of it (never where a
    graded judgment exists for the same pair)."""
    feedback = feedback_grades(store)
    verdicts = sum(len(v) for v in feedback.values())
    used = verdicts >= MIN_FEEDBACK and len(feedback) >= MIN_FEEDBACK_HOLDERS
    merged = {h: dict(g) for h, g in graded.items()}
    if used:
        for holder, given in feedback.items():
            merged.setdefault(holder, {}).update(
                {o: g for o, g in given.items() if o not in graded.get(holder, {})}
            )
    return Labels(merged, set(graded), verdicts, len(feedback), used)


def ndcg_by_holder(scores: np.ndarray, data: TrainingSet, cutoff: int = CUTOFF) -> dict[str, float]:
    """nDCG@cutoff (linear gains, as ranx) of each holder's rows ordered by ``scores``; only
    offers passing the holder's hard filters are ranked, every judged one counts in the ideal."""
    found = {}
    for holder in dict.fromkeys(data.holders.tolist()):
        rows = np.flatnonzero(data.holders == holder)
        grades = data.grades[rows]
        if not (grades > 0).any():
            continue
        shown = rows[data.passing[rows]]
        order = shown[np.argsort(-scores[shown], kind="stable")][:cutoff]
        discounts = 1.0 / np.log2(np.arange(2, cutoff + 2))
        dcg = float((data.grades[order] * discounts[: len(order)]).sum())
        ideal = np.sort(grades)[::-1][:cutoff]
        found[holder] = dcg / float((ideal * discounts[: len(ideal)]).sum())
    return found


def paired_interval(differences: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of per-holder differences."""
    if len(differences) == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(len(differences), size=(BOOTSTRAP, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class TrainingReport:
    path: Path
    pairs: int
    holders: int
    graded_holders: int
    verdicts: int
    feedback_used: bool
    cross_validated_ndcg: float
    hand_ndcg: float


def _training_data(
    ranker: Ranker, store: Store, graded: dict[str, dict[str, int]], today: date
) -> tuple[Labels, TrainingSet]:
    found = labels(store, graded)
    known = {h.key: h for h in store.holders.page()[1]}
    profiles = [known[h] for h in found.grades if h in known]
    if not profiles:
        # Nothing is wrong with a file here: the home does not hold enough labels yet.
        raise MatcherError(
            "rien sur quoi apprendre : aucun jugement sur un porteur enregistré, et trop peu d'avis "
            f"de conseillers ({found.verdicts} avis sur {found.feedback_holders} porteurs, il en faut "
            f"au moins {MIN_FEEDBACK} sur {MIN_FEEDBACK_HOLDERS} porteurs) ; donnez des jugements "
            "sur des porteurs enregistrés avec --qrels, ou attendez d'autres avis"
        )
    return found, ranker.training_set(profiles, found.grades, found.complete, today)


def train(
    ranker: Ranker, store: Store, home: Path, graded: dict[str, dict[str, int]], today: date
) -> TrainingReport:
    """Fit a ranker on the home's labels and save it as the candidate."""
    found, data = _training_data(ranker, store, graded, today)
    model = LearnedRanker().fit(data.features, data.grades, data.holders)
    path = candidate_model(home)
    model.save(
        path,
        trained_on={
            "pairs": len(data),
            "holders": len(np.unique(data.holders)),
            "graded_holders": len(found.complete),
            "verdicts": found.verdicts if found.feedback_used else 0,
            "today": today.isoformat(),
        },
    )
    learned = ndcg_by_holder(model.oof_, data)
    hand = ndcg_by_holder(HandScorer().score(_parts(data)), data)
    return TrainingReport(
        path=path,
        pairs=len(data),
        holders=len(np.unique(data.holders)),
        graded_holders=len(found.complete),
        verdicts=found.verdicts,
        feedback_used=found.feedback_used,
        cross_validated_ndcg=float(np.mean(list(learned.values()))) if learned else 0.0,
        hand_ndcg=float(np.mean(list(hand.values()))) if hand else 0.0,
    )


def _parts(data: TrainingSet) -> dict[str, np.ndarray]:
    return {name: data.features[:, i] for i, name in enumerate(COMPONENTS)}


@dataclass(frozen=True)
class RankerComparison:
    candidate: float
    current: float
    hand: float
    difference: float
    interval: tuple[float, float]
    holders: int
    current_is_learned: bool

    @property
    def better(self) -> bool:
        """The candidate beats the ranker in use: the interval of the difference is above 0."""
        return self.interval[0] > 0


def compare(
    ranker: Ranker, store: Store, home: Path, graded: dict[str, dict[str, int]], today: date
) -> RankerComparison:
    """The candidate's recipe, cross-validated by holder on the home's labels, against the ranker
    in use scoring the same rows (and the hand weights)."""
    path = candidate_model(home)
    if not path.exists():
        raise InvalidFile(f"{path} : aucun modèle candidat ; lancez d'abord « matcher ranker train »")
    candidate, _ = LearnedRanker.load(path)
    _, data = _training_data(ranker, store, graded, today)
    recipe = LearnedRanker(**candidate.get_params()).fit(data.features, data.grades, data.holders)
    current = load_scorer(adopted_model(home))
    scores = {
        "candidate": ndcg_by_holder(recipe.oof_, data),
        "current": ndcg_by_holder(current.score(_parts(data)), data),
        "hand": ndcg_by_holder(HandScorer().score(_parts(data)), data),
    }
    holders = sorted(scores["candidate"])
    differences = np.array([scores["candidate"][h] - scores["current"][h] for h in holders])
    return RankerComparison(
        candidate=float(np.mean([scores["candidate"][h] for h in holders])),
        current=float(np.mean([scores["current"][h] for h in holders])),
        hand=float(np.mean([scores["hand"][h] for h in holders])),
        difference=float(differences.mean()) if len(differences) else 0.0,
        interval=paired_interval(differences),
        holders=len(holders),
        current_is_learned=current.learned,
    )


def adopt(home: Path) -> Path:
    """The candidate becomes the home's model in use."""
    candidate, adopted = candidate_model(home), adopted_model(home)
    if not candidate.exists():
        raise InvalidFile(f"{candidate} : aucun modèle candidat ; lancez d'abord « matcher ranker train »")
    LearnedRanker.load(candidate)  # refuse an unreadable file before it replaces anything
    candidate.replace(adopted)
    return adopted

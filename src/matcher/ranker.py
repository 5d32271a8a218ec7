"""The learned ranker: LightGBM LambdaMART over the score components (scikit-learn estimator style).

Trained on graded judgments and counsellors' feedback, grouped by holder: cross-validation never
puts a holder in both a training and a test fold. Its raw scores are calibrated into the share
of offers a person judged relevant (isotonic, on the out-of-fold scores), which is what
``Match.score`` and the fit label read. The hand weights of ``matcher.scoring`` stay the
fallback (no model, a model for other features) and the baseline.

The model file is text: one JSON header line (format version, features, calibration,
hyper-parameters, what it was trained on), then LightGBM's own text model. Nothing is unpickled.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold

from matcher.errors import InvalidFile, MatcherError
from matcher.scoring import COMPONENTS, DEFAULT_WEIGHTS, Weights, final_scores

#: Bumped when the header or the features change: an older file is refused, the hand weights
#: are used instead.
FORMAT_VERSION = 1
FEATURES = COMPONENTS
#: How each feature may move the score (LightGBM monotone constraints): more meaning, words,
#: sector or trade never lowers it; a different trade or a denied need never raises it. Fewer
#: ways to fit the labelled set's accidents.
MONOTONE = {"semantic": 1, "lexical": 1, "sector": 1, "trade": 1, "other_trade": -1, "denied_need": -1}
SHIPPED_MODEL = "ranker.txt"
#: Feedback counts as training data from this many verdicts over this many holders.
MIN_FEEDBACK, MIN_FEEDBACK_HOLDERS = 30, 5
#: Rows from which a prediction uses every core (0 threads: LightGBM's default).
PARALLEL_FROM = 20_000


@dataclass(frozen=True)
class TrainingSet:
    """One row per (holder, offer) pair: features, grade (0, 1, 2), the holder (rows of a holder
    contiguous), the offer, and whether it passes the holder's hard filters (shown at all)."""

    features: np.ndarray
    grades: np.ndarray
    holders: np.ndarray
    offers: np.ndarray
    passing: np.ndarray

    def __len__(self) -> int:
        return len(self.grades)


def read_grades(text: str, source: str) -> dict[str, dict[str, int]]:
    """Graded judgments, ``holder_id<TAB>opportunity_id<TAB>grade`` with that header (0, 1 or 2)."""
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not rows or [c.strip() for c in rows[0]] != ["holder_id", "opportunity_id", "grade"]:
        raise InvalidFile(f"{source} : en-tête attendu « holder_id<TAB>opportunity_id<TAB>grade »")
    grades: dict[str, dict[str, int]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InvalidFile(f"{source} : ligne {number} : 3 colonnes attendues, {len(row)} trouvées")
        holder, opportunity, grade = (cell.strip() for cell in row)
        try:
            value = int(grade)
        except ValueError:
            raise InvalidFile(f"{source} : ligne {number} : note entière attendue, reçu {grade!r}") from None
        grades.setdefault(holder, {})[opportunity] = value
    return grades


def feature_matrix(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The components as the model's columns, in ``FEATURES`` order."""
    return np.column_stack([np.asarray(parts[name], dtype=np.float64) for name in FEATURES])


def _group_sizes(holders: np.ndarray) -> list[int]:
    _, starts, counts = np.unique(holders, return_index=True, return_counts=True)
    return [int(c) for _, c in sorted(zip(starts.tolist(), counts.tolist(), strict=True))]


class LearnedRanker:
    """LambdaMART over the components; ``predict`` gives calibrated scores in [0, 1]."""

    def __init__(
        self,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        min_child_samples: int = 20,
        folds: int = 5,
        seed: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.folds = folds
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "folds": self.folds,
            "seed": self.seed,
        }

    def _booster(self, x: np.ndarray, grades: np.ndarray, holders: np.ndarray) -> Any:
        import lightgbm

        model = lightgbm.LGBMRanker(
            objective="lambdarank",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            monotone_constraints=[MONOTONE.get(name, 0) for name in FEATURES],
            random_state=self.seed,
            n_jobs=1,
            verbose=-1,
        )
        model.fit(x, grades, group=_group_sizes(holders))
        return model.booster_

    def fit(self, x: np.ndarray, grades: np.ndarray, holders: np.ndarray) -> LearnedRanker:
        """Out-of-fold scores by holder (``oof_``), the calibration on them, then the model on all."""
        folds = min(self.folds, len(np.unique(holders)))
        if folds < 2:
            raise MatcherError("entraînement impossible : il faut les jugements d'au moins deux porteurs")
        self.oof_ = np.zeros(len(grades))
        for train, test in GroupKFold(n_splits=folds).split(x, grades, holders):
            self.oof_[test] = self._booster(x[train], grades[train], holders[train]).predict(x[test])
        calibration = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        calibration.fit(self.oof_, (grades > 0).astype(float))
        self.calibration_ = (
            np.asarray(calibration.X_thresholds_, dtype=np.float64),
            np.asarray(calibration.y_thresholds_, dtype=np.float64),
        )
        self.booster_ = self._booster(x, grades, holders)
        self.features_ = FEATURES
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """The raw LambdaMART scores (only their order means something)."""
        # One query's pool on one thread: OpenMP's start-up costs ten times the prediction.
        threads = 1 if len(x) < PARALLEL_FROM else 0
        return np.asarray(self.booster_.predict(x, num_threads=threads), dtype=np.float64)

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        knots, values = self.calibration_
        return np.interp(raw, knots, values)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The share of such offers a person judged relevant, in [0, 1]; ties broken by the raw
        score, so that the order is the model's."""
        raw = self.decision_function(x)
        return self.calibrated(raw) * (1 - 2e-6) + 1e-6 * (1 + np.tanh(raw))

    # --- the model file ----------------------------------------------------------------------

    def to_text(self, trained_on: dict[str, Any]) -> str:
        header = {
            "format": FORMAT_VERSION,
            "features": list(self.features_),
            "calibration": [self.calibration_[0].tolist(), self.calibration_[1].tolist()],
            "params": self.get_params(),
            "trained_on": trained_on,
        }
        return json.dumps(header, ensure_ascii=False) + "\n" + self.booster_.model_to_string()

    def save(self, path: Path, trained_on: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(self.to_text(trained_on), encoding="utf-8")
        temporary.replace(path)

    @classmethod
    def from_text(cls, text: str, source: str) -> tuple[LearnedRanker, dict[str, Any]]:
        """The ranker a model file holds and its header; InvalidFile names what is wrong."""
        import lightgbm

        first, _, body = text.partition("\n")
        try:
            header = json.loads(first)
        except json.JSONDecodeError:
            raise InvalidFile(f"{source} : en-tête JSON illisible (première ligne)") from None
        if header.get("format") != FORMAT_VERSION:
            raise InvalidFile(
                f"{source} : format {header.get('format')!r}, attendu {FORMAT_VERSION} : réentraînez "
                "avec « matcher ranker train »"
            )
        if header.get("features") != list(FEATURES):
            raise InvalidFile(f"{source} : caractéristiques {header.get('features')} ≠ {list(FEATURES)}")
        ranker = cls(**header.get("params", {}))
        try:
            ranker.booster_ = lightgbm.Booster(model_str=body)
        except lightgbm.basic.LightGBMError as error:
            raise InvalidFile(f"{source} : modèle LightGBM illisible ({error})") from None
        knots, values = header["calibration"]
        ranker.calibration_ = (np.asarray(knots, dtype=np.float64), np.asarray(values, dtype=np.float64))
        ranker.features_ = FEATURES
        return ranker, header

    @classmethod
    def load(cls, path: Path) -> tuple[LearnedRanker, dict[str, Any]]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidFile(f"{path} : illisible ({error.strerror})") from None
        return cls.from_text(text, str(path))


def shipped_model_text() -> str:
    """The model shipped in the package (``matcher/ranker_data/ranker.txt``)."""
    return files("matcher").joinpath("ranker_data", SHIPPED_MODEL).read_text(encoding="utf-8")


class HandScorer:
    """The hand weights as a scorer: the fallback and the baseline."""

    learned = False

    def __init__(self, weights: Weights = DEFAULT_WEIGHTS):
        self.weights = weights

    def score(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        return final_scores(parts, self.weights)


class LearnedScorer:
    """A learned ranker as a scorer: calibrated scores."""

    learned = True

    def __init__(self, ranker: LearnedRanker, header: dict[str, Any]):
        self.ranker = ranker
        self.header = header

    def score(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        if len(next(iter(parts.values()))) == 0:
            return np.zeros(0)
        return self.ranker.predict(feature_matrix(parts))


Scorer = HandScorer | LearnedScorer


def load_scorer(home_model: Path | None, weights: Weights | None = None) -> Scorer:
    """The scorer in use: explicit hand weights, else the home's adopted model, else the shipped
    one, else (no readable model) the hand weights."""
    if weights is not None:
        return HandScorer(weights)
    try:
        if home_model is not None and home_model.exists():
            return LearnedScorer(*LearnedRanker.load(home_model))
        return LearnedScorer(*LearnedRanker.from_text(shipped_model_text(), SHIPPED_MODEL))
    except (InvalidFile, FileNotFoundError, ImportError):
        return HandScorer()

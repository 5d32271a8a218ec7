"""The learned ranker: estimator convention, grouped cross-validation, the text model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.errors import InvalidFile
from matcher.ranker import FEATURES, HandScorer, LearnedRanker, LearnedScorer, load_scorer, read_grades


def _labelled(holders: int = 30, per_holder: int = 12, seed: int = 0):
    """Pairs whose grade follows the semantic and trade columns, other columns noise."""
    rng = np.random.default_rng(seed)
    x = rng.random((holders * per_holder, len(FEATURES)))
    semantic, trade = FEATURES.index("semantic"), FEATURES.index("trade")
    x[:, trade] = rng.random(len(x)) < 0.3
    merit = x[:, semantic] + 0.5 * x[:, trade]
    grades = np.digitize(merit, [0.8, 1.2])
    groups = np.repeat([f"h-{i:03d}" for i in range(holders)], per_holder)
    return x, grades, groups


def test_fit_learns_calibrated_scores_and_out_of_fold_by_holder(tmp_path: Path) -> None:
    x, grades, groups = _labelled()
    ranker = LearnedRanker(n_estimators=40)
    assert not hasattr(ranker, "booster_")  # no work before fit
    assert ranker.fit(x, grades, groups) is ranker
    assert ranker.oof_.shape == (len(x),)
    scores = ranker.predict(x)
    assert ((scores >= 0) & (scores <= 1 + 1e-5)).all()
    # The order is learned: the best-graded pairs score higher, out of fold too.
    assert scores[grades == 2].mean() > scores[grades == 0].mean()
    assert ranker.oof_[grades == 2].mean() > ranker.oof_[grades == 0].mean()

    path = tmp_path / "model.txt"
    ranker.save(path, trained_on={"pairs": len(x)})
    assert path.read_text(encoding="utf-8").startswith('{"format": 1')
    again, header = LearnedRanker.load(path)
    assert header["trained_on"] == {"pairs": len(x)}
    np.testing.assert_allclose(again.predict(x), scores)
    assert isinstance(load_scorer(path), LearnedScorer)


def test_an_unreadable_or_older_model_is_refused_and_the_hand_weights_take_over(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text('{"format": 0, "features": []}\nnot a model', encoding="utf-8")
    with pytest.raises(InvalidFile, match="format 0"):
        LearnedRanker.load(path)
    assert isinstance(load_scorer(path), HandScorer)
    assert load_scorer(None).learned  # the shipped model reads


def test_grades_file_errors_name_the_line() -> None:
    assert read_grades("holder_id\topportunity_id\tgrade\ne-1\to-1\t2\n", "q.tsv") == {"e-1": {"o-1": 2}}
    with pytest.raises(InvalidFile, match="ligne 2 : note entière attendue"):
        read_grades("holder_id\topportunity_id\tgrade\ne-1\to-1\tbon\n", "q.tsv")

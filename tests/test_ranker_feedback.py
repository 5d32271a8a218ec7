"""The learned ranker learns from counsellors' stored feedback, on a real home with the sample
catalogue: verdicts recorded through the engine, training, and the comparison before adoption."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from matcher.cli import app as cli_app
from matcher.cli.common import EXIT_REJECTED
from matcher.config import Settings
from matcher.engine import Engine
from matcher.engine.training import FEEDBACK_GRADES, adopted_model, candidate_model, labels
from matcher.ranker import MIN_FEEDBACK, MIN_FEEDBACK_HOLDERS

TODAY = date(2026, 11, 22)
#: Per holder, the verdict on its matches ranked 1 to 5 by the engine in use: what a counsellor
#: agreeing with the ranking would say (the best contacted, the weakest dismissed).
VERDICTS = ("contacted", "interested", "interested", "not_relevant", "not_relevant")


def record_verdicts(engine: Engine, holders: int) -> dict[tuple[str, str], int]:
    """Verdicts on the first ``holders`` sample holders' top matches, through the engine; the
    grade each (holder, offer) pair should train with."""
    _, profiles = engine.holders()
    expected: dict[tuple[str, str], int] = {}
    chosen = 0
    for profile in profiles:
        matches = engine.match(profile, top=len(VERDICTS), today=TODAY).matches
        if len(matches) < len(VERDICTS):
            continue  # a narrow profile: fewer offers than verdicts to give
        chosen += 1
        if chosen > holders:
            break
        for match, verdict in zip(matches, VERDICTS, strict=True):
            engine.record_feedback(profile.key, match.opportunity_id, verdict, comment="avis de test")  # type: ignore[arg-type]
            expected[(profile.key, match.opportunity_id)] = FEEDBACK_GRADES[verdict]
    return expected


def run_on(home: Path, *args: str) -> Result:
    """A matcher command on ``home``, as a counsellor would run it."""
    return CliRunner().invoke(cli_app, list(args), env={"MATCHER_HOME": str(home)}, catch_exceptions=False)


@pytest.fixture
def feedback_home(sample_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    return home


def test_enough_feedback_trains_with_its_grades_and_is_compared_with_the_shipped_model(
    feedback_home: Path, encoder
) -> None:
    engine = Engine(Settings(home=feedback_home), encoder=encoder)
    try:
        expected = record_verdicts(engine, holders=7)  # 35 verdicts over 7 holders
        # A counsellor changes their mind on a second match: the newest verdict is learned.
        holder, offer = list(expected)[1]
        engine.record_feedback(holder, offer, "contacted")
        expected[(holder, offer)] = 2
        assert len(expected) >= MIN_FEEDBACK

        found = labels(engine.store, {})
        assert found.feedback_used and found.verdicts == len(expected) and found.complete == set()
        profiles = [p for p in engine.holders()[1] if p.key in found.grades]
        data = engine.ranker.training_set(profiles, found.grades, found.complete, TODAY)
        rows = {
            (str(h), str(o)): int(g) for h, o, g in zip(data.holders, data.offers, data.grades, strict=True)
        }
        # Feedback holders were not judged on everything: only their verdicts are rows.
        assert rows == expected
        assert set(np.unique(data.grades)) == {0, 1, 2}

        report = engine.train_ranker({}, TODAY)
        assert report.feedback_used and report.verdicts == len(expected)
        assert report.pairs == len(expected) and report.graded_holders == 0
        assert candidate_model(feedback_home).exists()

        comparison = engine.evaluate_ranker({}, TODAY)
        assert comparison.current_is_learned  # against the shipped model, not the hand weights
        assert comparison.holders == 7
        # The verdicts follow the shipped model's own order: a retrained model cannot beat it.
        assert comparison.current == pytest.approx(1.0)
        assert not comparison.better and comparison.interval[1] <= 1e-9
    finally:
        engine.close()

    refused = run_on(feedback_home, "ranker", "evaluate", "--today", TODAY.isoformat(), "--adopt")
    assert refused.exit_code == EXIT_REJECTED, refused.output
    assert "Le candidat ne fait pas nettement mieux : le modèle en service est gardé." in refused.output
    assert "Écart candidat − en service" in refused.output
    assert not adopted_model(feedback_home).exists()  # the shipped model stays in use


def test_too_little_feedback_is_ignored_and_said_in_french(feedback_home: Path, encoder) -> None:
    engine = Engine(Settings(home=feedback_home), encoder=encoder)
    try:
        expected = record_verdicts(engine, holders=5)
        engine.store.holders.add_feedback(*next(iter(expected)), "contacted")  # the same pair again
        assert len(expected) == 25 < MIN_FEEDBACK
        assert not labels(engine.store, {}).feedback_used
    finally:
        engine.close()

    alone = run_on(feedback_home, "ranker", "train", "--today", TODAY.isoformat())
    assert alone.exit_code == EXIT_REJECTED, alone.output
    said = " ".join(alone.output.split())
    assert "Refusé : rien sur quoi apprendre" in said and "Fichier illisible" not in said
    assert f"25 avis sur 5 porteurs, il en faut au moins {MIN_FEEDBACK} sur {MIN_FEEDBACK_HOLDERS}" in said
    assert not candidate_model(feedback_home).exists()

    grades = feedback_home / "grades.tsv"
    grades.write_text(
        "holder_id\topportunity_id\tgrade\n"
        "h-001\tact-006-infirmier-eygurande\t2\nh-012\trep-001-boulangerie-felletin\t2\n"
        "h-010\tact-001-medecin-felletin\t1\nh-025\tact-001-medecin-felletin\t1\n",
        encoding="utf-8",
    )
    with_grades = run_on(feedback_home, "ranker", "train", "--qrels", str(grades), "--today", "2026-11-22")
    assert with_grades.exit_code == 0, with_grades.output
    assert "25 avis de conseillers (trop peu pour apprendre : ignorés)" in with_grades.output


def test_feedback_needs_enough_holders_too(feedback_home: Path, encoder) -> None:
    engine = Engine(Settings(home=feedback_home), encoder=encoder)
    try:
        _, profiles = engine.holders()
        # Many verdicts, but from fewer holders than the threshold: one person's taste.
        for profile in profiles[: MIN_FEEDBACK_HOLDERS - 1]:
            for match in engine.match(profile, top=8, today=TODAY).matches:
                engine.record_feedback(profile.key, match.opportunity_id, "interested")
        found = labels(engine.store, {})
        assert found.verdicts >= MIN_FEEDBACK and not found.feedback_used
    finally:
        engine.close()

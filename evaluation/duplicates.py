"""Duplicate detection: precision and recall on a small hand-labelled list of offer pairs.

    python -m evaluation.duplicates [--pairs FILE] [--json]

The pairs (``evaluation/data/duplicate_pairs.tsv``) name offers of the sample catalogue, of the
second labelled set and of ``evaluation/data/duplicate_offers.jsonl`` (offers written for this
list: true duplicates re-worded or re-posted with another price, near misses of the same
village, the same title in another commune). A pair is called a duplicate when
``matcher.duplicates`` would warn: same territory or commune, similarity at or above the
threshold. The list is small and was written by the same hand as the detector: read the
figures as a sanity check, not as a benchmark.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import DATA, EVALUATION_DATA
from matcher import duplicates
from matcher.config import Settings
from matcher.domain import Opportunity
from matcher.encoders import Encoder, embed_documents, load_encoder
from matcher.intake import read_file

OFFER_FILES = (
    DATA / "opportunities.jsonl",
    EVALUATION_DATA / "second" / "offers.jsonl",
    EVALUATION_DATA / "duplicate_offers.jsonl",
)
PAIRS = EVALUATION_DATA / "duplicate_pairs.tsv"
THRESHOLDS = tuple(round(0.40 + 0.025 * step, 3) for step in range(23))


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    duplicate: bool
    case: str
    same_place: bool
    fuzzy: float
    semantic: float

    @property
    def similarity(self) -> float:
        return duplicates.combined(self.fuzzy, self.semantic)


def read_offers() -> dict[str, Opportunity]:
    offers = {}
    for path in OFFER_FILES:
        for line in read_file(path).decode("utf-8").splitlines():
            if line.strip():
                offer = Opportunity.model_validate(json.loads(line))
                offers[offer.id] = offer
    return offers


def read_pairs(path: Path) -> list[dict[str, str]]:
    """``first<TAB>second<TAB>duplicate<TAB>case<TAB>note`` with that header."""
    return list(csv.DictReader(io.StringIO(read_file(path).decode("utf-8")), delimiter="\t"))


def measure(path: Path, encoder: Encoder) -> list[Pair]:
    """Each labelled pair with both measures, from the engine's encoder and domain functions."""
    offers = read_offers()
    rows = read_pairs(path)
    ids = sorted({row[side] for row in rows for side in ("first", "second")})
    unknown = [i for i in ids if i not in offers]
    if unknown:
        raise SystemExit(f"offres inconnues dans {path.name} : {', '.join(unknown)}")
    encoded = embed_documents(encoder, [offers[i].document() for i in ids])
    vectors = dict(zip(ids, encoded, strict=True))
    return [
        Pair(
            row["first"],
            row["second"],
            row["duplicate"] == "1",
            row["case"],
            duplicates.same_place(offers[row["first"]], offers[row["second"]]),
            duplicates.fuzzy_similarity(offers[row["first"]], offers[row["second"]]),
            float(np.dot(vectors[row["first"]], vectors[row["second"]])),
        )
        for row in rows
    ]


def scores(pairs: list[Pair], flagged: Callable[[Pair], bool]) -> dict[str, float | int]:
    """Precision, recall and F1 of ``flagged`` against the labels."""
    tp = sum(1 for p in pairs if p.duplicate and flagged(p))
    fp = sum(1 for p in pairs if not p.duplicate and flagged(p))
    fn = sum(1 for p in pairs if p.duplicate and not flagged(p))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
    }


def report(pairs: list[Pair]) -> dict[str, Any]:
    def detector(measure: Callable[[Pair], float], threshold: float) -> Callable[[Pair], bool]:
        return lambda p: p.same_place and measure(p) >= threshold

    measures: dict[str, Callable[[Pair], float]] = {
        "combined": lambda p: p.similarity,
        "fuzzy": lambda p: p.fuzzy,
        "semantic": lambda p: p.semantic,
    }
    sweep = {
        name: [{"threshold": t, **scores(pairs, detector(m, t))} for t in THRESHOLDS]
        for name, m in measures.items()
    }
    at = detector(measures["combined"], duplicates.THRESHOLD)
    return {
        "pairs": len(pairs),
        "duplicates": sum(p.duplicate for p in pairs),
        "threshold": duplicates.THRESHOLD,
        "at_threshold": scores(pairs, at),
        "by_case": {
            case: {"pairs": len(group), "flagged": sum(at(p) for p in group)}
            for case in sorted({p.case for p in pairs})
            if (group := [p for p in pairs if p.case == case])
        },
        "sweep": sweep,
        "misses": [
            {"first": p.first, "second": p.second, "duplicate": p.duplicate, "case": p.case,
             "fuzzy": round(p.fuzzy, 3), "semantic": round(p.semantic, 3),
             "similarity": round(p.similarity, 3)}
            for p in pairs
            if at(p) != p.duplicate
        ],
    }  # fmt: skip


def print_report(result: dict[str, Any]) -> None:
    at = result["at_threshold"]
    print(f"{result['pairs']} paires étiquetées, dont {result['duplicates']} doublons.")
    print(
        f"Seuil {result['threshold']:.2f} : précision {at['precision']:.2f}, rappel {at['recall']:.2f}, "
        f"F1 {at['f1']:.2f} ({at['tp']} vrais positifs, {at['fp']} faux positifs, {at['fn']} manqués)"
    )
    for case, counts in result["by_case"].items():
        print(f"  {case:<14} {counts['flagged']:>2} signalée(s) sur {counts['pairs']}")
    print("\nseuil   " + "   ".join(f"{name:<20}" for name in result["sweep"]))
    for i, threshold in enumerate(THRESHOLDS):
        cells = [result["sweep"][name][i] for name in result["sweep"]]
        row = "   ".join(f"P {c['precision']:.2f} R {c['recall']:.2f} F1 {c['f1']:.2f}" for c in cells)
        print(f"{threshold:.3f}   {row}")
    if result["misses"]:
        print("\nErreurs au seuil :")
        for miss in result["misses"]:
            kind = "doublon manqué" if miss["duplicate"] else "fausse alerte"
            print(
                f"  {kind} ({miss['case']}) {miss['first']} / {miss['second']} : similarité "
                f"{miss['similarity']:.3f} (mots {miss['fuzzy']:.3f}, sens {miss['semantic']:.3f})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.duplicates", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="TSV of labelled pairs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    result = report(measure(args.pairs, load_encoder(Settings().encoder)))
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

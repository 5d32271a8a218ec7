"""How well the fit labels (« Très proche du projet », « Proche du projet », « À discuter »)
follow the graders' relevance, on both labelled sets.

    python -m evaluation.fit_labels [--json]

The thresholds (``matcher.explain.FIT_THRESHOLDS``) were chosen on the first set; the second
set, written and graded blind to the code, was not looked at when choosing them. Each set is
read as ``evaluation.quality`` reads it: its whole catalogue (the second set's offers beside the
sample ones), filters on the day it was judged. ``python -m evaluation.quality`` reports the same
figures for its ``default`` method.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from evaluation import SHARED_COMMUNES
from evaluation.quality import SETS, LabelledSet, load_home, read_qrels
from matcher.config import Settings
from matcher.engine import Engine


def label_grades(labelled: LabelledSet) -> dict[str, dict[str, float]]:
    """Per fit label, over every holder's top 10: how many, and the shares graded 2, ≥ 1 and 0."""
    grades: dict[str, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="matcher-fit-") as home:
        engine = Engine(Settings(home=Path(home)))
        try:
            _, profiles = load_home(engine, labelled.opportunities, labelled.holders, SHARED_COMMUNES)
            engine.refresh()
            qrels = read_qrels(labelled.qrels)
            for result, profile in zip(
                engine.match_many(profiles, top=10, today=labelled.today), profiles, strict=True
            ):
                for match in result.matches:
                    grades[match.fit].append(qrels.get(profile.key, {}).get(match.opportunity_id, 0))
        finally:
            engine.close()
    return {
        fit: {
            "n": len(given),
            "graded_2": round(sum(g == 2 for g in given) / len(given), 3),
            "graded_1_or_2": round(sum(g >= 1 for g in given) / len(given), 3),
            "graded_0": round(sum(g == 0 for g in given) / len(given), 3),
        }
        for fit, given in sorted(grades.items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = parser.parse_args(argv)
    report = {name: label_grades(labelled) for name, labelled in SETS.items()}
    sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

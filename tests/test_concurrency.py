"""Writers beside writers, on a real SQLite file: a second process holding the write lock, a hung
SMTP server in the middle of a digest, a bulk import by another process while queries go on."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from matcher.config import Settings
from matcher.digest import run_digest
from matcher.digest.sending import SmtpTransport
from matcher.encoders import Encoder
from matcher.engine import Engine
from matcher.engine.upkeep import INLINE_EMBED_LIMIT
from matcher.intake import import_records, read_records
from service.app import create_app
from tests.serving import matcher_command

#: Every test here runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("database")

DATA = Path(__file__).resolve().parents[1] / "data"
T = TypeVar("T")

#: Holds SQLite's write lock, changes a row (so a reader's snapshot goes stale), says so on
#: stdout, and commits when its standard input closes.
LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE catalogue_state SET seq = seq + 0")
print("verrou pris", flush=True)
sys.stdin.read()
db.execute("COMMIT")
"""


@pytest.fixture
def lock_holder(tmp_path: Path, database: str) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    if database != "sqlite":
        pytest.skip("SQLite's write lock: PostgreSQL locks rows, not the database")
    home = tmp_path / "home"
    Engine(Settings(home=home)).close()  # the schema, migrated
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(home / "matcher.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "verrou pris"
    yield home, holder
    holder.kill()
    holder.wait()


def test_import_waits_for_another_process_holding_the_write_lock(
    lock_holder: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    home, holder = lock_holder
    importing = subprocess.Popen(
        [*matcher_command(), "import", "holders", str(DATA / "holders.jsonl"), "--organisation", "Démo"],
        env={**os.environ, "MATCHER_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # The import starts, reads, and reaches its first write while the lock is held: it must
    # wait there (an import that gives up ends before the other writer lets go).
    with contextlib.suppress(subprocess.TimeoutExpired):
        importing.wait(timeout=15)
    holder.communicate("", timeout=10)  # the other writer commits and lets go
    out, err = importing.communicate(timeout=120)
    assert importing.returncode == 0, err
    assert "ajouté(s)" in out and "Traceback" not in err


class HungServer:
    """A TCP server on loopback that accepts connections and never says a word (a hung MTA)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connected = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.socket.accept()
        self.connected.set()
        self.release.wait(120)
        connection.close()

    def close(self) -> None:
        self.release.set()
        self.socket.close()


def test_a_hung_mail_server_does_not_block_a_service_write(sample_engine: Engine, tmp_path: Path) -> None:
    server = HungServer()
    settings = sample_engine.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": server.port, "secret_key": "clé-de-test"}
    )
    outcome: dict[str, object] = {}

    def digest() -> None:
        try:
            outcome["summary"] = run_digest(
                sample_engine, settings=settings, transport=SmtpTransport(settings, timeout=90)
            )
        except Exception as error:
            outcome["error"] = error

    running = threading.Thread(target=digest)
    running.start()
    try:
        assert server.connected.wait(60), "the digest never reached the mail server"
        # Meanwhile, an officer publishes an offer through the service (its own engine).
        app = create_app(Settings(home=sample_engine.settings.home, secret_key="clé-de-test"))
        with TestClient(app) as client:
            token = _admin_token(client)
            offer = _sample_offer("act-pendant-envoi")
            answer = client.post(
                "/v1/opportunities?force=true", json=offer, headers={"Authorization": f"Bearer {token}"}
            )
        assert answer.status_code == 201, answer.text
    finally:
        server.close()
        running.join(120)
    assert "error" not in outcome, outcome


def _admin_token(client: TestClient) -> str:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine.create_account("admin-essai", "admin")[1]


def _sample_offer(offer_id: str) -> dict[str, object]:
    import json

    first = json.loads((DATA / "opportunities.jsonl").read_text(encoding="utf-8").splitlines()[0])
    return {**first, "id": offer_id}


class GatedEncoder:
    """The real encoder, holding back any batch that mentions ``marker`` until ``gate`` opens:
    an encoder busy for minutes with another process's bulk import."""

    def __init__(self, encoder: Encoder, marker: str):
        self.encoder, self.marker = encoder, marker
        self.identity, self.dim = encoder.identity, encoder.dim
        self.gate = threading.Event()

    def encode(self, texts: list[str]) -> np.ndarray:
        if any(self.marker in text for text in texts):
            assert self.gate.wait(120), "the gate never opened"
        return self.encoder.encode(texts)


def _within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result, or a failure if it has not returned after ``seconds``."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"still waiting after {seconds} s"
    return result[0]


def test_a_bulk_import_by_another_process_is_embedded_off_the_query_path(
    sample_home: Path, tmp_path: Path, encoder: Encoder
) -> None:
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    gated = GatedEncoder(encoder, "Zorglub")
    serving = Engine(Settings(home=home), encoder=gated)
    other = Engine(Settings(home=home), encoder=encoder)  # another process's import
    try:
        serving.refresh()
        holders = serving.holders()[1]
        profile, offer_id = next(
            (h, m[0].opportunity_id) for h in holders if (m := serving.match(h, top=1).matches)
        )
        offer = serving.opportunity(offer_id)
        bulk = [
            {**offer.model_dump(mode="json"), "id": f"act-lot-{i:03d}", "title": f"Zorglub {i} {offer.title}"}
            for i in range(3 * INLINE_EMBED_LIMIT)
        ]
        raw = "\n".join(json.dumps(record, ensure_ascii=False) for record in bulk).encode()
        report = import_records(other.store, other.gazetteer, "opportunities", read_records(raw, "lot.jsonl"))
        assert report.inserted == len(bulk), report.rejected

        # The next query answers at once, on the catalogue as it was.
        before = _within(30, lambda: serving.match(profile, top=50))
        assert serving.keeper.catching_up()
        assert not any(m.opportunity_id.startswith("act-lot-") for m in before.matches)

        # Meanwhile an offer published through this engine is in its next query (read your writes).
        mine = serving.validate_opportunity({**offer.model_dump(mode="json"), "id": "act-mien"}, "essai")
        _within(30, lambda: serving.publish(mine, create=True, force=True))  # a deliberate copy
        (seen,) = _within(30, lambda: serving.match_many([profile], among={"act-mien"}))
        assert [m.opportunity_id for m in seen.matches] == ["act-mien"]

        gated.gate.set()
        serving.keeper.wait()
        (after,) = serving.match_many(
            [profile], top=len(bulk) + 1, among={*(r["id"] for r in bulk), "act-mien"}
        )
        assert {m.opportunity_id for m in after.matches} == {*(r["id"] for r in bulk), "act-mien"}
        assert serving.health().index_up_to_date
    finally:
        gated.gate.set()
        serving.close()
        other.close()

"""The store by area, and its schema: Alembic revisions build it, and upgrade older databases."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from matcher.accounts import draft_account, hash_token
from matcher.config import Settings
from matcher.domain import (
    DEFAULT_ORGANISATION,
    HolderProfile,
    Location,
    Opportunity,
    OpportunityQuery,
    organisation_key,
)
from matcher.errors import AlreadyExists, NotFound
from matcher.store import Store
from matcher.store.schema import Base

#: Every test here runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("database")

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).resolve().parents[1] / "data"


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(files("matcher.store") / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def offer(offer_id: str = "o-1", **changes: object) -> Opportunity:
    fields = {
        "id": offer_id,
        "kind": "takeover",
        "title": "Boulangerie à reprendre",
        "description": "Fournil et boutique en centre-bourg.",
        "territory": "CC Creuse Grand Sud",
        "location": Location(commune="Crocq", department="23", lat=45.85, lon=2.36),
        "price_eur": 90000,
    }
    return Opportunity(**{**fields, **changes})


@pytest.fixture
def store(tmp_path: Path):
    opened = Store(Settings(home=tmp_path).db_url)
    yield opened
    opened.close()


def test_a_new_database_is_at_the_head_revision_and_matches_the_tables(store: Store) -> None:
    with store.database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, Base.metadata) == []


def test_the_previous_release_database_upgrades_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "matcher-0.1.0.db", path)
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "alembic_version" not in tables  # made before Alembic owned the schema

    store = Store(f"sqlite:///{path}")
    try:
        opportunities = [json.loads(line) for line in (SAMPLE / "opportunities.jsonl").open()][:12]
        holders = [json.loads(line) for line in (SAMPLE / "holders.jsonl").open()][:6]
        assert store.catalogue.count() == 12 and store.holders.count() == 6
        for raw in opportunities:
            assert store.catalogue.get(raw["id"]) == Opportunity.model_validate(raw)
        for raw in holders:
            assert store.holders.get(raw["id"]) == HolderProfile.model_validate(raw)
        assert store.catalogue.seq() == 12
        # 0002 keyed every stored offer by its territory: a listing finds them whatever the case.
        creuse = store.catalogue.page(OpportunityQuery(territory="communauté de communes  CREUSE grand sud"))
        assert (
            creuse[0]
            == sum(o["territory"] == "Communauté de communes Creuse Grand Sud" for o in opportunities)
            > 0
        )
        assert store.holders.rejected_by([holders[0]["id"]]) == {holders[0]["id"]: {opportunities[0]["id"]}}
        assert [u.name for u in store.accounts.all()] == ["Admin", "Agent Creuse", "Conseil BGE"]
        # 0004: each holder joins the organisation its record names, else the default one, where
        # the counsellors' accounts of that time go too, so that they keep their holders.
        for raw in holders:
            named = (raw.get("counsellor") or {}).get("organisation") or DEFAULT_ORGANISATION
            assert store.holders.organisation_of(raw["id"]) == organisation_key(named)
        assert any(not (raw.get("counsellor") or {}).get("organisation") for raw in holders)
        assert {u.name: u.organisation for u in store.accounts.all()}["Conseil BGE"] == DEFAULT_ORGANISATION
        assert store.ledger.sends_of(holders[0]["id"]) == [
            (opportunities[2]["id"], datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
        ]
        assert store.ledger.last_clocks() == {holders[0]["id"]: datetime(2026, 11, 20, 8, 0, tzinfo=UTC)}
        # 0006: the reminders' ledger starts empty for every account.
        assert all(store.reminders.reminded(u.account_id) == set() for u in store.accounts.all())
        with store.database.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def test_a_database_older_still_gets_its_missing_nullable_column(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    shutil.copy(FIXTURES / "matcher-0.1.0.db", path)
    with sqlite3.connect(path) as connection:  # as versions before unsubscribed_at left it
        connection.execute("ALTER TABLE holders DROP COLUMN unsubscribed_at")
    store = Store(f"sqlite:///{path}")
    try:
        assert store.holders.count() == 6
        assert store.holders.unsubscribe("h-001") is True
    finally:
        store.close()
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(holders)")]
    assert "unsubscribed_at" in columns


def test_catalogue_upserts_by_id_and_bumps_the_sequence_only_on_change(store: Store) -> None:
    assert store.catalogue.seq() == 0
    assert store.catalogue.put(offer(), create=True) == "inserted"
    assert store.catalogue.put(offer()) == "unchanged" and store.catalogue.seq() == 1
    with pytest.raises(AlreadyExists):
        store.catalogue.put(offer(title="Autre titre"), create=True)
    assert store.catalogue.get("o-1").title == "Boulangerie à reprendre"
    assert store.catalogue.put(offer(title="Boulangerie-pâtisserie")) == "updated"
    assert store.catalogue.seq() == 2
    assert [r.id for r in store.catalogue.changed_since(1)] == ["o-1"]
    store.catalogue.bulk_insert([offer("o-2", kind="activity"), offer("o-3", kind="coworking")])
    total, page = store.catalogue.page(OpportunityQuery(kind="activity"))
    assert total == 1 and [o.id for o in page] == ["o-2"]
    assert store.catalogue.page(OpportunityQuery(offset=1, limit=1))[1][0].id == "o-2"
    assert store.catalogue.find("o-3").kind == "coworking" and store.catalogue.find("o-9") is None
    with pytest.raises(NotFound, match="opportunité inconnue : o-9"):
        store.catalogue.get("o-9")


def test_a_territory_is_stored_canonical_and_listed_whatever_its_spelling(store: Store) -> None:
    store.catalogue.put(offer(territory="CC  Creuse\u200b Grand Sud "))
    assert store.catalogue.get("o-1").territory == "CC Creuse Grand Sud"
    for spelling in ("CC Creuse Grand Sud", "cc creuse grand sud", " CC  CREUSE GRAND SUD"):
        assert store.catalogue.page(OpportunityQuery(territory=spelling))[0] == 1
    assert store.catalogue.page(OpportunityQuery(territory="CC Creuse"))[0] == 0


def test_holders_feedback_unsubscribe_and_erasure(store: Store) -> None:
    holder = HolderProfile(id="h-1", project="Reprendre une boulangerie", digest_opt_in=True)
    assert store.holders.put(holder, create=True) == "inserted"
    with pytest.raises(AlreadyExists):
        store.holders.put(holder, create=True)
    store.catalogue.put(offer())
    store.holders.add_feedback("h-1", "o-1", "not_relevant")
    with pytest.raises(NotFound):
        store.holders.add_feedback("h-1", "o-9", "interested")
    assert store.holders.rejected_by(["h-1", "h-2"]) == {"h-1": {"o-1"}, "h-2": set()}
    assert store.holders.opted_in("h-1")
    assert store.holders.unsubscribe("h-1") is True and store.holders.unsubscribe("h-1") is False
    assert not store.holders.get("h-1").digest_opt_in and not store.holders.opted_in("h-1")
    with store.database.session() as session:  # a bulk import keeps the person's own opt-out
        store.holders.save(session, holder, keep_unsubscribe=True)
    assert not store.holders.opted_in("h-1")
    store.holders.delete("h-1")
    assert store.holders.count() == 0 and store.holders.rejected_by(["h-1"]) == {"h-1": set()}
    assert store.holders.unsubscribe("h-1") is None
    with pytest.raises(NotFound):
        store.holders.delete("h-1")


def test_accounts_keep_a_hash_and_a_revoked_name_can_be_reused(store: Store) -> None:
    draft = draft_account("Agent", "officer", ["CC Creuse Grand Sud"])
    user = store.accounts.create(draft, hash_token("mtk_a"))
    assert store.accounts.by_token_hash(hash_token("mtk_a")) == user
    with pytest.raises(AlreadyExists):
        store.accounts.create(draft, hash_token("mtk_b"))
    assert store.accounts.revoke("Agent").revoked_at is not None
    assert store.accounts.by_token_hash(hash_token("mtk_a")) is None
    store.accounts.create(draft, hash_token("mtk_b"))
    assert store.accounts.by_token_hash(hash_token("mtk_b")).active


def test_the_ledger_records_a_send_only_for_a_holder_still_opted_in(store: Store) -> None:
    store.holders.put(HolderProfile(id="h-1", project="Un gîte", digest_opt_in=True))
    store.holders.put(HolderProfile(id="h-2", project="Un café", digest_opt_in=False))
    clock = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    run = store.ledger.open_run(clock, dry_run=False)
    assert store.ledger.hold(run, "h-1", ["o-1", "o-2"], clock, "<1@m>")
    assert store.ledger.already_sent(["h-1"], ["o-1", "o-2"]) == {}  # pending: not sent yet
    store.ledger.confirm(run, "<1@m>")
    assert not store.ledger.hold(run, "h-2", ["o-1"], clock, "<2@m>")
    assert store.ledger.hold(run, "h-1", ["o-3"], clock, "<3@m>")
    store.ledger.release("<3@m>")  # the server refused the message
    assert store.ledger.already_sent(["h-1", "h-2"], ["o-1", "o-2", "o-3"]) == {"h-1": {"o-1", "o-2"}}
    assert store.ledger.last_clocks() == {"h-1": clock}
    assert store.ledger.reconcile_pending() == 0


def test_pending_sends_of_a_dead_run_are_forgotten_by_the_next(store: Store) -> None:
    store.holders.put(HolderProfile(id="h-1", project="Un gîte", digest_opt_in=True))
    clock = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    run = store.ledger.open_run(clock, dry_run=False)
    assert store.ledger.hold(run, "h-1", ["o-1", "o-2"], clock, "<1@m>")  # then the process died
    assert store.ledger.reconcile_pending() == 1
    assert store.ledger.already_sent(["h-1"], ["o-1", "o-2"]) == {} and store.ledger.sends_of("h-1") == []


def test_the_gazetteer_table_is_replaced_whole(store: Store) -> None:
    commune = {
        "insee": "23069", "type": "COM", "name": "Crocq", "name_article": "Crocq", "postcode": "23260",
        "department": "23", "lat": 45.85, "lon": 2.36, "population": 430,
    }  # fmt: skip
    assert store.gazetteer.replace([commune, {**commune, "insee": "60178", "department": "60"}]) == 2
    assert store.gazetteer.replace([commune]) == 1
    assert store.gazetteer.count() == 1 and store.gazetteer.communes()[0]["name"] == "Crocq"

"""Persistence through SQLAlchemy, by aggregate: the source of truth for everything matcher keeps.

database   the connection, sessions, migrations (Alembic owns the schema)
schema     the tables
catalogue  opportunities and the catalogue's sequence number
holders    holder profiles and caseloads, their feedback and widenings, erasure
accounts   accounts, token and password hashes, web sessions
ledger     digest runs and the send ledger
outreach   offers' impression counts and the contacts officers proposed
reminders  offers due for a reminder, and the reminders' ledger
gazetteer  the communes table
"""

from __future__ import annotations

from matcher.store.accounts import AccountStore
from matcher.store.catalogue import CatalogueStore, SaveOutcome, StoredOffer, text_hash
from matcher.store.database import Database
from matcher.store.gazetteer import GazetteerStore
from matcher.store.holders import HolderStore
from matcher.store.ledger import DigestLedger
from matcher.store.outreach import OutreachStore
from matcher.store.reminders import ReminderLedger
from matcher.store.schema import OpportunityRow


class Store:
    """One database and its areas."""

    def __init__(self, url: str):
        self.database = Database(url)
        self.catalogue = CatalogueStore(self.database)
        self.holders = HolderStore(self.database)
        self.accounts = AccountStore(self.database)
        self.ledger = DigestLedger(self.database)
        self.outreach = OutreachStore(self.database)
        self.reminders = ReminderLedger(self.database)
        self.gazetteer = GazetteerStore(self.database)

    def close(self) -> None:
        self.database.close()


__all__ = [
    "AccountStore",
    "CatalogueStore",
    "Database",
    "DigestLedger",
    "GazetteerStore",
    "HolderStore",
    "OpportunityRow",
    "OutreachStore",
    "ReminderLedger",
    "SaveOutcome",
    "Store",
    "StoredOffer",
    "text_hash",
]

"""One run of the officers' reminders: who gets what, compose, send, write the ledger.

The ledger guarantee is the digest's: an e-mail's ledger rows are flushed in one transaction
before the message is handed to the SMTP server, and committed as soon as the server accepts it
(rolled back if it does not). A rerun, the same week or after a crash, skips what the ledger
holds; an offer is reminded once per reason and period (``DueOffer.period``), so a prolonged
expiry or a new update makes it due again when its time comes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from matcher.accounts import Role, User
from matcher.clock import as_utc, utcnow
from matcher.config import PRIVATE_FILE, Settings
from matcher.digest.message import UnusableAddress
from matcher.digest.sending import DirectoryTransport, Refused, SmtpTransport, Transport, TransportFailed
from matcher.digest.tokens import MISSING_KEY, DigestNotConfigured
from matcher.engine import Engine
from matcher.errors import MatcherError, WriteConflict
from matcher.freshness import DueOffer, Reminded
from matcher.reminders.message import ReminderComposer


class RemindersAlreadyRunning(MatcherError):
    """Another reminder run holds the lock of this home."""


@dataclass
class ReminderSummary:
    """What one run did, printed by ``matcher reminders``."""

    clock: datetime
    dry_run: bool
    officers_considered: int = 0
    emails_sent: int = 0
    offers_reminded: int = 0
    skipped: int = 0
    failed: int = 0
    status: str = "running"
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped_by: str | None = None
    notes: list[str] = field(default_factory=list)
    output_dir: Path | None = None

    @property
    def complete(self) -> bool:
        return self.status == "completed" and self.failed == 0

    def lines(self) -> list[str]:
        """The summary in French, one line each."""
        state = {"completed": "terminé", "interrupted": "interrompu"}.get(self.status, "en cours")
        kind = "aperçu (--dry-run)" if self.dry_run else "envoi"
        lines = [
            f"Rappels aux territoires, {kind} (horloge {self.clock.astimezone():%d/%m/%Y %H:%M}) : {state}",
            f"  agents considérés : {self.officers_considered}",
            f"  {'e-mails écrits' if self.dry_run else 'e-mails envoyés'} : {self.emails_sent}",
            f"  offres rappelées : {self.offers_reminded}",
            f"  ignorés (rien à rappeler) : {self.skipped}",
            f"  échecs : {self.failed}",
        ]
        lines += [f"  échec pour {account} : {reason}" for account, reason in self.failures]
        if self.stopped_by:
            lines.append(f"Envoi interrompu : {self.stopped_by}")
        if self.failed and not self.dry_run:
            lines.append("Relancez la même commande : les rappels déjà acceptés ne seront pas renvoyés.")
        if self.output_dir is not None:
            lines.append(f"Fichiers .eml écrits dans {self.output_dir}")
        return lines + self.notes


def officers(engine: Engine) -> list[User]:
    """The accounts that receive reminders: active officers with an e-mail address."""
    return [u for u in engine.accounts() if u.role is Role.officer and u.active and u.email]


def unsent(due: DueOffer, sent: set[Reminded]) -> list[Reminded]:
    """The ledger rows ``due`` would add: its reasons not yet reminded for their period."""
    rows = [(due.opportunity.id, reason, due.period(reason)) for reason in due.reasons]
    return [row for row in rows if row not in sent]


def run_reminders(
    engine: Engine,
    *,
    clock: datetime | None = None,
    dry_run_dir: Path | None = None,
    settings: Settings | None = None,
    transport: Transport | None = None,
) -> ReminderSummary:
    """E-mail each officer the offers of their territories that expire within 30 days or were not
    updated for 6 months, and not yet reminded; at ``clock`` (default: now).

    With ``dry_run_dir``, e-mails are written there as .eml files and the ledger is untouched.
    Raises DigestNotConfigured without a secret key (a dry run uses a throw-away one instead)
    and RemindersAlreadyRunning when another real run holds this home's lock.
    """
    settings = settings or engine.settings
    clock = as_utc(clock or utcnow())
    summary = ReminderSummary(clock=clock, dry_run=dry_run_dir is not None, output_dir=dry_run_dir)
    secret_key = settings.secret_key
    if not secret_key:
        if dry_run_dir is None:
            raise DigestNotConfigured(f"envoi impossible. {MISSING_KEY}")
        secret_key = secrets.token_urlsafe(32)
        summary.notes.append(
            "MATCHER_SECRET_KEY n'est pas défini : cet aperçu signe ses liens avec une clé éphémère ; "
            "ils ne fonctionneront pas. Un envoi réel exige la clé."
        )
    lock = FileLock(str(engine.settings.home / "reminders.lock"), timeout=0, mode=PRIVATE_FILE)
    if dry_run_dir is None:
        try:
            lock.acquire()
        except Timeout:
            raise RemindersAlreadyRunning(
                f"un autre envoi de rappels est en cours sur {engine.settings.home} (verrou "
                "reminders.lock) : attendez sa fin"
            ) from None
    try:
        transport = transport or (DirectoryTransport(dry_run_dir) if dry_run_dir else SmtpTransport(settings))
        _run(engine, ReminderComposer(settings, secret_key), transport, summary)
    finally:
        if lock.is_locked:
            lock.release()
    return summary


def _run(engine: Engine, composer: ReminderComposer, transport: Transport, summary: ReminderSummary) -> None:
    today = summary.clock.astimezone().date()
    due = engine.offers_due(today)
    accounts = officers(engine)
    summary.officers_considered = len(accounts)
    officer = None
    try:
        for officer in accounts:
            sent = engine.reminders.reminded(officer.account_id)
            mine = [d for d in due if officer.covers(d.opportunity.territory) and unsent(d, sent)]
            if not mine:
                summary.skipped += 1
                continue
            try:
                _deliver(engine, composer, transport, summary, officer, mine, sent)
            except (Refused, UnusableAddress) as error:
                summary.failed += 1
                summary.failures.append((officer.name, str(error)))
        summary.status = "completed"
    except TransportFailed as error:
        summary.failed += 1
        summary.failures.append(
            (officer.name if officer else "?", "non envoyé, le serveur ne répondait plus")
        )
        summary.stopped_by = str(error)
        summary.status = "interrupted"
    finally:
        transport.close()


def _deliver(
    engine: Engine,
    composer: ReminderComposer,
    transport: Transport,
    summary: ReminderSummary,
    officer: User,
    due: list[DueOffer],
    sent: set[Reminded],
) -> None:
    """Compose and send one officer's reminder; with SMTP, its ledger rows commit on acceptance."""
    message = composer.compose(officer, due, summary.clock.astimezone().date(), utcnow())
    label = f"agent-{officer.account_id}"
    if summary.dry_run:
        transport.send(message, label)
    else:
        rows = [row for d in due for row in unsent(d, sent)]
        try:
            with engine.reminders.recording(officer.account_id, rows, summary.clock, message["Message-ID"]):
                transport.send(message, label)
        except WriteConflict:  # another process recorded these reminders first
            summary.skipped += 1
            return
    summary.emails_sent += 1
    summary.offers_reminded += len(due)

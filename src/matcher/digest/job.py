"""One run of the weekly digest: select, compose, send, write the ledger, keep a summary.

The ledger guarantee, in three short transactions per e-mail and none open while the mail
server has it (a slow or hung server never holds the database's write lock): the holder's
``SendRow`` rows are committed « pending »; the message is handed to the SMTP server; its
answer marks them « sent » (accepted) or removes them (refused, or the server stopped
answering). The next run skips what the ledger holds as sent, which makes reruns (same week,
or after a failure) send only what is missing, and first forgets the « pending » rows a dead
run left behind, so that their e-mails go out again.

So an e-mail the server refused is never recorded as sent, and one it accepted is recorded
before the next one is tried. The only gap (at least once, never lost): a crash after the
server's acceptance and before « sent » is committed (milliseconds) sends that e-mail again.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from matcher.clock import as_utc, utcnow
from matcher.config import PRIVATE_FILE, Settings
from matcher.digest.message import Composer, UnusableAddress
from matcher.digest.selection import HolderDigest, digest_holders, select_digests
from matcher.digest.sending import DirectoryTransport, Refused, SmtpTransport, Transport, TransportFailed
from matcher.digest.tokens import MISSING_KEY, DigestNotConfigured
from matcher.engine import Engine
from matcher.engine.outreach import DIGEST
from matcher.errors import MatcherError

DEFAULT_LIMIT = 5
#: How often (in holders) the run row's counters are saved while the run goes on.
SAVE_EVERY = 200

Progress = Callable[[int, int], None]


class DigestAlreadyRunning(MatcherError):
    """Another digest run holds the lock of this home."""


@dataclass
class DigestSummary:
    """What one run did; stored in ``digest_runs`` and printed."""

    run_id: int
    clock: datetime
    dry_run: bool
    holders_considered: int = 0
    emails_sent: int = 0
    skipped: int = 0
    failed: int = 0
    status: str = "running"
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped_by: str | None = None
    withdrawn: int = 0
    notes: list[str] = field(default_factory=list)
    output_dir: Path | None = None

    @property
    def not_processed(self) -> int:
        """Holders left for the next run because the run stopped early."""
        return self.holders_considered - self.emails_sent - self.skipped - self.failed

    @property
    def complete(self) -> bool:
        return self.status == "completed" and self.failed == 0

    def lines(self) -> list[str]:
        """The summary in French, one line each."""
        state = {
            "completed": "terminé",
            "interrupted": "interrompu",
            "running": "en cours",
        }.get(self.status, self.status)
        kind = "aperçu (--dry-run)" if self.dry_run else "envoi"
        sent = "e-mails écrits" if self.dry_run else "e-mails envoyés"
        lines = [
            f"Suggestions hebdomadaires, {kind} n° {self.run_id} "
            f"(horloge {self.clock.astimezone():%d/%m/%Y %H:%M}) : {state}",
            f"  porteurs considérés : {self.holders_considered}",
            f"  {sent} : {self.emails_sent}",
            f"  ignorés (rien de nouveau) : {self.skipped}",
        ]
        if self.withdrawn:
            lines.append(f"    dont désinscrits ou supprimés pendant l'envoi : {self.withdrawn}")
        lines.append(f"  échecs : {self.failed}")
        if self.not_processed:
            lines.append(f"  non traités : {self.not_processed}")
        lines += [f"  échec pour {holder} : {reason}" for holder, reason in self.failures]
        if self.stopped_by:
            lines.append(f"Envoi interrompu : {self.stopped_by}")
        if self.status == "interrupted" and not self.dry_run:
            lines.append(
                "Relancez la même commande quand le serveur répond : les e-mails déjà acceptés "
                "ne seront pas renvoyés, les autres partiront."
            )
        elif self.failed and not self.dry_run:
            lines.append("Les e-mails en échec seront retentés au prochain envoi.")
        if self.output_dir is not None:
            lines.append(f"Fichiers .eml écrits dans {self.output_dir}")
        lines += self.notes
        return lines


@dataclass(frozen=True)
class DigestOptions:
    """What one run is asked to do: at what clock, for whom (all, or one holder), how many
    suggestions each, and whether it only writes .eml files (a dry run)."""

    clock: datetime
    dry_run_dir: Path | None = None
    holder_id: str | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def dry_run(self) -> bool:
        return self.dry_run_dir is not None


class DigestRun:
    """The run's state: its row in ``digest_runs``, its transport, its counters."""

    def __init__(self, engine: Engine, transport: Transport, composer: Composer, summary: DigestSummary):
        self.engine = engine
        self.ledger = engine.ledger
        self.transport = transport
        #: Offers e-mailed since the last save, for the officers' impression counts.
        self.shown: Counter[str] = Counter()
        self.composer = composer
        self.summary = summary

    def deliver(self, digest: HolderDigest) -> bool:
        """Compose and send one digest; with SMTP, its ledger rows are « sent » once the server accepts.

        Returns False, sending nothing, when the holder unsubscribed or was erased meanwhile.
        """
        s = self.summary
        message = self.composer.compose(digest, s.run_id)
        if s.dry_run:
            self.transport.send(message, digest.holder.key)
            s.emails_sent += 1
            return True
        suggested = [suggestion.opportunity.id for suggestion in digest.suggestions]
        message_id = message["Message-ID"]
        if not self.ledger.hold(s.run_id, digest.holder.key, suggested, s.clock, message_id):
            return False
        try:
            self.transport.send(message, digest.holder.key)
        except (Refused, TransportFailed):
            self.ledger.release(message_id)
            raise
        self.ledger.confirm(s.run_id, message_id)
        self.shown.update(suggested)
        s.emails_sent += 1
        return True

    def save(self, finished: bool = False) -> None:
        s = self.summary
        values: dict[str, object] = {
            "holders_considered": s.holders_considered,
            "skipped": s.skipped,
            "failed": s.failed,
            "status": s.status,
        }
        if s.dry_run:
            values["emails_sent"] = s.emails_sent  # a real run counts its sends in the ledger step
        if finished:
            values["finished_at"] = utcnow()
        self.ledger.save_run(s.run_id, values)
        if self.shown:
            self.engine.count_shown(self.shown.elements(), DIGEST, s.clock.date())
            self.shown.clear()


def run_digest(
    engine: Engine,
    *,
    clock: datetime | None = None,
    dry_run_dir: Path | None = None,
    holder_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    settings: Settings | None = None,
    transport: Transport | None = None,
    progress: Progress | None = None,
) -> DigestSummary:
    """Run the digest for every opted-in holder (or one) at ``clock`` (default: now).

    With ``dry_run_dir``, e-mails are written there as .eml files and the ledger is untouched.
    Raises DigestNotConfigured without a secret key (a dry run uses a throw-away one instead)
    and DigestAlreadyRunning when another real run holds this home's lock.
    """
    settings = settings or engine.settings
    options = DigestOptions(as_utc(clock or utcnow()), dry_run_dir, holder_id, limit)
    notes = []
    secret_key = settings.secret_key
    if not secret_key:
        if not options.dry_run:
            raise DigestNotConfigured(f"envoi impossible. {MISSING_KEY}")
        secret_key = secrets.token_urlsafe(32)
        notes.append(
            "MATCHER_SECRET_KEY n'est pas défini : cet aperçu signe ses liens de désinscription avec une "
            "clé éphémère ; ils ne fonctionneront pas. Un envoi réel exige la clé."
        )
    if limit < 1:
        raise MatcherError("--limit-per-holder doit valoir au moins 1")
    lock = FileLock(str(engine.settings.home / "digest.lock"), timeout=0, mode=PRIVATE_FILE)
    if not options.dry_run:
        try:
            lock.acquire()
        except Timeout:
            raise DigestAlreadyRunning(
                f"un autre envoi est en cours sur {engine.settings.home} (verrou digest.lock) : "
                "attendez sa fin ; lancer deux envois à la fois enverrait des doublons"
            ) from None
    if not options.dry_run:
        for run_id in engine.ledger.interrupt_dead_runs():
            notes.append(
                f"L'envoi n° {run_id}, arrêté sans avoir pu finir, est marqué interrompu ; "
                "ce qu'il n'avait pas envoyé part maintenant."
            )
        if pending := engine.ledger.reconcile_pending():
            notes.append(
                f"{pending} e-mail(s) étaient en cours de remise au serveur quand un envoi s'est "
                "arrêté : ils repartent (un destinataire peut le recevoir deux fois si le serveur "
                "l'avait déjà accepté)."
            )
    try:
        transport = transport or (DirectoryTransport(dry_run_dir) if dry_run_dir else SmtpTransport(settings))
        return _run(engine, Composer(settings, secret_key), transport, options, progress, notes)
    finally:
        if lock.is_locked:
            lock.release()


def _run(
    engine: Engine,
    composer: Composer,
    transport: Transport,
    options: DigestOptions,
    progress: Progress | None,
    notes: list[str],
) -> DigestSummary:
    holders = digest_holders(engine, options.holder_id)
    if options.holder_id is not None and not holders:
        notes.append(
            f"{options.holder_id} n'a pas demandé les suggestions par e-mail (digest_opt_in) : "
            "rien à envoyer."
        )
    engine.refresh()
    engine.save_index()
    run_id = engine.ledger.open_run(options.clock, options.dry_run)
    summary = DigestSummary(run_id=run_id, clock=options.clock, dry_run=options.dry_run)
    summary.notes, summary.output_dir = notes, options.dry_run_dir
    summary.holders_considered = len(holders)
    run = DigestRun(engine, transport, composer, summary)
    run.save()
    reachable = [h for h in holders if h.email]
    for holder in holders:
        if not holder.email:
            summary.failures.append((holder.key, "pas d'adresse e-mail dans le profil"))
            summary.failed += 1
    done = summary.failed
    if progress:
        progress(done, len(holders))
    try:
        for digest in select_digests(engine, reachable, options.clock, options.limit):
            if not digest.suggestions:
                summary.skipped += 1
            else:
                try:
                    if not run.deliver(digest):
                        summary.skipped += 1
                        summary.withdrawn += 1
                except (Refused, UnusableAddress) as error:
                    summary.failed += 1
                    summary.failures.append((digest.holder.key, str(error)))
            done += 1
            if progress:
                progress(done, len(holders))
            if done % SAVE_EVERY == 0:
                run.save()
        summary.status = "completed"
    except TransportFailed as error:
        summary.failed += 1
        summary.failures.append((digest.holder.key, "non envoyé, le serveur ne répondait plus"))
        summary.stopped_by = str(error)
        summary.status = "interrupted"
    except BaseException:
        summary.status = "interrupted"
        raise
    finally:
        transport.close()
        run.save(finished=True)
    return summary

"""The digest's persistence: its runs, and the send ledger of what each holder received."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from matcher.clock import utcnow
from matcher.store.database import IN_CHUNK, Database
from matcher.store.schema import PENDING, SENT, DigestRunRow, HolderRow, SendRow


class DigestLedger:
    """Digest runs and sent suggestions."""

    def __init__(self, database: Database):
        self.database = database

    def open_run(self, clock: datetime, dry_run: bool) -> int:
        """A new run's row, status « running »; returns its id."""
        with self.database.session() as session:
            row = DigestRunRow(
                clock=clock,
                started_at=utcnow(),
                dry_run=dry_run,
                status="running",
                holders_considered=0,
                emails_sent=0,
                skipped=0,
                failed=0,
            )
            session.add(row)
            session.flush()
            return row.run_id

    def interrupt_dead_runs(self) -> list[int]:
        """Mark « interrupted » the real runs left « running » by a process that died; call it
        holding the digest lock (real runs are one at a time), so that none of them is alive."""
        with self.database.session() as session:
            dead = list(
                session.scalars(
                    select(DigestRunRow.run_id).where(
                        DigestRunRow.status == "running", DigestRunRow.dry_run.is_(False)
                    )
                )
            )
            if dead:
                session.execute(
                    update(DigestRunRow)
                    .where(DigestRunRow.run_id.in_(dead))
                    .values(status="interrupted", finished_at=utcnow())
                )
            return dead

    def save_run(self, run_id: int, values: dict[str, Any]) -> None:
        with self.database.session() as session:
            session.execute(update(DigestRunRow).where(DigestRunRow.run_id == run_id).values(**values))

    def hold(
        self,
        run_id: int,
        holder_id: str,
        opportunity_ids: list[str],
        clock: datetime,
        message_id: str,
    ) -> bool:
        """Record one e-mail's suggestions as « pending », before it is handed to the server, in
        one short transaction; False, recording nothing, when the holder unsubscribed or was
        erased meanwhile. A database that cannot take the rows stops the run before an
        unrecorded e-mail goes out."""
        now = utcnow()
        with self.database.session() as session:
            opted_in = session.scalar(select(HolderRow.digest_opt_in).where(HolderRow.id == holder_id))
            if not opted_in:
                return False
            session.add_all(
                SendRow(
                    holder_id=holder_id,
                    opportunity_id=opportunity_id,
                    run_id=run_id,
                    clock=clock,
                    sent_at=now,
                    message_id=message_id,
                    state=PENDING,
                )
                for opportunity_id in opportunity_ids
            )
            return True

    def confirm(self, run_id: int, message_id: str) -> None:
        """The server accepted the e-mail: its rows become « sent », the run counts it."""
        with self.database.session() as session:
            session.execute(
                update(SendRow)
                .where(SendRow.message_id == message_id, SendRow.state == PENDING)
                .values(state=SENT, sent_at=utcnow())
            )
            session.execute(
                update(DigestRunRow)
                .where(DigestRunRow.run_id == run_id)
                .values(emails_sent=DigestRunRow.emails_sent + 1)
            )

    def release(self, message_id: str) -> None:
        """The server did not take the e-mail: its pending rows go, so the next run sends it."""
        with self.database.session() as session:
            session.execute(delete(SendRow).where(SendRow.message_id == message_id, SendRow.state == PENDING))

    def reconcile_pending(self) -> int:
        """Forget the « pending » rows of runs that died while the server had their e-mail: the
        next run sends those e-mails (again, if the server had accepted them before the crash:
        the at-least-once window). Call it holding the digest lock, so that no run is alive.
        Returns how many e-mails were concerned."""
        with self.database.session() as session:
            messages = session.scalar(
                select(func.count(func.distinct(SendRow.message_id))).where(SendRow.state == PENDING)
            )
            session.execute(delete(SendRow).where(SendRow.state == PENDING))
            return int(messages or 0)

    def last_clocks(self) -> dict[str, datetime]:
        """Each holder's last digest clock."""
        with self.database.reading() as session:
            rows = session.execute(
                select(SendRow.holder_id, func.max(SendRow.clock))
                .where(SendRow.state == SENT)
                .group_by(SendRow.holder_id)
            )
            return {holder_id: clock for holder_id, clock in rows}

    def already_sent(self, holder_ids: Iterable[str], opportunity_ids: list[str]) -> dict[str, set[str]]:
        """Which of ``opportunity_ids`` each holder already received."""
        wanted = set(holder_ids)
        sent: dict[str, set[str]] = defaultdict(set)
        with self.database.reading() as session:
            for start in range(0, len(opportunity_ids), IN_CHUNK):
                chunk = opportunity_ids[start : start + IN_CHUNK]
                rows = session.execute(
                    select(SendRow.holder_id, SendRow.opportunity_id).where(
                        SendRow.opportunity_id.in_(chunk), SendRow.state == SENT
                    )
                )
                for holder_id, opportunity_id in rows:
                    if holder_id in wanted:
                        sent[holder_id].add(opportunity_id)
        return sent

    def sends_of(self, holder_id: str) -> list[tuple[str, datetime]]:
        """(opportunity id, sent at) of every suggestion sent to one holder, oldest first."""
        with self.database.reading() as session:
            rows = session.execute(
                select(SendRow.opportunity_id, SendRow.sent_at)
                .where(SendRow.holder_id == holder_id, SendRow.state == SENT)
                .order_by(SendRow.sent_at)
            )
            return [(opportunity_id, sent_at) for opportunity_id, sent_at in rows]

"""The one façade every interface calls: catalogue, holders, accounts, matching.

Routes, commands, the digest job and pages call these methods and the domain only; none of them
opens a session or reads a table. Each write that changes what queries see brings the derived
views up to date before it returns, so that the caller's next query sees it (read your writes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from matcher import accounts, duplicates, freshness
from matcher.accounts import Role, User, scope_problem
from matcher.catalogue import CatalogueView
from matcher.clock import utcnow
from matcher.config import PRIVATE_DIRECTORY, Settings
from matcher.domain import (
    Candidacy,
    CaseloadEntry,
    ContactProposal,
    Feedback,
    HolderProfile,
    HolderQuery,
    Match,
    MatchResult,
    OfferStanding,
    Opportunity,
    OpportunityQuery,
    Verdict,
    Widening,
    widened_record,
)
from matcher.encoders import Encoder, load_encoder
from matcher.engine.caches import DocumentCache, QueryCache
from matcher.engine.lookalikes import IncomingFile, LikelyDuplicate, LookAlikeFinder
from matcher.engine.outreach import SEARCH, Outreach
from matcher.engine.ranking import Ranker
from matcher.engine.training import RankerComparison, TrainingReport, adopt, adopted_model, compare, train
from matcher.engine.upkeep import IndexKeeper, Progress, SyncReport
from matcher.errors import (
    InvalidRecord,
    LookAlike,
    LooksLikeDuplicate,
    MatcherError,
    NotFound,
    OutOfScope,
    SignInRefused,
)
from matcher.freshness import DueOffer
from matcher.geo import Commune, Gazetteer, read_communes_csv
from matcher.index import VectorIndex
from matcher.intake import (
    ImportReport,
    RawRecord,
    RecordKind,
    import_records,
    validate_holder,
    validate_opportunity,
    with_organisation,
)
from matcher.ranker import Scorer, load_scorer
from matcher.scoring import Weights
from matcher.store import DigestLedger, ReminderLedger, SaveOutcome, Store
from matcher.taxonomy import Taxonomy

log = logging.getLogger(__name__)

#: Holders read, embedded and stored together (imports, ``embed_holders``).
HOLDER_BATCH = 256

WRONG_CREDENTIALS = (
    f"Adresse e-mail ou mot de passe incorrect. Après {accounts.MAX_FAILED_SIGN_INS} essais manqués, "
    f"le compte est verrouillé pendant {accounts.LOCK_DURATION.seconds // 60} minutes : demandez au "
    "besoin un nouveau mot de passe à votre administrateur·rice."
)


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: the cookie's token (shown once), its CSRF token and its account."""

    token: str
    csrf: str
    user: User


@dataclass(frozen=True)
class HolderHistory:
    """What happened around one holder: verdicts given, suggestions e-mailed, widenings saved."""

    feedback: list[Feedback]
    sends: list[tuple[str, datetime]]
    widenings: list[Widening]


@dataclass(frozen=True)
class Health:
    """Is the database answering, and is the index loaded and up to date."""

    database_ok: bool
    opportunities: int | None = None
    holders: int | None = None
    database_error: str | None = None
    index_loaded: bool = False
    indexed: int = 0
    encoder: str | None = None
    index_up_to_date: bool | None = None


class Engine:
    """Catalogue, holders and matching over one ``MATCHER_HOME``."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None, weights: Weights | None = None):
        """``weights``: rank with these hand weights instead of the learned ranker in use."""
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
        self.store = Store(settings.db_url)
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self._vocabulary: Taxonomy | None = None
        self._gazetteer: Gazetteer | None = None
        self._gazetteer_size = 0
        documents, queries = DocumentCache(), QueryCache()
        self.keeper = IndexKeeper(settings, self.store, lambda: self.encoder, documents)
        self.ranker = Ranker(
            self.keeper,
            documents,
            queries,
            lambda: self.encoder,
            load_scorer(adopted_model(settings.home), weights),
        )
        self.outreach = Outreach(settings, self.store)
        self.look_alike_finder = LookAlikeFinder(self.store, self.keeper, lambda: self.encoder)

    def close(self) -> None:
        self.store.close()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self._encoder_lock:  # loaded once even when two requests arrive together
                if self._encoder is None:
                    self._encoder = load_encoder(self.settings.encoder)
        return self._encoder

    @property
    def vocabulary(self) -> Taxonomy:
        """The sector and trade vocabulary with the encoder, for labels its tables cannot read."""
        if self._vocabulary is None:
            self._vocabulary = Taxonomy(self.encoder)
        return self._vocabulary

    def _meaning(self) -> Taxonomy:
        # Handed to intake, which calls it only for a label the tables cannot read.
        return self.vocabulary

    @property
    def scorer(self) -> Scorer:
        """What orders the matches: the learned ranker in use, or the hand weights."""
        return self.ranker.scorer

    # --- derived views ---------------------------------------------------------------------

    @property
    def view(self) -> CatalogueView:
        """The catalogue's filter arrays, as of the last refresh."""
        return self.keeper.view

    @property
    def index(self) -> VectorIndex | None:
        """The vector index, or None before the first refresh."""
        return self.keeper.index

    @property
    def indexed_seq(self) -> int | None:
        """The catalogue sequence number the in-memory index reflects (None before loading)."""
        return None if self.keeper.index is None else self.keeper.seq

    def refresh(self, progress: Progress | None = None, full: bool = False) -> SyncReport:
        """Bring the filter arrays and the index up to date with the database."""
        return self.keeper.refresh(progress, full)

    def save_index(self) -> bool:
        """Write the index if it changed since loaded; returns whether it wrote."""
        return self.keeper.save()

    # --- geography -------------------------------------------------------------------------

    @property
    def gazetteer(self) -> Gazetteer | None:
        """The communes table, or None when ``matcher geo load`` was never run.

        Reloaded when the table's size changes, so that a ``geo load`` run by another process
        (the CLI beside the service) is seen without a restart.
        """
        count = self.store.gazetteer.count()
        if count != self._gazetteer_size:
            rows = self.store.gazetteer.communes()
            self._gazetteer = Gazetteer(pd.DataFrame(rows)) if rows else None
            self._gazetteer_size = count
        return self._gazetteer

    def communes_starting(self, prefix: str) -> list[Commune]:
        """Communes whose name starts like ``prefix``, most populous first (none without a table)."""
        gazetteer = self.gazetteer
        return [] if gazetteer is None else gazetteer.starting_with(prefix)

    def load_gazetteer(self, path: Path) -> int:
        """Replace the communes table with the INSEE CSV at ``path``; returns the row count."""
        frame = read_communes_csv(path)
        return self.store.gazetteer.replace(frame.to_dict("records"))  # type: ignore[arg-type]

    # --- records in ------------------------------------------------------------------------

    def validate_opportunity(self, raw: Any, label: str) -> Opportunity:
        """Parse and place an opportunity; InvalidRecord names the record and the field."""
        return validate_opportunity(raw, label, self.gazetteer, self._meaning)

    def validate_holder(self, raw: Any, label: str, require_id: bool = True) -> HolderProfile:
        """Parse a holder profile and place its origin."""
        return validate_holder(raw, label, self.gazetteer, require_id, self._meaning)

    def import_records(
        self,
        kind: RecordKind,
        records: list[RawRecord],
        actor: User | None = None,
        organisation: str | None = None,
        *,
        force: bool = False,
    ) -> ImportReport:
        """Validate and upsert a file's records; the valid ones are kept, each reject explained.

        ``organisation``: the one following the file's holders that name none.

        With an ``actor``, an offer outside their territories (or taking over one stored
        outside them) is that record's reject; the check reads the validated record. Without
        ``force``, an offer resembling a live one of another id, or an earlier record of the
        file, is refused too, naming its look-alike (see ``publish``).
        """
        incoming = IncomingFile(date.today())

        def admit(record: Opportunity | HolderProfile) -> tuple[str, str] | None:
            if actor is not None and (problem := self._scope_problem(actor, record)):
                return "territory", problem
            duplicate = None
            if isinstance(record, Opportunity) and not force:
                duplicate = self.look_alike_finder.admit(record, incoming)
            return None if duplicate is None else ("title", duplicate)

        if kind == "holders" and organisation:
            records = with_organisation(records, organisation)
        report = import_records(self.store, self.gazetteer, kind, records, self._meaning, admit)
        if kind == "opportunities":
            # The importer waits for its offers to be indexed; others' queries do not.
            self.keeper.catch_up(wait=True)
        else:
            ids = [
                r.value["id"]
                for r in records
                if isinstance(r.value, dict) and isinstance(r.value.get("id"), str)
            ]
            for start in range(0, len(ids), HOLDER_BATCH):
                self._keep_vectors(self.store.holders.many(ids[start : start + HOLDER_BATCH]))
        return report

    # --- opportunities ---------------------------------------------------------------------

    def _scope_problem(self, actor: User, record: Opportunity | HolderProfile) -> str | None:
        if not isinstance(record, Opportunity):
            return None
        stored = self.store.catalogue.find(record.id)
        return scope_problem(actor, record.territory, stored.territory if stored else None)

    def editable(self, opportunity_id: str, actor: User | None = None) -> Opportunity:
        """The stored opportunity, if ``actor`` may edit it: NotFound, else OutOfScope."""
        stored = self.opportunity(opportunity_id)
        if problem := scope_problem(actor, stored.territory):
            raise OutOfScope(problem)
        return stored

    def publish(
        self,
        opportunity: Opportunity,
        *,
        create: bool = False,
        actor: User | None = None,
        force: bool = False,
    ) -> SaveOutcome:
        """Store one opportunity and apply it to the index, so that the next match sees it.

        With ``create``, an existing id is a conflict (AlreadyExists) and nothing is written.
        With an ``actor``, the offer must stay within their territories, and so must the one it
        replaces (OutOfScope otherwise): the check reads the validated record. Without
        ``force``, a live offer resembling another live one of its territory or commune
        (``look_alikes``) that its stored version did not already resemble is refused with
        LooksLikeDuplicate, and nothing is written.
        """
        if actor is not None and (problem := self._scope_problem(actor, opportunity)):
            raise OutOfScope(problem)
        taken = create and self.store.catalogue.find(opportunity.id) is not None  # put says so
        found = [] if force or taken else self.look_alike_finder.new_look_alikes(opportunity, date.today())
        if found:
            raise LooksLikeDuplicate(duplicates.warning(found), found)
        outcome = self.store.catalogue.put(opportunity, create=create)
        self.keeper.catch_up(written=[opportunity.id])
        return outcome

    def look_alikes(self, opportunity: Opportunity, today: date | None = None) -> list[LookAlike]:
        """The live offers of ``opportunity``'s territory or commune that it resembles, most
        similar first; never itself (its stored version is not a look-alike)."""
        return self.look_alike_finder.look_alikes(opportunity, today or date.today())

    def likely_duplicates(
        self, territory: str | None = None, threshold: float = duplicates.THRESHOLD
    ) -> list[LikelyDuplicate]:
        """Pairs of live offers of one place that resemble each other, most similar first."""
        return self.look_alike_finder.likely_duplicates(date.today(), territory, threshold)

    def archive(self, opportunity_id: str, actor: User | None = None) -> Opportunity:
        """Archive an opportunity: it stays stored and is never recommended again."""
        archived = self.editable(opportunity_id, actor).model_copy(update={"status": "archived"})
        self.publish(archived, actor=actor)
        return archived

    def opportunity(self, opportunity_id: str) -> Opportunity:
        """The stored opportunity; NotFound for an unknown id."""
        return self.store.catalogue.get(opportunity_id)

    def opportunities(self, query: OpportunityQuery = OpportunityQuery()) -> tuple[int, list[Opportunity]]:
        """(total matching, one page) of opportunities, in id order."""
        return self.store.catalogue.page(query)

    def new_opportunities(self, since: datetime, clock: datetime) -> dict[str, Opportunity]:
        """Published opportunities created or changed in ``(since, clock]``, by id."""
        return self.store.catalogue.published_between(since, clock)

    def standings(self, actor: User | None = None, today: date | None = None) -> list[OfferStanding]:
        """The offers of ``actor``'s territories (all for an admin), most recently changed first,
        with this month's impressions and interest: counts, never who."""
        return self.outreach.standings(actor, today or date.today())

    def count_shown(self, opportunity_ids: Iterable[str], channel: str, day: date | None = None) -> None:
        """Count one impression per offer shown through ``channel`` (« search », « digest »);
        a statistic: a failure only logs."""
        self.outreach.note_shown(opportunity_ids, channel, day or date.today())

    def audience(self, opportunity: Opportunity, today: date | None = None) -> int:
        """How many stored holders' hard constraints let ``opportunity`` through (stored or not):
        how many it could reach now."""
        return self.ranker.audience(opportunity, today or date.today())

    def candidacies(
        self, opportunity_id: str, actor: User | None = None, top: int = 10, today: date | None = None
    ) -> list[Candidacy]:
        """The candidates for one of ``actor``'s offers as an officer sees them: pseudonyms,
        never names or addresses (NotFound or OutOfScope as for editing it)."""
        self.editable(opportunity_id, actor)
        return self.outreach.candidacies(
            opportunity_id, self.candidates(opportunity_id, top=top, today=today)
        )

    def propose_contact(
        self, opportunity_id: str, pseudonym: str, actor: User | None = None
    ) -> ContactProposal:
        """Note that ``actor`` proposes a contact with a candidate, for the holder's counsellor to
        pass on; the caller sends it (``withdraw_proposal`` if the message cannot go)."""
        return self.outreach.propose(self.editable(opportunity_id, actor), pseudonym, actor)

    def withdraw_proposal(self, proposal: ContactProposal) -> None:
        self.outreach.withdraw(proposal)

    # --- holders ---------------------------------------------------------------------------
    # With an ``actor``, a holder outside their organisation is answered as unknown (NotFound),
    # as for an id nobody holds. Creating under an id already taken is refused whoever holds it:
    # that tells an opaque id is in use (« h-3f9a0c12b4e7 »), nothing about the person.

    def _check_follows(self, holder_id: str, actor: User | None) -> None:
        if actor is not None and not actor.follows(self.store.holders.organisation_of(holder_id)):
            raise NotFound(f"porteur de projet inconnu : {holder_id}")

    def save_holder(
        self, holder: HolderProfile, *, create: bool = False, actor: User | None = None
    ) -> HolderProfile:
        """Store one profile and return it as stored; with ``create``, an existing id is a
        conflict and nothing is written. A counsellor stores into their organisation only."""
        holder = accounts.into_caseload(holder, actor)
        if not create:
            self._check_follows(holder.key, actor)
        self.store.holders.put(holder, create=create)
        stored = self.store.holders.get(holder.key)  # as stored: an edit keeps the organisation
        self._keep_vectors([stored])
        return stored

    def _keep_vectors(self, holders: list[HolderProfile]) -> None:
        # Stored now so that the holder's first match never encodes; a failure only costs that.
        try:
            self.ranker.keep_vectors(holders)
        except MatcherError as error:
            log.warning("could not store holders' vectors: %s", type(error).__name__)

    def embed_holders(self, progress: Progress | None = None) -> int:
        """Give every stored holder without a current vector one (after a bulk insert, or a change
        of encoder), in batches; returns how many were embedded. ``progress(read, total)``."""
        encoder, total = self.encoder, self.store.holders.count()
        embedded, read, after = 0, 0, ""
        while True:
            lacking, last = self.store.holders.lacking_vectors(
                encoder.identity, encoder.dim, after, HOLDER_BATCH
            )
            if last is None:
                break
            embedded += self.ranker.keep_vectors(lacking) if lacking else 0
            read, after = read + HOLDER_BATCH, last
            if progress:
                progress(min(read, total), total)
        return embedded

    def holder(self, holder_id: str, actor: User | None = None) -> HolderProfile:
        """The stored profile; NotFound for an unknown id, or one outside ``actor``'s caseload."""
        self._check_follows(holder_id, actor)
        return self.store.holders.get(holder_id)

    def holders(
        self, query: HolderQuery = HolderQuery(), actor: User | None = None
    ) -> tuple[int, list[HolderProfile]]:
        """(total matching, one page) of profiles in id order; all of them without a limit."""
        return self.store.holders.page(accounts.caseload_query(query, actor))

    def caseload(self, query: HolderQuery, actor: User | None = None) -> tuple[int, list[CaseloadEntry]]:
        """(total, one page) of ``actor``'s holders with the dates of their last match and digest."""
        return self.store.holders.caseload(accounts.caseload_query(query, actor))

    def erase_holder(self, holder_id: str, actor: User | None = None) -> None:
        """Right to erasure: the profile, its feedback and its sent-suggestion history."""
        self._check_follows(holder_id, actor)
        erased = self.store.holders.get(holder_id)
        self.store.holders.delete(holder_id)
        self.ranker.forget(erased)
        self.ranker.holder_index.forget(holder_id)

    def record_feedback(
        self,
        holder_id: str,
        opportunity_id: str,
        verdict: Verdict,
        comment: str | None = None,
        actor: User | None = None,
    ) -> None:
        """Keep a holder's verdict on an offer; « not_relevant » removes it from their matches."""
        self._check_follows(holder_id, actor)
        comment = " ".join((comment or "").split())[:500] or None
        self.store.holders.add_feedback(holder_id, opportunity_id, verdict, comment)

    # The methods below take a profile read by ``holder(id, actor)``: the scope is checked then.

    def feedback(self, holder: HolderProfile) -> list[Feedback]:
        """The verdicts given for a stored holder, newest first."""
        return self.store.holders.feedback_of(holder.key)

    def holder_history(self, holder: HolderProfile) -> HolderHistory:
        """The verdicts, e-mailed suggestions and saved widenings of a stored holder, newest first."""
        sends = sorted(self.store.ledger.sends_of(holder.key), key=lambda send: send[1], reverse=True)
        return HolderHistory(self.feedback(holder), sends, self.store.holders.widenings_of(holder.key))

    def widened(self, holder: HolderProfile, constraint: str, value: Any) -> HolderProfile:
        """``holder`` with one constraint widened (not stored); InvalidRecord for a bad value."""
        try:
            record = widened_record(holder, constraint, value)
        except ValueError as error:
            raise InvalidRecord(f"porteur {holder.id}", [("elargir", str(error))]) from None
        return self.validate_holder(record, f"porteur {holder.id}")

    def save_widening(
        self, holder_id: str, constraint: str, value: Any, actor: User | None = None
    ) -> HolderProfile:
        """Widen one constraint in the stored profile and keep it in the holder's history."""
        stored = self.holder(holder_id, actor)
        widened = self.widened(stored, constraint, value)
        # What the history keeps is what changed, as validated (codes, not what was typed).
        before, after = getattr(stored, constraint), getattr(widened, constraint)
        change = [v for v in after if v not in before] if isinstance(after, list) else after
        if change in ([], None) or change == before:
            raise InvalidRecord(f"porteur {holder_id}", [("elargir", "ce critère est déjà celui du profil")])
        with self.store.database.session() as session:
            self.store.holders.save(session, widened)
            self.store.holders.save_widening(
                session, holder_id, constraint, change, actor.name if actor else "ligne de commande"
            )
        return widened

    def match_holder(self, holder: HolderProfile, top: int = 10) -> MatchResult:
        """A stored holder's matches, noted as their last match."""
        result = self.match(holder, top=top)
        self.count_shown([m.opportunity_id for m in result.matches], SEARCH)
        try:
            self.store.holders.mark_matched(holder.key, utcnow())
        except MatcherError as error:  # the date is bookkeeping: the matches still stand
            log.warning("could not note the match date of a holder: %s", type(error).__name__)
        return result

    def digest_opted_in(self, holder_id: str) -> bool:
        """Whether the stored holder asks for the weekly digest."""
        return self.store.holders.opted_in(holder_id)

    def unsubscribe(self, holder_id: str) -> bool | None:
        """Stop the holder's digest: True if it changed, False if already off, None if erased."""
        return self.store.holders.unsubscribe(holder_id)

    @property
    def ledger(self) -> DigestLedger:
        """The digest's runs and send ledger (the digest job's own persistence)."""
        return self.store.ledger

    # --- freshness ---------------------------------------------------------------------------

    def prolong(
        self,
        opportunity_id: str,
        months: int = freshness.PROLONG_MONTHS,
        actor: User | None = None,
        today: date | None = None,
    ) -> Opportunity:
        """Push a published offer's expiry ``months`` later (from today when it has none or it
        is past); that counts as its update. InvalidRecord for an offer that is not published."""
        stored = self.editable(opportunity_id, actor)
        if stored.status != "published":
            problem = "seule une offre publiée se prolonge ; republiez-la d'abord"
            raise InvalidRecord(f"opportunité {opportunity_id}", [("status", problem)])
        expires = freshness.prolonged_expiry(stored.expires_on, today or date.today(), months)
        prolonged = stored.model_copy(update={"expires_on": expires})
        self.publish(prolonged, actor=actor)
        return prolonged

    def offers_due(self, today: date | None = None) -> list[DueOffer]:
        """Published offers still online that expire within ``freshness.EXPIRY_NOTICE`` or were
        not updated for ``freshness.STALE_AFTER``, in id order."""
        return self.store.reminders.due_offers(today or date.today())

    @property
    def reminders(self) -> ReminderLedger:
        """The reminders' ledger (the reminder job's own persistence)."""
        return self.store.reminders

    def counsellor_emails(self, holder: HolderProfile) -> tuple[str, ...]:
        """Where to tell a stored holder's counsellor: the address the profile names, else those
        of the active counsellor accounts of the holder's organisation."""
        return self.outreach.counsellor_emails(holder)

    # --- accounts --------------------------------------------------------------------------

    def create_account(
        self,
        name: str,
        role: Role | str,
        territories: list[str] | None = None,
        *,
        email: str | None = None,
        organisation: str | None = None,
        password: str | None = None,
        lifetime: timedelta | None = None,
    ) -> tuple[User, str]:
        """Create an account; returns it with its token, which is not stored and cannot be shown
        again. With a ``lifetime``, the token stops working after it (a new account replaces it)."""
        expires_at = None if lifetime is None else utcnow() + lifetime
        draft = accounts.draft_account(
            name,
            role,
            territories,
            email=email,
            organisation=organisation,
            password=password,
            expires_at=expires_at,
        )
        token = accounts.new_token()
        return self.store.accounts.create(draft, accounts.hash_token(token)), token

    def accounts(self) -> list[User]:
        """Every account, revoked ones included, by name."""
        return self.store.accounts.all()

    def revoke_account(self, name: str) -> User:
        """Revoke an account: its token and its web sessions stop working at once."""
        return self.store.accounts.revoke(" ".join(name.split()))

    def set_password(self, name_or_email: str, password: str) -> User:
        """Give an account a new password; its open web sessions end."""
        if problem := accounts.password_problem(password):
            raise InvalidRecord(f"compte {name_or_email!r}", [("password", problem)])
        return self.store.accounts.set_password(name_or_email.strip(), accounts.hash_password(password))

    def authenticate(self, token: str) -> User | None:
        """The active account holding ``token``, or None."""
        if not accounts.plausible_token(token):
            return None
        return self.store.accounts.by_token_hash(accounts.hash_token(token))

    def sign_in(self, email: str, password: str) -> WebSession:
        """Open a web session; SignInRefused otherwise, with one message whether the address is
        unknown, the password wrong or the account locked (so that it tells nobody which
        addresses have an account). MAX_FAILED_SIGN_INS attempts without success lock the
        account for LOCK_DURATION.

        Each attempt is counted before its password is checked, in one UPDATE: concurrent
        attempts cannot slip past the limit while the (slow, on purpose) hash is computed.
        """
        found = self.store.accounts.credentials(accounts.normal_email(email))
        if found is None:
            accounts.password_matches(None, password)  # the same time as for a known address
            raise SignInRefused(WRONG_CREDENTIALS)
        account = found.user.account_id
        locked = found.locked_until is not None and found.locked_until > utcnow()
        attempts = 0 if locked else self.store.accounts.count_attempt(account)
        if locked or attempts > accounts.MAX_FAILED_SIGN_INS:
            accounts.password_matches(None, password)
            raise SignInRefused(WRONG_CREDENTIALS)
        if not accounts.password_matches(found.password_hash, password):
            if attempts >= accounts.MAX_FAILED_SIGN_INS:
                self.store.accounts.lock(account, utcnow() + accounts.LOCK_DURATION)
            raise SignInRefused(WRONG_CREDENTIALS)
        self.store.accounts.clear_attempts(account)
        token, csrf = accounts.new_secret(), accounts.new_secret()
        self.store.accounts.open_session(found.user.account_id, accounts.hash_token(token), csrf)
        return WebSession(token, csrf, found.user)

    def web_session(self, token: str) -> WebSession | None:
        """The live session behind a cookie's token, or None (unknown, idle, revoked)."""
        if not token or len(token) > 200:
            return None
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        found = self.store.accounts.session_user(accounts.hash_token(token), idle)
        return None if found is None else WebSession(token, found[1], found[0])

    def sign_out(self, token: str) -> None:
        """End a web session."""
        self.store.accounts.close_session(accounts.hash_token(token))

    # --- matching --------------------------------------------------------------------------

    def match(self, profile: HolderProfile, top: int = 10, today: date | None = None) -> MatchResult:
        """The ``top`` best opportunities for one profile, explained."""
        return self.match_many([profile], top=top, today=today)[0]

    def match_many(
        self,
        profiles: list[HolderProfile],
        top: int = 10,
        today: date | None = None,
        among: set[str] | None = None,
    ) -> list[MatchResult]:
        """Match many profiles in one pass; ``among`` restricts the candidates to those ids."""
        return self.ranker.match_many(profiles, top, today or date.today(), among)

    def candidates(
        self, opportunity_id: str, top: int = 10, today: date | None = None
    ) -> list[tuple[HolderProfile, Match]]:
        """Holders who share their profile with territories, ranked by fit to one offer; the
        reasons speak of the holder to the territory's officer, in the third person."""
        return self.ranker.candidates(opportunity_id, top, today or date.today())

    # --- the learned ranker ----------------------------------------------------------------

    def train_ranker(
        self, grades: dict[str, dict[str, int]] | None = None, today: date | None = None
    ) -> TrainingReport:
        """Train a candidate ranker on ``grades`` (a labelled set of stored holders) and the stored
        feedback when there is enough; saved as the home's candidate, not yet used."""
        return train(self.ranker, self.store, self.settings.home, grades or {}, today or date.today())

    def evaluate_ranker(
        self, grades: dict[str, dict[str, int]] | None = None, today: date | None = None
    ) -> RankerComparison:
        """Whether the candidate beats the ranker in use, holder by holder on the same labels."""
        return compare(self.ranker, self.store, self.settings.home, grades or {}, today or date.today())

    def adopt_ranker(self) -> Path:
        """Put the candidate in use (the caller checked it beats the current one)."""
        path = adopt(self.settings.home)
        self.ranker.scorer = load_scorer(path)
        return path

    # --- state -----------------------------------------------------------------------------

    def health(self) -> Health:
        """The database's and the index's state, for monitoring; never raises for a dead database."""
        index = self.keeper.index
        indexed = 0 if index is None else len(index)
        encoder = None if index is None else index.encoder_identity
        try:
            opportunities, holders = self.store.catalogue.count(), self.store.holders.count()
            seq = self.store.catalogue.seq()
        except (MatcherError, SQLAlchemyError) as error:
            return Health(
                database_ok=False,
                database_error=f"base de données injoignable ({type(error).__name__})",
                index_loaded=index is not None,
                indexed=indexed,
                encoder=encoder,
            )
        return Health(
            database_ok=True,
            opportunities=opportunities,
            holders=holders,
            index_loaded=index is not None,
            indexed=indexed,
            encoder=encoder,
            index_up_to_date=None if index is None else seq == self.keeper.seq,
        )

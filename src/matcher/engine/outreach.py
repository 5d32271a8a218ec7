"""Officers' view of their offers' reach: listings with impressions and interest, candidates
under pseudonyms, and contacts proposed through the holder's counsellor.

An officer never learns who a candidate is: they see a pseudonym (stable, keyed, not
reversible), a commune, a project and a fit. A proposed contact goes to the holder's
counsellor, who asks the holder; only then may the holder and the officer meet.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterable
from datetime import date, datetime, time
from functools import cached_property

from matcher.accounts import Role, User
from matcher.config import PRIVATE_FILE, Settings
from matcher.domain import (
    Candidacy,
    ContactProposal,
    HolderProfile,
    HolderQuery,
    Match,
    OfferStanding,
    Opportunity,
    organisation_key,
)
from matcher.errors import AlreadyExists, MatcherError, NotFound
from matcher.store import Store

log = logging.getLogger(__name__)

#: Where the key for candidate pseudonyms lives when MATCHER_SECRET_KEY is not set.
PSEUDONYM_KEY_FILE = "pseudonym.key"
#: Impression channels: a counsellor's matches, a weekly e-mail.
SEARCH, DIGEST = "search", "digest"


def month_start(day: date) -> date:
    return day.replace(day=1)


class Outreach:
    """Impressions, listings, candidacies and contact proposals over one store."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store

    @cached_property
    def pseudonym_key(self) -> bytes:
        """MATCHER_SECRET_KEY, else a random key kept in the home (pseudonyms then survive a
        restart)."""
        if self.settings.secret_key:
            return self.settings.secret_key.encode("utf-8")
        path = self.settings.home / PSEUDONYM_KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as file:
            key = secrets.token_bytes(32)
            file.write(key)
        return key

    def pseudonym(self, holder_id: str) -> str:
        """Stable per holder, not reversible without the key (holder ids are easy to guess)."""
        digest = hmac.new(self.pseudonym_key, b"pseudonym:" + holder_id.encode("utf-8"), hashlib.sha256)
        return f"Porteur·se {digest.hexdigest()[:6].upper()}"

    def note_shown(self, opportunity_ids: Iterable[str], channel: str, day: date) -> None:
        """Count one impression per offer shown; a statistic, so a failure only logs."""
        try:
            self.store.outreach.count_impressions(opportunity_ids, channel, day)
        except MatcherError as error:
            log.warning("could not count the offers shown (%s): %s", channel, type(error).__name__)

    def standings(self, actor: User | None, today: date) -> list[OfferStanding]:
        """The offers ``actor`` publishes for (every offer for an admin or the command line),
        most recently changed first, with this month's impressions and interest."""
        territories = None if actor is None or actor.role is Role.admin else actor.territories
        listings = self.store.catalogue.listings(territories)
        ids = [listing.opportunity.id for listing in listings]
        since = month_start(today)
        shown = self.store.outreach.impressions(ids, since)
        # The month as the impressions count it: from midnight, local time, of its first day.
        interested = self.store.holders.interested_counts(ids, datetime.combine(since, time()).astimezone())
        return [
            OfferStanding(
                listing,
                searches=shown.get(listing.opportunity.id, {}).get(SEARCH, 0),
                digests=shown.get(listing.opportunity.id, {}).get(DIGEST, 0),
                interested=interested.get(listing.opportunity.id, 0),
            )
            for listing in listings
        ]

    def candidacies(self, opportunity_id: str, ranked: list[tuple[HolderProfile, Match]]) -> list[Candidacy]:
        """Ranked candidates as an officer may see them, with the contacts already proposed."""
        proposed = self.store.outreach.proposals(opportunity_id, [h.key for h, _ in ranked])
        return [
            Candidacy(
                pseudonym=self.pseudonym(holder.key),
                commune=holder.origin.commune if holder.origin else None,
                department=holder.origin.department if holder.origin else None,
                project=holder.project,
                match=match,
                proposed_at=proposed.get(holder.key),
            )
            for holder, match in ranked
        ]

    def propose(self, opportunity: Opportunity, pseudonym: str, actor: User | None) -> ContactProposal:
        """Note a contact proposed for the sharing holder behind ``pseudonym``; NotFound when no
        such holder shares their profile, AlreadyExists when it was proposed already."""
        _, sharing = self.store.holders.page(HolderQuery(share_with_territories=True))
        holder = next((h for h in sharing if self.pseudonym(h.key) == pseudonym), None)
        if holder is None:
            raise NotFound(f"candidat·e inconnu·e ou qui ne partage plus son profil : {pseudonym}")
        recipients = self.counsellor_emails(holder)
        if not recipients:
            raise NotFound(
                f"{pseudonym} n'a pas de conseiller·e joignable par e-mail : la mise en relation "
                "ne peut pas être proposée"
            )
        officer = actor.name if actor else "ligne de commande"
        if not self.store.outreach.propose(opportunity.id, holder.key, officer):
            raise AlreadyExists(f"une mise en relation avec {pseudonym} a déjà été proposée pour cette offre")
        return ContactProposal(opportunity, holder, officer, actor.email if actor else None, recipients)

    def withdraw(self, proposal: ContactProposal) -> None:
        """Forget a proposal whose message could not be sent, so that it can be proposed again."""
        self.store.outreach.withdraw(proposal.opportunity.id, proposal.holder.key)

    def counsellor_emails(self, holder: HolderProfile) -> tuple[str, ...]:
        """The holder's own counsellor's address, else those of their organisation's counsellors."""
        if holder.counsellor and holder.counsellor.email:
            return (holder.counsellor.email,)
        organisation = organisation_key(holder.organisation)
        return tuple(
            user.email
            for user in self.store.accounts.all()
            if user.role is Role.counsellor
            and user.active
            and user.email
            and user.organisation
            and organisation_key(user.organisation) == organisation
        )

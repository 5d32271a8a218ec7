"""Officers' view of their offers' reach, on a real SQLite store over the sample data: listings
with impressions and interest (counts, never who), the audience of a draft, candidacies under
pseudonyms, contact proposals, and the freshness rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from matcher.accounts import Role, User
from matcher.domain import Listing, Opportunity
from matcher.engine import Engine
from matcher.engine.outreach import DIGEST, SEARCH
from matcher.errors import AlreadyExists, NotFound, OutOfScope
from matcher.freshness import EXPIRY_NOTICE, STALE_AFTER, Freshness, freshness
from matcher.store.schema import ContactProposalRow, ImpressionRow

CREUSE = "Communauté de communes Creuse Grand Sud"
BAKERY = "rep-001-boulangerie-felletin"


@pytest.fixture
def officer(sample_engine: Engine) -> User:
    user, _ = sample_engine.create_account(
        "Agent Creuse",
        Role.officer,
        [CREUSE],
        email="agent@creuse.example",
        password="un mot de passe assez long",
    )
    return user


def test_standings_list_only_the_officers_territory_with_counts_of_this_month(
    sample_engine: Engine, officer: User
) -> None:
    today = date.today()
    holder = sample_engine.holder("h-028")  # a takeover near-by enough to be shown the bakery
    shown = [m.opportunity_id for m in sample_engine.match_holder(holder, top=10).matches]
    sample_engine.outreach.note_shown([BAKERY, BAKERY], DIGEST, today)
    sample_engine.outreach.note_shown(
        [BAKERY], DIGEST, today.replace(day=1) - timedelta(days=1)
    )  # last month
    sample_engine.record_feedback("h-028", BAKERY, "interested")
    sample_engine.record_feedback("h-001", BAKERY, "interested")
    sample_engine.record_feedback("h-001", BAKERY, "interested")  # the same holder again: once
    sample_engine.record_feedback("h-005", BAKERY, "interested")
    sample_engine.record_feedback("h-005", BAKERY, "not_relevant")  # their latest word: not counted

    standings = {s.listing.opportunity.id: s for s in sample_engine.standings(actor=officer, today=today)}
    assert {s.listing.opportunity.territory for s in standings.values()} == {CREUSE}
    assert len(standings) == 5
    bakery = standings[BAKERY]
    assert bakery.searches == shown.count(BAKERY)
    assert bakery.digests == 2 and bakery.interested == 2
    everything = sample_engine.standings(actor=None, today=today)
    assert len(everything) == sample_engine.store.catalogue.count()


def test_impression_rows_hold_counts_and_never_who(sample_engine: Engine) -> None:
    sample_engine.match_holder(sample_engine.holder("h-001"), top=5)
    columns = set(ImpressionRow.__table__.columns.keys())
    assert columns == {"opportunity_id", "day", "channel", "count"}
    with sample_engine.store.database.session() as session:
        rows = session.query(ImpressionRow).all()
    assert rows and {r.channel for r in rows} == {SEARCH} and sum(r.count for r in rows) == 5


def test_the_audience_of_a_draft_counts_holders_whose_hard_constraints_let_it_through(
    sample_engine: Engine,
) -> None:
    stored = sample_engine.opportunity(BAKERY)
    reachable = sample_engine.audience(stored)
    assert 0 < reachable < sample_engine.store.holders.count()
    draft = stored.model_copy(
        update={"id": "rep-draft", "price_eur": 10_000_000}
    )  # beyond every budget given
    budgets = [h.budget_eur for h in sample_engine.holders()[1]]
    assert sample_engine.audience(draft) <= sum(b is None for b in budgets)
    assert sample_engine.audience(stored.model_copy(update={"status": "archived"})) == 0


def test_candidacies_are_pseudonymous_and_scoped_to_the_officers_territory(
    sample_engine: Engine, officer: User
) -> None:
    candidacies = sample_engine.candidacies(BAKERY, actor=officer, top=20)
    assert candidacies
    holders = {h.key: h for h in sample_engine.holders()[1]}
    for candidacy in candidacies:
        assert candidacy.pseudonym.startswith("Porteur·se ")
        assert not any(h.name and h.name in candidacy.pseudonym for h in holders.values())
    other = next(o for o in sample_engine.opportunities()[1] if o.territory != CREUSE)
    with pytest.raises(OutOfScope):
        sample_engine.candidacies(other.id, actor=officer)


def test_a_proposal_names_the_counsellor_once_and_is_erased_with_the_holder(
    sample_engine: Engine, officer: User
) -> None:
    candidacy = sample_engine.candidacies(BAKERY, actor=officer, top=20)[0]
    proposal = sample_engine.propose_contact(BAKERY, candidacy.pseudonym, actor=officer)
    holder = proposal.holder
    assert holder.email not in proposal.counsellor_emails and proposal.counsellor_emails
    assert proposal.officer_email == "agent@creuse.example"
    with pytest.raises(AlreadyExists):
        sample_engine.propose_contact(BAKERY, candidacy.pseudonym, actor=officer)
    again = next(
        c
        for c in sample_engine.candidacies(BAKERY, actor=officer, top=20)
        if c.pseudonym == candidacy.pseudonym
    )
    assert again.proposed_at is not None
    with pytest.raises(NotFound):
        sample_engine.propose_contact(BAKERY, "Porteur·se 000000", actor=officer)
    sample_engine.erase_holder(holder.key)
    with sample_engine.store.database.session() as session:
        assert session.query(ContactProposalRow).count() == 0


def test_a_withdrawn_proposal_can_be_made_again(sample_engine: Engine, officer: User) -> None:
    candidacy = sample_engine.candidacies(BAKERY, actor=officer, top=20)[0]
    sample_engine.withdraw_proposal(sample_engine.propose_contact(BAKERY, candidacy.pseudonym, actor=officer))
    assert sample_engine.propose_contact(BAKERY, candidacy.pseudonym, actor=officer).holder.key


# --- freshness ---------------------------------------------------------------------------------

TODAY = date(2026, 12, 2)


def listing(expires_on: date | None, updated: date, status: str = "published") -> Listing:
    offer = Opportunity.model_validate(
        {
            "id": "act-x",
            "kind": "activity",
            "title": "Médecin",
            "description": "Un cabinet",
            "territory": CREUSE,
            "location": {"lat": 45.9, "lon": 2.2, "department": "23"},
            "expires_on": expires_on,
            "status": status,
        }
    )
    moment = datetime.combine(updated, datetime.min.time(), tzinfo=UTC)
    return Listing(offer, moment, moment)


@pytest.mark.parametrize(
    ("expires_on", "updated", "status", "expected"),
    [
        (None, TODAY, "published", Freshness.current),
        (TODAY + EXPIRY_NOTICE, TODAY, "published", Freshness.expiring),
        (TODAY + EXPIRY_NOTICE + timedelta(days=1), TODAY, "published", Freshness.current),
        (TODAY - timedelta(days=1), TODAY, "published", Freshness.expired),
        (None, TODAY - STALE_AFTER, "published", Freshness.stale),
        (None, TODAY - STALE_AFTER + timedelta(days=1), "published", Freshness.current),
        (TODAY + timedelta(days=3), TODAY - STALE_AFTER, "published", Freshness.expiring),  # nearest first
        (TODAY - timedelta(days=1), TODAY, "archived", Freshness.archived),
    ],
)
def test_freshness_flags_the_nearest_deadline(
    expires_on: date | None, updated: date, status: str, expected: Freshness
) -> None:
    check = freshness(listing(expires_on, updated, status), TODAY)
    assert check.freshness is expected
    assert check.needs_attention == (expected in (Freshness.expiring, Freshness.stale, Freshness.expired))

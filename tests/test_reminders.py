"""The officers' reminders and the e-mails' action links, against a real SMTP server on loopback
(aiosmtpd) and the real HTTP stack (TestClient), on the sample data.

Clocks are explicit: every sample offer is stamped as updated on UPDATED, the reminders run on
CLOCK, when the Creuse Grand Sud offers expiring on 30 June 2027 are within the 30-day notice.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from matcher.accounts import Role
from matcher.cli import app as cli_app
from matcher.digest import run_digest
from matcher.digest.interest import FROM_THE_EMAIL
from matcher.digest.selection import digest_holders, select_digests
from matcher.digest.tokens import PROLONG_LINK, DigestNotConfigured, sign_link
from matcher.domain import Listing, Opportunity
from matcher.engine import Engine
from matcher.freshness import DueOffer, add_months, due_reasons, prolonged_expiry
from matcher.reminders import run_reminders
from matcher.store import Store
from matcher.store.schema import OpportunityRow, ReminderRow
from tests.test_digest import KEY, WEEK1, Mailbox, Received, stamped_copy
from tests.test_digest import mailbox as mailbox  # the fixture, shared

CLOCK = datetime(2027, 6, 10, 6, 0, tzinfo=UTC)
TODAY = date(2027, 6, 10)
UPDATED = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CREUSE = "Communauté de communes Creuse Grand Sud"
PERCHE = "Parc naturel régional du Perche"
PASSWORD = "un mot de passe assez long"
#: Creuse Grand Sud offers expiring on 30 June 2027, and one of its offers left stale.
CREUSE_EXPIRING = {"act-001-medecin-felletin", "cow-013-manufacture-aubusson"}
CREUSE_STALE = "rep-001-boulangerie-felletin"
PERCHE_STALE = "cow-037-le-percheron-mortagne-au-perche"
LINK = re.compile(r"(https://matcher\.test/(?:rappels/prolonger|rappels/archiver|interet)\?jeton=\S+)")


# --- the rules ---------------------------------------------------------------------------------


def test_months_are_calendar_months_and_prolonging_starts_from_the_later_of_expiry_and_today() -> None:
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 3, 15), -6) == date(2026, 9, 15)
    assert prolonged_expiry(date(2027, 6, 30), TODAY) == date(2027, 12, 30)
    assert prolonged_expiry(None, TODAY) == date(2027, 12, 10)
    assert prolonged_expiry(date(2027, 1, 1), TODAY) == date(2027, 12, 10)  # already past


def _offer(**changes: object) -> Opportunity:
    fields = {
        "id": "o-1", "kind": "takeover", "title": "Boulangerie", "description": "Fournil.",
        "territory": CREUSE, "location": {"commune": "Crocq", "department": "23", "lat": 45.85, "lon": 2.36},
    }  # fmt: skip
    return Opportunity.model_validate({**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "updated", "reasons"),
    [
        ({"expires_on": "2027-06-10"}, UPDATED, ("expiring",)),  # its last day
        ({"expires_on": "2027-07-10"}, UPDATED, ("expiring",)),  # the 30th day
        ({"expires_on": "2027-07-11"}, UPDATED, ()),
        ({"expires_on": "2027-06-09"}, LONG_AGO, ()),  # expired: already hidden from holders
        ({}, datetime(2026, 12, 10, 12, 0, tzinfo=UTC), ("stale",)),  # six months to the day
        ({}, datetime(2026, 12, 11, 12, 0, tzinfo=UTC), ()),
        ({"expires_on": "2027-06-20"}, LONG_AGO, ("expiring", "stale")),
        ({"status": "archived", "expires_on": "2027-06-20"}, LONG_AGO, ()),
        ({"status": "draft"}, LONG_AGO, ()),
    ],
)
def test_which_offers_are_due(
    changes: dict[str, object], updated: datetime, reasons: tuple[str, ...]
) -> None:
    assert due_reasons(Listing(_offer(**changes), updated, updated), TODAY) == reasons


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def home(sample_home: Path, tmp_path: Path) -> Path:
    """The sample offers, all updated on UPDATED but one Creuse and one Perche offer, left stale."""
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    store = Store(f"sqlite:///{home / 'matcher.db'}")
    with store.database.session() as session:
        session.execute(update(OpportunityRow).values(created_at=LONG_AGO, updated_at=UPDATED))
        for stale in (CREUSE_STALE, PERCHE_STALE):
            session.execute(
                update(OpportunityRow).where(OpportunityRow.id == stale).values(updated_at=LONG_AGO)
            )
    store.close()
    return home


def mailing(make_engine, home: Path, mailbox: Mailbox, sender: str = "suggestions@matcher.test") -> Engine:
    """An engine over ``home`` whose e-mails go to ``mailbox``, with links to matcher.test."""
    return make_engine(
        home,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        secret_key=KEY,
        mail_from=f"Matcher <{sender}>",
        public_url="https://matcher.test/",
    )


@pytest.fixture
def engine(home: Path, mailbox: Mailbox, make_engine) -> Engine:
    engine = mailing(make_engine, home, mailbox, "rappels@matcher.test")
    for name, territory, email in (
        ("Agent Creuse", CREUSE, "agent@creuse.example"),
        ("Agente Perche", PERCHE, "agente@perche.example"),
        ("Outil Creuse", CREUSE, None),  # a token for tools: no e-mail, no reminder
        ("Ancien agent", CREUSE, "ancien@creuse.example"),
    ):
        engine.create_account(
            name, Role.officer, [territory], email=email, password=PASSWORD if email else None
        )
    engine.revoke_account("Ancien agent")
    return engine


def reminder_rows(engine: Engine) -> list[tuple[int, str, str, str]]:
    with engine.store.database.session() as session:
        return list(
            session.execute(
                select(
                    ReminderRow.account_id, ReminderRow.opportunity_id, ReminderRow.reason, ReminderRow.period
                )
            )
        )


def by_recipient(mailbox: Mailbox) -> dict[str, Received]:
    received = {}
    for message in mailbox.received:
        (recipient,) = message.recipients
        assert recipient not in received, f"{recipient} a reçu deux e-mails"
        received[recipient] = message
    return received


def links(received: Received, offer_id: str) -> dict[str, str]:
    """The action links of one offer in a reminder's text part."""
    block = received.text.split(f"Référence : {offer_id}", 1)[1].split("\n-", 1)[0]
    found = {}
    for url in LINK.findall(block):
        found[urlsplit(url).path] = url.removeprefix("https://matcher.test")
    return found


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["jeton"][0]


@pytest.fixture
def client(engine: Engine, encoder) -> Iterator[TestClient]:
    from service.app import create_app

    with TestClient(create_app(engine.settings, encoder=encoder)) as opened:
        yield opened


# --- the run -----------------------------------------------------------------------------------


def test_each_officer_gets_their_territories_due_offers_once(engine: Engine, mailbox: Mailbox) -> None:
    summary = run_reminders(engine, clock=CLOCK)

    assert summary.complete and summary.officers_considered == 2  # active officers with an e-mail
    assert summary.emails_sent == 2 == len(mailbox.received) and summary.skipped == 0
    received = by_recipient(mailbox)
    assert set(received) == {"agent@creuse.example", "agente@perche.example"}
    creuse = received["agent@creuse.example"]
    assert creuse.message["Subject"] == "3 offres de votre territoire à vérifier sur matcher"
    assert creuse.message["From"].addresses[0].addr_spec == "rappels@matcher.test"
    assert [p.get_content_type() for p in creuse.message.iter_parts()] == ["text/plain", "text/html"]
    assert set(creuse.references) == {*CREUSE_EXPIRING, CREUSE_STALE}
    text = creuse.text
    assert text.index("Expirent dans les 30 jours") < text.index("Sans mise à jour depuis 6 mois")
    assert text.index(CREUSE_STALE) > text.index("Sans mise à jour depuis 6 mois")
    assert "Expire le 30 juin 2027 (dans 20 jours)." in text
    assert "Dernière mise à jour le 2 novembre 2026, il y a plus de 6 mois." in text
    for offer_id in creuse.references:
        found = links(creuse, offer_id)
        assert set(found) == {"/rappels/prolonger", "/rappels/archiver"}
        for url in found.values():
            assert url.replace("&", "&amp;") in creuse.html
        assert f"https://matcher.test/offres/{offer_id}/modifier" in text
    perche = received["agente@perche.example"]
    assert perche.message["Subject"] == "1 offre de votre territoire à vérifier sur matcher"
    assert perche.references == [PERCHE_STALE]
    agent = next(u for u in engine.accounts() if u.name == "Agent Creuse")
    assert sorted(r[1:] for r in reminder_rows(engine) if r[0] == agent.account_id) == sorted(
        [(o, "expiring", "2027-06-30") for o in CREUSE_EXPIRING] + [(CREUSE_STALE, "stale", "2026-11-02")]
    )
    rows = reminder_rows(engine)
    assert len(rows) == 4

    # A rerun, the same day or a week later, sends nothing: every reminder is in the ledger.
    for clock in (CLOCK, CLOCK + timedelta(days=7)):
        again = run_reminders(engine, clock=clock)
        assert again.complete and (again.emails_sent, again.skipped) == (0, 2)
    assert len(mailbox.received) == 2 and reminder_rows(engine) == rows


def test_a_prolonged_offer_is_reminded_again_before_its_new_expiry(engine: Engine, mailbox: Mailbox) -> None:
    run_reminders(engine, clock=CLOCK)
    prolonged = engine.prolong("act-001-medecin-felletin", today=TODAY)
    assert prolonged.expires_on == date(2027, 12, 30)
    with engine.store.database.session() as session:  # prolonged on CLOCK's day, not the real one
        session.execute(
            update(OpportunityRow).where(OpportunityRow.id == prolonged.id).values(updated_at=CLOCK)
        )
    assert run_reminders(engine, clock=CLOCK).emails_sent == 0  # not due any more
    first = len(mailbox.received)
    later = run_reminders(engine, clock=datetime(2027, 12, 5, 7, 0, tzinfo=UTC))
    creuse = next(r for r in mailbox.received[first:] if r.recipients == ["agent@creuse.example"])
    assert later.emails_sent >= 1 and "act-001-medecin-felletin" in creuse.references
    assert "Expire le 30 décembre 2027 (dans 25 jours)." in creuse.text


def test_a_server_failure_mid_run_then_a_rerun_sends_each_reminder_once(
    engine: Engine, mailbox: Mailbox
) -> None:
    mailbox.fail_from = 2  # the second e-mail and every later one: 451

    first = run_reminders(engine, clock=CLOCK)

    assert first.status == "interrupted" and not first.complete and first.stopped_by
    assert first.emails_sent == 1 == len(mailbox.received) and first.failed == 1
    assert "Relancez" in "\n".join(first.lines())
    (sent_to,) = by_recipient(mailbox)
    accounts = {u.account_id: u.email for u in engine.accounts()}
    assert {accounts[r[0]] for r in reminder_rows(engine)} == {sent_to}  # only what was accepted

    mailbox.heal()
    second = run_reminders(engine, clock=CLOCK)
    assert second.complete and second.emails_sent == 1
    assert set(by_recipient(mailbox)) == {"agent@creuse.example", "agente@perche.example"}
    assert run_reminders(engine, clock=CLOCK).emails_sent == 0


def test_dry_run_and_the_command_line(engine: Engine, home: Path, tmp_path: Path, monkeypatch) -> None:
    summary = run_reminders(engine, clock=CLOCK, dry_run_dir=tmp_path / "eml")
    assert summary.dry_run and summary.emails_sent == 2 and len(list((tmp_path / "eml").glob("*.eml"))) == 2
    assert reminder_rows(engine) == []
    with pytest.raises(DigestNotConfigured, match="MATCHER_SECRET_KEY"):
        run_reminders(engine, clock=CLOCK, settings=engine.settings.model_copy(update={"secret_key": None}))

    monkeypatch.setenv("MATCHER_HOME", str(home))
    monkeypatch.delenv("MATCHER_SECRET_KEY", raising=False)
    out = tmp_path / "apercu"
    result = CliRunner().invoke(cli_app, ["reminders", "--dry-run", str(out), "--now", CLOCK.isoformat()])
    assert result.exit_code == 0, result.output
    assert "agents considérés : 2" in result.output and "e-mails écrits : 2" in result.output
    assert "offres rappelées : 4" in result.output and "clé éphémère" in result.output
    assert len(list(out.glob("*.eml"))) == 2 and reminder_rows(engine) == []
    bad = CliRunner().invoke(cli_app, ["reminders", "--now", "lundi"])
    assert bad.exit_code == 2 and "--now" in bad.output


# --- the reminder's links ----------------------------------------------------------------------


def test_prolong_and_archive_change_nothing_on_get_and_act_once_on_post(
    engine: Engine, mailbox: Mailbox, client: TestClient
) -> None:
    run_reminders(engine, clock=CLOCK)
    creuse = by_recipient(mailbox)["agent@creuse.example"]
    doctor = links(creuse, "act-001-medecin-felletin")
    before = engine.opportunity("act-001-medecin-felletin")

    page = client.get(doctor["/rappels/prolonger"])
    assert page.status_code == 200 and "Prolonger jusqu&#39;au 30 décembre 2027" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert engine.opportunity("act-001-medecin-felletin") == before  # a mail scanner changes nothing
    done = client.post(doctor["/rappels/prolonger"])
    assert done.status_code == 200 and "reste en ligne jusqu&#39;au 30 décembre 2027" in done.text
    assert engine.opportunity("act-001-medecin-felletin").expires_on == date(2027, 12, 30)
    twice = client.post(doctor["/rappels/prolonger"])
    assert "déjà changé" in twice.text and engine.opportunity("act-001-medecin-felletin").expires_on == date(
        2027, 12, 30
    )

    bakery = links(creuse, CREUSE_STALE)
    page = client.get(bakery["/rappels/archiver"])
    assert page.status_code == 200 and "Archiver l&#39;offre" in page.text
    assert engine.opportunity(CREUSE_STALE).status == "published"
    done = client.post(bakery["/rappels/archiver"])
    assert done.status_code == 200 and "est archivée" in done.text
    assert engine.opportunity(CREUSE_STALE).status == "archived"
    assert "était déjà archivée" in client.post(bakery["/rappels/archiver"]).text
    assert "n&#39;est plus publiée" in client.post(bakery["/rappels/prolonger"]).text


def test_forged_swapped_expired_and_revoked_links_change_nothing(
    engine: Engine, mailbox: Mailbox, client: TestClient
) -> None:
    run_reminders(engine, clock=CLOCK)
    doctor = links(by_recipient(mailbox)["agent@creuse.example"], "act-001-medecin-felletin")
    prolong, archive = doctor["/rappels/prolonger"], doctor["/rappels/archiver"]
    before = engine.opportunity("act-001-medecin-felletin")
    token = token_of(prolong)
    agent = next(u for u in engine.accounts() if u.name == "Agent Creuse")
    claims = {"account": str(agent.account_id), "offer": before.id, "expires": str(before.expires_on)}
    expired = sign_link(KEY, PROLONG_LINK, claims, now=datetime.now(UTC) - timedelta(days=31))
    for method in ("get", "post"):
        forged = getattr(client, method)("/rappels/prolonger", params={"jeton": token[:-3] + "AAA"})
        assert forged.status_code == 400 and "invalide" in forged.text
        # A « Prolonger » token does not archive: each action signs under its own salt.
        swapped = getattr(client, method)("/rappels/archiver", params={"jeton": token})
        assert swapped.status_code == 400
        late = getattr(client, method)("/rappels/prolonger", params={"jeton": expired})
        assert late.status_code == 410 and "a expiré" in late.text and "30 jours" in late.text
        assert getattr(client, method)("/rappels/prolonger").status_code == 422
    engine.revoke_account("Agent Creuse")
    revoked = client.post(archive)
    assert revoked.status_code == 400 and "révoqué" in revoked.text
    assert engine.opportunity("act-001-medecin-felletin") == before


# --- « Ça m'intéresse » --------------------------------------------------------------------------


@pytest.fixture
def digest_engine(sample_home: Path, tmp_path: Path, mailbox: Mailbox, make_engine) -> Engine:
    engine = mailing(make_engine, stamped_copy(sample_home, tmp_path / "digest-home"), mailbox)
    for name, email in (
        ("Sophie Garnier", "s.garnier@bge-paris.example"),
        ("Autre conseil", "autre@bge.example"),
    ):
        engine.create_account(name, Role.counsellor, email=email, organisation="BGE Paris", password=PASSWORD)
    engine.create_account(
        "Conseil Rhône",
        Role.counsellor,
        email="c@pai-rhone.example",
        organisation="Ailleurs",
        password=PASSWORD,
    )
    return engine


def test_interest_is_recorded_on_post_only_and_the_counsellor_is_told(
    digest_engine: Engine, mailbox: Mailbox, encoder
) -> None:
    from service.app import create_app

    engine = digest_engine
    run_digest(engine, clock=WEEK1, holder_id="h-001")
    (digest,) = mailbox.received
    offer_id = digest.references[0]
    urls = LINK.findall(digest.text)
    assert len(urls) == len(digest.references) and all("/interet?jeton=" in u for u in urls)
    assert "Ça m'intéresse" in digest.html and urls[0].replace("&", "&amp;") in digest.html
    interest = urls[0].removeprefix("https://matcher.test")
    holder = engine.holder("h-001")

    with TestClient(create_app(engine.settings, encoder=encoder)) as client:
        page = client.get(interest)
        assert page.status_code == 200 and "Oui, ça m&#39;intéresse" in page.text
        assert engine.opportunity(offer_id).title in page.text.replace("&#39;", "'")
        assert engine.feedback(holder) == [] and len(mailbox.received) == 1  # GET changes nothing
        done = client.post(interest)
        assert done.status_code == 200 and "la personne qui vous accompagne en est prévenue" in done.text
        (feedback,) = engine.feedback(holder)
        assert (feedback.opportunity_id, feedback.verdict, feedback.comment) == (
            offer_id,
            "interested",
            FROM_THE_EMAIL,
        )
        assert len(mailbox.received) == 2
        told = mailbox.received[1]
        assert told.recipients == ["s.garnier@bge-paris.example"]  # the counsellor the profile names
        assert (
            told.message["Subject"]
            == f"Nathalie Ferreira s'intéresse à « {engine.opportunity(offer_id).title} »"
        )
        assert "Nathalie Ferreira (h-001)" in told.text and f"Référence : {offer_id}" in told.text
        assert "https://matcher.test/porteurs/h-001" in told.text
        again = client.post(interest)
        assert "déjà noté" in again.text and len(engine.feedback(holder)) == 1 and len(mailbox.received) == 2
        assert "déjà noté" in client.get(interest).text
        forged = client.post(interest[:-3] + "AAA")
        assert forged.status_code == 400 and len(engine.feedback(holder)) == 1

    interested = {s.listing.opportunity.id: s.interested for s in engine.standings()}
    assert interested[offer_id] == 1 and interested[digest.references[1]] == 0


def test_interest_without_a_reachable_counsellor_is_kept_and_logged_without_personal_data(
    digest_engine: Engine, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    from matcher.digest.interest import declare_interest

    engine = digest_engine
    # h-004's profile names no counsellor: every counsellor account of its organisation is told.
    holder = engine.holder("h-004")
    assert set(engine.counsellor_emails(holder)) == {"s.garnier@bge-paris.example", "autre@bge.example"}
    run_digest(engine, clock=WEEK1, holder_id="h-004")
    (digest,) = mailbox.received
    for name in ("Sophie Garnier", "Autre conseil"):
        engine.revoke_account(name)
    assert engine.counsellor_emails(holder) == ()
    token = token_of(LINK.findall(digest.text)[0])
    with caplog.at_level(logging.WARNING, logger="matcher.digest"):
        done = declare_interest(engine, engine.settings, token)
    assert done.recorded and done.told == [] and "parlez-lui" in done.message
    assert [f.verdict for f in engine.feedback(holder)] == ["interested"]
    assert "no counsellor reachable" in caplog.text
    for personal in ("h-004", holder.name, holder.email):
        assert personal and personal not in caplog.text
    assert len(mailbox.received) == 1
    # An offer archived since the e-mail is no longer of interest: nothing more is recorded.
    engine.archive(digest.references[1])
    second = declare_interest(engine, engine.settings, token_of(LINK.findall(digest.text)[1]))
    assert second.state == "unavailable" and len(engine.feedback(holder)) == 1


def test_unsubscribe_get_changes_nothing_post_does(digest_engine: Engine, mailbox: Mailbox, encoder) -> None:
    from service.app import create_app

    engine = digest_engine
    run_digest(engine, clock=WEEK1, holder_id="h-001")
    url = mailbox.received[0].message["List-Unsubscribe"].strip("<>").removeprefix("https://matcher.test")
    with TestClient(create_app(engine.settings, encoder=encoder)) as client:
        page = client.get(url)
        assert page.status_code == 200 and "Me désinscrire" in page.text and 'method="post"' in page.text
        state = client.get(url, headers={"Accept": "application/json"}).json()
        assert state["unsubscribed"] is False and "POST" in state["message"]
        assert engine.digest_opted_in("h-001")
        done = client.post(url)
        assert done.status_code == 200 and "ne recevrez plus" in done.text
        assert not engine.digest_opted_in("h-001")
        assert "déjà désinscrit" in client.get(url).text


# --- expired offers stay hidden ------------------------------------------------------------------


def test_the_digest_and_matches_never_show_an_expired_offer(digest_engine: Engine) -> None:
    engine = digest_engine
    holder = engine.holder("h-001")
    (before,) = select_digests(engine, [holder], WEEK1, 5)
    best = before.suggestions[0].opportunity
    assert best.id in [m.opportunity_id for m in engine.match(holder, today=WEEK1.date()).matches]
    # The offer's last day was yesterday; it was updated this week, so it is « new ».
    expired = best.model_copy(update={"expires_on": WEEK1.date() - timedelta(days=1)})
    with engine.store.database.session() as session:
        engine.store.catalogue.save(session, expired, now=WEEK1 - timedelta(days=1))
    engine.refresh()
    (after,) = select_digests(engine, digest_holders(engine, "h-001"), WEEK1, 5)
    assert best.id not in [s.opportunity.id for s in after.suggestions] and after.suggestions
    assert best.id not in [m.opportunity_id for m in engine.match(holder, today=WEEK1.date()).matches]
    # On its last day it is still shown.
    assert best.id in [m.opportunity_id for m in engine.match(holder, today=expired.expires_on).matches]


def test_due_offers_come_from_the_store_with_their_update_date(engine: Engine) -> None:
    due = {d.opportunity.id: d for d in engine.offers_due(TODAY)}
    assert CREUSE_EXPIRING | {CREUSE_STALE} <= set(due)
    assert isinstance(due[CREUSE_STALE], DueOffer) and due[CREUSE_STALE].reasons == ("stale",)
    assert due[CREUSE_STALE].listing.updated_at == LONG_AGO
    assert all(d.opportunity.status == "published" for d in due.values())

"""The e-mails' links in a real browser: ``matcher reminders`` and ``matcher digest`` run as an
operator runs them, their e-mails reach a real SMTP server on loopback (aiosmtpd), and Chromium
(Playwright) follows the links to ``matcher serve``; axe-core checks every page.

Following a link never changes anything (mail scanners do follow links): only the page's button
does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from matcher.config import Settings
from matcher.digest.message import long_date
from matcher.engine import Engine
from matcher.freshness import prolonged_expiry
from matcher.store.schema import OpportunityRow
from tests.serving import free_port, matcher_command, matcher_serve
from tests.test_digest import KEY, Mailbox
from tests.test_web import CHROMIUM, add_account, assert_accessible
from tests.test_web import browser as browser  # the fixture, shared

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

CREUSE = "Communauté de communes Creuse Grand Sud"
EXPIRING = "act-001-medecin-felletin"
STALE = "rep-001-boulangerie-felletin"
LINK = re.compile(r"https?://\S+/(?:rappels/prolonger|rappels/archiver|interet)\?jeton=\S+")


@dataclass
class Site:
    base: str
    home: Path
    mailbox: Mailbox
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A matcher command as the operator's scheduler runs it, beside the service."""
        return subprocess.run(
            [*matcher_command(), *args], env=self.env, capture_output=True, text=True, timeout=300
        )

    def engine(self) -> Engine:
        return Engine(Settings(home=self.home))


@pytest.fixture(scope="module")
def site(sample_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("liens")
    home = root / "home"
    shutil.copytree(sample_home, home)
    engine = Engine(Settings(home=home))
    doctor = engine.opportunity(EXPIRING)
    engine.publish(doctor.model_copy(update={"expires_on": date.today() + timedelta(days=10)}))
    with engine.store.database.session() as session:  # nobody touched the bakery for seven months
        long_ago = datetime.now(UTC) - timedelta(days=215)
        session.execute(update(OpportunityRow).where(OpportunityRow.id == STALE).values(updated_at=long_ago))
    engine.close()
    add_account(home, "Agent Creuse", "officer", "agent@creuse.example", CREUSE)
    add_account(home, "Conseillère BGE Paris", "counsellor", "conseil@bge.example", "BGE Paris")
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = {
        "MATCHER_SECRET_KEY": KEY,
        "MATCHER_SMTP_HOST": "127.0.0.1",
        "MATCHER_SMTP_PORT": str(controller.port),
        "MATCHER_MAIL_FROM": "Matcher <suggestions@matcher.test>",
    }
    try:
        with matcher_serve(home, root, **settings) as served:
            env = {**os.environ, "MATCHER_HOME": str(home), "MATCHER_PUBLIC_URL": served.base, **settings}
            yield Site(served.base, home, mailbox, env)
        assert served.process.returncode == 0, served.output
    finally:
        controller.stop()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.base, locale="fr-FR")
    opened = context.new_page()
    yield opened
    context.close()


def offer_links(text: str, offer_id: str) -> list[str]:
    block = text.split(f"Référence : {offer_id}", 1)[1].split("\n-", 1)[0]
    return LINK.findall(block)


def test_the_reminder_is_sent_once_and_its_links_prolong_or_archive_after_confirmation(
    page: Page, site: Site
) -> None:
    done = site.run("reminders")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "e-mails envoyés : 1" in done.stdout
    (reminder,) = [r for r in site.mailbox.received if r.recipients == ["agent@creuse.example"]]
    assert {EXPIRING, STALE} <= set(reminder.references)
    again = site.run("reminders")
    assert again.returncode == 0 and "e-mails envoyés : 0" in again.stdout
    assert len([r for r in site.mailbox.received if r.recipients == ["agent@creuse.example"]]) == 1

    prolong, _ = offer_links(reminder.text, EXPIRING)
    engine = site.engine()
    try:
        before = engine.opportunity(EXPIRING)
        until = prolonged_expiry(before.expires_on, date.today())
        page.goto(prolong)
        expect(page).to_have_title("Prolonger l'offre de 6 mois ? · matcher")
        expect(page.get_by_role("heading", name=before.title)).to_be_visible()
        assert_accessible(page, "prolonger")
        assert engine.opportunity(EXPIRING) == before  # following the link changed nothing
        page.get_by_role("button", name=f"Prolonger jusqu'au {long_date(until)}").click()
        expect(page.get_by_role("status")).to_have_text(
            f"C'est fait : « {before.title} » reste en ligne jusqu'au {long_date(until)}."
        )
        assert_accessible(page, "prolongée")
        assert engine.opportunity(EXPIRING).expires_on == until

        _, archive = offer_links(reminder.text, STALE)
        page.goto(archive)
        expect(page).to_have_title("Archiver l'offre ? · matcher")
        assert_accessible(page, "archiver")
        assert engine.opportunity(STALE).status == "published"
        page.get_by_role("button", name="Archiver l'offre").click()
        expect(page.get_by_role("status")).to_contain_text("est archivée")
        assert engine.opportunity(STALE).status == "archived"
        page.goto(archive)  # a second visit: nothing left to do, no button
        expect(page.get_by_role("status")).to_contain_text("était déjà archivée")
        expect(page.get_by_role("button", name="Archiver l'offre")).to_have_count(0)
    finally:
        engine.close()


def test_interest_and_unsubscribe_links_change_nothing_until_their_button_is_pressed(
    page: Page, site: Site
) -> None:
    done = site.run("digest", "--holder", "h-001")
    assert done.returncode == 0, done.stdout + done.stderr
    (digest,) = [r for r in site.mailbox.received if r.recipients == ["nathalie.ferreira@example.org"]]
    offer_id = digest.references[0]
    interest = offer_links(digest.text, offer_id)[0]
    engine = site.engine()
    try:
        holder = engine.holder("h-001")
        page.goto(interest)
        expect(page).to_have_title("Cette offre vous intéresse ? · matcher")
        expect(page.get_by_role("heading", name=engine.opportunity(offer_id).title)).to_be_visible()
        assert_accessible(page, "ça m'intéresse")
        page.reload()  # a scanner, a preview, a second look: still nothing recorded
        assert engine.feedback(holder) == []
        told_before = len(site.mailbox.received)
        page.get_by_role("button", name="Oui, ça m'intéresse").click()
        expect(page.get_by_role("status")).to_contain_text("la personne qui vous accompagne en est prévenue")
        assert_accessible(page, "intérêt noté")
        assert [(f.opportunity_id, f.verdict) for f in engine.feedback(holder)] == [(offer_id, "interested")]
        (told,) = site.mailbox.received[told_before:]
        assert told.recipients == ["s.garnier@bge-paris.example"]  # the counsellor her profile names
        assert "Nathalie Ferreira" in told.text and offer_id in told.text
        assert {s.listing.opportunity.id: s.interested for s in engine.standings()}[offer_id] == 1

        unsubscribe = digest.message["List-Unsubscribe"].strip("<>")
        page.goto(unsubscribe)
        expect(page).to_have_title("Ne plus recevoir les suggestions ? · matcher")
        assert_accessible(page, "désinscription")
        assert engine.digest_opted_in("h-001")
        page.get_by_role("button", name="Me désinscrire").click()
        expect(page.get_by_role("status")).to_contain_text("vous ne recevrez plus les suggestions")
        assert_accessible(page, "désinscrit")
        assert not engine.digest_opted_in("h-001")
    finally:
        engine.close()

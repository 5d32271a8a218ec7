"""The weekly digest against a real SMTP server on loopback (aiosmtpd), on the sample data.

Clocks are explicit: every sample opportunity is stamped as published on PUBLISHED, the first
digest runs on WEEK1 (its 7-day window covers PUBLISHED), the next one on WEEK2.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from matcher.cli import app as cli_app
from matcher.config import Settings
from matcher.digest import InvalidToken, run_digest, unsubscribe
from matcher.digest.selection import digest_holders, select_digests
from matcher.digest.tokens import DigestNotConfigured, holder_from_token, make_token
from matcher.domain import Opportunity, OpportunityQuery
from matcher.engine import Engine
from matcher.store import Store
from matcher.store.schema import DigestRunRow, HolderRow, OpportunityRow, SendRow
from tests.serving import free_port

#: Every test here runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("database")

DATA = Path(__file__).resolve().parents[1] / "data"
KEY = "clé-de-test-pour-signer-les-liens"
PUBLISHED = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
WEEK1 = datetime(2026, 11, 17, 7, 0, tzinfo=UTC)
WEEK2 = WEEK1 + timedelta(days=7)
LIMIT = 5
SELLER_EMAILS = {json.loads(line).get("contact_email") for line in (DATA / "opportunities.jsonl").open()} - {
    None
}


# --- a real SMTP server on loopback ----------------------------------------------------------


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    @property
    def references(self) -> list[str]:
        return re.findall(r"Référence : (\S+)", self.text)


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts, and fails on demand."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.attempts = 0
        self.fail_from: int | None = None  # the n-th DATA (1-based) and every later one fail
        self.failure = "451"  # or "drop": close the connection instead of answering
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return f"550 5.1.1 <{address}>: mailbox unavailable"  # real servers quote it
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.fail_from is not None and self.attempts >= self.fail_from:
            if self.failure == "drop":
                server.transport.close()
                return "421 4.3.2 closing"
            return "451 4.3.0 temporary failure, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"

    def heal(self) -> None:
        self.fail_from = None
        self.refused.clear()


@pytest.fixture
def mailbox() -> Mailbox:
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def stamped_copy(sample_home: Path, home: Path) -> Path:
    """A private copy of the sample home, every offer published on PUBLISHED."""
    shutil.copytree(sample_home, home)
    store = Store(Settings(home=home).db_url)
    with store.database.session() as session:
        session.execute(update(OpportunityRow).values(created_at=PUBLISHED, updated_at=PUBLISHED))
    store.close()
    return home


@pytest.fixture
def home(sample_home: Path, tmp_path: Path) -> Path:
    return stamped_copy(sample_home, tmp_path / "home")


@pytest.fixture
def engine(home: Path, mailbox: Mailbox, make_engine) -> Engine:
    return make_engine(
        home,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        secret_key=KEY,
        mail_from="Matcher <suggestions@matcher.test>",
        public_url="https://matcher.test/",
    )


def planned(engine: Engine, clock: datetime) -> dict[str, list[str]]:
    """Recipient -> opportunity ids the digest should send at ``clock`` (computes, sends nothing)."""
    holders = digest_holders(engine)
    return {
        d.holder.email: [s.opportunity.id for s in d.suggestions]
        for d in select_digests(engine, holders, clock, LIMIT)
        if d.suggestions
    }


@pytest.fixture(scope="module")
def week1_plan(sample_home: Path, tmp_path_factory: pytest.TempPathFactory, encoder) -> dict[str, list[str]]:
    """What the first digest should send to each recipient (each holder's selection is independent
    of the others', so a test keeping only some holders expects the same for those)."""
    engine = Engine(
        Settings(home=stamped_copy(sample_home, tmp_path_factory.mktemp("plan") / "home")), encoder
    )
    try:
        return planned(engine, WEEK1)
    finally:
        engine.close()


def keep_only(engine: Engine, emails: list[str]) -> None:
    """Opt every other holder out, to keep a test short."""
    keep = {h.id for h in engine.store.holders.page()[1] if h.email in emails}
    assert len(keep) == len(emails)
    with engine.store.database.session() as session:
        session.execute(update(HolderRow).where(HolderRow.id.not_in(keep)).values(digest_opt_in=False))


def ledger(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.store.database.session() as session:
        return list(session.execute(select(SendRow.holder_id, SendRow.opportunity_id, SendRow.message_id)))


def received_plan(mailbox: Mailbox) -> dict[str, list[str]]:
    plan: dict[str, list[str]] = {}
    for received in mailbox.received:
        (recipient,) = received.recipients
        assert recipient not in plan, f"{recipient} a reçu deux e-mails"
        plan[recipient] = received.references
    return plan


# --- the weekly run ----------------------------------------------------------------------------


def test_digest_arrives_complete_and_a_second_run_sends_nothing(
    engine: Engine, mailbox: Mailbox, week1_plan: dict[str, list[str]]
) -> None:
    expected = week1_plan
    holders = {h.email: h for h in digest_holders(engine)}
    assert 10 <= len(expected) < len(holders)  # some holders have nothing new: they are skipped

    summary = run_digest(engine, clock=WEEK1, limit=LIMIT)

    assert summary.status == "completed" and summary.complete
    assert summary.holders_considered == len(holders)
    assert summary.emails_sent == len(expected) == len(mailbox.received)
    assert summary.skipped == len(holders) - len(expected) and summary.failed == 0
    assert received_plan(mailbox) == expected
    rows = ledger(engine)
    assert len({r.message["Message-ID"] for r in mailbox.received}) == len(mailbox.received)
    assert len(rows) == sum(len(ids) for ids in expected.values())
    opportunities = {o.id: o for o in engine.store.catalogue.page(OpportunityQuery(limit=1000))[1]}

    for received in mailbox.received:
        message = received.message
        holder = holders[received.recipients[0]]
        ids = received.references
        assert message["To"].addresses[0].addr_spec == holder.email
        assert message["From"].addresses[0].addr_spec == "suggestions@matcher.test"
        count = len(ids)
        wording = "nouvelle opportunité" if count == 1 else "nouvelles opportunités"
        assert message["Subject"] == f"{count} {wording} à la campagne pour votre projet"
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        assert parsedate_to_datetime(message["Date"]).tzinfo is not None
        assert {(holder.id, i) for i in ids} == {(h, o) for h, o, m in rows if m == message["Message-ID"]}
        assert received.text.count("Pourquoi cette offre :") == count
        link = re.fullmatch(
            r"<(https://matcher\.test/v1/unsubscribe\?token=[^>]+)>", message["List-Unsubscribe"]
        )
        assert link, message["List-Unsubscribe"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = parse_qs(urlsplit(link[1]).query)["token"][0]
        assert holder_from_token(KEY, token) == holder.id
        assert link[1] in received.text and link[1].replace("&", "&amp;") in received.html
        for part in (received.text, received.html):
            assert not SELLER_EMAILS & set(re.findall(r"[\w.+-]+@[\w.-]+", part)), "contact d'un vendeur"
            if holder.counsellor and holder.counsellor.email:
                assert holder.counsellor.email in part
        for opportunity_id in ids:
            opportunity = opportunities[opportunity_id]
            for part in (received.text, html.unescape(received.html)):
                assert opportunity.title in part
                assert opportunity.location.commune in part
            # The engine's hard filters hold in what is sent.
            if holder.budget_eur is not None and opportunity.kind != "coworking" and opportunity.price_eur:
                assert opportunity.price_eur <= holder.budget_eur
            if holder.kinds:
                assert opportunity.kind in holder.kinds
            if holder.departments:
                assert opportunity.location.department in holder.departments

    with engine.store.database.session() as session:
        run = session.get(DigestRunRow, summary.run_id)
        assert (run.holders_considered, run.emails_sent, run.skipped, run.failed) == (
            len(holders),
            len(expected),
            len(holders) - len(expected),
            0,
        )
        assert run.status == "completed" and run.finished_at is not None and not run.dry_run

    again = run_digest(engine, clock=WEEK1, limit=LIMIT)
    next_week = run_digest(engine, clock=WEEK2, limit=LIMIT)
    for later in (again, next_week):
        assert (later.emails_sent, later.skipped, later.failed) == (0, len(holders), 0)
    assert len(mailbox.received) == len(expected)
    assert len(ledger(engine)) == len(rows)


def test_offers_sent_count_as_digest_impressions_for_their_officers(
    engine: Engine, mailbox: Mailbox, week1_plan: dict[str, list[str]]
) -> None:
    run_digest(engine, clock=WEEK1, limit=LIMIT)
    sent = Counter(i for ids in week1_plan.values() for i in ids)
    standings = engine.standings(today=WEEK1.date())
    counted = {s.listing.opportunity.id: s.digests for s in standings if s.digests}
    assert counted == dict(sent)
    run_digest(engine, clock=WEEK1, limit=LIMIT)  # nothing new to send: nothing more counted
    assert {
        s.listing.opportunity.id: s.digests for s in engine.standings(today=WEEK1.date()) if s.digests
    } == counted


@pytest.mark.parametrize("failure", ["451", "drop"])
def test_a_failure_mid_run_then_a_rerun_sends_each_email_exactly_once(
    engine: Engine, mailbox: Mailbox, week1_plan: dict[str, list[str]], failure: str
) -> None:
    expected = {k: week1_plan[k] for k in sorted(week1_plan)[:7]}
    nothing_new = next(h.email for h in digest_holders(engine) if h.email not in week1_plan)
    keep_only(engine, [*expected, nothing_new])
    mailbox.fail_from, mailbox.failure = 3, failure  # the 3rd message and all later ones fail

    first = run_digest(engine, clock=WEEK1, limit=LIMIT)

    assert first.status == "interrupted" and not first.complete
    assert first.emails_sent == 2 == len(mailbox.received) and first.failed == 1
    assert first.not_processed > 0 and first.stopped_by
    assert "Relancez" in "\n".join(first.lines())
    assert len({h for h, _, _ in ledger(engine)}) == 2  # only what the server accepted

    mailbox.heal()
    second = run_digest(engine, clock=WEEK1, limit=LIMIT)

    assert second.status == "completed" and second.emails_sent == len(expected) - 2
    assert received_plan(mailbox) == expected  # each recipient exactly once, with the planned items
    assert sorted(r.recipients[0] for r in mailbox.received) == sorted(expected)
    assert run_digest(engine, clock=WEEK1, limit=LIMIT).emails_sent == 0


def test_a_run_that_died_is_marked_interrupted_by_the_next(engine: Engine, mailbox: Mailbox) -> None:
    dead = engine.ledger.open_run(WEEK1, dry_run=False)  # as a killed process left it: « running »
    preview = engine.ledger.open_run(WEEK1, dry_run=True)  # dry runs take no lock: left alone
    summary = run_digest(engine, clock=WEEK1, limit=LIMIT)
    assert summary.complete
    assert any(f"L'envoi n° {dead}" in note and "interrompu" in note for note in summary.notes)
    with engine.store.database.session() as session:
        status = dict(session.execute(select(DigestRunRow.run_id, DigestRunRow.status)).all())
    assert status[dead] == "interrupted" and status[preview] == "running"
    assert status[summary.run_id] == "completed"


def test_a_refused_recipient_fails_alone_and_is_retried(
    engine: Engine, mailbox: Mailbox, week1_plan: dict[str, list[str]]
) -> None:
    expected = {k: week1_plan[k] for k in sorted(week1_plan)[:3]}
    keep_only(engine, list(expected))
    refused = sorted(expected)[1]
    mailbox.refused.add(refused)

    first = run_digest(engine, clock=WEEK1, limit=LIMIT)

    assert first.status == "completed" and first.failed == 1 and not first.complete
    assert first.emails_sent == len(expected) - 1
    assert "550" in first.failures[0][1]
    # The summary names the holder by id; the server's reply loses the address it quoted.
    assert refused not in first.failures[0][1] and refused not in "\n".join(first.lines())
    mailbox.heal()
    second = run_digest(engine, clock=WEEK1, limit=LIMIT)
    assert second.emails_sent == 1
    assert received_plan(mailbox) == expected


def test_a_holder_who_leaves_during_the_run_is_not_sent_to(
    engine: Engine, mailbox: Mailbox, week1_plan: dict[str, list[str]]
) -> None:
    expected = {k: week1_plan[k] for k in sorted(week1_plan)[:4]}
    keep_only(engine, list(expected))
    ids = sorted(h.id for h in digest_holders(engine))
    by_id = {h.id: h.email for h in digest_holders(engine)}

    def meanwhile(done: int, total: int) -> None:
        if done == 1:  # the service unsubscribes one holder and erases another
            unsubscribe(engine, KEY, make_token(KEY, ids[2]))
            engine.store.holders.delete(ids[3])

    summary = run_digest(engine, clock=WEEK1, limit=LIMIT, progress=meanwhile)

    assert summary.status == "completed" and summary.emails_sent == 2
    assert summary.withdrawn == 2 and summary.skipped == 2 and summary.failed == 0
    assert sorted(r.recipients[0] for r in mailbox.received) == sorted(by_id[i] for i in ids[:2])
    assert {h for h, _, _ in ledger(engine)} == set(ids[:2])


def _republish(engine: Engine, opportunity: Opportunity, when: datetime) -> None:
    with engine.store.database.session() as session:
        assert engine.store.catalogue.save(session, opportunity, now=when) in ("inserted", "updated")


def test_next_week_sends_only_what_is_new_and_not_already_sent(
    engine: Engine, mailbox: Mailbox, week1_plan: dict[str, list[str]]
) -> None:
    others = [k for k in sorted(week1_plan) if k != "nathalie.ferreira@example.org"][:5]
    keep_only(engine, ["nathalie.ferreira@example.org", *others])
    run_digest(engine, clock=WEEK1, limit=LIMIT)
    first = received_plan(mailbox)
    sent_once = ledger(engine)
    # An offer already sent to someone is updated during the week, and a new one is published.
    recipient, ids = next(iter(first.items()))
    updated = engine.store.catalogue.get(ids[0])
    updated = updated.model_copy(
        update={"description": updated.description + " Visites possibles le samedi."}
    )
    nurse = Opportunity.model_validate(
        {
            "id": "act-900-infirmiere-test",
            "kind": "activity",
            "title": "Infirmier·e libéral·e : tournées à domicile dans un canton sans infirmière",
            "description": "Le canton cherche une infirmière ou un infirmier diplômé d'État pour des soins "
            "à domicile : la dernière infirmière libérale part à la retraite et les patients âgés n'ont "
            "plus personne pour les pansements, les piqûres et le suivi. Cabinet meublé à disposition, "
            "logement de fonction, gare avec trains directs pour Paris à 15 minutes.",
            "sector": "sante",
            "territory": "Communauté de communes de test",
            "location": {"commune": "Château-Chinon (Ville)", "department": "58", "lat": 47.06, "lon": 3.93},
            "price_eur": 0,
            "housing": True,
            "contact_email": "recrutement@cc-test.example",
            "contact_name": "Mme Berthelot",
            "contact_phone": "03 86 85 00 00",
        }
    )
    _republish(engine, updated, WEEK1 + timedelta(days=2))
    _republish(engine, nurse, WEEK1 + timedelta(days=3))
    expected = planned(engine, WEEK2)

    summary = run_digest(engine, clock=WEEK2, limit=LIMIT)

    second = {r.recipients[0]: r for r in mailbox.received[len(first) :]}
    assert summary.emails_sent == len(second) == len(expected) >= 1
    assert {k: v.references for k, v in second.items()} == expected
    assert "nathalie.ferreira@example.org" in second  # the sample nurse gets the nurse offer
    for recipient_sent, received in second.items():
        assert set(received.references) <= {updated.id, nurse.id}
        assert not set(first.get(recipient_sent, [])) & set(received.references)  # nothing sent twice
        assert "depuis notre envoi du 17 novembre 2026" in received.text
        assert "recrutement@cc-test.example" not in received.message.as_string()
        # The territory's contact never reaches a holder: the counsellor is the go-between.
        for contact in ("recrutement@cc-test.example", "Berthelot", "03 86 85 00 00"):
            assert contact not in received.text and contact not in received.html
    one = next(r for r in second.values() if len(r.references) == 1)
    assert one.message["Subject"] == "1 nouvelle opportunité à la campagne pour votre projet"
    assert summary.skipped == summary.holders_considered - len(expected)
    assert recipient not in second or updated.id not in second[recipient].references
    assert len(ledger(engine)) == len(sent_once) + sum(len(v) for v in expected.values())


# --- unsubscribing -----------------------------------------------------------------------------


def _token(received: Received) -> str:
    url = received.message["List-Unsubscribe"].strip("<>")
    return parse_qs(urlsplit(url).query)["token"][0]


def test_unsubscribe_round_trip_over_http_stops_the_next_digest(
    engine: Engine,
    mailbox: Mailbox,
    week1_plan: dict[str, list[str]],
    encoder,
) -> None:
    from service.app import create_app

    others = [k for k in sorted(week1_plan) if k != "nathalie.ferreira@example.org"][:2]
    keep_only(engine, ["nathalie.ferreira@example.org", *others])
    run_digest(engine, clock=WEEK1, limit=LIMIT)
    by_recipient = {r.recipients[0]: r for r in mailbox.received}
    nathalie = by_recipient["nathalie.ferreira@example.org"]
    other_email, other = next((k, v) for k, v in by_recipient.items() if k != "nathalie.ferreira@example.org")
    token = _token(nathalie)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other_id = holder_from_token(KEY, _token(other))
    # Someone else's id under Nathalie's signature: refused as well.
    swapped = make_token("une autre clé", "h-001")

    with TestClient(create_app(engine.settings, encoder=encoder)) as client:
        for bad in (forged, swapped, "n'importe quoi"):
            response = client.get("/v1/unsubscribe", params={"token": bad})
            assert response.status_code == 400, bad
            assert "invalide" in response.text and response.headers["content-type"].startswith("text/html")
        response = client.get(
            "/v1/unsubscribe", params={"token": forged}, headers={"Accept": "application/json"}
        )
        assert response.status_code == 400 and "invalide" in response.json()["detail"]
        assert engine.store.holders.get("h-001").digest_opt_in

        # Following the link (a person, or a mail scanner) only shows a page with a button.
        response = client.get("/v1/unsubscribe", params={"token": token})
        assert response.status_code == 200 and "Me désinscrire" in response.text
        assert engine.store.holders.get("h-001").digest_opt_in
        response = client.post("/v1/unsubscribe", params={"token": token})
        assert response.status_code == 200 and "ne recevrez plus" in response.text
        again = client.get("/v1/unsubscribe", params={"token": token}, headers={"Accept": "application/json"})
        assert again.status_code == 200 and again.json()["unsubscribed"] is True
        assert "déjà" in again.json()["message"]
        # RFC 8058 one-click: the mail client POSTs to the List-Unsubscribe address.
        one_click = client.post(
            other.message["List-Unsubscribe"].strip("<>").removeprefix("https://matcher.test"),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200

    assert not engine.store.holders.get("h-001").digest_opt_in
    assert not engine.store.holders.get(other_id).digest_opt_in
    opted_in = {h.id for h in digest_holders(engine)}
    assert "h-001" not in opted_in and other_id not in opted_in

    # Something new that Nathalie would have received: the next digest does not reach her.
    best = engine.store.catalogue.get(nathalie.references[0])
    copy = best.model_copy(update={"id": "act-901-copie", "title": best.title + " (bis)"})
    _republish(engine, copy, WEEK2 - timedelta(days=1))
    (would_have,) = select_digests(engine, [engine.store.holders.get("h-001")], WEEK2, LIMIT)
    assert [s.opportunity.id for s in would_have.suggestions] == [copy.id]
    before = len(mailbox.received)
    run_digest(engine, clock=WEEK2, limit=LIMIT)
    unsubscribed = ("nathalie.ferreira@example.org", other_email)
    assert all(r.recipients[0] not in unsubscribed for r in mailbox.received[before:])


def test_forged_tokens_are_refused_with_a_french_message(engine: Engine) -> None:
    token = make_token(KEY, "h-001")
    payload, signature = token.split(".")
    for bad in (
        payload + "." + signature[::-1],
        payload.upper() + "." + signature,
        token[:-1],
        "",
        "abc.def",
    ):
        with pytest.raises(InvalidToken, match="lien de désinscription invalide"):
            unsubscribe(engine, KEY, bad)
    with pytest.raises(InvalidToken):
        unsubscribe(engine, "une autre clé", token)
    with pytest.raises(DigestNotConfigured, match="MATCHER_SECRET_KEY"):
        unsubscribe(engine, None, token)
    assert engine.store.holders.get("h-001").digest_opt_in
    outcome = unsubscribe(engine, KEY, token)
    assert outcome.changed and not engine.store.holders.get("h-001").digest_opt_in


def test_without_the_secret_key_unsubscribing_says_why_and_serve_warns(
    home: Path, encoder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from service.app import create_app

    settings = Settings(home=home)  # no MATCHER_SECRET_KEY
    with TestClient(create_app(settings, encoder=encoder)) as client:
        response = client.get("/v1/unsubscribe", params={"token": make_token(KEY, "h-001")})
    assert response.status_code == 503 and "MATCHER_SECRET_KEY" in response.text
    assert "clé secrète" in response.text and "Répondez à l&#39;e-mail" in response.text
    assert "MATCHER_SECRET_KEY is not set" in caplog.text

    import uvicorn

    monkeypatch.setenv("MATCHER_HOME", str(home))
    monkeypatch.delenv("MATCHER_SECRET_KEY", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)  # only the start-up messages
    started = CliRunner().invoke(cli_app, ["serve", "--port", "8123"])
    assert started.exit_code == 0 and "MATCHER_SECRET_KEY n'est pas défini" in started.output


def test_cli_unsubscribe_and_forged_token(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_HOME", str(home))
    monkeypatch.setenv("MATCHER_SECRET_KEY", KEY)
    runner = CliRunner()
    token = make_token(KEY, "h-002")

    forged = runner.invoke(cli_app, ["unsubscribe", token[:-2] + "xx"])
    assert forged.exit_code == 1 and "invalide" in forged.output
    done = runner.invoke(cli_app, ["unsubscribe", f"https://matcher.test/v1/unsubscribe?token={token}"])
    assert done.exit_code == 0, done.output
    assert "h-002" in done.output and "ne recevrez plus" in done.output
    store = Store(Settings(home=home).db_url)
    assert not store.holders.get("h-002").digest_opt_in
    store.close()


# --- selection rules, dry run, configuration ---------------------------------------------------


def test_not_relevant_and_nothing_new_mean_no_email(engine: Engine, mailbox: Mailbox, tmp_path: Path) -> None:
    nathalie = engine.store.holders.get("h-001")
    (before,) = select_digests(engine, [nathalie], WEEK1, LIMIT)
    first = [s.opportunity.id for s in before.suggestions]
    engine.store.holders.add_feedback("h-001", first[0], "not_relevant")
    (after,) = select_digests(engine, [nathalie], WEEK1, LIMIT)
    after_ids = [s.opportunity.id for s in after.suggestions]
    assert first[0] not in after_ids and after_ids[: len(first) - 1] == first[1:]

    # Everything is older than the first digest's 7-day window: nobody receives anything.
    keep_only(engine, [h.email for h in digest_holders(engine)][:8])
    late = run_digest(engine, clock=PUBLISHED + timedelta(days=8), limit=LIMIT)
    assert late.emails_sent == 0 and late.skipped == late.holders_considered > 0
    assert mailbox.received == []


def test_dry_run_writes_readable_eml_files_and_leaves_the_ledger_alone(
    engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "apercu"
    summary = run_digest(engine, clock=WEEK1, dry_run_dir=out, holder_id="h-001", limit=3)
    files = sorted(out.glob("*.eml"))
    assert summary.dry_run and summary.emails_sent == 1 and [f.name for f in files] == ["00001-h-001.eml"]
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    (expected,) = select_digests(engine, digest_holders(engine, "h-001"), WEEK1, 3)
    count = len(expected.suggestions)
    assert count >= 2
    assert message["Subject"] == f"{count} nouvelles opportunités à la campagne pour votre projet"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Bonjour Nathalie Ferreira,") and text.count("Référence : ") == count
    assert "Sophie Garnier (BGE Paris)" in text and "s.garnier@bge-paris.example" in text
    assert message["List-Unsubscribe"].startswith("<https://matcher.test/v1/unsubscribe?token=")
    assert ledger(engine) == []
    with engine.store.database.session() as session:
        assert session.scalar(select(func.count()).select_from(DigestRunRow).where(DigestRunRow.dry_run)) == 1
    # A dry run does not use up the week: the real run still sends to h-001.
    (still,) = select_digests(engine, digest_holders(engine, "h-001"), WEEK1, 3)
    assert [s.opportunity.id for s in still.suggestions] == re.findall(r"Référence : (\S+)", text)


def test_a_real_run_needs_the_secret_key_a_dry_run_says_it_uses_a_throwaway_one(
    engine: Engine, mailbox: Mailbox, tmp_path: Path
) -> None:
    settings = engine.settings.model_copy(update={"secret_key": None})
    with pytest.raises(DigestNotConfigured, match="MATCHER_SECRET_KEY"):
        run_digest(engine, clock=WEEK1, settings=settings)
    assert mailbox.received == [] and ledger(engine) == []
    summary = run_digest(
        engine, clock=WEEK1, settings=settings, dry_run_dir=tmp_path / "eml", holder_id="h-001"
    )
    assert summary.emails_sent == 1 and any("éphémère" in line for line in summary.lines())


def test_cli_digest_dry_run(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_HOME", str(home))
    monkeypatch.delenv("MATCHER_SECRET_KEY", raising=False)
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        cli_app,
        [
            "digest",
            "--dry-run",
            str(out),
            "--now",
            WEEK1.isoformat(),
            "--limit-per-holder",
            "2",
            "--holder",
            "h-001",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "porteurs considérés : 1" in result.output and "clé éphémère" in result.output
    files = list(out.glob("*.eml"))
    assert len(files) == 1 and "e-mails écrits : 1" in result.output
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message.get_body(("plain",)).get_content().count("Référence : ") <= 2
    bad = CliRunner().invoke(cli_app, ["digest", "--dry-run", str(out), "--now", "lundi"])
    assert bad.exit_code == 2 and "--now" in bad.output
    unknown = CliRunner().invoke(cli_app, ["digest", "--dry-run", str(out), "--holder", "h-999"])
    assert unknown.exit_code == 3


def test_figures_and_wording_of_an_item() -> None:
    from matcher.digest.message import intro, key_figures, subject
    from matcher.digest.selection import Suggestion
    from matcher.domain import Match

    def suggestion(kind: str, price: float | None, revenue: float | None = None) -> Suggestion:
        opportunity = Opportunity.model_validate(
            {
                "id": "x-1",
                "kind": kind,
                "title": "Titre",
                "description": "Description.",
                "territory": "Territoire",
                "location": {"commune": "Felletin", "department": "23", "lat": 45.9, "lon": 2.2},
                "price_eur": price,
                "revenue_eur": revenue,
            }
        )
        match = Match(
            rank=1, opportunity_id="x-1", score=0.5, components={}, reasons=[], warnings=[], title="Titre",
            kind=kind, commune="Felletin", department="23", distance_km=48.4, price_eur=price,
        )  # fmt: skip
        return Suggestion(match, opportunity)

    assert key_figures(suggestion("takeover", 120_000, 300_000), "Lyon 3e Arrondissement") == [
        "Prix demandé : 120 000 €",
        "Chiffre d'affaires : 300 000 €",
        "À 48 km de Lyon",
    ]
    assert key_figures(suggestion("coworking", 150), None) == ["Poste de travail : 150 € par mois", "À 48 km"]
    assert key_figures(suggestion("activity", 0), None)[0] == "Aucun investissement de départ demandé"
    assert key_figures(suggestion("activity", None), None)[0] == "Investissement de départ non communiqué"
    assert subject(1) == "1 nouvelle opportunité à la campagne pour votre projet"
    assert subject(3) == "3 nouvelles opportunités à la campagne pour votre projet"
    assert intro(1, True, WEEK1).startswith("Voici une offre publiée ou mise à jour ces sept derniers jours")
    assert "depuis notre envoi du 17 novembre 2026" in intro(2, False, WEEK1)

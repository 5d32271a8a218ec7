"""The counsellors' pages in a real browser: Debian's Chromium driven by Playwright, against
``matcher serve`` on loopback over a seeded home; axe-core checks every page.

Set ``MATCHER_SCREENSHOTS=docs`` to refresh the README's screenshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from matcher.config import Settings
from matcher.domain import HolderProfile
from matcher.engine import Engine
from tests.serving import Served, free_port, matcher_command, matcher_serve
from tests.test_digest import Mailbox

CHROMIUM = Path("/usr/bin/chromium")
DATA = Path(__file__).parents[1] / "data"
PASSWORD = "un mot de passe assez long"
#: The sample accounts: key -> (name, role, e-mail, organisation or territory).
ACCOUNTS = {
    "counsellor": ("Conseillère BGE Paris", "counsellor", "conseil@bge.example", "BGE Paris"),
    "elsewhere": (
        "Conseiller Initiative Rennes",
        "counsellor",
        "conseil@initiative.example",
        "Initiative Rennes",
    ),
    "locked": ("Conseiller distrait", "counsellor", "distrait@bge.example", "BGE Paris"),
    "officer": ("Agent Creuse", "officer", "agent@creuse.example", "Communauté de communes Creuse Grand Sud"),
}
BLOCKING_IMPACTS = {"serious", "critical"}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@dataclass
class Site:
    base: str
    tokens: dict[str, str]
    screenshots: Path
    home: Path
    #: The mail server the service sends through (contact proposals).
    mailbox: Mailbox

    def api(self, who: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def api_match_ids(self, holder_id: str, who: str = "counsellor") -> list[str]:
        response = self.api(who, "GET", f"/v1/holders/{holder_id}/matches?top=10")
        assert response.status_code == 200, response.text
        return [m["opportunity_id"] for m in response.json()["matches"]]


def add_account(home: Path, name: str, role: str, email: str, scope: str) -> str:
    """``matcher users add`` as an administrator runs it, the password on stdin; the token."""
    place = ["--organisation", scope] if role == "counsellor" else ["--territory", scope]
    done = subprocess.run(
        [*matcher_command(), "users", "add", "--role", role, "--name", name, "--email", email, *place,
         "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "MATCHER_HOME": str(home)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("mtk_") and "\n" not in token  # the token alone on stdout
    return token


@pytest.fixture(scope="module")
def site(sample_home: Path, communes_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    home = root / "home"
    shutil.copytree(sample_home, home)
    engine = Engine(Settings(home=home))
    engine.load_gazetteer(communes_csv)
    engine.close()
    tokens = {key: add_account(home, *account) for key, account in ACCOUNTS.items()}
    shots = Path(os.environ.get("MATCHER_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    mailbox = Mailbox()
    mailbox.port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    smtp.start()
    served: Served
    try:
        with matcher_serve(
            home, root, MATCHER_SMTP_HOST="127.0.0.1", MATCHER_SMTP_PORT=str(mailbox.port)
        ) as served:
            yield Site(served.base, tokens, shots, home, mailbox)
    finally:
        smtp.stop()
    assert served.process.returncode == 0, served.output


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.base, locale="fr-FR", viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, who: str = "counsellor", password: str = PASSWORD) -> None:
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(ACCOUNTS[who][2])
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def shown_offers(page: Page) -> list[str]:
    return page.locator("article.offre").evaluate_all("cards => cards.map(c => c.dataset.opportunity)")


def assert_accessible(page: Page, where: str) -> int:
    """No serious or critical axe-core violation; returns how many violations of any kind."""
    violations = Axe().run(page).response["violations"]
    blocking = [
        (v["id"], v["impact"], v["nodes"][0]["html"]) for v in violations if v["impact"] in BLOCKING_IMPACTS
    ]
    assert not blocking, (where, blocking)
    return len(violations)


def create_tight_holder(site: Site, holder_id: str) -> None:
    """A baker from Felletin looking within 50 km only: few offers pass, widenings are offered
    (within twice the distance: the nearest takeover in budget is 94 km away)."""
    body = {
        "id": holder_id,
        "name": "Paul Durand",
        "project": "Boulanger depuis quinze ans, je veux reprendre une boulangerie de village.",
        "kinds": ["takeover"],
        "origin": {"commune": "Felletin"},
        "max_distance_km": 50,
        "budget_eur": 60_000,
    }
    assert site.api("counsellor", "POST", "/v1/holders", json=body).status_code == 201


# --- signing in --------------------------------------------------------------------------------


def test_sign_in_leads_to_the_caseload_of_ones_own_organisation(page: Page, site: Site) -> None:
    page.goto("/porteurs")
    expect(page).to_have_url(re.compile(r"/connexion\?suite=/porteurs$"))
    assert_accessible(page, "connexion")
    page.screenshot(path=site.screenshots / "connexion.png")
    sign_in(page, password="pas le bon mot de passe")
    expect(page.get_by_role("alert")).to_contain_text("Adresse e-mail ou mot de passe incorrect.")
    sign_in(page)
    expect(page).to_have_url(re.compile(r"/porteurs$"))
    expect(page).to_have_title("Mes porteurs de projet · matcher")
    expect(page.get_by_role("link", name="Nathalie Ferreira")).to_be_visible()  # h-001, BGE Paris
    expect(page.get_by_role("link", name="Damien Roche")).to_have_count(0)  # h-002, another organisation
    page.get_by_label("Chercher par nom ou par commune").fill("ferreira")
    page.get_by_role("button", name="Chercher").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    assert_accessible(page, "porteurs")
    cookie = next(c for c in page.context.cookies() if c["name"] == "matcher_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http here
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté·e.")
    page.goto("/porteurs")
    expect(page).to_have_url(re.compile(r"/connexion"))


def test_repeated_wrong_passwords_lock_the_account(page: Page) -> None:
    for _ in range(5):
        sign_in(page, "locked", "ce n'est pas lui")
        expect(page.get_by_role("alert")).to_contain_text("Adresse e-mail ou mot de passe incorrect.")
    sign_in(page, "locked")  # even the right password waits for the lock to end
    expect(page.get_by_role("alert")).to_contain_text("verrouillé pendant 15 minutes")
    expect(page).to_have_url(re.compile(r"/connexion"))


# --- a new client ------------------------------------------------------------------------------


def test_a_client_created_through_the_form_gets_the_engines_matches(page: Page, site: Site) -> None:
    sign_in(page)
    page.get_by_role("link", name="Nouveau porteur de projet").click()
    assert_accessible(page, "nouveau porteur")
    page.get_by_role("button", name="Enregistrer et voir les offres").click()  # nothing filled in
    expect(page.locator("#erreur-project")).to_have_text("champ obligatoire manquant")
    expect(page.get_by_label("Le projet, dans ses mots (obligatoire)")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert_accessible(page, "formulaire en erreur")

    page.get_by_label("Nom et prénom").fill("Léa Fontaine")
    page.get_by_label("Le projet, dans ses mots (obligatoire)").fill(
        "Infirmière depuis douze ans à Paris, je voudrais m'installer en libéral dans un village où "
        "on manque d'infirmières, et faire des tournées à domicile."
    )
    page.get_by_label("Métiers").fill("infirmière")
    page.get_by_label("Offre d'activité").check()
    page.get_by_label("Budget (€)").fill("30 000 €")
    commune = page.get_by_label("Commune où elle vit")
    commune.press_sequentially("Limog", delay=30)
    expect(page.locator("#communes option").first).to_have_attribute("value", "Limoges (Haute-Vienne, 87)")
    commune.fill("Limoges (Haute-Vienne, 87)")
    page.get_by_label("Distance maximale (km)").fill("150")
    page.get_by_label("Accepte de recevoir chaque semaine des suggestions par e-mail").check()
    page.get_by_role("button", name="Enregistrer et voir les offres").click()

    expect(page).to_have_title("Offres pour Léa Fontaine · matcher")
    holder_id = page.url.rsplit("/", 1)[1]
    offers = shown_offers(page)
    assert offers and offers == site.api_match_ids(holder_id)  # same ids, same order
    first = page.locator("article.offre").first
    expect(first.locator(".adequation")).to_have_text(
        re.compile("Très proche du projet|Proche du projet|À discuter")
    )
    expect(first.locator(".chiffres")).to_contain_text(re.compile(r"à \d+ km"))
    assert first.locator(".raisons li").count() > 0
    # The map: the origin, the distance circle and one marker per offer.
    expect(page.locator(".marqueur-offre")).to_have_count(len(offers))
    expect(page.locator("path.cercle-distance")).to_have_count(1)
    first.get_by_text("Détail du score").click()
    expect(first.locator(".barres dt").first).to_have_text("Sens du projet")
    page.screenshot(path=site.screenshots / "correspondances.png")
    assert_accessible(page, "correspondances")
    stored = site.api("counsellor", "GET", f"/v1/holders/{holder_id}").json()
    assert stored["budget_eur"] == 30_000 and stored["origin"]["department"] == "87"
    assert stored["counsellor"]["organisation"] == "BGE Paris" and stored["digest_opt_in"] is True
    page.get_by_role("link", name="Modifier le profil").click()
    expect(page.get_by_label("Budget (€)")).to_have_value("30 000 €")
    expect(page.get_by_label("Commune où elle vit")).to_have_value("Limoges (Haute-Vienne, 87)")
    page.screenshot(path=site.screenshots / "formulaire.png", full_page=True)
    assert_accessible(page, "modifier")


def test_a_widening_button_adds_what_it_said_and_can_be_saved(page: Page, site: Site) -> None:
    create_tight_holder(site, "h-web-widen")
    sign_in(page)
    page.goto("/porteurs/h-web-widen")
    before = shown_offers(page)
    button = page.locator(".elargir button", has_text="Élargir à").first
    label, added = button.inner_text(), int(button.get_attribute("data-additional") or 0)
    assert re.fullmatch(r"Élargir à \d+ km \(\d+ offres? de plus\)", label) and added > 0
    button.click()
    expect(page.get_by_role("button", name="Enregistrer ce critère dans le profil")).to_be_visible()
    after = shown_offers(page)
    assert len(after) == min(len(before) + added, 10) and set(before) <= set(after)
    assert "elargir=max_distance_km" in page.url  # the widened search has its own address
    assert site.api_match_ids("h-web-widen") == before  # nothing saved yet
    page.get_by_role("button", name="Enregistrer ce critère dans le profil").click()
    expect(page.get_by_role("status")).to_have_text("Critère élargi enregistré dans le profil.")
    distance = float(re.search(r"Élargir à (\d+) km", label)[1])  # type: ignore[index]
    assert site.api("counsellor", "GET", "/v1/holders/h-web-widen").json()["max_distance_km"] == distance
    assert site.api_match_ids("h-web-widen") == shown_offers(page) == after
    page.get_by_role("link", name="Historique").click()
    expect(page.get_by_role("cell", name=f"Distance maximale portée à {distance:.0f} km")).to_be_visible()
    assert_accessible(page, "historique")


def test_not_relevant_removes_the_offer_from_the_page_and_the_api(page: Page, site: Site) -> None:
    sign_in(page)
    page.goto("/porteurs/h-004")
    first = shown_offers(page)[0]
    card = page.locator(f"#offre-{first}")
    card.get_by_label("Commentaire (facultatif)").fill("Trop loin de l'école")
    card.get_by_role("button", name="Pas pertinent").click()
    expect(page.locator(f"#offre-{first}")).to_have_count(0)
    assert first not in shown_offers(page) and first not in site.api_match_ids("h-004")
    second = shown_offers(page)[0]
    page.locator(f"#offre-{second}").get_by_role("button", name="Intéressé·e").click()
    expect(page.locator(f"#offre-{second} .avis")).to_contain_text("Intéressé·e")
    page.goto("/porteurs/h-004/historique")
    expect(page.get_by_role("cell", name="Trop loin de l'école")).to_be_visible()


def test_the_sheet_prints_on_one_or_two_pages_and_the_export_opens_in_a_spreadsheet(
    page: Page, site: Site
) -> None:
    sign_in(page)
    page.goto("/porteurs/h-001")
    offers = shown_offers(page)
    for unticked in offers[3:]:
        page.locator(f"#fiche-{unticked}").uncheck()
    page.get_by_role("button", name="Préparer la fiche du porteur (offres cochées)").click()
    expect(page.locator("article.offre-fiche")).to_have_count(3)
    expect(page.get_by_text("conseil@bge.example")).to_be_visible()  # the counsellor's contact
    assert_accessible(page, "fiche")
    pdf = page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 2, pages
    export = page.request.get("/porteurs/h-001/correspondances.csv")
    text = export.body().decode("utf-8-sig")
    assert export.headers["content-type"].startswith("text/csv")
    rows = text.splitlines()
    assert rows[0].startswith("Rang;Offre;Type;Commune") and [r.rsplit(";", 1)[1] for r in rows[1:]] == offers


def test_forms_without_their_csrf_token_are_refused(page: Page, site: Site) -> None:
    sign_in(page)
    before = site.api_match_ids("h-009")
    refused = page.request.post(
        "/porteurs/h-009/avis", form={"opportunity_id": before[0], "verdict": "not_relevant"}
    )
    assert refused.status == 403 and "formulaire a expiré" in refused.text()
    forged = page.request.post(
        "/porteurs/h-009/avis", form={"opportunity_id": before[0], "verdict": "not_relevant", "csrf": "forgé"}
    )
    assert forged.status == 403
    assert site.api_match_ids("h-009") == before


def test_another_organisations_counsellor_cannot_see_this_client(page: Page, site: Site) -> None:
    sign_in(page, "elsewhere")
    for path in ("/porteurs/h-001", "/porteurs/h-001/modifier", "/porteurs/h-001/fiche"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page).to_have_title("Page introuvable · matcher")
    assert_accessible(page, "page introuvable")
    assert site.api("elsewhere", "GET", "/v1/holders/h-001").status_code == 404
    assert site.api("elsewhere", "GET", "/v1/holders/h-001/matches").status_code == 404
    listed = site.api("elsewhere", "GET", "/v1/holders?limit=200").json()["items"]
    assert {h["counsellor"]["organisation"] for h in listed} == {"Initiative Rennes"}


def test_an_officer_signs_in_to_their_offers_and_has_no_access_to_holders(page: Page) -> None:
    sign_in(page, "officer")
    expect(page).to_have_url(re.compile(r"/offres$"))
    response = page.goto("/porteurs")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("agent·e territorial·e")


def test_record_text_never_runs_as_script_and_pages_forbid_inline_scripts(page: Page, site: Site) -> None:
    trap = '<img src=x onerror="window.piege=1">'
    body = {
        "id": "h-web-trap",
        "name": f"Piège {trap}",
        "project": "Je veux reprendre une boulangerie de village.",
        "origin": {"commune": trap, "lat": 45.83, "lon": 1.26},
        "max_distance_km": 100,
    }
    # Stored as a home without the communes table would keep it (the gazetteer refuses the name).
    body["counsellor"] = {"organisation": "BGE Paris"}
    engine = Engine(Settings(home=site.home))
    engine.store.holders.put(HolderProfile.model_validate(body), create=True)
    engine.close()
    sign_in(page)
    response = page.goto("/porteurs/h-web-trap")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    page.locator(".marqueur-origine").hover()
    expect(page.locator(".leaflet-tooltip")).to_contain_text("Habite : <img")  # shown as text
    assert page.evaluate("window.piege") is None and page.locator("img[src=x]").count() == 0


def test_an_unchanged_edit_keeps_the_stored_origin(page: Page, site: Site) -> None:
    before = site.api("counsellor", "GET", "/v1/holders/h-004").json()
    sign_in(page)
    page.goto("/porteurs/h-004/modifier")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page).to_have_url(re.compile(r"/porteurs/h-004$"))
    after = site.api("counsellor", "GET", "/v1/holders/h-004").json()["origin"]
    assert {k: after[k] for k in ("commune", "lat", "lon")} == {
        k: before["origin"][k] for k in ("commune", "lat", "lon")
    }


# --- territory officers ------------------------------------------------------------------------

#: The sample offers of the officer's territory (« Communauté de communes Creuse Grand Sud »).
CREUSE_GRAND_SUD = {
    "act-001-medecin-felletin",
    "act-002-boulanger-crocq",
    "rep-001-boulangerie-felletin",
    "cow-012-atelier-eco-construction-felletin",
    "cow-013-manufacture-aubusson",
}


def listed_offers(page: Page) -> set[str]:
    links = page.locator("table.offres tbody th a").evaluate_all("links => links.map(a => a.pathname)")
    return {path.split("/")[2] for path in links}


def test_an_officer_publishes_through_the_form_and_the_next_query_finds_it(page: Page, site: Site) -> None:
    sign_in(page, "officer")
    expect(page).to_have_title("Les offres de mon territoire · matcher")
    assert listed_offers(page) >= CREUSE_GRAND_SUD
    assert all(site.api("officer", "GET", f"/v1/opportunities/{i}").json()["territory"]
               == ACCOUNTS["officer"][3] for i in listed_offers(page))  # fmt: skip
    assert_accessible(page, "offres")
    page.get_by_role("link", name="Publier une offre").first.click()
    page.get_by_role("button", name="Publier l'offre").click()  # nothing filled in
    expect(page.locator("#erreur-title")).to_have_text("champ obligatoire manquant")
    assert_accessible(page, "formulaire d'offre en erreur")

    page.get_by_label("Reprise d'entreprise").check()
    page.get_by_label("Titre (obligatoire)").fill("Épicerie-bar à reprendre à Felletin, logement à l'étage")
    page.get_by_label("Description (obligatoire)").fill(
        "Le dernier commerce de la rue, épicerie et bar de village, cherche un repreneur : clientèle fidèle, "
        "licence IV, cuisine équipée. Un T3 rénové au-dessus de la boutique fait partie de la vente."
    )
    page.get_by_label("Métier recherché").fill("épicier")
    commune = page.get_by_label("Commune (obligatoire)")
    commune.press_sequentially("Fellet", delay=30)
    expect(page.locator("#communes option").first).to_have_attribute("value", "Felletin (Creuse, 23)")
    commune.fill("Felletin (Creuse, 23)")
    page.get_by_label("Prix ou investissement (€)").fill("95 000 €")
    page.get_by_label("Un logement est proposé").check()
    page.get_by_label("L'offre expire le").fill("2027-09-30")
    page.get_by_role("button", name="Voir l'aperçu").click()
    preview = page.locator("section.apercu")
    expect(preview).to_contain_text("Épicerie-bar à reprendre à Felletin")
    expect(preview).to_contain_text("Prix : 95 000 €")
    expect(preview.get_by_role("status")).to_contain_text(re.compile(r"\d+ porteurs? de projet enregistrés?"))
    page.screenshot(path=site.screenshots / "offre-apercu.png", full_page=True)
    assert_accessible(page, "aperçu d'offre")
    page.get_by_role("button", name="Publier l'offre").click()

    expect(page).to_have_url(re.compile(r"/offres\?publiee="))
    published = page.url.rsplit("=", 1)[1]
    assert published.startswith("rep-") and published in listed_offers(page)
    page.screenshot(path=site.screenshots / "offres.png", full_page=True)
    stored = site.api("officer", "GET", f"/v1/opportunities/{published}")
    assert stored.status_code == 200, stored.text
    offer = stored.json()
    assert (
        offer["price_eur"] == 95_000 and offer["housing"] is True and offer["location"]["department"] == "23"
    )
    assert offer["territory"] == ACCOUNTS["officer"][3] and offer["expires_on"] == "2027-09-30"
    holder = {
        "id": "h-web-epicerie",
        "project": "Je veux reprendre une épicerie de village avec un bar et vivre au-dessus de la boutique.",
        "kinds": ["takeover"],
        "origin": {"commune": "Aubusson", "department": "23"},
        "max_distance_km": 40,
        "budget_eur": 120_000,
    }
    assert site.api("counsellor", "POST", "/v1/holders", json=holder).status_code == 201
    assert published in site.api_match_ids("h-web-epicerie")


def test_an_officer_cannot_open_another_territorys_offer_or_its_candidates(page: Page, site: Site) -> None:
    elsewhere = site.api("officer", "GET", "/v1/opportunities?limit=200").json()["items"]
    other = next(o["id"] for o in elsewhere if o["territory"] != ACCOUNTS["officer"][3])
    sign_in(page, "officer")
    assert other not in listed_offers(page)
    for path in (f"/offres/{other}/modifier", f"/offres/{other}/candidats", "/offres/inconnue/modifier"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page).to_have_title("Page introuvable · matcher")
    sign_in(page, "counsellor")
    response = page.goto("/offres")
    assert response is not None and response.status == 403


def sample_people() -> tuple[set[str], set[str]]:
    """The sample holders' names and e-mail addresses."""
    holders = [json.loads(line) for line in (DATA / "holders.jsonl").read_text("utf-8").splitlines() if line]
    return {h["name"] for h in holders if h.get("name")}, {h["email"] for h in holders if h.get("email")}


def test_candidates_are_pseudonymous_and_a_proposal_goes_to_the_counsellor(page: Page, site: Site) -> None:
    names, emails = sample_people()
    sign_in(page, "officer")
    page.get_by_role("link", name=re.compile("Candidats pour « Boulangerie-pâtisserie")).click()
    expect(page).to_have_title(re.compile("Candidats pour"))
    cards = page.locator("ol.candidats > li")
    assert cards.count() > 0
    shown = page.locator("main").inner_text()
    assert not [name for name in names if name in shown] and "@" not in shown  # pseudonyms only
    expect(cards.first.locator("h2")).to_contain_text(re.compile(r"Porteur·se [0-9A-F]{6}"))
    reasons = page.locator("ol.candidats .raisons li, ol.candidats .attention li").all_inner_texts()
    assert reasons and not [r for r in reasons if re.search(r"\b(votre|vos|vous)\b", r, re.IGNORECASE)]
    assert_accessible(page, "candidats")
    page.screenshot(path=site.screenshots / "candidats.png", full_page=True)
    before = len(site.mailbox.received)
    cards.first.get_by_role("button", name=re.compile("Proposer une mise en relation")).click()
    expect(page.get_by_role("status")).to_contain_text("Mise en relation proposée")
    expect(page.locator("ol.candidats > li").first).to_contain_text("Mise en relation proposée le")
    assert len(site.mailbox.received) == before + 1
    sent = site.mailbox.received[-1]
    assert sent.recipients and not set(sent.recipients) & emails  # the counsellor, never the holder
    assert "Boulangerie-pâtisserie" in sent.message["Subject"]
    assert "pseudonyme" in sent.text and ACCOUNTS["officer"][2] in sent.text
    assert [name for name in names if name in sent.text]  # the counsellor knows whom it is about


def test_an_office_spreadsheet_imports_through_the_page_with_its_report(
    page: Page, site: Site, tmp_path: Path
) -> None:
    header = "identifiant;type;titre;description;territoire;commune;département;prix;logement;date limite"
    rows = [
        "act-web-import-1;Offre d'activité;Coiffeur·se pour le salon communal de Crocq;Le salon est équipé "
        f"et le loyer modéré, la commune cherche quelqu'un pour le rouvrir.;{ACCOUNTS['officer'][3]};"
        "Crocq;23;Nous consulter;oui;30/06/2027",
        f"act-web-import-2;Offre d'activité;;Sans titre;{ACCOUNTS['officer'][3]};Crocq;23;;non;",
        "act-web-import-3;Offre d'activité;Pas chez nous;Une offre d'un autre territoire.;Pays de Figeac;"
        "Figeac;46;;non;",
    ]
    sheet = tmp_path / "offres été 2027.csv"
    sheet.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode("cp1252"))  # as Excel saves it
    sign_in(page, "officer")
    page.get_by_role("link", name="Importer un fichier").click()
    page.get_by_label("Fichier à importer").set_input_files(sheet)
    page.get_by_role("button", name="Importer les offres").click()
    expect(page.get_by_role("status")).to_contain_text("1 offre ajoutée")
    expect(page.get_by_role("status")).to_contain_text("2 refusées")
    refused = page.locator("table tbody tr")
    expect(refused).to_have_count(2)
    expect(refused.nth(0)).to_contain_text("titre: champ obligatoire manquant")  # the sheet's header
    expect(refused.nth(1)).to_contain_text("territoire: le territoire « Pays de Figeac »")
    assert_accessible(page, "import")
    page.screenshot(path=site.screenshots / "offres-import.png", full_page=True)
    offer = site.api("officer", "GET", "/v1/opportunities/act-web-import-1").json()
    assert offer["housing"] is True and offer.get("price_eur") is None and offer["expires_on"] == "2027-06-30"
    assert site.api("officer", "GET", "/v1/opportunities/act-web-import-3").status_code == 404


def test_an_officer_updates_an_offer_and_an_unchanged_commune_keeps_its_place(page: Page, site: Site) -> None:
    before = site.api("officer", "GET", "/v1/opportunities/act-002-boulanger-crocq").json()
    sign_in(page, "officer")
    page.get_by_role("link", name=re.compile("^Crocq cherche son boulanger")).click()
    expect(page.get_by_label("Commune (obligatoire)")).to_have_value("Crocq (Creuse, 23)")
    expect(page.get_by_label("Prix ou investissement (€)")).to_have_value("25 000 €")
    assert_accessible(page, "modifier une offre")
    page.get_by_label("Prix ou investissement (€)").fill("18 000 €")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page).to_have_url(re.compile(r"/offres\?modifiee=act-002-boulanger-crocq$"))
    after = site.api("officer", "GET", "/v1/opportunities/act-002-boulanger-crocq").json()
    assert after["price_eur"] == 18_000
    assert after["location"] == before["location"] and after["title"] == before["title"]
    assert after["contact_email"] == before.get("contact_email")
    page.get_by_role("link", name=re.compile("^Crocq cherche son boulanger")).click()
    page.get_by_role("button", name=re.compile("^Prolonger de 6 mois")).click()
    expect(page).to_have_url(re.compile(r"/offres\?prolongee=act-002-boulanger-crocq$"))
    prolonged = site.api("officer", "GET", "/v1/opportunities/act-002-boulanger-crocq").json()
    assert prolonged["expires_on"] > before["expires_on"]
    page.get_by_role("link", name=re.compile("^Crocq cherche son boulanger")).click()
    page.once("dialog", lambda dialog: dialog.accept())  # « Archiver cette offre ? »
    page.get_by_role("button", name=re.compile("^Archiver l'offre")).click()
    expect(page).to_have_url(re.compile(r"/offres\?archivee=act-002-boulanger-crocq$"))
    expect(page.get_by_role("row", name=re.compile("^Crocq cherche son boulanger"))).to_contain_text(
        "Archivée"
    )
    assert (
        site.api("officer", "GET", "/v1/opportunities/act-002-boulanger-crocq").json()["status"] == "archived"
    )


def test_a_look_alike_offer_is_warned_before_it_is_published(page: Page, site: Site) -> None:
    original = site.api("officer", "GET", "/v1/opportunities/rep-001-boulangerie-felletin").json()
    sign_in(page, "officer")
    page.goto("/offres/nouvelle")
    page.get_by_label("Reprise d'entreprise").check()
    page.get_by_label("Titre (obligatoire)").fill("À reprendre : boulangerie-pâtisserie au cœur de Felletin")
    page.get_by_label("Description (obligatoire)").fill(original["description"])
    page.get_by_label("Commune (obligatoire)").fill("Felletin (Creuse, 23)")
    page.get_by_role("button", name="Publier l'offre").click()
    warning = page.locator("#ressemblance")
    expect(warning).to_contain_text("Cette offre ressemble à « Boulangerie-pâtisserie au cœur de Felletin")
    expect(warning).to_contain_text("publier quand même ?")
    expect(page.get_by_label("Titre (obligatoire)")).to_have_value(
        "À reprendre : boulangerie-pâtisserie au cœur de Felletin"
    )  # nothing typed is lost
    assert_accessible(page, "ressemblance")
    page.screenshot(path=site.screenshots / "offre-ressemblance.png", full_page=True)
    listed = site.api("officer", "GET", "/v1/opportunities?limit=200").json()["items"]
    assert not [o for o in listed if o["title"].startswith("À reprendre : boulangerie")]  # not written
    page.get_by_role("button", name="Publier quand même").click()
    expect(page).to_have_url(re.compile(r"/offres\?publiee=rep-"))

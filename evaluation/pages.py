"""How fast and how accessible the counsellors' pages are, measured in Debian's Chromium.

    python -m evaluation.pages [--runs 5] [--requests 50] [--json]

On a fresh home with the sample data (and the INSEE communes when ``../shared`` has them),
``matcher serve`` on loopback:
- time to first match page for a new client: sign in, fill the form, see the matches
  (Playwright, ``--runs`` times, a fresh browser context each);
- latency of the matches page of a stored holder over loopback (``--requests`` GETs with a
  session cookie, after one warm-up);
- axe-core violations per page, by impact.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, sync_playwright

from evaluation.load_check import free_port, prepare_home, wait_until_up
from evaluation.measures import percentiles
from matcher.cli.matching import DEMO_ORGANISATION
from matcher.config import Settings
from matcher.engine import Engine

COMMUNES = Path(__file__).resolve().parents[2] / "shared" / "data" / "geo" / "communes.csv"
EMAIL, PASSWORD = "mesure@bge.example", "mesure des pages matcher"
PAGES = ("/connexion", "/porteurs", "/porteurs/nouveau", "/porteurs/h-001", "/porteurs/h-001/fiche",
         "/porteurs/h-001/historique", "/porteurs/h-inconnu")  # fmt: skip


def sign_in(page: Page) -> None:
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/porteurs")


def first_match_page(page: Page, n: int) -> float:
    """Seconds from the sign-in page to a new client's matches on screen."""
    started = time.perf_counter()
    sign_in(page)
    page.get_by_role("link", name="Nouveau porteur de projet").click()
    page.get_by_label("Nom et prénom").fill(f"Client mesuré {n}")
    page.get_by_label("Le projet, dans ses mots (obligatoire)").fill(
        "Boulanger à Lyon depuis dix ans, je veux reprendre une boulangerie de village avec un fournil."
    )
    page.get_by_label("Reprise d'entreprise").check()
    page.get_by_label("Budget (€)").fill("150 000 €")
    page.get_by_label("Commune où elle vit").fill("Lyon")
    page.get_by_label("Distance maximale (km)").fill("200")
    page.get_by_role("button", name="Enregistrer et voir les offres").click()
    page.locator("article.offre").first.wait_for()
    return time.perf_counter() - started


def axe_counts(page: Page) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for path in PAGES:
        page.goto(path)
        by_impact: dict[str, int] = {}
        for violation in Axe().run(page).response["violations"]:
            by_impact[violation["impact"]] = by_impact.get(violation["impact"], 0) + len(violation["nodes"])
        counts[path] = by_impact
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = parser.parse_args(argv)
    say = (lambda *_: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="matcher-pages-") as temporary:
        home = Path(temporary) / "home"
        say("Préparation du dossier de données…")
        prepare_home(home, None)
        engine = Engine(Settings(home=home))
        if COMMUNES.exists():
            engine.load_gazetteer(COMMUNES)
        engine.create_account(
            "Mesure", "counsellor", email=EMAIL, organisation=DEMO_ORGANISATION, password=PASSWORD
        )
        engine.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-c", "from matcher.cli import app; app()", "serve", "--port", str(port)],
            env={**os.environ, "MATCHER_HOME": str(home)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        report: dict[str, Any] = {"runs": args.runs, "requests": args.requests}
        try:
            wait_until_up(base, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                seconds = []
                for n in range(args.runs):
                    context = browser.new_context(base_url=base)
                    seconds.append(first_match_page(context.new_page(), n))
                    context.close()
                report["first_match_page_ms"] = percentiles([s * 1000 for s in seconds])
                context = browser.new_context(base_url=base)
                page = context.new_page()
                sign_in(page)
                report["axe_violations"] = axe_counts(page)
                cookies = {c["name"]: c["value"] for c in context.cookies()}
                browser.close()
            with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client:
                assert client.get("/porteurs/h-001").status_code == 200  # warm-up
                latencies = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    assert client.get("/porteurs/h-001").status_code == 200
                    latencies.append((time.perf_counter() - started) * 1000)
            report["matches_page_ms"] = percentiles(latencies)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

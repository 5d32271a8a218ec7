"""The HTTP service, through its real HTTP stack: FastAPI's TestClient in process, and uvicorn
on loopback. Real SQLite homes (copies of the sample home), real FAISS, the real encoder."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from matcher.accounts import Role, hash_token, token_lifetime
from matcher.cli import app as cli_app
from matcher.cli.matching import DEMO_ORGANISATION
from matcher.clock import utcnow
from matcher.config import Settings
from matcher.domain import Match, MatchResult
from matcher.encoders import Encoder
from matcher.engine import Engine
from matcher.errors import AlreadyExists, InvalidRecord, NotFound, SignInRefused
from matcher.explain import describe_widening
from matcher.lexical import _words
from matcher.spreadsheet import matches_sheet
from matcher.store import Store
from matcher.store.schema import DigestRunRow, FeedbackRow, SendRow, UserRow, WebSessionRow
from service.app import create_app
from tests.counting import CountingEncoder
from tests.serving import Served, free_port, matcher_command, matcher_serve

#: Every test here runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("database")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_OFFERS = {
    o["id"]: o for o in map(json.loads, (REPO / "data" / "opportunities.jsonl").read_text().splitlines())
}
SAMPLE_HOLDERS = {
    h["id"]: h for h in map(json.loads, (REPO / "data" / "holders.jsonl").read_text().splitlines())
}
OWN_OFFER = "act-001-medecin-felletin"
TERRITORY = SAMPLE_OFFERS[OWN_OFFER]["territory"]  # the officer's
OTHER_OFFER = "act-018-boucher-cajarc"
OTHER_TERRITORY = SAMPLE_OFFERS[OTHER_OFFER]["territory"]
ROLES = ("admin", "officer", "other_officer", "counsellor")
#: Offers of ``offer()`` are one offer under many ids, on purpose: published past the duplicate
#: check (tested in test_duplicates.py) where a test stores more than one of them.
PUBLISH = "/v1/opportunities?force=true"
ENGLISH = re.compile(r"Field required|Input should|Extra inputs|Not Found|Unprocessable|value is not")


@dataclass
class Api:
    client: TestClient
    home: Path
    tokens: dict[str, str]
    ids: Iterator[int] = field(default_factory=itertools.count)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def fresh(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids)}"

    @property
    def store(self) -> Store:
        return self.client.app.state.engine.store


def make_accounts(home: Path) -> dict[str, str]:
    engine = Engine(Settings(home=home))
    tokens = {
        "admin": engine.create_account("Admin", Role.admin)[1],
        "officer": engine.create_account("Agent Creuse", Role.officer, [TERRITORY])[1],
        "other_officer": engine.create_account("Agent Figeac", Role.officer, [OTHER_TERRITORY])[1],
        "counsellor": engine.create_account("Conseillère BGE", Role.counsellor, organisation="BGE Paris")[1],
        "other_counsellor": engine.create_account(
            "Conseiller Initiative", Role.counsellor, organisation="Initiative Rennes"
        )[1],
        "revoked": engine.create_account("Ancien", Role.counsellor, organisation="BGE Paris")[1],
    }
    engine.revoke_account("Ancien")
    engine.close()
    return tokens


@contextmanager
def open_api(sample_home: Path, home: Path, encoder: Encoder, **settings: Any) -> Iterator[Api]:
    shutil.copytree(sample_home, home)
    tokens = make_accounts(home)
    app = create_app(Settings(home=home, **settings), encoder=encoder)
    with TestClient(app) as client:
        yield Api(client, home, tokens)


@pytest.fixture
def api(sample_home: Path, tmp_path: Path, encoder: Encoder) -> Iterator[Api]:
    """A service over a private copy of the sample home, with one account per role."""
    with open_api(sample_home, tmp_path / "home", encoder) as opened:
        yield opened


@pytest.fixture(scope="module")
def shared_api(
    sample_home: Path, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder
) -> Iterator[Api]:
    """One service for the role matrix, whose cases write only fresh records."""
    with open_api(sample_home, tmp_path_factory.mktemp("matrix") / "home", encoder) as opened:
        yield opened


def offer(offer_id: str, territory: str = TERRITORY, **fields: Any) -> dict[str, Any]:
    """A valid opportunity (no gazetteer in the test homes: the location carries lat/lon)."""
    body = {
        "id": offer_id,
        "kind": "activity",
        "title": "Infirmière ou infirmier à domicile à Vendôme",
        "description": "Le cabinet infirmier du centre de Vendôme cherche une infirmière diplômée d'État "
        "pour des tournées à domicile auprès de patients âgés qui manquent de soins. Gare TGV à "
        "42 minutes de Paris. Logement meublé proposé sur place, matériel fourni.",
        "sector": "sante",
        "territory": territory,
        "location": {"commune": "Vendôme", "department": "41", "lat": 47.7929, "lon": 1.0656},
        "price_eur": 2000,
        "housing": True,
    }
    return {**body, **fields}


def holder(holder_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Camille Martin",
        "email": "camille.martin@example.org",
        "project": "Je suis boulanger à Lyon et je voudrais reprendre une boulangerie de village avec "
        "un fournil au bois, pas trop loin d'une gare.",
        "kinds": ["takeover"],
        "budget_eur": 150_000,
        "origin": {"commune": "Lyon", "lat": 45.764, "lon": 4.8357},
        "max_distance_km": 300,
    }
    if holder_id:
        body["id"] = holder_id
    return {**body, **fields}


def match_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [m["opportunity_id"] for m in response.json()["matches"]]


# --- health and documentation ------------------------------------------------------------------


def test_healthz_needs_no_token_and_reports_database_and_index(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["database"] == {"ok": True, "opportunities": 152, "holders": 48, "error": None}
    assert health["index"]["loaded"] and health["index"]["up_to_date"]
    assert health["index"]["indexed"] == sum(
        1 for o in SAMPLE_OFFERS.values() if o.get("status") != "archived"
    )


def test_openapi_and_docs_are_served(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in (
        "/v1/opportunities",
        "/v1/opportunities/import",
        "/v1/opportunities/{opportunity_id}",
        "/v1/opportunities/{opportunity_id}/candidates",
        "/v1/holders",
        "/v1/holders/{holder_id}",
        "/v1/holders/{holder_id}/matches",
        "/v1/holders/{holder_id}/feedback",
        "/v1/match",
        "/healthz",
        "/v1/unsubscribe",
    ):
        assert path in schema["paths"], path
    assert "OpportunityPatch" in schema["components"]["schemas"]
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# --- who may do what ---------------------------------------------------------------------------

Call = Callable[[Api, dict[str, str]], httpx.Response]
EVERYONE = set(ROLES)
PUBLISHERS = {"admin", "officer"}
COUNSELLORS = {"admin", "counsellor"}


def _archive(api: Api, headers: dict[str, str]) -> httpx.Response:
    offer_id = api.fresh("archive")
    assert api.client.post(PUBLISH, json=offer(offer_id), headers=api.auth("admin")).status_code == 201
    return api.client.delete(f"/v1/opportunities/{offer_id}", headers=headers)


#: Sample holders in the counsellor's organisation (BGE Paris, named or given at import).
CASELOAD = ("h-001", "h-004", "h-009", "h-010", "h-011")
#: What a holder record says to be in the counsellor's organisation (the sample holders' default).
IN_BGE_PARIS = {"counsellor": {"organisation": "BGE Paris"}}


def _delete_holder(api: Api, headers: dict[str, str]) -> httpx.Response:
    holder_id = api.fresh("erase")
    assert (
        api.client.post(
            "/v1/holders", json=holder(holder_id, **IN_BGE_PARIS), headers=api.auth("admin")
        ).status_code
        == 201
    )
    return api.client.delete(f"/v1/holders/{holder_id}", headers=headers)


def _import(api: Api, headers: dict[str, str]) -> httpx.Response:
    line = json.dumps(offer(api.fresh("import")), ensure_ascii=False).encode()
    return api.client.post(
        "/v1/opportunities/import?force=true",
        content=line,
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )


MATRIX: dict[str, tuple[set[str], int, Call]] = {
    "list opportunities": (EVERYONE, 200, lambda a, h: a.client.get("/v1/opportunities", headers=h)),
    "get opportunity": (
        EVERYONE,
        200,
        lambda a, h: a.client.get(f"/v1/opportunities/{OWN_OFFER}", headers=h),
    ),
    "create opportunity": (
        PUBLISHERS,
        201,
        lambda a, h: a.client.post(PUBLISH, json=offer(a.fresh("create")), headers=h),
    ),
    "replace opportunity": (
        PUBLISHERS,
        200,
        lambda a, h: a.client.put(
            f"/v1/opportunities/{OWN_OFFER}", json=SAMPLE_OFFERS[OWN_OFFER] | {"staff": 3}, headers=h
        ),
    ),
    "patch opportunity": (
        PUBLISHERS,
        200,
        lambda a, h: a.client.patch(f"/v1/opportunities/{OWN_OFFER}", json={"staff": 4}, headers=h),
    ),
    "archive opportunity": (PUBLISHERS, 200, _archive),
    # Any officer may import; records outside their scope are refused one by one (tested below).
    "import opportunities": (PUBLISHERS | {"other_officer"}, 200, _import),
    "candidates": (
        PUBLISHERS,
        200,
        lambda a, h: a.client.get(f"/v1/opportunities/{OWN_OFFER}/candidates?top=3", headers=h),
    ),
    "list holders": (COUNSELLORS, 200, lambda a, h: a.client.get("/v1/holders", headers=h)),
    "create holder": (COUNSELLORS, 201, lambda a, h: a.client.post("/v1/holders", json=holder(), headers=h)),
    "get holder": (COUNSELLORS, 200, lambda a, h: a.client.get("/v1/holders/h-009", headers=h)),
    "replace holder": (
        COUNSELLORS,
        200,
        lambda a, h: a.client.put("/v1/holders/h-010", json=SAMPLE_HOLDERS["h-010"], headers=h),
    ),
    "patch holder": (
        COUNSELLORS,
        200,
        lambda a, h: a.client.patch("/v1/holders/h-004", json={"needs_housing": True}, headers=h),
    ),
    "delete holder": (COUNSELLORS, 204, _delete_holder),
    "feedback": (
        COUNSELLORS,
        201,
        lambda a, h: a.client.post(
            "/v1/holders/h-011/feedback",
            json={"opportunity_id": OWN_OFFER, "verdict": "interested"},
            headers=h,
        ),
    ),
    "holder matches": (
        COUNSELLORS,
        200,
        lambda a, h: a.client.get("/v1/holders/h-013/matches?top=3", headers=h),
    ),
    "ad-hoc match": (
        COUNSELLORS,
        200,
        lambda a, h: a.client.post("/v1/match?top=3", json=holder(), headers=h),
    ),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_role_matrix(shared_api: Api, case: str) -> None:
    allowed, success, call = MATRIX[case]
    for who in ROLES:
        response = call(shared_api, shared_api.auth(who))
        expected = success if who in allowed else 403
        assert response.status_code == expected, (who, response.text)
        if expected == 403:
            assert "périmètre" in response.json()["detail"] or "réservée" in response.json()["detail"]
    for headers in (
        {},
        {"Authorization": "Bearer mtk_not-a-real-token"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        shared_api.auth("revoked"),
    ):
        response = call(shared_api, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "jeton" in response.json()["detail"]


def test_a_counsellor_sees_only_their_organisations_holders(api: Api) -> None:
    ours, theirs = api.auth("counsellor"), api.auth("other_counsellor")
    # h-001 names BGE Paris; h-002 names another organisation; h-004 names none (filled at import).
    listed = api.client.get("/v1/holders?limit=200", headers=ours).json()
    organisations = {h["counsellor"]["organisation"] for h in listed["items"]}
    assert organisations == {"BGE Paris"} and {"h-001", "h-004"} <= {h["id"] for h in listed["items"]}
    assert "h-002" not in {h["id"] for h in listed["items"]}
    assert api.client.get("/v1/holders?limit=200", headers=theirs).json()["total"] == 1  # h-012
    everyone = api.client.get("/v1/holders?limit=200", headers=api.auth("admin")).json()["total"]
    assert everyone == len(SAMPLE_HOLDERS) > listed["total"]
    feedback = {"opportunity_id": OWN_OFFER, "verdict": "interested"}
    for method, path, body in (
        ("GET", "/v1/holders/h-001", None),
        ("GET", "/v1/holders/h-001/matches", None),
        ("PUT", "/v1/holders/h-001", SAMPLE_HOLDERS["h-001"]),
        ("PATCH", "/v1/holders/h-001", {"budget_eur": 1}),
        ("POST", "/v1/holders/h-001/feedback", feedback),
        ("DELETE", "/v1/holders/h-001", None),
    ):
        response = api.client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "porteur de projet inconnu : h-001"
    assert (
        api.client.get("/v1/holders/h-001", headers=ours).json()["budget_eur"]
        == SAMPLE_HOLDERS["h-001"]["budget_eur"]
    )
    # A holder a counsellor creates joins their organisation, with them as its contact…
    created = api.client.post("/v1/holders", json=holder("h-cree"), headers=theirs).json()
    assert created["counsellor"] == {
        "name": "Conseiller Initiative",
        "email": None,  # a token-only account has no address to give
        "organisation": "Initiative Rennes",
    }
    assert api.client.get("/v1/holders/h-cree", headers=ours).status_code == 404
    # …and a record naming another organisation is refused, field named.
    refused = api.client.post("/v1/holders", json=holder("h-autre", **IN_BGE_PARIS), headers=theirs)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "counsellor.organisation"
    assert api.client.get("/v1/holders/h-autre", headers=api.auth("admin")).status_code == 404


def test_officer_cannot_publish_edit_or_move_offers_outside_their_territories(api: Api) -> None:
    officer = api.auth("officer")
    stored = api.client.get(f"/v1/opportunities/{OTHER_OFFER}", headers=officer).json()
    forbidden = [
        api.client.post("/v1/opportunities", json=offer("x-1", OTHER_TERRITORY), headers=officer),
        api.client.put(
            f"/v1/opportunities/{OTHER_OFFER}", json=stored | {"territory": TERRITORY}, headers=officer
        ),
        api.client.patch(f"/v1/opportunities/{OTHER_OFFER}", json={"title": "Repris"}, headers=officer),
        api.client.delete(f"/v1/opportunities/{OTHER_OFFER}", headers=officer),
        api.client.get(f"/v1/opportunities/{OTHER_OFFER}/candidates", headers=officer),
        # Moving one's own offer out of scope.
        api.client.patch(
            f"/v1/opportunities/{OWN_OFFER}", json={"territory": OTHER_TERRITORY}, headers=officer
        ),
        api.client.put(
            f"/v1/opportunities/{OWN_OFFER}",
            json=SAMPLE_OFFERS[OWN_OFFER] | {"territory": "Ailleurs"},
            headers=officer,
        ),
    ]
    assert [r.status_code for r in forbidden] == [403] * len(forbidden), [r.text for r in forbidden]
    assert all("périmètre" in r.json()["detail"] for r in forbidden)
    assert api.client.get(f"/v1/opportunities/{OTHER_OFFER}", headers=officer).json() == stored
    assert api.client.get(f"/v1/opportunities/{OWN_OFFER}", headers=officer).json()["territory"] == TERRITORY
    with pytest.raises(NotFound):
        api.store.catalogue.get("x-1")
    # Territory names compare without case or extra spaces.
    spaced = offer("x-2", "  " + TERRITORY.upper().replace(" ", "  "))
    assert api.client.post("/v1/opportunities", json=spaced, headers=officer).status_code == 201


def test_officer_import_refuses_records_outside_their_scope(api: Api) -> None:
    takeover = SAMPLE_OFFERS[OTHER_OFFER] | {"territory": TERRITORY}  # an offer of another territory
    lines = [
        offer("imp-own"),
        offer("imp-other", OTHER_TERRITORY),
        takeover,
        {"id": "imp-bad", "kind": "castle"},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    response = api.client.post(
        "/v1/opportunities/import",
        content=body,
        headers={**api.auth("officer"), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["inserted"] == 1 and report["updated"] == 0
    rejected = {r["record"]: r["reason"] for r in report["rejected"]}
    assert set(rejected) == {
        "ligne 2 (id imp-other)",
        f"ligne 3 (id {OTHER_OFFER})",
        "ligne 4 (id imp-bad)",
    }
    assert "périmètre" in rejected["ligne 2 (id imp-other)"]
    assert "périmètre" in rejected[f"ligne 3 (id {OTHER_OFFER})"]
    assert "kind" in rejected["ligne 4 (id imp-bad)"]
    assert api.store.catalogue.get(OTHER_OFFER).territory == OTHER_TERRITORY
    with pytest.raises(NotFound):
        api.store.catalogue.get("imp-other")


# --- consistency -------------------------------------------------------------------------------


def test_read_your_writes_without_rebuilding_the_index(
    sample_home: Path, tmp_path: Path, encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    with open_api(sample_home, tmp_path / "home", counting) as api:  # type: ignore[arg-type]
        officer, counsellor = api.auth("officer"), api.auth("counsellor")
        before = match_ids(api.client.get("/v1/holders/h-001/matches?top=10", headers=counsellor))
        counting.texts = 0
        created = api.client.post("/v1/opportunities", json=offer("ryw-vendome"), headers=officer)
        assert created.status_code == 201, created.text
        assert created.headers["location"] == "/v1/opportunities/ryw-vendome"
        after = match_ids(api.client.get("/v1/holders/h-001/matches?top=10", headers=counsellor))
        assert "ryw-vendome" not in before and "ryw-vendome" in after
        # One offer's passages and one query were embedded, not the catalogue.
        assert 0 < counting.texts < 20
        adhoc = api.client.post(
            "/v1/match?top=10", json=SAMPLE_HOLDERS["h-001"] | {"id": None}, headers=counsellor
        )
        assert "ryw-vendome" in match_ids(adhoc)
        health = api.client.get("/healthz").json()
        assert health["index"]["up_to_date"] and health["database"]["opportunities"] == 153

        # An edit is seen too: moved 900 km away, the offer breaks h-001's distance limit.
        moved = {"location": {"commune": "Ajaccio", "department": "2A", "lat": 41.9192, "lon": 8.7386}}
        assert (
            api.client.patch("/v1/opportunities/ryw-vendome", json=moved, headers=officer).status_code == 200
        )
        assert "ryw-vendome" not in match_ids(api.client.get("/v1/holders/h-001/matches", headers=counsellor))
    # Shutdown saved the index: a new engine has nothing to re-embed.
    counting.texts = 0
    with TestClient(create_app(Settings(home=api.home), encoder=counting)) as client:
        assert client.get("/healthz").json()["index"]["up_to_date"]
    assert counting.texts == 0


def test_archived_opportunity_is_never_recommended(api: Api) -> None:
    counsellor = api.auth("counsellor")
    first = match_ids(api.client.get("/v1/holders/h-001/matches", headers=counsellor))[0]
    territory = api.store.catalogue.get(first).territory
    archived = api.client.delete(f"/v1/opportunities/{first}", headers=api.auth("admin"))
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert api.store.catalogue.get(first).territory == territory
    assert first not in match_ids(api.client.get("/v1/holders/h-001/matches?top=100", headers=counsellor))
    adhoc = api.client.post(
        "/v1/match?top=100", json=SAMPLE_HOLDERS["h-001"] | {"id": None}, headers=counsellor
    )
    assert first not in match_ids(adhoc)
    listed = api.client.get("/v1/opportunities?status=archived&limit=200", headers=counsellor).json()
    assert first in {o["id"] for o in listed["items"]}


def test_matches_have_the_cli_json_shape(api: Api) -> None:
    response = api.client.get("/v1/holders/h-020/matches?top=5", headers=api.auth("counsellor"))
    assert response.status_code == 200
    engine = api.client.app.state.engine
    expected = engine.match(engine.store.holders.get("h-020"), top=5).model_dump(mode="json")
    assert response.json() == expected
    assert set(expected) == {"holder_id", "matches", "excluded", "relaxations"}
    assert expected["matches"][0]["rank"] == 1 and expected["matches"][0]["reasons"]


def test_ad_hoc_match_stores_nothing(api: Api) -> None:
    before = api.store.holders.count()
    response = api.client.post("/v1/match?top=3", json=holder("adhoc-1"), headers=api.auth("counsellor"))
    assert response.status_code == 200 and response.json()["holder_id"] == "adhoc-1"
    assert len(response.json()["matches"]) == 3
    assert api.store.holders.count() == before
    with pytest.raises(NotFound):
        api.store.holders.get("adhoc-1")


# --- records -----------------------------------------------------------------------------------


def test_put_and_patch_revalidate_the_whole_record(api: Api) -> None:
    admin = api.auth("admin")
    assert (
        api.client.post("/v1/opportunities", json=offer("edit-1", tags=["santé"]), headers=admin).status_code
        == 201
    )
    patched = api.client.patch(
        "/v1/opportunities/edit-1",
        json={"title": "Nouveau titre", "tags": None, "price_eur": 0},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"] == "Nouveau titre" and body["tags"] == [] and body["price_eur"] == 0
    assert body["description"] == offer("edit-1")["description"]  # untouched fields stay
    # The merged record must still satisfy the contract; nothing is written otherwise.
    broken = api.client.patch("/v1/opportunities/edit-1", json={"title": None, "staff": -1}, headers=admin)
    assert broken.status_code == 422
    assert {e["field"] for e in broken.json()["detail"]} == {"title", "staff"}
    assert api.store.catalogue.get("edit-1").title == "Nouveau titre"
    other_id = api.client.patch("/v1/opportunities/edit-1", json={"id": "edit-2"}, headers=admin)
    assert other_id.status_code == 422 and other_id.json()["detail"][0]["field"] == "id"
    # PUT replaces everything: absent optional fields are gone.
    replaced = api.client.put(
        "/v1/opportunities/edit-1",
        json={k: v for k, v in offer("edit-1").items() if k != "price_eur"},
        headers=admin,
    )
    assert replaced.status_code == 200 and replaced.json()["price_eur"] is None
    wrong = api.client.put("/v1/opportunities/edit-1", json=offer("edit-9"), headers=admin)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "id"


def test_list_opportunities_filters_and_paginates(api: Api) -> None:
    headers = api.auth("counsellor")
    page = api.client.get("/v1/opportunities?limit=10&offset=5", headers=headers).json()
    assert page["total"] == 152 and page["offset"] == 5 and page["limit"] == 10 and len(page["items"]) == 10
    everything = api.client.get("/v1/opportunities?limit=200", headers=headers).json()["items"]
    assert [o["id"] for o in everything] == sorted(SAMPLE_OFFERS)
    assert [o["id"] for o in everything[5:15]] == [o["id"] for o in page["items"]]
    takeovers = api.client.get(
        "/v1/opportunities?kind=takeover&department=23&limit=200", headers=headers
    ).json()
    assert takeovers["total"] == len(takeovers["items"]) > 0
    assert all(o["kind"] == "takeover" and o["location"]["department"] == "23" for o in takeovers["items"])
    own = api.client.get("/v1/opportunities", params={"territory": TERRITORY}, headers=headers).json()
    assert {o["id"] for o in own["items"]} == {
        i for i, o in SAMPLE_OFFERS.items() if o["territory"] == TERRITORY
    }
    drafts = api.client.get("/v1/opportunities?status=draft", headers=headers).json()
    assert drafts["total"] == sum(1 for o in SAMPLE_OFFERS.values() if o.get("status") == "draft")
    assert api.client.get("/v1/opportunities?offset=1000", headers=headers).json()["items"] == []


def test_import_reads_json_lines_and_csv_and_reports_each_record(api: Api) -> None:
    admin = api.auth("admin")
    jsonl = "\n".join(
        json.dumps(line, ensure_ascii=False)
        for line in (offer("bulk-1"), SAMPLE_OFFERS[OWN_OFFER], offer("bulk-2", price_eur=-3))
    )
    report = api.client.post(
        "/v1/opportunities/import",
        content=jsonl.encode(),
        headers={**admin, "Content-Type": "application/x-ndjson"},
    ).json()
    assert (report["inserted"], report["updated"], report["unchanged"]) == (1, 0, 1)
    assert report["rejected"] == [
        {"record": "ligne 3 (id bulk-2)", "reason": "price_eur: doit être ≥ 0 (reçu -3)"}
    ]
    csv_body = (
        "id,kind,title,description,territory,location.commune,location.department,location.lat,location.lon,tags\n"
        f"bulk-3,coworking,Tiers-lieu de Felletin,Bureaux partagés et fibre,{TERRITORY},"
        "Felletin,23,45.89,2.18,fibre|atelier\n"
        "bulk-4,coworking,Sans lieu,Rien,Quelque part,,,,,\n"
    )
    report = api.client.post(
        "/v1/opportunities/import", content=csv_body.encode(), headers={**admin, "Content-Type": "text/csv"}
    ).json()
    assert report["inserted"] == 1 and [r["record"] for r in report["rejected"]] == ["ligne 3 (id bulk-4)"]
    assert api.store.catalogue.get("bulk-3").tags == ["fibre", "atelier"]
    # Both imports reached the index.
    adhoc = {"project": "Un tiers-lieu avec bureaux partagés, fibre et atelier", "kinds": ["coworking"]}
    found = match_ids(api.client.post("/v1/match?top=100", json=adhoc, headers=api.auth("counsellor")))
    assert "bulk-3" in found
    empty = api.client.post("/v1/opportunities/import", content=b"  \n", headers=admin)
    assert empty.status_code == 422 and "vide" in empty.json()["detail"][0]["msg"]
    latin1 = api.client.post(
        "/v1/opportunities/import?format=csv", content="id\né\n".encode("latin-1"), headers=admin
    )
    assert latin1.status_code == 422 and "UTF-8" in latin1.json()["detail"][0]["msg"]


def test_holders_crud(api: Api) -> None:
    counsellor = api.auth("counsellor")
    created = api.client.post("/v1/holders", json=holder(), headers=counsellor)
    assert created.status_code == 201, created.text
    holder_id = created.json()["id"]
    assert re.fullmatch(r"h-[0-9a-f]{12}", holder_id)
    assert created.headers["location"] == f"/v1/holders/{holder_id}"
    assert api.client.get(f"/v1/holders/{holder_id}", headers=counsellor).json() == created.json()
    patched = api.client.patch(
        f"/v1/holders/{holder_id}", json={"budget_eur": 90_000, "email": None}, headers=counsellor
    ).json()
    assert (
        patched["budget_eur"] == 90_000
        and patched["email"] is None
        and patched["project"] == holder()["project"]
    )
    replaced = api.client.put(
        f"/v1/holders/{holder_id}", json={"project": "Ouvrir un gîte"}, headers=counsellor
    )
    assert replaced.status_code == 200 and replaced.json()["budget_eur"] is None
    assert api.store.holders.get(holder_id).project == "Ouvrir un gîte"
    page = api.client.get(
        "/v1/holders?share_with_territories=true&limit=5&offset=2", headers=counsellor
    ).json()
    sharing = sorted(
        i
        for i, h in SAMPLE_HOLDERS.items()
        if h.get("share_with_territories")
        and (h.get("counsellor") or {}).get("organisation") in (None, "BGE Paris")  # the caseload
    )
    assert page["total"] == len(sharing) and [h["id"] for h in page["items"]] == sharing[2:7]
    bad = api.client.patch(
        f"/v1/holders/{holder_id}", json={"max_distance_km": 50, "origin": None}, headers=counsellor
    )
    assert bad.status_code == 422 and "origine" in bad.json()["detail"][0]["msg"]


def test_erasure_leaves_no_trace_in_the_home_the_caches_or_the_logs(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    counsellor = api.auth("counsellor")
    person = {
        "id": "h-zephirine",
        "name": "Zéphirine Quillembois",
        "email": "zephirine.quillembois@example.org",
        "project": "Souffleuse de verre à Montreuil, je cherche un atelier-boutique avec four dans un bourg.",
        "share_with_territories": True,
    }
    traces = [person["id"], person["name"], person["email"], person["project"]]
    assert api.client.post("/v1/holders", json=holder(**person), headers=counsellor).status_code == 201
    matches = api.client.get("/v1/holders/h-zephirine/matches", headers=counsellor).json()["matches"]
    feedback = {
        "opportunity_id": matches[0]["opportunity_id"],
        "verdict": "interested",
        "comment": "Quillembois",
    }
    assert (
        api.client.post("/v1/holders/h-zephirine/feedback", json=feedback, headers=counsellor).status_code
        == 201
    )
    assert (
        api.client.patch("/v1/holders/h-zephirine", json={"budget_eur": 9}, headers=counsellor).status_code
        == 200
    )
    engine = api.client.app.state.engine
    adhoc = {key: value for key, value in person.items() if key == "project"}
    assert api.client.post("/v1/match", json=holder(**adhoc), headers=counsellor).status_code == 200
    assert any(person["project"] in text for text in engine.ranker.queries._vectors)
    lexical = engine.index.lexical
    assert any(person["project"] in text for text in lexical._query_rows)  # its TF-IDF row, kept
    identity, dim = engine.encoder.identity, engine.encoder.dim
    assert engine.store.holders.vectors(["h-zephirine"], identity, dim)  # stored with the profile
    officer = api.auth("officer")
    assert api.client.get(f"/v1/opportunities/{OWN_OFFER}/candidates", headers=officer).status_code == 200

    assert api.client.delete("/v1/holders/h-zephirine", headers=counsellor).status_code == 204
    assert not any(person["project"] in text for text in engine.ranker.queries._vectors)
    assert not any(person["project"] in text for text in lexical._query_rows)
    assert _words.cache_info().currsize == 0  # the analysed words of every text, dropped
    assert engine.store.holders.vectors(["h-zephirine"], identity, dim) == {}
    kept = engine.ranker.holder_index._current  # the sharing holders kept for candidates
    assert kept is not None and "h-zephirine" not in kept.slots
    assert not [h for h in kept.holders if h is not None and h.key == "h-zephirine"]
    for path in api.home.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [t for t in traces if t.encode("utf-8") in content], path
    # The access log names route templates, never a path with the holder's id in it.
    access = [r.getMessage() for r in caplog.records if r.name == "matcher.access"]
    assert "DELETE /v1/holders/{holder_id} 204" in " ".join(access)
    served = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]  # the client side
    assert not [(t, line) for t in traces for line in served if t in line]


def test_a_saved_widening_keeps_the_codes_it_added_and_refuses_no_change(api: Api) -> None:
    engine = api.client.app.state.engine
    counsellor = engine.authenticate(api.tokens["counsellor"])
    engine.save_widening("h-004", "regions", ["nouvelle aquitaine"], actor=counsellor)
    assert "75" in engine.holder("h-004").regions
    saved = engine.holder_history(engine.holder("h-004", actor=counsellor)).widenings[0]
    assert (saved.constraint, saved.value) == ("regions", ["75"])
    assert describe_widening(saved.constraint, saved.value) == "Régions ajoutées : Nouvelle-Aquitaine"
    with pytest.raises(InvalidRecord, match="déjà celui du profil"):
        engine.save_widening("h-004", "regions", ["75"], actor=counsellor)
    assert describe_widening("regions", ["nouvelle aquitaine"]).startswith("Régions ajoutées")  # never raises
    assert describe_widening("max_distance_km", 1.5) == "Distance maximale portée à 1,5 km"


def test_an_export_never_hands_a_formula_to_the_spreadsheet() -> None:
    match = Match(
        rank=1, opportunity_id="act-x", score=0.5, components={}, reasons=[], warnings=[],
        title='=HYPERLINK("http://evil.example";"Voir")', kind="activity", commune="-Crocq",
        department="23", distance_km=None, price_eur=None, fit="À discuter",
    )  # fmt: skip
    result = MatchResult(holder_id="h-1", matches=[match], excluded={}, relaxations=[])
    row = matches_sheet(result).decode("utf-8-sig").splitlines()[1]
    assert row.startswith("1;\"'=HYPERLINK(") and ";'-Crocq;" in row


def test_conflicts_are_409_and_change_nothing(api: Api) -> None:
    admin = api.auth("admin")
    taken = api.client.post(
        "/v1/opportunities", json=SAMPLE_OFFERS[OWN_OFFER] | {"title": "Écrasé"}, headers=admin
    )
    assert taken.status_code == 409 and "existe déjà" in taken.json()["detail"]
    assert api.store.catalogue.get(OWN_OFFER).title == SAMPLE_OFFERS[OWN_OFFER]["title"]
    taken = api.client.post("/v1/holders", json=holder("h-001"), headers=admin)
    assert taken.status_code == 409
    assert api.store.holders.get("h-001").name == SAMPLE_HOLDERS["h-001"]["name"]


def test_unknown_ids_are_404(api: Api) -> None:
    admin = api.auth("admin")
    responses = [
        api.client.get("/v1/opportunities/nope", headers=admin),
        api.client.put("/v1/opportunities/nope", json=offer("nope"), headers=admin),
        api.client.patch("/v1/opportunities/nope", json={"title": "x"}, headers=admin),
        api.client.delete("/v1/opportunities/nope", headers=admin),
        api.client.get("/v1/opportunities/nope/candidates", headers=admin),
        api.client.get("/v1/holders/nope", headers=admin),
        api.client.put("/v1/holders/nope", json=holder("nope"), headers=admin),
        api.client.patch("/v1/holders/nope", json={"name": "x"}, headers=admin),
        api.client.delete("/v1/holders/nope", headers=admin),
        api.client.get("/v1/holders/nope/matches", headers=admin),
        api.client.post(
            "/v1/holders/nope/feedback",
            json={"opportunity_id": OWN_OFFER, "verdict": "contacted"},
            headers=admin,
        ),
        api.client.post(
            "/v1/holders/h-001/feedback",
            json={"opportunity_id": "nope", "verdict": "contacted"},
            headers=admin,
        ),
        api.client.get("/v1/nowhere", headers=admin),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert all("inconnu" in r.json()["detail"] or "introuvable" in r.json()["detail"] for r in responses)
    with pytest.raises(NotFound):
        api.store.catalogue.get("nope")


INVALID = [
    (
        "POST",
        "/v1/opportunities",
        {k: v for k, v in offer("v-1").items() if k != "title"},
        "title",
        "champ obligatoire manquant",
    ),
    ("POST", "/v1/opportunities", offer("v-2", kind="castle"), "kind", "valeur inconnue 'castle'"),
    ("POST", "/v1/opportunities", offer("v-3", price_eur=-5), "price_eur", "doit être ≥ 0"),
    (
        "POST",
        "/v1/opportunities",
        offer("v-4", location={"lat": 123, "lon": 2, "department": "23"}),
        "location.lat",
        "doit être ≤ 90",
    ),
    ("POST", "/v1/opportunities", offer("v-5", colour="bleu"), "colour", "champ inconnu"),
    (
        "POST",
        "/v1/opportunities",
        offer("v-6", location={"commune": "Guéret"}),
        "location",
        "sans table des communes",
    ),
    ("POST", "/v1/opportunities", offer("bad id"), "id", "format invalide"),
    ("POST", "/v1/opportunities", offer("v-7", description="x" * 20_001), "description", "trop long"),
    ("POST", "/v1/opportunities", offer("v-8", available_from="demain"), "available_from", "date AAAA-MM-JJ"),
    ("POST", "/v1/opportunities", [offer("v-9")], "", "objet JSON"),
    ("POST", "/v1/opportunities", b'{"id": "v-10",', "", "JSON invalide"),
    ("POST", "/v1/opportunities", b"", "", "corps de requête manquant"),
    ("POST", "/v1/opportunities", b'{"title": "\\ud800"}', "title", "caractère isolé"),
    ("POST", "/v1/opportunities", b"[" * 100_000, "", "JSON illisible"),
    ("POST", "/v1/holders", holder("v-11", kinds=["castle"]), "kinds[0]", "valeur inconnue"),
    ("POST", "/v1/holders", holder("v-12", budget_eur="beaucoup"), "budget_eur", "doit être un nombre"),
    ("POST", "/v1/match", {"name": "Sans projet"}, "project", "champ obligatoire manquant"),
    (
        "POST",
        "/v1/holders/h-001/feedback",
        {"opportunity_id": OWN_OFFER, "verdict": "bof"},
        "verdict",
        "valeur inconnue",
    ),
    ("POST", "/v1/holders/h-001/feedback", b"{", "", "JSON invalide"),
    ("GET", "/v1/holders/h-001/matches?top=0", None, "top", "doit être ≥ 1"),
    ("GET", "/v1/holders/h-001/matches?top=beaucoup", None, "top", "nombre entier"),
    ("GET", "/v1/opportunities?kind=castle", None, "kind", "valeur inconnue"),
    ("GET", "/v1/opportunities?limit=5000", None, "limit", "doit être ≤ 200"),
    ("GET", "/v1/opportunities?offset=99999999999999999999999", None, "offset", "doit être ≤"),
    ("GET", "/v1/opportunities/bad%20id", None, "opportunity_id", "format invalide"),
]


@pytest.mark.parametrize(("method", "url", "body", "field", "message"), INVALID, ids=lambda v: str(v)[:40])
def test_invalid_input_is_422_with_a_french_message_per_field(
    shared_api: Api, method: str, url: str, body: Any, field: str, message: str
) -> None:
    headers = {**shared_api.auth("admin"), "Content-Type": "application/json"}
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = shared_api.client.request(method, url, headers=headers, **kwargs)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert field in [p["field"] for p in problems], problems
    assert any(message in p["msg"] for p in problems if p["field"] == field), problems
    assert not ENGLISH.search(response.text), response.text


def test_bodies_over_the_limit_are_413_before_parsing(
    sample_home: Path, tmp_path: Path, encoder: Encoder
) -> None:
    with open_api(sample_home, tmp_path / "home", encoder, max_upload_bytes=2_000) as api:
        admin = api.auth("admin")
        small = offer("small", description="Une offre courte.")
        assert api.client.post("/v1/opportunities", json=small, headers=admin).status_code == 201
        big = offer("big", description="Une offre très longue. " * 200)
        declared = api.client.post("/v1/opportunities", json=big, headers=admin)
        assert declared.status_code == 413
        assert "au plus 2000 octets" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed bytes are counted
            yield json.dumps(big).encode()

        streamed = api.client.post("/v1/opportunities", content=chunks(), headers=admin)
        assert streamed.status_code == 413
        for url in ("/v1/opportunities/import", "/v1/holders", "/v1/match", "/v1/opportunities/small"):
            method = "PUT" if url.endswith("small") else "POST"
            assert api.client.request(method, url, content=b"x" * 3_000, headers=admin).status_code == 413
        with pytest.raises(NotFound):
            api.store.catalogue.get("big")
        assert api.client.get("/healthz").status_code == 200


# --- people ------------------------------------------------------------------------------------


def test_erasure_removes_the_profile_feedback_and_send_history(api: Api) -> None:
    counsellor = api.auth("counsellor")
    for verdict in ("interested", "contacted"):
        feedback = {"opportunity_id": OWN_OFFER, "verdict": verdict}
        response = api.client.post("/v1/holders/h-001/feedback", json=feedback, headers=counsellor)
        assert response.status_code == 201 and response.json() == {
            "holder_id": "h-001",
            "comment": None,
            **feedback,
        }
    with api.store.database.session() as session:
        run = DigestRunRow(clock=utcnow(), started_at=utcnow(), dry_run=False)
        session.add(run)
        session.flush()
        session.add(
            SendRow(
                holder_id="h-001",
                opportunity_id=OWN_OFFER,
                run_id=run.run_id,
                clock=utcnow(),
                sent_at=utcnow(),
                message_id="<1@matcher>",
            )
        )

    def rows(table: type[FeedbackRow] | type[SendRow]) -> int:
        with api.store.database.session() as session:
            return session.scalar(select(func.count()).select_from(table).where(table.holder_id == "h-001"))

    assert rows(FeedbackRow) == 2 and rows(SendRow) == 1
    assert api.client.delete("/v1/holders/h-001", headers=counsellor).status_code == 204
    assert rows(FeedbackRow) == 0 and rows(SendRow) == 0
    assert api.client.get("/v1/holders/h-001", headers=counsellor).status_code == 404
    assert api.client.get("/v1/holders/h-001/matches", headers=counsellor).status_code == 404
    assert api.client.delete("/v1/holders/h-001", headers=counsellor).status_code == 404


def test_not_relevant_feedback_hides_the_offer_from_that_holder_only(api: Api) -> None:
    counsellor = api.auth("counsellor")
    first, second, *_ = match_ids(api.client.get("/v1/holders/h-001/matches", headers=counsellor))
    for opportunity_id, verdict in ((first, "not_relevant"), (second, "interested")):
        feedback = {"opportunity_id": opportunity_id, "verdict": verdict}
        assert (
            api.client.post("/v1/holders/h-001/feedback", json=feedback, headers=counsellor).status_code
            == 201
        )
    after = match_ids(api.client.get("/v1/holders/h-001/matches?top=100", headers=counsellor))
    assert first not in after and second in after
    # Another holder with the same profile still sees it.
    twin = api.client.post(
        "/v1/match?top=10", json=SAMPLE_HOLDERS["h-001"] | {"id": "h-twin"}, headers=counsellor
    )
    assert first in match_ids(twin)


CANDIDATE_FIELDS = {
    "rank", "pseudonym", "origin", "project", "score", "components", "reasons", "warnings", "distance_km"
}  # fmt: skip


def test_candidates_show_pseudonyms_never_names_or_emails(api: Api) -> None:
    officer = api.auth("officer")
    response = api.client.get(f"/v1/opportunities/{OWN_OFFER}/candidates?top=100", headers=officer)
    assert response.status_code == 200
    candidates = response.json()["candidates"]
    assert candidates, "the sample data has candidates for this offer"
    for holder_record in SAMPLE_HOLDERS.values():
        for secret in (holder_record.get("email"), holder_record.get("name"), holder_record["id"]):
            if secret:
                assert secret not in response.text
        counsellor = holder_record.get("counsellor") or {}
        for secret in (counsellor.get("email"), counsellor.get("name")):
            if secret:
                assert secret not in response.text
    sharing = {h["project"]: h for h in SAMPLE_HOLDERS.values() if h.get("share_with_territories")}
    for rank, candidate in enumerate(candidates, start=1):
        assert set(candidate) == CANDIDATE_FIELDS
        assert candidate["rank"] == rank
        assert re.fullmatch(r"Porteur·se [0-9A-F]{6}", candidate["pseudonym"])
        assert candidate["project"] in sharing  # only holders who agreed to be visible
        assert candidate["origin"]["commune"] == sharing[candidate["project"]]["origin"]["commune"]
    assert [c["score"] for c in candidates] == sorted((c["score"] for c in candidates), reverse=True)
    assert len({c["pseudonym"] for c in candidates}) == len(candidates)
    again = api.client.get(
        f"/v1/opportunities/{OWN_OFFER}/candidates?top=100", headers=api.auth("admin")
    ).json()
    assert [c["pseudonym"] for c in again["candidates"]] == [c["pseudonym"] for c in candidates]
    # A holder who withdraws their consent disappears.
    first = sharing[candidates[0]["project"]]
    patch = {"share_with_territories": False}
    assert (
        api.client.patch(f"/v1/holders/{first['id']}", json=patch, headers=api.auth("admin")).status_code
        == 200
    )
    later = api.client.get(f"/v1/opportunities/{OWN_OFFER}/candidates?top=100", headers=officer).json()[
        "candidates"
    ]
    assert candidates[0]["pseudonym"] not in {c["pseudonym"] for c in later}
    assert len(later) == len(candidates) - 1


# --- accounts and CLI --------------------------------------------------------------------------


@pytest.mark.usefixtures("sqlite_only")
def test_accounts_store_only_a_hash_of_the_token(tmp_path: Path) -> None:
    engine = Engine(Settings(home=tmp_path))
    user, token = engine.create_account(
        "  Agent   Lot ", "officer", ["PETR du Pays de Figeac", "PETR du Pays de Figeac"]
    )
    assert user.name == "Agent Lot" and user.territories == ("PETR du Pays de Figeac",)
    assert token.startswith("mtk_") and len(token) > 40
    with engine.store.database.session() as session:
        row = session.scalar(select(UserRow))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() == hash_token(token)
    engine.close()
    assert token.encode() not in (tmp_path / "matcher.db").read_bytes()
    engine = Engine(Settings(home=tmp_path))
    assert engine.authenticate(token) == user
    assert engine.authenticate(token + "x") is None and engine.authenticate("") is None
    with pytest.raises(AlreadyExists):
        engine.create_account("Agent Lot", "counsellor", organisation="BGE Paris")
    with pytest.raises(InvalidRecord, match="appartient à une organisation"):
        engine.create_account("Conseil sans organisation", "counsellor")
    with pytest.raises(InvalidRecord, match="territoire"):
        engine.create_account("Agent sans territoire", "officer")
    with pytest.raises(InvalidRecord, match="rôle inconnu"):
        engine.create_account("Chef", "boss")
    with pytest.raises(InvalidRecord, match="seuls les comptes officer"):
        engine.create_account("Conseil", "counsellor", ["Lot"])
    revoked = engine.revoke_account("Agent Lot")
    assert revoked.revoked_at is not None and engine.authenticate(token) is None
    assert engine.revoke_account("Agent Lot").revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        engine.revoke_account("Personne")
    assert [u.name for u in engine.accounts()] == ["Agent Lot"]
    # A revoked name may be given a new account, hence a new token; the old one stays dead.
    renewed, new_token = engine.create_account("Agent Lot", "officer", ["Causses et Vallée de la Dordogne"])
    assert renewed.active and engine.authenticate(new_token) == renewed and engine.authenticate(token) is None
    assert len(engine.accounts()) == 1
    engine.close()


def test_concurrent_wrong_passwords_cannot_slip_past_the_lock(tmp_path: Path) -> None:
    engine = Engine(Settings(home=tmp_path))
    engine.create_account(
        "Conseil", "counsellor", email="c@bge.example", organisation="BGE", password="le bon mot de passe"
    )

    def attempt(_: int) -> str:
        try:
            engine.sign_in("c@bge.example", "un mauvais mot de passe")
        except SignInRefused:
            return "refused"
        return "signed in"

    with ThreadPoolExecutor(12) as pool:
        assert set(pool.map(attempt, range(30))) == {"refused"}
    with pytest.raises(SignInRefused):
        engine.sign_in("c@bge.example", "le bon mot de passe")  # the burst locked the account
    with engine.store.database.session() as session:
        assert session.scalar(select(UserRow.locked_until)) is not None
    engine.close()


def test_tokens_may_expire_and_remember_their_last_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATCHER_HOME", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(cli_app, ["users", "add", "--role", "admin", "--name", "Outil", "--expires", "90j"])
    assert added.exit_code == 0 and "valable jusqu'au" in added.output, added.output
    token = added.stdout.strip()
    assert (
        runner.invoke(
            cli_app, ["users", "add", "--role", "admin", "--name", "X", "--expires", "bientôt"]
        ).exit_code
        == 1
    )
    engine = Engine(Settings(home=tmp_path))
    user = engine.authenticate(token)
    assert user is not None and user.expires_at is not None
    assert timedelta(days=89) < user.expires_at - utcnow() <= timedelta(days=90)
    assert engine.accounts()[0].last_used_at is not None  # noted by the use above
    with engine.store.database.session() as session:
        session.execute(update(UserRow).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert engine.authenticate(token) is None  # expired: the token no longer works
    engine.close()
    listed = json.loads(runner.invoke(cli_app, ["users", "list", "--json"]).stdout)["users"][0]
    assert listed["expires_at"] < utcnow().isoformat() and listed["last_used_at"] is not None
    assert token_lifetime("12w") == timedelta(weeks=12) and token_lifetime(" 24 h ") == timedelta(hours=24)


@pytest.mark.usefixtures("sqlite_only")
def test_sign_in_stores_an_argon2id_hash_locks_after_five_failures_and_sessions_end(tmp_path: Path) -> None:
    engine = Engine(Settings(home=tmp_path, session_idle_minutes=30))
    password = "correct horse battery"
    user, _ = engine.create_account(
        "Conseil", "counsellor", email=" Conseil@BGE.example ", organisation="BGE Paris", password=password
    )
    assert user.email == "conseil@bge.example" and user.organisation == "BGE Paris"
    with engine.store.database.session() as session:
        stored = session.scalar(select(UserRow.password_hash))
    assert stored.startswith("$argon2id$") and password not in stored
    with pytest.raises(InvalidRecord, match="trop court"):
        engine.create_account("Court", "admin", email="court@example.org", password="court")
    with pytest.raises(AlreadyExists, match="déjà celle du compte « Conseil »"):
        engine.create_account("Autre", "admin", email="conseil@bge.example", password=password)

    opened = engine.sign_in("CONSEIL@bge.example", password)
    assert engine.web_session(opened.token) == opened and opened.user.account_id == user.account_id
    stored_bytes = b"".join(path.read_bytes() for path in tmp_path.glob("matcher.db*"))
    assert opened.token.encode() not in stored_bytes and hash_token(opened.token).encode() in stored_bytes
    engine.sign_out(opened.token)
    assert engine.web_session(opened.token) is None
    with pytest.raises(SignInRefused) as unknown:
        engine.sign_in("personne@example.org", password)
    for _ in range(5):
        with pytest.raises(SignInRefused) as wrong:
            engine.sign_in("conseil@bge.example", "mauvais mot de passe")
        assert str(wrong.value) == str(unknown.value)  # nothing tells which addresses exist
    with pytest.raises(SignInRefused) as locked:
        engine.sign_in("conseil@bge.example", password)  # locked: even the right password waits
    assert str(locked.value) == str(unknown.value) and "verrouillé pendant 15 minutes" in str(locked.value)
    # A new password lifts the lock; a session idle for longer than the timeout has ended.
    engine.set_password("conseil@bge.example", "un tout nouveau mot de passe")
    idle = engine.sign_in("conseil@bge.example", "un tout nouveau mot de passe")
    with engine.store.database.session() as session:
        session.execute(update(WebSessionRow).values(last_seen_at=utcnow() - timedelta(minutes=31)))
    assert engine.web_session(idle.token) is None
    kept = engine.sign_in("conseil@bge.example", "un tout nouveau mot de passe")
    engine.revoke_account("Conseil")  # revoking ends the open sessions at once
    assert engine.web_session(kept.token) is None
    with pytest.raises(SignInRefused):
        engine.sign_in("conseil@bge.example", "un tout nouveau mot de passe")
    engine.close()


def test_cli_users_add_prints_the_token_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHER_HOME", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(
        cli_app,
        ["users", "add", "--role", "officer", "--name", "Agent", "--territory", "A", "--territory", "B"],
    )
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert re.fullmatch(r"mtk_[A-Za-z0-9_-]{40,}", token), added.stdout
    engine = Engine(Settings(home=tmp_path))
    assert engine.authenticate(token).territories == ("A", "B")
    engine.close()
    listed = runner.invoke(cli_app, ["users", "list", "--json"])
    assert json.loads(listed.stdout)["users"][0] | {"created_at": None, "last_used_at": None} == {
        "name": "Agent", "role": "officer", "territories": ["A", "B"], "email": None, "organisation": None,
        "created_at": None, "revoked_at": None, "expires_at": None, "last_used_at": None,
    }  # fmt: skip
    assert token not in listed.output
    assert runner.invoke(cli_app, ["users", "add", "--role", "officer", "--name", "Sans"]).exit_code == 1
    assert runner.invoke(cli_app, ["users", "add", "--role", "chef", "--name", "X"]).exit_code == 2
    counsellor = [
        "users", "add", "--role", "counsellor", "--name", "Conseil", "--email", "conseil@bge.example",
        "--organisation", "BGE Paris", "--password-stdin",
    ]  # fmt: skip
    added = runner.invoke(cli_app, counsellor, input="premier mot de passe\n")
    assert added.exit_code == 0 and added.stdout.strip().startswith("mtk_"), added.output
    changed = runner.invoke(
        cli_app, ["users", "passwd", "conseil@bge.example", "--password-stdin"], input="second mot de passe\n"
    )
    assert changed.exit_code == 0 and "sessions ouvertes sont fermées" in changed.stdout
    engine = Engine(Settings(home=tmp_path))
    assert engine.sign_in("conseil@bge.example", "second mot de passe").user.organisation == "BGE Paris"
    engine.close()
    short = runner.invoke(cli_app, ["users", "passwd", "Conseil", "--password-stdin"], input="court\n")
    assert short.exit_code == 1 and "trop court" in short.output
    assert runner.invoke(cli_app, ["users", "revoke", "Agent"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "revoke", "Personne"]).exit_code == 3
    assert "révoqué" in runner.invoke(cli_app, ["users", "list"]).stdout


# --- a real server -----------------------------------------------------------------------------


@contextmanager
def uvicorn_thread(settings: Settings, encoder: Encoder) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, encoder=encoder), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


WRITES_PER_CLIENT = 2


def test_real_server_on_loopback_with_concurrent_clients(
    sample_home: Path, tmp_path: Path, encoder: Encoder
) -> None:
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    tokens = make_accounts(home)
    settings = Settings(home=home, max_upload_bytes=20_000)
    with uvicorn_thread(settings, encoder) as base:
        officer = {"Authorization": f"Bearer {tokens['officer']}"}
        counsellor = {"Authorization": f"Bearer {tokens['counsellor']}"}
        with httpx.Client(base_url=base, timeout=60) as client:
            assert client.get("/healthz").json()["status"] == "ok"
            assert client.get("/v1/opportunities").status_code == 401
            assert client.post("/v1/opportunities", content=b"{" * 50_000, headers=officer).status_code == 413
            assert client.post(PUBLISH, json=offer("wire-1"), headers=officer).status_code == 201
            assert "wire-1" in match_ids(client.get("/v1/holders/h-001/matches", headers=counsellor))

        def worker(n: int) -> tuple[list[str], list[str], list[int]]:
            offers, holders, statuses = [], [], []
            with httpx.Client(base_url=base, timeout=60) as client:
                for i in range(WRITES_PER_CLIENT):
                    offer_id, holder_id = f"c{n}-o{i}", f"c{n}-h{i}"
                    response = client.post(PUBLISH, json=offer(offer_id), headers=officer)
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        offers.append(offer_id)
                    response = client.post("/v1/holders", json=holder(holder_id), headers=counsellor)
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        holders.append(holder_id)
                    patch = {"title": f"Titre {n}-{i}"}
                    statuses.append(
                        client.patch(
                            f"/v1/opportunities/{offer_id}?force=true", json=patch, headers=officer
                        ).status_code
                    )
                    statuses.append(
                        client.get(f"/v1/holders/{CASELOAD[i % 5]}/matches", headers=counsellor).status_code
                    )
            return offers, holders, statuses

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(worker, range(8)))
    statuses = [s for _, _, batch in results for s in batch]
    assert all(s < 300 for s in statuses), sorted(set(statuses))
    store = Store(settings.db_url)
    for offers, holders, _ in results:
        assert len(offers) == len(holders) == WRITES_PER_CLIENT
        for offer_id in offers:
            assert store.catalogue.get(offer_id).title.startswith("Titre")
        for holder_id in holders:
            store.holders.get(holder_id)
    store.close()


@pytest.mark.usefixtures("sqlite_only")
def test_matcher_serve_runs_the_api(sample_home: Path, tmp_path: Path) -> None:
    """The real command in a subprocess, from another directory, on the same MATCHER_HOME."""
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    engine = Engine(Settings(home=home))
    _, token = engine.create_account("Conseil", Role.counsellor, organisation=DEMO_ORGANISATION)
    engine.close()
    env = {**os.environ, "MATCHER_HOME": str(home)}
    with matcher_serve(home, tmp_path) as served:
        base = served.base
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.get(f"{base}/v1/holders/h-001/matches?top=2", headers=headers, timeout=60)
        assert response.status_code == 200 and len(response.json()["matches"]) == 2
        docs = httpx.get(f"{base}/docs", timeout=10)
        # Swagger UI's files come from the service itself: /docs works offline.
        assert docs.status_code == 200 and "cdn" not in docs.text and "/static-offline-docs/" in docs.text
        bundle = re.search(r'src="(/static-offline-docs/[^"]+\.js)"', docs.text)
        assert bundle and httpx.get(base + bundle[1], timeout=10).status_code == 200

        # A second process writes to the same home while the service runs: the service's next
        # query sees the new offer, and neither the database nor the index is damaged.
        offer = SAMPLE_OFFERS["act-036-medecin-chateau-chinon"] | {
            "id": "act-from-cli",
            "title": "Infirmier·ère libéral·e : tournées à domicile",
        }
        path = tmp_path / "offre.jsonl"
        path.write_text(json.dumps(offer, ensure_ascii=False) + "\n", encoding="utf-8")
        imported = subprocess.run(
            [*matcher_command(), "import", "opportunities", str(path), "--force"],  # act-036 retitled
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert imported.returncode == 0 and "1 ajouté(s)" in imported.stdout, imported.stderr
        response = httpx.get(f"{base}/v1/holders/h-001/matches?top=10", headers=headers, timeout=60)
        assert "act-from-cli" in [m["opportunity_id"] for m in response.json()["matches"]]
    assert served.process.returncode == 0, served.output
    reopened = Engine(Settings(home=home))
    report = reopened.refresh()  # the index the service saved on shutdown loads cleanly, up to date
    assert not report.rebuilt and report.embedded == 0 and "act-from-cli" in reopened.view.arrays["id"]
    reopened.close()


def test_service_processes_on_one_database_see_each_other_s_writes(sample_home: Path, tmp_path: Path) -> None:
    """Two services (one of them with two worker processes) over one database: a write through
    one is in the next answer of the other."""
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    tokens = make_accounts(home)
    same_database = {"MATCHER_DATABASE_URL": Settings(home=home).db_url}
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    counsellor = {"Authorization": f"Bearer {tokens['counsellor']}"}

    def titles(served: Served) -> dict[str, str]:
        response = httpx.get(f"{served.base}/v1/holders/h-001/matches", headers=counsellor, timeout=60)
        assert response.status_code == 200, response.text
        return {m["opportunity_id"]: m["title"] for m in response.json()["matches"]}

    with (
        matcher_serve(home, tmp_path, **same_database) as first,
        matcher_serve(home, tmp_path, "--workers", "2", **same_database) as second,
    ):
        created = httpx.post(
            f"{first.base}/v1/opportunities", json=offer("multi"), headers=officer, timeout=60
        )
        assert created.status_code == 201, created.text
        assert "multi" in titles(second)
        for i in range(4):  # through either service, and either worker of the second
            writer, reader = (second, first) if i % 2 == 0 else (first, second)
            patch = {"title": f"Infirmière ou infirmier à domicile à Vendôme, tournée {i + 1}"}
            answer = httpx.patch(
                f"{writer.base}/v1/opportunities/multi", json=patch, headers=officer, timeout=60
            )
            assert answer.status_code == 200, answer.text
            assert titles(reader)["multi"] == patch["title"]
            assert titles(writer)["multi"] == patch["title"]

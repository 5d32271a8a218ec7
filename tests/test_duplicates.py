"""Duplicate offers: the similarity on French examples, the engine's warning, the API's 409,
the import's refusal and ``matcher duplicates``. Real SQLite homes, the real index and encoder."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from evaluation.duplicates import PAIRS, Pair, measure, report, scores
from matcher.config import Settings
from matcher.domain import Opportunity
from matcher.duplicates import (
    THRESHOLD,
    Candidate,
    combined,
    fuzzy_similarity,
    is_live,
    look_alikes,
    may_reach,
    normalised,
    same_place,
    warning,
)
from matcher.encoders import Encoder
from matcher.engine import Engine
from matcher.errors import LookAlike, LooksLikeDuplicate
from matcher.explain import long_date
from matcher.intake import read_records
from service.app import create_app

from .conftest import DATA

SAMPLE = {o["id"]: o for o in map(json.loads, (DATA / "opportunities.jsonl").read_text().splitlines())}
CROCQ = "act-002-boulanger-crocq"  # Communauté de communes Creuse Grand Sud, Crocq (23069)
FELLETIN = "rep-001-boulangerie-felletin"  # the same territory, another commune
ELSEWHERE = "act-018-boucher-cajarc"  # another territory


def offer(offer_id: str = CROCQ, **changes: Any) -> Opportunity:
    return Opportunity.model_validate({**SAMPLE[offer_id], **changes})


def reposted(new_id: str = "crocq-bis", **changes: Any) -> Opportunity:
    """The Crocq bakery call posted again with a lower figure: a duplicate."""
    original = SAMPLE[CROCQ]
    description = original["description"].replace("environ 25 000 €", "environ 20 000 €")
    return offer(id=new_id, description=description, price_eur=20_000, **changes)


# --- the similarity, on French examples -------------------------------------------------------


def test_normalised_text_has_no_case_accents_or_punctuation() -> None:
    assert normalised("  Épicerie-BAR !  Crêperie… ") == "epicerie bar creperie"


def test_a_repost_is_close_in_words_and_two_trades_are_not() -> None:
    assert fuzzy_similarity(offer(), reposted()) > 0.9
    assert fuzzy_similarity(offer(), offer("act-001-medecin-felletin")) < 0.4


def test_title_word_order_does_not_matter_but_words_do() -> None:
    first = offer(title="Boulangerie à reprendre à Crocq")
    assert fuzzy_similarity(first, offer(title="À reprendre à Crocq : boulangerie")) == pytest.approx(
        fuzzy_similarity(first, first)
    )
    assert fuzzy_similarity(first, offer(title="Boucherie à reprendre à Crocq")) < fuzzy_similarity(
        first, first
    )


def test_combined_similarity_and_its_bound() -> None:
    assert combined(1.0, 1.0) == pytest.approx(1.0)
    assert combined(0.6, -0.2) == combined(0.6, 0.0)  # an opposite meaning adds nothing
    low = 0.0
    assert not may_reach(low) and combined(low, 1.0) < THRESHOLD
    assert may_reach(1.0)


def test_look_alikes_rank_the_closest_first_and_never_the_record_itself() -> None:
    axis = np.eye(4, dtype=np.float32)
    record = reposted()
    close = Candidate(offer(), axis[0], date(2026, 11, 3))
    far = Candidate(offer("act-001-medecin-felletin"), axis[1], date(2026, 1, 2))
    found = look_alikes(record, axis[0], [far, close])
    assert [a.id for a in found] == [CROCQ]
    assert found[0].published == date(2026, 11, 3) and found[0].similarity > 0.95
    assert look_alikes(record, axis[2], [close]) == []  # the same words with unrelated meanings


def test_place_is_the_territory_or_the_commune() -> None:
    crocq = offer()
    assert same_place(crocq, offer(FELLETIN))  # same territory, another commune
    assert same_place(crocq, offer(ELSEWHERE, location=SAMPLE[CROCQ]["location"]))  # same commune
    assert same_place(crocq, offer(territory="  communauté de communes CREUSE GRAND SUD "))
    assert not same_place(crocq, offer(ELSEWHERE))


def test_live_means_published_and_not_expired() -> None:
    today = date(2026, 12, 1)
    assert is_live(offer(expires_on=today), today)
    assert not is_live(offer(expires_on=today - timedelta(days=1)), today)
    assert not is_live(offer(status="archived"), today)
    assert not is_live(offer(status="draft"), today)


def test_the_warning_names_the_title_and_the_date_in_french() -> None:
    alike = LookAlike(CROCQ, "Crocq cherche son boulanger", date(2026, 11, 3), 0.91)
    assert warning([alike]) == (
        "Cette offre ressemble à « Crocq cherche son boulanger » publiée le 3 novembre 2026 : "
        "publier quand même ?"
    )
    other = LookAlike("x", "Autre", date(2026, 1, 1), 0.7)
    assert "(et à 2 autres offres)" in warning([alike, other, other])


def test_scores_count_flags_against_labels() -> None:
    def pair(duplicate: bool, similarity: float) -> Pair:
        return Pair("a", "b", duplicate, "case", True, similarity, similarity)

    pairs = [pair(True, 0.9), pair(True, 0.5), pair(False, 0.8), pair(False, 0.1)]
    assert scores(pairs, lambda p: p.similarity >= 0.7) == {
        "tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5,
    }  # fmt: skip


def test_the_labelled_pairs_are_measured_with_the_shipped_threshold(encoder: Encoder) -> None:
    result = report(measure(PAIRS, encoder))
    assert result["pairs"] >= 60 and result["threshold"] == THRESHOLD
    assert sum(case["pairs"] for case in result["by_case"].values()) == result["pairs"]
    at = result["at_threshold"]
    assert at["tp"] + at["fn"] == result["duplicates"]
    assert len(result["misses"]) == at["fp"] + at["fn"]


# --- the engine -------------------------------------------------------------------------------


def test_publishing_a_look_alike_is_refused_and_writes_nothing(sample_engine: Engine) -> None:
    with pytest.raises(LooksLikeDuplicate) as raised:
        sample_engine.publish(reposted(), create=True)
    (alike,) = raised.value.look_alikes
    assert (alike.id, alike.title) == (CROCQ, SAMPLE[CROCQ]["title"])
    assert alike.published == date.today() and THRESHOLD <= alike.similarity <= 1
    assert str(raised.value) == (
        f"Cette offre ressemble à « {SAMPLE[CROCQ]['title']} » publiée le {long_date(date.today())} : "
        "publier quand même ?"
    )
    assert sample_engine.store.catalogue.find("crocq-bis") is None


def test_forcing_publishes_and_the_look_alike_stays_known(sample_engine: Engine) -> None:
    assert sample_engine.publish(reposted(), create=True, force=True) == "inserted"
    assert [a.id for a in sample_engine.look_alikes(reposted())] == [CROCQ]
    # Editing the forced copy (its phone) does not warn again about the same look-alike.
    assert sample_engine.publish(reposted(contact_phone="05 55 00 00 00")) == "updated"


def test_an_update_of_an_offer_never_resembles_itself(sample_engine: Engine) -> None:
    assert sample_engine.look_alikes(offer()) == []
    changed = reposted(new_id=CROCQ)
    assert sample_engine.publish(changed) == "updated"


def test_changing_an_offer_into_another_is_refused(sample_engine: Engine) -> None:
    crocq = SAMPLE[CROCQ]
    felletin = offer(FELLETIN, title=crocq["title"], description=crocq["description"])
    with pytest.raises(LooksLikeDuplicate) as raised:
        sample_engine.publish(felletin)
    assert [a.id for a in raised.value.look_alikes] == [CROCQ]
    assert sample_engine.opportunity(FELLETIN).title == SAMPLE[FELLETIN]["title"]


def test_expired_and_archived_offers_are_not_look_alikes(sample_engine: Engine) -> None:
    sample_engine.publish(offer(expires_on=date.today() - timedelta(days=1)))
    assert sample_engine.look_alikes(reposted()) == []
    sample_engine.publish(offer())
    assert [a.id for a in sample_engine.look_alikes(reposted())] == [CROCQ]
    sample_engine.archive(CROCQ)
    assert sample_engine.look_alikes(reposted()) == []
    assert sample_engine.publish(reposted(), create=True) == "inserted"


def test_another_territory_and_commune_is_not_a_look_alike(sample_engine: Engine) -> None:
    cajarc = SAMPLE[ELSEWHERE]
    moved = reposted(territory=cajarc["territory"], location=cajarc["location"])
    assert sample_engine.look_alikes(moved) == []
    assert sample_engine.publish(moved, create=True) == "inserted"
    # In Crocq under Cajarc's territory: the Crocq offer by its commune, the moved copy by its
    # territory (the very same text, so the closer one).
    renamed = reposted(new_id="crocq-ter", territory=cajarc["territory"])
    assert [a.id for a in sample_engine.look_alikes(renamed)] == ["crocq-bis", CROCQ]


def test_a_draft_is_not_checked(sample_engine: Engine) -> None:
    assert sample_engine.publish(reposted(status="draft"), create=True) == "inserted"


def jsonl(*records: Opportunity | dict[str, Any]) -> bytes:
    rows = [
        r.model_dump(mode="json", exclude_none=True) if isinstance(r, Opportunity) else r for r in records
    ]
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()


def test_an_import_refuses_a_look_alike_and_stores_the_others(sample_engine: Engine) -> None:
    unrelated = offer(
        ELSEWHERE,
        id="nouvelle-offre",
        title="Fromagerie à créer à Cajarc",
        description="Les éleveurs de brebis du causse cherchent un ou une fromager·ère pour affiner "
        "et vendre leurs rocamadours sur les marchés de la vallée du Lot.",
    )
    report = sample_engine.import_records("opportunities", read_records(jsonl(reposted(), unrelated), "f"))
    assert report.inserted == 1
    (reject,) = report.rejected
    assert reject.record == "ligne 1 (id crocq-bis)"
    assert f"ressemble à l'offre {CROCQ} « {SAMPLE[CROCQ]['title']} »" in reject.reason
    assert "--force" in reject.reason and "?force=true" in reject.reason
    assert sample_engine.store.catalogue.find("crocq-bis") is None


def test_an_import_compares_a_record_with_the_earlier_ones_of_its_file(sample_engine: Engine) -> None:
    cajarc = SAMPLE[ELSEWHERE]
    first = reposted(new_id="copie-1", territory=cajarc["territory"], location=cajarc["location"])
    second = first.model_copy(update={"id": "copie-2", "price_eur": 18_000})
    records = read_records(jsonl(first, second), "f")
    report = sample_engine.import_records("opportunities", records)
    assert report.inserted == 1
    assert "ressemble à l'offre copie-1" in report.rejected[0].reason
    assert "du même fichier" in report.rejected[0].reason
    forced = sample_engine.import_records("opportunities", records, force=True)
    assert (forced.inserted, forced.unchanged, forced.rejected) == (1, 1, [])
    # Both are stored now: importing the file again changes nothing and refuses nothing.
    again = sample_engine.import_records("opportunities", records)
    assert (again.unchanged, again.rejected) == (2, [])


def test_reimporting_the_sample_catalogue_stays_idempotent(sample_engine: Engine) -> None:
    records = read_records((DATA / "opportunities.jsonl").read_bytes(), "opportunities.jsonl")
    report = sample_engine.import_records("opportunities", records)
    assert (report.unchanged, report.rejected) == (len(SAMPLE), [])


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def client(sample_home: Path, tmp_path: Path, encoder: Encoder) -> TestClient:
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    engine = Engine(Settings(home=home))
    _, token = engine.create_account("Agent Creuse", "officer", [SAMPLE[CROCQ]["territory"]])
    engine.close()
    with TestClient(create_app(Settings(home=home), encoder=encoder)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def body(record: Opportunity) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_none=True, exclude={"sector_family", "trade_code"})


def test_api_answers_409_with_the_look_alikes_unless_forced(client: TestClient) -> None:
    response = client.post("/v1/opportunities", json=body(reposted()))
    assert response.status_code == 409, response.text
    answer = response.json()
    assert [a["id"] for a in answer["look_alikes"]] == [CROCQ]
    assert answer["look_alikes"][0]["published"] == date.today().isoformat()
    assert answer["detail"].startswith(f"Cette offre ressemble à « {SAMPLE[CROCQ]['title']} » publiée le")
    assert "?force=true" in answer["detail"]
    assert client.get("/v1/opportunities/crocq-bis").status_code == 404
    assert client.post("/v1/opportunities?force=true", json=body(reposted())).status_code == 201
    assert client.get("/v1/opportunities/crocq-bis").status_code == 200


def test_api_put_and_patch_into_a_look_alike_answer_409(client: TestClient) -> None:
    crocq = SAMPLE[CROCQ]
    into_crocq = {"title": crocq["title"], "description": crocq["description"]}
    patched = client.patch(f"/v1/opportunities/{FELLETIN}", json=into_crocq)
    assert patched.status_code == 409, patched.text
    assert [a["id"] for a in patched.json()["look_alikes"]] == [CROCQ]
    replaced = client.put(f"/v1/opportunities/{FELLETIN}", json={**body(offer(FELLETIN)), **into_crocq})
    assert replaced.status_code == 409
    assert client.get(f"/v1/opportunities/{FELLETIN}").json()["title"] == SAMPLE[FELLETIN]["title"]
    assert client.patch(f"/v1/opportunities/{FELLETIN}?force=true", json=into_crocq).status_code == 200
    # An update of the offer itself is never its own look-alike.
    assert client.patch(f"/v1/opportunities/{CROCQ}", json={"price_eur": 21_000}).status_code == 200


def test_api_import_refuses_the_look_alike_unless_forced(client: TestClient) -> None:
    headers = {"Content-Type": "application/x-ndjson"}
    report = client.post("/v1/opportunities/import", content=jsonl(reposted()), headers=headers).json()
    assert report["inserted"] == 0 and CROCQ in report["rejected"][0]["reason"]
    forced = client.post("/v1/opportunities/import?force=true", content=jsonl(reposted()), headers=headers)
    assert forced.json()["inserted"] == 1 and forced.json()["rejected"] == []


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_import_refuses_then_forces_and_duplicates_lists_the_pair(run, tmp_path: Path) -> None:
    path = tmp_path / "offres.jsonl"
    path.write_bytes(jsonl(reposted()))
    refused = run("import", "opportunities", str(path))
    assert refused.exit_code == 1
    assert "refusé ligne 1 (id crocq-bis)" in refused.output and "--force" in refused.output
    assert run("duplicates").output.startswith("Aucun doublon probable parmi les offres en ligne")
    assert run("import", "opportunities", str(path), "--force").exit_code == 0

    listed = run("duplicates", "--territory", SAMPLE[CROCQ]["territory"])
    assert listed.exit_code == 0, listed.output
    assert "1 paire(s) d'offres qui se ressemblent" in listed.output
    for text in (CROCQ, "crocq-bis", "Ressemblance", long_date(date.today())):
        assert text in listed.output
    elsewhere = run("duplicates", "--territory", SAMPLE[ELSEWHERE]["territory"])
    assert elsewhere.exit_code == 0 and "Aucun doublon probable" in elsewhere.output
    strict = run("duplicates", "--threshold", "0.999")
    assert strict.exit_code == 0 and "Aucun doublon probable" in strict.output

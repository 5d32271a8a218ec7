"""Bad input gets a clear French error naming the record and the field; nothing is half-written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from matcher.domain import MAX_DESCRIPTION_CHARS, HolderQuery
from matcher.errors import InvalidFile
from matcher.intake import import_records, read_records
from matcher.store import OpportunityRow

FELLETIN = {"commune": "Felletin", "postcode": "23500", "insee": "23079", "department": "23",
            "lat": 45.89425, "lon": 2.187}  # fmt: skip


def offer(**changes: object) -> dict:
    record = {
        "id": "act-test-1",
        "kind": "activity",
        "title": "Boulanger·ère pour le fournil communal",
        "description": "La commune cherche quelqu'un pour relancer le fournil du bourg.",
        "territory": "Communauté de communes Creuse Grand Sud",
        "location": dict(FELLETIN),
        "price_eur": 12000,
    }
    record.update(changes)
    return record


def jsonl(*records: object) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


def stored_ids(engine) -> list[str]:
    with engine.store.database.session() as session:
        return sorted(session.scalars(select(OpportunityRow.id)))


def run_import(engine, content: bytes, fmt: str | None = None, kind: str = "opportunities"):
    return import_records(engine.store, engine.gazetteer, kind, read_records(content, "offres.jsonl", fmt))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"title": None}, "title", "doit être un texte"),
        ({"kind": "ferme"}, "kind", "valeur inconnue 'ferme'"),
        ({"price_eur": -5}, "price_eur", "≥ 0"),
        ({"location": {**FELLETIN, "lat": 123.0}}, "location.lat", "≤ 90"),
        ({"description": "x" * 1_000_000}, "description", f"au plus {MAX_DESCRIPTION_CHARS}"),
        ({"colour": "bleu"}, "colour", "champ inconnu"),
        ({"expires_on": "31/12/2027"}, "expires_on", "date AAAA-MM-JJ"),
        ({"id": "a b/c"}, "id", "format invalide"),
    ],
)
def test_invalid_field_is_named_and_nothing_is_stored(make_engine, change, field, words):
    engine = make_engine()
    raw = offer(**change)
    if change.get("title", "") is None:
        del raw["title"]
        words = "champ obligatoire manquant"
    report = run_import(engine, jsonl(offer(id="good-1"), raw))
    assert report.inserted == 1
    [reject] = report.rejected
    assert reject.record.startswith("ligne 2")
    assert f"{field}: " in reject.reason and words in reject.reason
    assert stored_ids(engine) == ["good-1"]


def test_unknown_commune_is_refused_with_the_gazetteer(make_engine, communes_csv):
    engine = make_engine()
    engine.load_gazetteer(communes_csv)
    located = offer(id="by-name", location={"commune": "Felletin"})
    lost = offer(id="lost", location={"commune": "Trifouilly-les-Oies"})
    report = run_import(engine, jsonl(located, lost))
    assert [r.record for r in report.rejected] == ["ligne 2 (id lost)"]
    assert "location: commune introuvable : Trifouilly-les-Oies" in report.rejected[0].reason
    stored = engine.store.catalogue.get("by-name").location
    assert (stored.insee, stored.department, stored.postcode) == ("23079", "23", "23500")


def test_without_gazetteer_a_location_needs_coordinates(make_engine):
    engine = make_engine()
    report = run_import(engine, jsonl(offer(location={"commune": "Felletin"})))
    [reject] = report.rejected
    assert "matcher geo load" in reject.reason and "lat, lon et department" in reject.reason
    assert stored_ids(engine) == []


def test_duplicate_ids_in_one_file_are_all_refused(make_engine):
    engine = make_engine()
    report = run_import(engine, jsonl(offer(id="twice"), offer(id="once"), offer(id="twice", title="Autre")))
    assert sorted(r.record for r in report.rejected) == ["ligne 1 (id twice)", "ligne 3 (id twice)"]
    assert all("id en double dans le fichier (ligne 1, ligne 3)" in r.reason for r in report.rejected)
    assert stored_ids(engine) == ["once"]


def test_malformed_json_line_is_one_reject(make_engine):
    engine = make_engine()
    content = jsonl(offer(id="ok")) + b'\n{"id": "broken", "kind": \n'
    report = run_import(engine, content)
    assert report.inserted == 1
    assert report.rejected[0].record == "ligne 2" and "JSON invalide" in report.rejected[0].reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "le fichier est vide"),
        (b"  \n\n", "le fichier est vide"),
        ('{"id": "é"}'.encode("latin-1"), "pas encodé en UTF-8"),
        (b'[{"id": "a"}', "JSON invalide"),
        (b'id,kind\n"unterminated,activity\n', "CSV mal formé"),
    ],
)
def test_unreadable_files_are_refused_whole(make_engine, content, message):
    engine = make_engine()
    with pytest.raises(InvalidFile, match=message):
        fmt = "csv" if b"id,kind" in content else None
        run_import(engine, content, fmt)
    assert stored_ids(engine) == []


def test_csv_with_nested_columns_lists_and_a_short_row(make_engine):
    engine = make_engine()
    content = (
        "id,kind,title,description,territory,location.commune,location.department,location.lat,"
        "location.lon,price_eur,housing,tags\n"
        "csv-1,takeover,Boulangerie à reprendre,Fournil et boutique.,CC Creuse Grand Sud,Felletin,23,"
        "45.89425,2.187,95000,oui,boulangerie|fournil\n"
        "csv-2,takeover,Trop court\n"
    ).encode()
    report = run_import(engine, content, "csv")
    assert report.inserted == 1
    assert report.rejected[0].record == "ligne 3" and "3 colonnes au lieu de 12" in report.rejected[0].reason
    stored = engine.store.catalogue.get("csv-1")
    assert stored.price_eur == 95000 and stored.housing is True and stored.tags == ["boulangerie", "fournil"]


def test_import_is_an_idempotent_upsert(make_engine):
    engine = make_engine()
    first = run_import(engine, jsonl(offer(id="a"), offer(id="b")))
    again = run_import(engine, jsonl(offer(id="a"), offer(id="b", price_eur=15000)))
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    assert engine.store.catalogue.get("b").price_eur == 15000


def test_holder_profile_rules(make_engine):
    engine = make_engine()
    holders = [
        {"id": "h-ok", "project": "Reprendre une boulangerie", "budget_eur": 50000},
        {"id": "h-far", "project": "Ouvrir un gîte", "max_distance_km": 100},
        {"project": "Sans identifiant"},
        {"id": "h-kind", "project": "Coworking", "kinds": ["bureau"]},
    ]
    report = run_import(engine, jsonl(*holders), kind="holders")
    reasons = {r.record: r.reason for r in report.rejected}
    assert reasons["ligne 2 (id h-far)"] == "max_distance_km demande une origine (origin)"
    assert reasons["ligne 3"] == "id: champ obligatoire manquant"
    assert "kinds[0]: valeur inconnue 'bureau'" in reasons["ligne 4 (id h-kind)"]
    assert engine.store.holders.get("h-ok").budget_eur == 50000


def test_an_import_never_re_subscribes_someone_who_unsubscribed(make_engine):
    from matcher.digest.tokens import make_token, unsubscribe

    engine = make_engine()
    record = {"id": "h-mail", "project": "Ouvrir un gîte", "email": "a@example.org", "digest_opt_in": True}
    run_import(engine, jsonl(record), kind="holders")
    assert unsubscribe(engine, "clé", make_token("clé", "h-mail")).changed
    again = run_import(engine, jsonl(record | {"experience": "Dix ans d'hôtellerie"}), kind="holders")
    assert again.updated == 1
    stored = engine.store.holders.get("h-mail")
    assert stored.digest_opt_in is False and stored.experience == "Dix ans d'hôtellerie"
    assert engine.store.holders.page(HolderQuery(digest_opt_in=True))[1] == []
    with engine.store.database.session() as session:  # an explicit edit by the person's counsellor may opt in
        engine.store.holders.save(session, stored.model_copy(update={"digest_opt_in": True}))
    assert [h.id for h in engine.store.holders.page(HolderQuery(digest_opt_in=True))[1]] == ["h-mail"]

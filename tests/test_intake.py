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
    assert reasons["ligne 2 (id h-far)"] == "une distance maximale demande une commune d'origine (origin)"
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


# --- files as offices produce them ---------------------------------------------------------------

FRENCH_HEADER = ["identifiant", "Type d'offre", "Titre", "Descriptif", "Territoire", "Commune", "Dépt",
                 "Latitude", "Longitude", "Prix de cession", "Logement", "Mots-clés"]  # fmt: skip
FRENCH_ROW = ["fr-1", "Reprise", "Épicerie « Chez Léa » à reprendre", "Épicerie-café du bourg, 80 m².",
              "CC Creuse Grand Sud", "Felletin", "23", "45,89425", "2,187", "30 000 €", "oui",
              "épicerie | café"]  # fmt: skip


def french_csv(
    delimiter: str = ";", rows: list[list[str]] | None = None, header: list[str] | None = None
) -> str:
    lines = [header or FRENCH_HEADER, *(rows or [FRENCH_ROW])]
    return "".join(delimiter.join(f'"{c}"' if delimiter in c else c for c in line) + "\r\n" for line in lines)


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_csv_delimiter_is_told_from_the_header(make_engine, delimiter):
    engine = make_engine()
    report = run_import(engine, french_csv(delimiter).encode(), "csv")
    assert report.inserted == 1, report.rejected
    stored = engine.store.catalogue.get("fr-1")
    assert (stored.kind, stored.price_eur, stored.housing) == ("takeover", 30000, True)
    assert stored.tags == ["épicerie", "café"] and stored.location.lat == 45.89425


def test_a_comma_inside_a_semicolon_header_does_not_fool_the_delimiter():
    content = "titre;prix (€, HT);commune\nBoulangerie;95 000;Felletin\n".encode()
    with pytest.raises(InvalidFile, match="« prix \\(€, HT\\) » inconnue"):
        read_records(content, "offres.csv", "csv")  # read with « ; »: the header is named whole
    [record] = read_records(content.replace("prix (€, HT)".encode(), b"prix"), "offres.csv", "csv")
    assert record.value == {"title": "Boulangerie", "price_eur": 95000, "location": {"commune": "Felletin"}}


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("cp1252"),
        lambda text: text.encode("utf-8"),
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
        lambda text: text.encode("utf-16"),  # Excel's « Texte Unicode », with its BOM
    ],
    ids=["cp1252", "utf-8", "utf-8-bom", "utf-16"],
)
def test_csv_encodings_from_spreadsheets(encode):
    [record] = read_records(encode(french_csv()), "offres.csv")
    assert record.value["title"] == "Épicerie « Chez Léa » à reprendre"
    assert record.value["id"] == "fr-1"  # no BOM glued to the first header
    assert record.value["price_eur"] == 30000


def test_an_encoding_that_is_neither_utf8_nor_windows_1252_is_refused_in_french():
    content = "titre;commune\nПекарня в деревне;Москва\n".encode("cp1251")
    with pytest.raises(InvalidFile, match=r"pas encodé en UTF-8.*cp1251.*réenregistrez-le en UTF-8"):
        read_records(content, "offres.csv")


def test_french_csv_headers_with_accents_case_and_punctuation(make_engine):
    engine = make_engine()
    cells = {
        "ID": "fr-2",
        "TYPE": "tiers-lieu",
        "titre": "Tiers-lieu de Felletin",
        "présentation": "Bureaux partagés et atelier.",
        "collectivité": "CC Creuse Grand Sud",
        "Localité": "Felletin",
        "DÉPARTEMENT": "23",
        "latitude": "45.89425",
        "longitude": "2.187",
        "Chiffre d’affaires": "1.500,50",
        "effectif": "3",
        "télétravail": "Oui",
        "Date d'expiration": "31/12/2027",
        "Disponibilité": "1/3/2027",
        "courriel": "tiers-lieu@example.fr",
        "Statut": "draft",
    }
    header, row = list(cells), list(cells.values())
    report = run_import(engine, french_csv(";", [row], header).encode(), "csv")
    assert report.inserted == 1, report.rejected
    stored = engine.store.catalogue.get("fr-2")
    assert (stored.kind, stored.revenue_eur, stored.staff, stored.remote_friendly) == (
        "coworking",
        1500.5,
        3,
        True,
    )
    assert (str(stored.expires_on), str(stored.available_from)) == ("2027-12-31", "2027-03-01")
    assert (stored.contact_email, stored.status) == ("tiers-lieu@example.fr", "draft")


def test_english_dotted_headers_keep_working_beside_french_ones():
    content = b"id;titre;location.commune;location.department\nx;Boulangerie;Felletin;1\n"
    [record] = read_records(content, "offres.csv")
    assert record.value == {
        "id": "x",
        "title": "Boulangerie",
        "location": {"commune": "Felletin", "department": "01"},
    }


def test_holders_csv_with_french_headers(make_engine):
    engine = make_engine()
    content = (
        "identifiant;nom;projet;types;secteurs;budget;commune d'origine;latitude;longitude;rayon (km);"
        "départements;besoin de logement;télétravailleur;suggestions par e-mail;conseiller;organisation\n"
        "h-fr;Camille Martin;Reprendre une boulangerie;reprise d'entreprise, installation;alimentation;"
        "60 000 €;Lyon;45,764;4,8357;150;23 | 19;oui;non;x;Julien Bernard;BGE Rhône\n"
    ).encode()
    report = run_import(engine, content, kind="holders")  # the header alone says these are holders
    assert report.inserted == 1, report.rejected
    holder = engine.store.holders.get("h-fr")
    assert holder.kinds == ["takeover", "activity"] and holder.budget_eur == 60000
    assert (holder.max_distance_km, holder.departments) == (150, ["23", "19"])
    assert (holder.needs_housing, holder.remote_worker, holder.digest_opt_in) == (True, False, True)
    assert holder.counsellor.organisation == "BGE Rhône" and holder.origin.commune == "Lyon"


def test_an_unknown_csv_header_is_reported_once_for_the_file(make_engine):
    engine = make_engine()
    header = [*FRENCH_HEADER, "Prix HT", "Surface"]
    content = french_csv(";", [[*FRENCH_ROW, "", "80"], [*FRENCH_ROW, "", ""]], header).encode()
    with pytest.raises(InvalidFile) as raised:
        run_import(engine, content)
    message = str(raised.value)
    assert "colonne 13 « Prix HT » inconnue (vouliez-vous dire « prix » ?)" in message
    assert (
        "« Surface » inconnue" in message
        and "en-têtes acceptés pour des offres : identifiant, type" in message
    )
    assert stored_ids(engine) == []


def test_a_huge_csv_cell_is_its_rows_reject(make_engine):
    engine = make_engine()
    huge = [*FRENCH_ROW[:3], "x" * 200_000, *FRENCH_ROW[4:]]
    long = [*FRENCH_ROW[:3], "y" * (MAX_DESCRIPTION_CHARS + 500), *FRENCH_ROW[4:]]
    rows = [huge, long, FRENCH_ROW]
    rows = [[f"fr-{i}", *row[1:]] for i, row in enumerate(rows)]
    report = run_import(engine, french_csv(";", rows).encode())
    reasons = {r.record: r.reason for r in report.rejected}
    # Named by the file's own header (« Descriptif »), not the contract's path.
    assert reasons["ligne 2"] == "Descriptif: cellule trop longue (200000 caractères ; au plus 21000)"
    assert (
        f"Descriptif: trop long (au plus {MAX_DESCRIPTION_CHARS} caractères)" in reasons["ligne 3 (id fr-1)"]
    )
    assert stored_ids(engine) == ["fr-2"]


def test_a_quoted_cell_may_span_lines_and_rows_keep_their_numbers():
    content = 'titre;descriptif\nA;"ligne un\nligne deux"\nB;"un ""mot"" cité"\nC;"mal"fermé\n'.encode()
    records = read_records(content, "offres.csv")
    assert [(r.label, getattr(r.value, "get", lambda _: None)("description")) for r in records[:2]] == [
        ("ligne 2", "ligne un\nligne deux"),
        ("ligne 3", 'un "mot" cité'),
    ]
    assert records[2].label == "ligne 4" and "guillemet fermant" in str(records[2].value)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("30 000 €", 30000),
        ("30\u00a0000,00\u00a0€", 30000),
        ("30\u202f000 €", 30000),
        ("1 500,50", 1500.5),
        ("1.500,50", 1500.5),
        ("1,500.50", 1500.5),
        ("1.500.000", 1500000),
        ("30k€", 30000),
        ("1,2 M€", 1200000),
        ("12 %", None),
        ("trente mille", None),
        ("30 00", None),
    ],
)
def test_amounts_as_spreadsheets_write_them(cell, expected):
    from matcher.spreadsheet import parse_amount

    assert parse_amount(cell, euros=True) == expected


def test_amount_cells_by_field_and_a_non_number_left_to_the_contract(make_engine):
    engine = make_engine()
    header = [*FRENCH_HEADER, "salariés", "chiffre d'affaires"]
    rows = [
        [f"fr-{i}", *FRENCH_ROW[1:9], price, *FRENCH_ROW[10:], "2", "12 %"]
        for i, price in enumerate(["1 500,50"])
    ]
    report = run_import(engine, french_csv(";", rows, header).encode())
    [reject] = report.rejected
    assert reject.reason == "chiffre d'affaires: doit être un nombre"  # the file's own header
    rows[0][-1] = "180 000 €"
    run_import(engine, french_csv(";", rows, header).encode())
    stored = engine.store.catalogue.get("fr-0")
    assert (stored.price_eur, stored.revenue_eur, stored.staff) == (1500.5, 180000, 2)


def test_oui_non_only_in_boolean_columns(make_engine):
    engine = make_engine()
    header = [*FRENCH_HEADER, "télétravail"]
    rows = [["fr-oui", *FRENCH_ROW[1:2], "Oui", *FRENCH_ROW[3:10], "X", FRENCH_ROW[11], "non"]]
    report = run_import(engine, french_csv(";", rows, header).encode())
    assert report.inserted == 1, report.rejected
    stored = engine.store.catalogue.get("fr-oui")
    assert (stored.title, stored.housing, stored.remote_friendly) == ("Oui", True, False)
    rows[0][10] = "peut-être"
    [reject] = run_import(engine, french_csv(";", rows, header).encode()).rejected
    assert "Logement: doit valoir oui ou non (true ou false)" in reject.reason


@pytest.mark.parametrize(
    ("cell", "stored"),
    [("01/03/2027", "2027-03-01"), ("1/3/2027", "2027-03-01"), ("2027-03-01", "2027-03-01")],
)
def test_french_dates_are_day_first(cell, stored):
    from matcher.spreadsheet import cell_value

    assert cell_value("available_from", cell) == stored


def test_a_date_that_does_not_exist_is_named():
    [record] = read_records(b"titre;date limite\nA;31/02/2027\n", "offres.csv")
    assert (
        str(record.value)
        == "ligne 2: expires_on: date inexistante : 31/02/2027 (attendu JJ/MM/AAAA ou AAAA-MM-JJ)"
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("offre d'activité", "activity"),
        ("Activité", "activity"),
        ("INSTALLATION", "activity"),
        ("reprise", "takeover"),
        ("Reprise d’entreprise", "takeover"),
        ("cession", "takeover"),
        ("coworking", "coworking"),
        ("Tiers-lieu", "coworking"),
        ("tiers lieu", "coworking"),
        ("Espace de coworking", "coworking"),
        ("takeover", "takeover"),
    ],
)
def test_kinds_by_their_french_names(make_engine, name, code):
    engine = make_engine()
    report = run_import(engine, jsonl(offer(kind=name)))
    assert report.inserted == 1, report.rejected
    assert engine.store.catalogue.get("act-test-1").kind == code
    holders = run_import(
        engine, jsonl({"id": "h-k", "project": "Un projet", "kinds": [name]}), kind="holders"
    )
    assert holders.inserted == 1 and engine.store.holders.get("h-k").kinds == [code]


def test_json_booleans_accept_oui_non_and_amounts_must_be_unquoted(make_engine):
    engine = make_engine()
    report = run_import(
        engine,
        jsonl(
            offer(id="oui", housing="Oui", remote_friendly="non"),
            offer(id="quoted", price_eur="30 000 €"),
            offer(id="digits", location={**FELLETIN, "lat": "45.89"}),
        ),
    )
    assert report.inserted == 1
    stored = engine.store.catalogue.get("oui")
    assert (stored.housing, stored.remote_friendly) == (True, False)
    reasons = {r.record: r.reason for r in report.rejected}
    assert (
        reasons["ligne 2 (id quoted)"] == "price_eur: doit être un nombre (sans guillemets en JSON : 30000)"
    )
    assert (
        reasons["ligne 3 (id digits)"]
        == "location.lat: doit être un nombre (sans guillemets en JSON : 45.89)"
    )


@pytest.mark.parametrize("kind", ["opportunities", "holders"])
def test_the_template_reads_back_into_a_valid_record(make_engine, kind):
    from matcher.spreadsheet import template

    engine = make_engine()
    content = template(kind)
    assert content.startswith(b"\xef\xbb\xbf")
    header, example, *rest = content.decode("utf-8-sig").split("\r\n")
    assert (rest == [""] and header.startswith("identifiant;") and "Felletin" in example) or "Lyon" in example
    report = run_import(engine, content, kind=kind)
    assert report.inserted == 1 and not report.rejected, report.rejected
    if kind == "opportunities":
        stored = engine.store.catalogue.get("rep-felletin-boulangerie")
        assert (stored.kind, stored.price_eur, stored.location.insee) == ("takeover", 95000, "23079")
    else:
        assert engine.store.holders.get("h-exemple-1").kinds == ["takeover", "activity"]


def test_every_alias_table_row_names_a_contract_field_or_a_pending_one():
    from matcher.domain import HolderProfile, Opportunity
    from matcher.spreadsheet import HOLDER_HEADERS, OPPORTUNITY_HEADERS, columns_for, contract_paths

    pending = {"trade", "contact_name", "contact_phone", "trades", "regions"}
    for kind, table, model in (
        ("opportunities", OPPORTUNITY_HEADERS, Opportunity),
        ("holders", HOLDER_HEADERS, HolderProfile),
    ):
        assert set(table) - set(contract_paths(model)) <= pending
        columns = columns_for(kind)  # raises if two aliases of a table collide
        assert all(
            columns.resolve(name) == path
            for path, names in table.items()
            if path not in pending
            for name in names
        )


# --- JSON in every shape -------------------------------------------------------------------------


def test_a_pretty_printed_json_object_is_one_record(make_engine):
    engine = make_engine()
    report = run_import(engine, json.dumps(offer(id="pretty"), indent=2, ensure_ascii=False).encode())
    assert report.inserted == 1 and stored_ids(engine) == ["pretty"]
    several = "\n".join(json.dumps(offer(id=i), indent=4) for i in ("p-1", "p-2")).encode()
    assert [r.label for r in read_records(several, "offres.json")] == ["ligne 1", "ligne 17"]


def test_json_lines_split_on_newline_only(make_engine):
    engine = make_engine()
    odd = "Fournil\u2028four à bois\u2029cour\u0085jardin"
    content = (
        json.dumps(offer(id="sep", title=odd), ensure_ascii=False) + "\r\n"
        + '{"id": "ctl", "title": "a\x1cb"}\r\n'
        + json.dumps(offer(id="after"), ensure_ascii=False) + "\r\n"
        + '{"id": "broken",}\r\n'
    ).encode()  # fmt: skip
    report = run_import(engine, content)
    assert stored_ids(engine) == ["after", "sep"] and engine.store.catalogue.get("sep").title == odd
    reasons = {r.record: r.reason for r in report.rejected}
    assert reasons["ligne 2"].startswith("JSON invalide (caractère de contrôle dans une chaîne")
    assert reasons["ligne 4"] == "JSON invalide (guillemets attendus autour du nom de champ, colonne 17)"


@pytest.mark.parametrize("shape", ["jsonl", "array"])
def test_a_huge_number_or_deep_nesting_is_rejected_alone(make_engine, shape):
    engine = make_engine()
    good = [json.dumps(offer(id=f"ok-{i}")) for i in range(3)]
    huge = '{"id": "huge", "price_eur": ' + "9" * 5_000 + "}"
    deep = '{"id": "deep", "tags": ' + "[" * 1_000 + "]" * 1_000 + "}"
    items = [good[0], huge, good[1], deep, good[2]]
    content = ("\n".join(items) if shape == "jsonl" else "[\n" + ",\n".join(items) + "\n]").encode()
    report = run_import(engine, content)
    assert stored_ids(engine) == ["ok-0", "ok-1", "ok-2"]
    word = "ligne" if shape == "jsonl" else "enregistrement"
    reasons = {r.record: r.reason for r in report.rejected}
    assert reasons[f"{word} 2"] == "JSON invalide (nombre trop long (5000 caractères ; au plus 30 chiffres))"
    assert reasons[f"{word} 4"] == "imbrication trop profonde (plus de 20 niveaux d'objets ou de tableaux)"


def test_a_json_array_keeps_its_good_records_around_a_broken_one(make_engine):
    engine = make_engine()
    content = (
        "[\n" + json.dumps(offer(id="a")) + ',\n{"id": "b" "kind": 1},\n' + json.dumps(offer(id="c")) + ",\n]"
    )
    report = run_import(engine, content.encode())
    assert stored_ids(engine) == ["a", "c"]  # a trailing comma loses nothing
    [reject] = report.rejected
    assert reject.record == "enregistrement 2"
    assert reject.reason == "JSON invalide (virgule ou accolade fermante attendue, ligne 3, colonne 12)"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{id: 1}", "guillemets attendus autour du nom de champ, colonne 2"),
        ('{"id" 1}', "deux-points attendu après le nom de champ, colonne 7"),
        ('{"id": 1 "b": 2}', "virgule ou accolade fermante attendue, colonne 10"),
        ('{"tags": ["a" "b"]}', "virgule ou crochet fermant attendu, colonne 15"),
        ('{"id": }', "valeur attendue, colonne 8"),
        ('{"id": "abc}', "chaîne non terminée, colonne 8"),
        ('{"id": "a\\qb"}', "échappement invalide"),
        ('{"id": 1} 2', "texte en trop après l'enregistrement, colonne 11"),
        ('{"id": NaN}', "NaN n'est pas une valeur JSON"),
    ],
)
def test_json_parser_messages_are_french(line, message):
    content = (json.dumps(offer()) + "\n" + line + "\n").encode()
    first, second = read_records(content, "offres.jsonl")
    assert isinstance(first.value, dict) and second.label == "ligne 2"
    assert message in str(second.value) and str(second.value).startswith("ligne 2: JSON invalide (")


@pytest.mark.parametrize("cell", ["Nous consulter", "N.C.", "à négocier", "sur demande", "Non communiqué"])
def test_an_amount_not_given_is_an_absent_field_not_a_wrong_number(cell):
    header = "identifiant;titre;type;description;territoire;commune;département;latitude;longitude;prix"
    row = f"sc-1;Scierie;reprise;Scierie à reprendre;PNR Livradois-Forez;Saint-Anthème;63;45.52;3.92;{cell}"
    content = f"{header}\n{row}\n"
    [record] = read_records(content.encode(), "offres.csv", "csv")
    assert "price_eur" not in record.value and record.value["title"] == "Scierie"

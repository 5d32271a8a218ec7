"""The data contract: labels as people write them, read as families and trades; contacts."""

from __future__ import annotations

import pytest

from matcher.domain import HolderProfile, Location, Opportunity, parse
from matcher.errors import InvalidRecord

CROCQ = Location(commune="Crocq", department="23", lat=45.8527, lon=2.36419)


def offer(**fields: object) -> Opportunity:
    base = {
        "id": "o-1",
        "kind": "activity",
        "title": "Le village cherche quelqu'un",
        "description": "Une offre du territoire.",
        "territory": "CC Creuse Grand Sud",
        "location": CROCQ,
    }
    return Opportunity(**(base | fields))


@pytest.mark.parametrize(
    ("label", "family", "trade"),
    [
        ("boulangerie-pâtisserie", "alimentation", "D1102"),
        ("Fournil", "alimentation", "D1102"),
        ("santé", "sante", None),
        ("sante", "sante", None),
        ("commerce de proximité", "commerce", None),
        ("viticulture", "agriculture", "A1405"),
        ("coworking", "tiers-lieu", None),
        ("Cabinet dentaire", "sante", "J1103"),
    ],
)
def test_a_sector_label_is_kept_as_written_and_read_as_a_family(
    label: str, family: str, trade: str | None
) -> None:
    record = offer(sector=label)
    assert record.sector == label and record.sector_family == family
    if trade:
        assert record.trade_code == trade


def test_an_unknown_label_is_kept_without_family_and_never_refused() -> None:
    record = offer(sector="projet original encore à inventer")
    assert record.sector == "projet original encore à inventer" and record.sector_family is None
    assert record.model_dump(mode="json")["sector"] == "projet original encore à inventer"


def test_the_trade_is_the_one_given_else_the_title_s_else_the_sector_s() -> None:
    assert offer(title="Infirmier·ère libéral·e à Crocq", sector="santé").trade_code == "J1506"
    assert offer(title="Le village cherche", sector="santé", trade="orthophoniste").trade_code == "J1406"
    assert offer(title="Le village cherche", trade="J1103").trade_code == "J1103"
    assert offer(title="Reprise", sector="boulangerie").trade_code == "D1102"
    # A trade named after a negation is not the offer's.
    assert offer(title="Local commercial, pas de fournil", sector="commerce").trade_code is None


def test_computed_fields_sent_back_are_recomputed_from_the_labels() -> None:
    stored = offer(sector="boulangerie").model_dump(mode="json")
    assert Opportunity.model_validate(stored | {"sector_family": "sante"}).sector_family == "alimentation"
    with pytest.raises(InvalidRecord, match="famille de secteurs inconnue"):
        parse(Opportunity, stored | {"sector_family": "astrologie"}, "ligne 1")


def test_a_profile_reads_its_sectors_trades_and_partner() -> None:
    holder = HolderProfile(
        project="Je voudrais m'installer à la campagne.",
        sectors=["Santé", "médico-social"],
        trades=["infirmière"],
        partner_sector="menuiserie",
    )
    assert holder.sectors == ["Santé", "médico-social"] and "sante" in holder.families
    assert holder.trade_codes == ["J1506"]
    assert holder.partner_sector == "menuiserie" and holder.partner_family == "batiment"


def test_a_trade_the_project_names_is_inferred_but_is_not_a_sector_asked_for() -> None:
    holder = HolderProfile(project="Je suis infirmière depuis vingt ans, mon mari est menuisier.")
    assert holder.trade_codes == ["J1506"] and holder.families == []


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("05 55 66 77 88", "05 55 66 77 88"),
        ("0555667788", "05 55 66 77 88"),
        ("05.55.66.77.88", "05 55 66 77 88"),
        ("+33 5 55 66 77 88", "05 55 66 77 88"),
        ("+33 (0)5 55 66 77 88", "05 55 66 77 88"),
        ("0033555667788", "05 55 66 77 88"),
        ("+262 262 12 34 56", "+262262123456"),
    ],
)
def test_french_phone_numbers(written: str, stored: str | None) -> None:
    if stored is None:
        with pytest.raises(InvalidRecord, match="contact_phone: numéro de téléphone invalide"):
            parse(Opportunity, offer().model_dump(mode="json") | {"contact_phone": written}, "ligne 1")
    else:
        assert offer(contact_name="Mme Durand", contact_phone=written).contact_phone == stored


@pytest.mark.parametrize("number", ["12 34", "06 12 34 56", "+44 20 7946 0958", "appelez la mairie"])
def test_a_wrong_phone_number_names_the_field(number: str) -> None:
    with pytest.raises(InvalidRecord, match="contact_phone: numéro de téléphone invalide"):
        parse(Opportunity, offer().model_dump(mode="json") | {"contact_phone": number}, "ligne 1")

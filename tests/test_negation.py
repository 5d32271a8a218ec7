"""What an offer says it lacks, read from French sentences: no encoder, no database."""

from __future__ import annotations

import pytest

from matcher.lexical import LexicalModel
from matcher.negation import negations
from matcher.scoring import denied_needs


@pytest.mark.parametrize(
    ("sentence", "phrases"),
    [
        ("Boulangerie à reprendre, pas de fournil sur place.", ["pas de fournil"]),
        ("Aucun atelier, sans logement.", ["aucun atelier", "sans logement"]),
        (
            "Le bail ne comprend pas de logement de fonction : le couple vit au bourg.",
            ["pas de logement de fonction"],
        ),
        ("Il n'y a pas de local commercial dans le bourg.", ["pas de local commercial"]),
        ("Ni boulangerie ni épicerie.", ["ni boulangerie", "ni épicerie"]),
        ("Prix : 95 000 € hors stock.", ["hors stock"]),
        # Not absences: a step away, a department, a negated subject (the very need of the offer).
        ("À deux pas de la Grande Place.", []),
        ("Installé dans le Pas-de-Calais depuis vingt ans.", []),
        ("Plus aucun dentiste n'exerce à Longny.", []),
    ],
)
def test_negations_in_french_sentences(sentence: str, phrases: list[str]) -> None:
    assert [n.phrase for n in negations(sentence)] == phrases


def test_negated_words_are_never_shared_words() -> None:
    offer = "Ancienne boulangerie, pas de fournil : le four a été vendu. Vitrine et réserve."
    model = LexicalModel().fit([offer, "Cabinet médical en maison de santé"])
    stems = model.stems(offer)
    assert model.shared_words("Boulanger, je cherche un fournil et une vitrine", stems) == ["vitrine"]


def test_a_denied_need_is_found_and_a_favourable_absence_is_not() -> None:
    model = LexicalModel().fit(["x"])
    needs = model.stems("Je cherche un fournil et un logement, avec un loyer modéré")
    absences = negations("Sans loyer la première année. Pas de fournil, aucun parking.")
    assert [a.phrase for a in denied_needs(needs, absences, model.stems)] == ["pas de fournil"]

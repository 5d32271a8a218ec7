"""An officer's scope holds on every write path, whatever the id or territory looks like."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.accounts import Role, User
from matcher.config import Settings
from matcher.encoders import Encoder
from matcher.engine import Engine
from matcher.errors import InvalidRecord, OutOfScope
from matcher.intake import read_records

MINE, THEIRS = "CC Creuse Grand Sud", "PETR du Pays de Figeac"
THEIR_OFFER = "act-011-figeac"
OFFICER = User("Agent Creuse", Role.officer, (MINE,), datetime(2026, 12, 1, tzinfo=UTC))


def raw_offer(offer_id: str, territory: str) -> dict[str, object]:
    return {
        "id": offer_id,
        "kind": "activity",
        "title": "Médecin généraliste",
        "description": "La maison de santé cherche un médecin.",
        "territory": territory,
        "location": {"commune": "Figeac", "department": "46", "lat": 44.6088, "lon": 2.03187},
    }


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Engine]:
    opened = Engine(Settings(home=tmp_path_factory.mktemp("scope")), encoder=encoder)
    opened.publish(opened.validate_opportunity(raw_offer(THEIR_OFFER, THEIRS), "ligne 1"))
    yield opened
    opened.close()


INVISIBLE = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u200b", "\u2060", "\ufeff", "\u3000"])
PADDING = st.lists(INVISIBLE, max_size=3).map("".join)


def spelled(text: str) -> st.SearchStrategy[str]:
    """``text`` with invisible padding, its case changed, or in a compatibility form (NFKD)."""
    import unicodedata

    forms = st.sampled_from([text, text.upper(), text.lower(), unicodedata.normalize("NFKD", text)])
    return st.tuples(PADDING, forms, PADDING).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offer_id=spelled(THEIR_OFFER),
    territory=st.one_of(spelled(MINE), spelled(THEIRS)),
    path=st.sampled_from(["publish", "import"]),
)
def test_no_spelling_lets_an_officer_touch_another_territory_s_offer(
    engine: Engine, offer_id: str, territory: str, path: str
) -> None:
    before = engine.opportunity(THEIR_OFFER)
    raw = raw_offer(offer_id, territory) | {"title": "Repris par un autre territoire"}
    if path == "publish":
        with contextlib.suppress(OutOfScope, InvalidRecord):  # refused, by scope or contract
            engine.publish(engine.validate_opportunity(raw, "requête"), actor=OFFICER)
    else:
        line = json.dumps(raw, ensure_ascii=False).encode()
        engine.import_records("opportunities", read_records(line, "requête", "jsonl"), actor=OFFICER)
    assert engine.opportunity(THEIR_OFFER) == before


def test_archive_and_edit_of_another_territory_s_offer_are_refused(engine: Engine) -> None:
    with pytest.raises(OutOfScope, match="périmètre"):
        engine.archive(THEIR_OFFER, actor=OFFICER)
    with pytest.raises(OutOfScope, match="périmètre"):
        engine.editable(THEIR_OFFER, OFFICER)
    assert engine.opportunity(THEIR_OFFER).status == "published"

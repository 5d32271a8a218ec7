"""Scoring components and typed explanations on a hand-built catalogue: no encoder, no database."""

from __future__ import annotations

import numpy as np

from matcher.domain import HolderProfile
from matcher.explain import MatchFacts, explain
from matcher.geo import haversine_km
from matcher.scoring import DEFAULT_WEIGHTS, Pairs, components, final_scores, partner_offers
from tests.handmade import CATALOGUE, PLACES, TODAY, hand_view, offer

BY_ID = {o.id: o for o in CATALOGUE}


def parts_for(profile: HolderProfile, offer_id: str, semantic: float = 0.5, lexical: float = 0.0):
    view = hand_view()
    position = np.flatnonzero(view.arrays["id"] == offer_id)
    origin = profile.origin
    distances = None
    if origin is not None:
        loc = BY_ID[offer_id].location
        distances = haversine_km(origin.lat, origin.lon, np.array([loc.lat]), np.array([loc.lon]))
    partner = partner_offers(view, position, profile.partner_family, TODAY)
    parts = components(
        Pairs.of_one(profile, position),
        view,
        np.array([semantic]),
        np.array([lexical]),
        distances,
        partner,
        TODAY,
    )
    own = {name: float(values[0]) for name, values in parts.items()}
    return own, None if distances is None else float(distances[0]), int(partner[0])


def reasons_for(profile: HolderProfile, offer_id: str, words: list[str] | None = None, **scores: float):
    parts, distance, partner = parts_for(profile, offer_id, **scores)
    facts = MatchFacts(parts=parts, distance_km=distance, partner_count=partner, shared_words=words or [])
    return explain(profile, BY_ID[offer_id], facts, TODAY)


def codes(reasons) -> list[str]:
    return [r.code for r in reasons]


def test_missing_data_gives_zero_components() -> None:
    parts, _, _ = parts_for(HolderProfile(project="Maçonnerie", budget_eur=50_000), "mason")
    assert parts["budget"] == 0 and parts["sector"] == 0 and parts["distance"] == 0
    assert final_scores({k: np.array([v]) for k, v in parts.items()})[0] > 0


def test_budget_reason_quotes_both_figures() -> None:
    profile = HolderProfile(project="Reprendre une boulangerie", budget_eur=120_000)
    reasons, warnings = reasons_for(profile, "bakery")
    (budget,) = [r for r in reasons if r.code == "budget_fits"]
    assert budget.values == {"price_eur": 90_000, "budget_eur": 120_000}
    assert budget.text == "Le prix demandé (90 000 €) tient dans votre budget (120 000 €)"
    assert "price_unknown" not in codes(warnings)


def test_an_unknown_price_is_a_warning_never_a_reason() -> None:
    reasons, warnings = reasons_for(HolderProfile(project="Maçon", budget_eur=50_000), "mason")
    assert "budget_fits" not in codes(reasons)
    assert "price_unknown" in codes(warnings)


def test_distance_department_kind_and_sector_reasons() -> None:
    profile = HolderProfile(
        project="Boulangerie",
        origin=PLACES["felletin"],
        max_distance_km=50,
        departments=["23"],
        kinds=["takeover"],
        sectors=["alimentation"],
    )
    reasons, _ = reasons_for(profile, "bakery")
    by_code = {r.code: r for r in reasons}
    assert {"distance", "sector_sought"} <= set(by_code)
    distance = by_code["distance"].values["distance_km"]
    assert by_code["distance"].text == f"À {distance:.0f} km de Felletin" and 13 < distance < 15
    # One reason per idea: the distance says where it is, the department would say it again.
    assert "department_targeted" not in by_code
    assert len(reasons) <= 5
    reasons, _ = reasons_for(profile.model_copy(update={"origin": None, "max_distance_km": None}), "bakery")
    (department,) = [r for r in reasons if r.code == "department_targeted"]
    assert department.values == {"department": "23"}
    assert department.text == "Dans un département visé : Creuse (23)"


def test_housing_remote_and_partner_reasons_and_their_warnings() -> None:
    profile = HolderProfile(
        project="Médecin", needs_housing=True, remote_worker=True, partner_sector="batiment"
    )
    reasons, warnings = reasons_for(profile, "doctor")
    assert "housing_offered" in codes(reasons)
    (partner,) = [r for r in reasons if r.code == "partner_work_nearby"]
    assert partner.values["count"] == 1  # the mason's post in Felletin itself; Tulle is too far
    assert "no_remote_space" in codes(warnings)
    reasons, warnings = reasons_for(profile, "cafe")
    assert "no_housing" in codes(warnings) and "no_partner_work" in codes(warnings)


def test_a_thin_link_is_said_and_two_reasons_are_always_given() -> None:
    reasons, warnings = reasons_for(HolderProfile(project="Rien à voir"), "cowork", semantic=0.05)
    assert codes(warnings)[0] == "thin_link"
    assert len(reasons) >= 2 and "location" in codes(reasons)


def test_shared_words_need_the_lexical_evidence() -> None:
    profile = HolderProfile(project="Boulangerie au feu de bois")
    reasons, _ = reasons_for(profile, "bakery", words=["boulangerie"], lexical=0.2)
    (shared,) = [r for r in reasons if r.code == "shared_words"]
    assert shared.values == {"words": ["boulangerie"]}
    reasons, _ = reasons_for(profile, "bakery", words=["boulangerie"], lexical=0.01)
    assert "shared_words" not in codes(reasons)


def test_rewards_sum_to_one_and_penalties_are_negative() -> None:
    weights = DEFAULT_WEIGHTS.as_dict()
    assert abs(sum(w for w in weights.values() if w > 0) - 1.0) < 1e-9
    assert weights["other_trade"] < 0 and weights["denied_need"] < 0


def test_a_different_trade_of_the_same_family_is_a_warning_not_a_match() -> None:
    nurse = HolderProfile(project="Je veux faire des tournées à domicile.", trades=["infirmière"])
    parts = {name: 0.0 for name in DEFAULT_WEIGHTS.as_dict()} | {"semantic": 0.4, "sector": 0.0}
    facts = MatchFacts(parts=parts, distance_km=None, partner_count=0, shared_words=[])
    dentist = offer("dentist", "activity", "felletin", title="Cabinet dentaire à reprendre", sector="santé")
    reasons, warnings = explain(nurse, dentist, facts, TODAY)
    (differs,) = [w for w in warnings if w.code == "trade_differs"]
    assert differs.text == "Métier différent : dentiste"
    assert differs.values == {"trade": "J1103", "label": "dentiste", "sought": ["J1506"]}
    assert "trade_sought" not in codes(reasons)

    nursing = offer("nursing", "activity", "felletin", title="Infirmier·ère libéral·e", sector="santé")
    reasons, warnings = explain(nurse, nursing, facts, TODAY)
    assert "trade_differs" not in codes(warnings)
    (sought,) = [r for r in reasons if r.code == "trade_sought"]
    assert sought.text == "Métier recherché : infirmier"

    # A baker and a grocery: other families, so no trade warning (the sector warning says it).
    baker = HolderProfile(project="Boulanger", trades=["boulanger"])
    reasons, warnings = explain(baker, BY_ID["grocery"], facts, TODAY)
    assert "trade_differs" not in codes(warnings) and "sector_differs" in codes(warnings)


def test_reasons_for_a_territory_officer_speak_of_the_holder() -> None:
    profile = HolderProfile(
        project="Reprendre une boulangerie", budget_eur=150_000, partner_sector="batiment"
    )
    reasons, warnings = explain(profile, BY_ID["bakery"], _facts(profile, "bakery"), TODAY, voice="officer")
    texts = {r.code: r.text for r in reasons}
    assert texts["budget_fits"] == "Son budget (150 000 €) couvre le prix demandé (90 000 €)"
    holder_reasons, _ = explain(profile, BY_ID["bakery"], _facts(profile, "bakery"), TODAY)
    assert {r.code: r.values for r in holder_reasons} == {r.code: r.values for r in reasons}
    assert "tient dans votre budget" in {r.code: r.text for r in holder_reasons}["budget_fits"]
    for reason in reasons + warnings:
        assert "votre" not in reason.text and "vous" not in reason.text
    _, warnings = explain(profile, BY_ID["cafe"], _facts(profile, "cafe"), TODAY, voice="officer")
    (partner,) = [w for w in warnings if w.code == "no_partner_work"]
    assert partner.text == "Son ou sa conjoint·e cherche en bâtiment : aucune offre à moins de 30 km"

    doctor = HolderProfile(project="Médecin", partner_sector="batiment", needs_housing=True)
    reasons, _ = explain(doctor, BY_ID["doctor"], _facts(doctor, "doctor"), TODAY, voice="officer")
    (nearby,) = [r for r in reasons if r.code == "partner_work_nearby"]
    assert nearby.text == "Son ou sa conjoint·e cherche en bâtiment : 1 offre à moins de 30 km"
    _, warnings = explain(doctor, BY_ID["cafe"], _facts(doctor, "cafe"), TODAY, voice="officer")
    assert "Cherche un logement : aucun signalé sur place" in [w.text for w in warnings]


def _facts(profile: HolderProfile, offer_id: str, **scores: float) -> MatchFacts:
    parts, distance, partner = parts_for(profile, offer_id, **scores)
    return MatchFacts(parts=parts, distance_km=distance, partner_count=partner, shared_words=[])


def test_no_investment_is_said_only_where_the_offer_says_so() -> None:
    profile = HolderProfile(project="Médecin généraliste", budget_eur=30_000)
    reasons, _ = reasons_for(profile, "doctor")  # price 0
    assert "Pas d'investissement de départ demandé" in [r.text for r in reasons]
    assert "budget_fits" not in codes(reasons)
    reasons, _ = reasons_for(HolderProfile(project="Maçon", budget_eur=30_000), "mason")  # unknown
    assert not {"budget_fits", "no_investment"} & set(codes(reasons))


def test_work_for_the_partner_is_said_as_such_never_as_the_projects_fit() -> None:
    profile = HolderProfile(
        project="Je veux ouvrir une épicerie", sectors=["commerce"], partner_sector="batiment"
    )
    reasons, warnings = reasons_for(profile, "mason", words=["atelier"], lexical=0.3, semantic=0.5)
    assert codes(reasons)[0] == "partner_offer"
    assert reasons[0].text == (
        "Pour votre conjoint·e : une offre en bâtiment, son secteur, pas celui de votre projet"
    )
    assert not {"project_close", "shared_words"} & set(codes(reasons))
    assert "sector_differs" not in codes(warnings)


def test_a_denied_need_is_a_warning_and_the_offer_no_longer_fits_the_project() -> None:
    from matcher.explain import fits_the_project
    from matcher.negation import negations

    baker = HolderProfile(project="Boulanger, je cherche un fournil", trades=["boulanger"])
    parts, _, _ = parts_for(baker, "bakery", semantic=0.6, lexical=0.3)
    (absence,) = negations("Pas de fournil sur place.")
    facts = MatchFacts(
        parts=parts, distance_km=None, partner_count=0, shared_words=["fournil"], denied=[absence]
    )
    reasons, warnings = explain(baker, BY_ID["bakery"], facts, TODAY)
    (denied,) = [w for w in warnings if w.code == "denied_need"]
    assert denied.text == "L'offre précise : pas de fournil"
    assert not {"project_close", "shared_words"} & set(codes(reasons))
    assert not fits_the_project(baker, BY_ID["bakery"], facts)


def test_trades_are_components_a_match_rewarded_another_of_the_family_penalised() -> None:
    from matcher.scoring import trade_components

    nurse = HolderProfile(project="Je suis infirmière et je veux faire des tournées à domicile.")
    assert nurse.trade_codes == ["J1506"]  # inferred from the project
    found = trade_components(Pairs.of_one(nurse, np.arange(4)), np.array(["J1506", "J1103", "D1102", ""]))
    assert found["trade"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert found["other_trade"].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_close_to_the_project_is_said_only_above_the_calibrated_similarity() -> None:
    profile = HolderProfile(project="Reprendre une boulangerie")
    reasons, _ = reasons_for(profile, "bakery", semantic=0.5)
    (close,) = [r for r in reasons if r.code == "project_close"]
    assert close.text == "Cette offre rejoint de près votre projet tel que vous le décrivez"
    reasons, _ = reasons_for(profile, "bakery", semantic=0.4)
    assert "project_close" not in codes(reasons)


def test_components_of_many_holders_pairs_are_each_holders_own() -> None:
    """Pairs of several holders scored together give each pair what its holder alone gets."""
    from matcher.scoring import partner_counts

    view = hand_view()
    holders = [
        HolderProfile(project="Reprendre une boulangerie", budget_eur=120_000, sectors=["alimentation"]),
        HolderProfile(project="Je suis infirmière", needs_housing=True, origin=PLACES["felletin"]),
        HolderProfile(project="Télétravail", remote_worker=True, partner_sector="bâtiment", budget_eur=0),
        HolderProfile(project="Maçon", trades=["maçon"], partner_sector="bâtiment", origin=PLACES["tulle"]),
    ]
    n = len(view)
    holder = np.repeat(np.arange(len(holders)), n)
    positions = np.tile(np.arange(n), len(holders))
    rng = np.random.default_rng(0)
    semantic, lexical = rng.random(len(positions)), rng.random(len(positions))
    trades = np.tile(np.array(["D1102", "", "J1506", "", "F1703", "F1603", "", "", ""]), len(holders))
    denied = rng.integers(0, 2, len(positions))
    lat, lon = view.arrays["lat"], view.arrays["lon"]
    distances = np.concatenate(
        [
            haversine_km(h.origin.lat, h.origin.lon, lat, lon) if h.origin else np.full(n, np.nan)
            for h in holders
        ]
    )
    pairs = Pairs(holders, holder, positions)
    counts = partner_counts(pairs, view, TODAY)
    together = components(pairs, view, semantic, lexical, distances, counts, TODAY, trades, denied)
    assert together["partner"].any() and together["trade"].any() and together["distance"].any()
    for i, profile in enumerate(holders):
        own = slice(i * n, (i + 1) * n)
        alone_counts = partner_offers(view, np.arange(n), profile.partner_family, TODAY)
        assert counts[own].tolist() == alone_counts.tolist()
        alone = components(
            Pairs.of_one(profile, np.arange(n)), view, semantic[own], lexical[own],
            distances[own] if profile.origin else None, alone_counts, TODAY, trades[own], denied[own],
        )  # fmt: skip
        assert {k: v[own].tolist() for k, v in together.items()} == {k: v.tolist() for k, v in alone.items()}


def test_partner_offers_counts_every_job_within_the_radius_as_a_full_scan_does() -> None:
    """The latitude band that bounds the search loses no job: the counts of a full
    offers x jobs distance matrix, on offers scattered around the hand-built places."""
    from matcher.catalogue import day_number
    from matcher.scoring import PARTNER_RADIUS_KM

    rng = np.random.default_rng(1)
    scattered = []
    for i, place in enumerate(rng.choice(list(PLACES), 120)):
        # Within about 60 km of the place, so that many lie near the radius.
        near = PLACES[place].model_copy(
            update={
                "lat": PLACES[place].lat + rng.uniform(-0.5, 0.5),
                "lon": PLACES[place].lon + rng.uniform(-0.7, 0.7),
            }
        )
        sector = "batiment" if i % 2 else "commerce"
        scattered.append(
            offer(f"o{i}", "activity", place, sector=sector).model_copy(update={"location": near})
        )
    view = hand_view(CATALOGUE + scattered)
    a = view.arrays
    live = (a["status"] == "published") & ~(a["expires_on"] < day_number(TODAY))
    jobs = np.flatnonzero(live & (a["sector"] == "batiment") & np.isin(a["kind"], ["takeover", "activity"]))
    positions = np.arange(len(view))
    full = haversine_km(a["lat"][:, None], a["lon"][:, None], a["lat"][jobs], a["lon"][jobs])
    expected = ((full <= PARTNER_RADIUS_KM) & (jobs[None, :] != positions[:, None])).sum(axis=1)
    found = partner_offers(view, positions, "batiment", TODAY)
    assert found.tolist() == expected.tolist()
    assert 0 < np.count_nonzero(found) < len(found)

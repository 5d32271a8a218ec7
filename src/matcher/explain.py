"""Reasons and warnings in plain French, from the same numbers as the scoring.

Every figure quoted comes from the records themselves (price, budget, distance computed from
their coordinates); a component that is 0 for lack of data never yields a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from matcher.areas import DEPARTMENT_NAMES, DEPARTMENT_REGIONS, REGIONS, region_label
from matcher.domain import KIND_LABELS, HolderProfile, Opportunity, Reason, Relaxation
from matcher.filters import RelaxationOption
from matcher.geo import short_name
from matcher.scoring import DEFAULT_WEIGHTS, ON_TOPIC_LEXICAL, PARTNER_RADIUS_KM, Weights, on_topic
from matcher.taxonomy import FAMILIES, TRADES, Trade

MIN_REASONS, MAX_REASONS = 2, 5
#: Cosine similarity above which the meaning of project and offer is called close.
SEMANTIC_CLOSE = 0.35
#: An offer available this long after the holder is flagged.
LATE_AVAILABILITY = timedelta(days=90)


#: How each hard filter is named to a person, in the order they run.
FILTER_LABELS = {
    "status": "non publiées",
    "expired": "expirées",
    "kind": "autre type d'offre",
    "department": "hors des départements visés",
    "region": "hors des régions visées",
    "distance": "trop loin",
    "budget": "au-delà du budget",
    "not_relevant": "jugées non pertinentes",
}


def describe_exclusions(excluded: dict[str, int]) -> str:
    """« trop loin : 34, au-delà du budget : 3 », for the filters that excluded something."""
    return ", ".join(f"{FILTER_LABELS[name]} : {count}" for name, count in excluded.items() if count)


def euros(value: float) -> str:
    """« 120 000 € », « 149,50 € »."""
    if float(value).is_integer():
        return f"{value:,.0f} €".replace(",", " ")
    return f"{value:,.2f} €".replace(",", " ").replace(".", ",")


def french_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def long_date(moment: date) -> str:
    """« 16 novembre 2026 »; a datetime in local time."""
    day = moment.astimezone() if isinstance(moment, datetime) else moment
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def department_label(code: str | None) -> str:
    return f"{DEPARTMENT_NAMES.get(code, code)} ({code})" if code else ""


def place_label(opportunity: Opportunity) -> str:
    loc = opportunity.location
    return (
        f"{loc.commune} – {department_label(loc.department)}"
        if loc.commune
        else department_label(loc.department)
    )


def _trade(opportunity: Opportunity) -> Trade | None:
    return TRADES.get(opportunity.trade_code) if opportunity.trade_code else None


def plural(count: int, word: str, words: str | None = None) -> str:
    """« 1 offre », « 6 offres »; ``words`` when the plural is not ``word`` + s."""
    return f"{count} {word if count <= 1 else words or word + 's'}"


@dataclass(frozen=True)
class MatchFacts:
    """What scoring measured for one (profile, opportunity) pair, as explanations read it."""

    parts: dict[str, float]
    distance_km: float | None
    partner_count: int
    shared_words: list[str]


def explain(
    profile: HolderProfile,
    opportunity: Opportunity,
    facts: MatchFacts,
    today: date,
    weights: Weights = DEFAULT_WEIGHTS,
) -> tuple[list[Reason], list[Reason]]:
    """(reasons, warnings) for one match; 2 to 5 reasons, the weightiest first."""
    w = weights.as_dict()
    parts = facts.parts
    ranked: list[tuple[float, Reason]] = []
    if facts.shared_words and parts["lexical"] >= ON_TOPIC_LEXICAL:
        ranked.append(
            (
                w["lexical"] * parts["lexical"] + 0.01,
                Reason(
                    code="shared_words",
                    text=f"Mots en commun avec votre projet : {', '.join(facts.shared_words)}",
                    values={"words": facts.shared_words},
                ),
            )
        )
    if parts["semantic"] >= SEMANTIC_CLOSE:
        ranked.append(
            (
                w["semantic"] * parts["semantic"],
                Reason(
                    code="project_close",
                    text="Cette offre rejoint de près votre projet tel que vous le décrivez",
                    values={"similarity": round(parts["semantic"], 4)},
                ),
            )
        )
    trade = _trade(opportunity)
    if trade is not None and trade.code in profile.trade_codes:
        ranked.append(
            (
                w["sector"] + 0.01,
                Reason(
                    code="trade_sought",
                    text=f"Métier recherché : {trade.name}",
                    values={"trade": trade.code, "label": trade.name},
                ),
            )
        )
    elif parts["sector"] > 0 and opportunity.sector_family:
        ranked.append(
            (
                w["sector"],
                Reason(
                    code="sector_sought",
                    text=f"Secteur recherché : {FAMILIES[opportunity.sector_family]}",
                    values={"sector": opportunity.sector_family},
                ),
            )
        )
    if profile.kinds and opportunity.kind in profile.kinds:
        ranked.append(
            (
                0.02,
                Reason(
                    code="kind_sought",
                    text=f"Type recherché : {KIND_LABELS[opportunity.kind]}",
                    values={"kind": opportunity.kind},
                ),
            )
        )
    origin = profile.origin
    if facts.distance_km is not None and origin is not None and origin.commune:
        ranked.append(
            (
                w["distance"] * parts["distance"] + 0.02,
                Reason(
                    code="distance",
                    text=f"À {facts.distance_km:.0f} km de {short_name(origin.commune)}",
                    values={"distance_km": round(facts.distance_km, 1), "origin": short_name(origin.commune)},
                ),
            )
        )
    department = opportunity.location.department
    if profile.departments and department in profile.departments:
        ranked.append(
            (
                0.03,
                Reason(
                    code="department_targeted",
                    text=f"Dans un département visé : {department_label(department)}",
                    values={"department": department},
                ),
            )
        )
    region = DEPARTMENT_REGIONS.get(department or "")
    if profile.regions and region in profile.regions:
        ranked.append(
            (
                0.03,
                Reason(
                    code="region_targeted",
                    text=f"Dans une région visée : {region_label(region)}",
                    values={"region": region},
                ),
            )
        )
    price = opportunity.price_eur
    budget = profile.budget_eur
    if budget is not None and price is not None and price <= budget and opportunity.kind != "coworking":
        what = "Le prix demandé" if opportunity.kind == "takeover" else "L'investissement de départ"
        ranked.append(
            (
                w["budget"] * parts["budget"] + 0.02,
                Reason(
                    code="budget_fits",
                    text=f"{what} ({euros(price)}) tient dans votre budget ({euros(budget)})",
                    values={"price_eur": price, "budget_eur": budget},
                ),
            )
        )
    if opportunity.kind == "coworking" and price is not None:
        ranked.append(
            (
                0.015,
                Reason(
                    code="desk_price",
                    text=f"Poste de travail à {euros(price)} par mois",
                    values={"price_eur": price},
                ),
            )
        )
    if parts["housing"] > 0:
        ranked.append((w["housing"], Reason(code="housing_offered", text="Logement disponible sur place")))
    if parts["remote"] > 0:
        text = (
            "Espace de travail partagé, adapté au télétravail"
            if opportunity.kind == "coworking"
            else "Lieu adapté au télétravail"
        )
        ranked.append((w["remote"], Reason(code="remote_friendly", text=text)))
    if parts["partner"] > 0 and profile.partner_family:
        ranked.append(
            (
                w["partner"] + 0.01,
                Reason(
                    code="partner_work_nearby",
                    text=f"{plural(facts.partner_count, 'offre')} en {FAMILIES[profile.partner_family]} "
                    f"à moins de {PARTNER_RADIUS_KM:.0f} km pour votre conjoint·e",
                    values={
                        "count": facts.partner_count,
                        "sector": profile.partner_family,
                        "radius_km": PARTNER_RADIUS_KM,
                    },
                ),
            )
        )
    ranked.sort(key=lambda item: -item[0])
    reasons = [reason for _, reason in ranked[:MAX_REASONS]]
    for fallback in (
        Reason(
            code="location",
            text=f"Situé à {place_label(opportunity)}",
            values={"commune": opportunity.location.commune, "department": department},
        ),
        Reason(
            code="kind",
            text=f"Type d'offre : {KIND_LABELS[opportunity.kind]}",
            values={"kind": opportunity.kind},
        ),
    ):
        if len(reasons) < MIN_REASONS:
            reasons.append(fallback)
    return reasons, _warnings(profile, opportunity, facts, today)


def _warnings(
    profile: HolderProfile, opportunity: Opportunity, facts: MatchFacts, today: date
) -> list[Reason]:
    warnings = []
    if not on_topic(facts.parts):
        warnings.append(
            Reason(
                code="thin_link",
                text="Lien ténu avec le projet tel qu'il est décrit : à discuter avant d'en parler",
            )
        )
    if profile.needs_housing and not opportunity.housing:
        warnings.append(Reason(code="no_housing", text="Pas de logement signalé sur place"))
    if profile.remote_worker and facts.parts["remote"] == 0:
        warnings.append(Reason(code="no_remote_space", text="Pas d'espace de télétravail signalé"))
    if profile.budget_eur is not None and opportunity.kind != "coworking" and opportunity.price_eur is None:
        warnings.append(
            Reason(code="price_unknown", text="Montant non communiqué : à vérifier auprès du territoire")
        )
    if profile.partner_family and facts.partner_count == 0:
        warnings.append(
            Reason(
                code="no_partner_work",
                text=f"Aucune offre en {FAMILIES[profile.partner_family]} "
                f"à moins de {PARTNER_RADIUS_KM:.0f} km pour votre conjoint·e",
                values={"sector": profile.partner_family, "radius_km": PARTNER_RADIUS_KM},
            )
        )
    family = opportunity.sector_family
    if profile.families and family and family not in profile.families:
        warnings.append(
            Reason(
                code="sector_differs",
                text=f"Secteur différent de ceux visés : {FAMILIES[family]}",
                values={"sector": family},
            )
        )
    trade = _trade(opportunity)
    sought = [TRADES[c] for c in profile.trade_codes if c in TRADES]
    # Another trade of a family the holder's trade belongs to: the sector matches, the job not.
    if (
        trade is not None
        and trade.code not in profile.trade_codes
        and trade.family in {t.family for t in sought}
    ):
        warnings.append(
            Reason(
                code="trade_differs",
                text=f"Métier différent : {trade.name}",
                values={"trade": trade.code, "label": trade.name, "sought": [t.code for t in sought]},
            )
        )
    start = profile.available_from or today
    if opportunity.available_from and opportunity.available_from > start + LATE_AVAILABILITY:
        warnings.append(
            Reason(
                code="late_availability",
                text=f"Disponible seulement à partir du {french_date(opportunity.available_from)}",
                values={"available_from": opportunity.available_from.isoformat()},
            )
        )
    if opportunity.expires_on and opportunity.expires_on <= today + timedelta(days=30):
        warnings.append(
            Reason(
                code="expires_soon",
                text=f"Offre valable jusqu'au {french_date(opportunity.expires_on)}",
                values={"expires_on": opportunity.expires_on.isoformat()},
            )
        )
    return warnings


#: What each score component measures, in the words of a page's « Détail du score ».
COMPONENT_LABELS: dict[str, str] = {
    "semantic": "Sens du projet",
    "lexical": "Mots du projet",
    "sector": "Secteur recherché",
    "distance": "Proximité",
    "budget": "Marge de budget",
    "housing": "Logement",
    "remote": "Télétravail",
    "partner": "Travail du ou de la conjoint·e",
    "freshness": "Offre récente",
}

#: The score from which a match reads « Très proche du projet », then « Proche du projet »;
#: below, or off the project's topic, « À discuter ». Chosen on the first labelled set (see
#: README, « Étiquettes d'adéquation »), checked on the second one.
FIT_THRESHOLDS = ((0.44, "Très proche du projet"), (0.35, "Proche du projet"))
FIT_TO_DISCUSS = "À discuter"


def fit_label(score: float, about_the_project: bool) -> str:
    """The fit in words: what a counsellor reads instead of a score."""
    if about_the_project:
        for threshold, label in FIT_THRESHOLDS:
            if score >= threshold:
                return label
    return FIT_TO_DISCUSS


def describe_relaxation(option: RelaxationOption) -> Relaxation:
    """The sentence a counsellor reads to widen a search with the client, and the button's
    label that does it (« Élargir à 150 km (6 offres de plus) »)."""
    more = f"{plural(option.additional, 'offre')} de plus"
    value = option.value
    if isinstance(value, list):
        if option.constraint == "departments":
            added = ", ".join(department_label(d) for d in value)
            message, label = f"{more} en ajoutant : {added}", f"Ajouter {added}"
        elif option.constraint == "regions":
            added = ", ".join(region_label(r) for r in value)
            message, label = f"{more} en ajoutant : {added}", f"Ajouter {added}"
        else:
            added = ", ".join(KIND_LABELS[k] for k in value)
            message, label = f"{more} en acceptant aussi : {added}", f"Accepter aussi : {added}"
    elif option.constraint == "max_distance_km":
        message, label = f"{more} jusqu'à {value:.0f} km", f"Élargir à {value:.0f} km"
    else:
        message, label = f"{more} avec un budget de {euros(value)}", f"Budget jusqu'à {euros(value)}"
    return Relaxation(
        constraint=option.constraint,
        value=option.value,
        additional=option.additional,
        text=message,
        label=f"{label} ({more})",
    )


def describe_widening(constraint: str, value: Any) -> str:
    """A widening saved in a profile, as its history tells it (whatever was stored)."""
    if constraint == "max_distance_km" and isinstance(value, int | float):
        return f"Distance maximale portée à {value:g} km".replace(".", ",")
    if constraint == "budget_eur" and isinstance(value, int | float):
        return f"Budget porté à {euros(value)}"
    values = [str(v) for v in (value if isinstance(value, list) else [value])]
    if constraint == "departments":
        return "Départements ajoutés : " + ", ".join(department_label(d) for d in values)
    if constraint == "regions":
        return "Régions ajoutées : " + ", ".join(REGIONS.get(r, r) for r in values)
    if constraint == "kinds":
        return "Types d'offres ajoutés : " + ", ".join(KIND_LABELS.get(k, k) for k in values)
    return f"Critère élargi : {constraint} ({', '.join(values)})"

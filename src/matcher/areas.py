"""French administrative areas as people name them: departments and regions, by code or name.

Public facts of the Code officiel géographique (INSEE, 2024), kept as literals: the shared tables
are the deployment's to load, these few names are the vocabulary of every message and filter.
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz, process

from matcher.errors import LocationUnresolved

#: Department names, for reasons a person reads (« Dans la Creuse »).
DEPARTMENT_NAMES: dict[str, str] = {
    "01": "Ain",
    "02": "Aisne",
    "03": "Allier",
    "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes",
    "06": "Alpes-Maritimes",
    "07": "Ardèche",
    "08": "Ardennes",
    "09": "Ariège",
    "10": "Aube",
    "11": "Aude",
    "12": "Aveyron",
    "13": "Bouches-du-Rhône",
    "14": "Calvados",
    "15": "Cantal",
    "16": "Charente",
    "17": "Charente-Maritime",
    "18": "Cher",
    "19": "Corrèze",
    "21": "Côte-d'Or",
    "22": "Côtes-d'Armor",
    "23": "Creuse",
    "24": "Dordogne",
    "25": "Doubs",
    "26": "Drôme",
    "27": "Eure",
    "28": "Eure-et-Loir",
    "29": "Finistère",
    "2A": "Corse-du-Sud",
    "2B": "Haute-Corse",
    "30": "Gard",
    "31": "Haute-Garonne",
    "32": "Gers",
    "33": "Gironde",
    "34": "Hérault",
    "35": "Ille-et-Vilaine",
    "36": "Indre",
    "37": "Indre-et-Loire",
    "38": "Isère",
    "39": "Jura",
    "40": "Landes",
    "41": "Loir-et-Cher",
    "42": "Loire",
    "43": "Haute-Loire",
    "44": "Loire-Atlantique",
    "45": "Loiret",
    "46": "Lot",
    "47": "Lot-et-Garonne",
    "48": "Lozère",
    "49": "Maine-et-Loire",
    "50": "Manche",
    "51": "Marne",
    "52": "Haute-Marne",
    "53": "Mayenne",
    "54": "Meurthe-et-Moselle",
    "55": "Meuse",
    "56": "Morbihan",
    "57": "Moselle",
    "58": "Nièvre",
    "59": "Nord",
    "60": "Oise",
    "61": "Orne",
    "62": "Pas-de-Calais",
    "63": "Puy-de-Dôme",
    "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées",
    "66": "Pyrénées-Orientales",
    "67": "Bas-Rhin",
    "68": "Haut-Rhin",
    "69": "Rhône",
    "70": "Haute-Saône",
    "71": "Saône-et-Loire",
    "72": "Sarthe",
    "73": "Savoie",
    "74": "Haute-Savoie",
    "75": "Paris",
    "76": "Seine-Maritime",
    "77": "Seine-et-Marne",
    "78": "Yvelines",
    "79": "Deux-Sèvres",
    "80": "Somme",
    "81": "Tarn",
    "82": "Tarn-et-Garonne",
    "83": "Var",
    "84": "Vaucluse",
    "85": "Vendée",
    "86": "Vienne",
    "87": "Haute-Vienne",
    "88": "Vosges",
    "89": "Yonne",
    "90": "Territoire de Belfort",
    "91": "Essonne",
    "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis",
    "94": "Val-de-Marne",
    "95": "Val-d'Oise",
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "976": "Mayotte",
}

#: The 18 regions, by INSEE code (Code officiel géographique 2024).
REGIONS: dict[str, str] = {
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}

#: The departments of each region (Code officiel géographique 2024).
REGION_DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "01": ("971",),
    "02": ("972",),
    "03": ("973",),
    "04": ("974",),
    "06": ("976",),
    "11": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "24": ("18", "28", "36", "37", "41", "45"),
    "27": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "28": ("14", "27", "50", "61", "76"),
    "32": ("02", "59", "60", "62", "80"),
    "44": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "52": ("44", "49", "53", "72", "85"),
    "53": ("22", "29", "35", "56"),
    "75": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "76": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "84": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "93": ("04", "05", "06", "13", "83", "84"),
    "94": ("2A", "2B"),
}

#: Department code -> region code.
DEPARTMENT_REGIONS: dict[str, str] = {
    department: region for region, departments in REGION_DEPARTMENTS.items() for department in departments
}

#: How people name regions besides the official names (as name keys): acronyms, the « Région
#: Sud » brand, and the regions merged in 2016, each of which lies wholly in one new region.
REGION_ALIASES: dict[str, str] = {
    "idf": "11",
    "centre": "24",
    "bfc": "27",
    "bourgogne": "27",
    "franche comte": "27",
    "basse normandie": "28",
    "haute normandie": "28",
    "nord pas de calais": "32",
    "picardie": "32",
    "alsace": "44",
    "champagne ardenne": "44",
    "lorraine": "44",
    "aquitaine": "75",
    "limousin": "75",
    "poitou charentes": "75",
    "languedoc roussillon": "76",
    "midi pyrenees": "76",
    "aura": "84",
    "auvergne": "84",
    "rhone alpes": "84",
    "paca": "93",
    "sud": "93",
    "reunion": "04",
}

#: Department names people shorten (as name keys).
DEPARTMENT_ALIASES: dict[str, str] = {"reunion": "974", "belfort": "90"}


def name_key(name: str) -> str:
    """Normalise a commune name for lookup: no accents, no case, no punctuation."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    expand = {"st": "saint", "ste": "sainte"}
    return " ".join(expand.get(w, w) for w in words)


#: Prepositions people drop when they say a name (« Saint-Léonard Noblat »). Articles stay:
#: « Crocq » and « Le Crocq » are two communes.
SKIPPABLE_WORDS = frozenset({"de", "d", "du", "des"})


def loose_key(key: str) -> str:
    """A name key without the prepositions people skip; a fallback lookup, never the first one."""
    return " ".join(w for w in key.split() if w not in SKIPPABLE_WORDS) or key


def either(labels: list[str]) -> str:
    """« A », « A ou B », « A, B ou C »."""
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} ou {labels[-1]}"


def _names_index(names: dict[str, str], aliases: dict[str, str]) -> dict[str, str]:
    """Lookup keys (exact and loose) of official names and aliases -> code."""
    index: dict[str, str] = {}
    for code, name in names.items():
        key = name_key(name)
        index[key] = code
        index.setdefault(loose_key(key), code)
    for alias, code in aliases.items():
        index.setdefault(alias, code)
        index.setdefault(loose_key(alias), code)
    return index


_DEPARTMENT_KEYS = _names_index(DEPARTMENT_NAMES, DEPARTMENT_ALIASES)
_REGION_KEYS = _names_index(REGIONS, REGION_ALIASES)
#: Words people put before an area's name (« Région Bretagne », « département de la Creuse »).
_AREA_PREFIX = re.compile(r"^(?:(?:region|departement|dept|dpt)\b ?)?(?:(?:de|du|des|d|la|le|les|l)\b ?)*")
CODE_LIKE = re.compile(r"^(?:\d{1,3}|2[AB])$")
#: Fuzzy score (0-100, rapidfuzz WRatio) above which an unknown area name gets a suggestion.
AREA_SUGGESTION_SCORE = 80


def _lookup_area(text: str, index: dict[str, str]) -> str | None:
    key = name_key(text)
    for candidate in (key, _AREA_PREFIX.sub("", key)):
        code = index.get(candidate) or index.get(loose_key(candidate))
        if code:
            return code
    return None


def _suggest_areas(text: str, index: dict[str, str], names: dict[str, str]) -> list[str]:
    """Up to three « Name (code) » close to an unknown area name, best first."""
    found = process.extract(
        name_key(text), list(index), scorer=fuzz.WRatio, limit=8, score_cutoff=AREA_SUGGESTION_SCORE
    )
    codes = dict.fromkeys(index[key] for key, _score, _i in found)
    return [f"{names[code]} ({code})" for code in list(codes)[:3]]


def _unknown_area(what: str, text: str, suggestions: list[str]) -> LocationUnresolved:
    hint = f" ; vouliez-vous dire {either(suggestions)} ?" if suggestions else ""
    return LocationUnresolved(f"{what} : {text}{hint}")


def resolve_department(text: str) -> str:
    """A department code from a code (« 26 », « 7 », « 2a ») or a name (« drome », « Val d'Oise »)."""
    cleaned = text.strip()
    code = cleaned.upper()
    if CODE_LIKE.match(code):
        code = code.zfill(2)
        if code in DEPARTMENT_NAMES:
            return code
        # Corsica was one department, 20, until 1976.
        corsica = ["Corse-du-Sud (2A)", "Haute-Corse (2B)"] if code == "20" else []
        raise _unknown_area("département inconnu", cleaned, corsica)
    found = _lookup_area(cleaned, _DEPARTMENT_KEYS)
    if found:
        return found
    suggestions = _suggest_areas(cleaned, _DEPARTMENT_KEYS, DEPARTMENT_NAMES)
    raise _unknown_area("département inconnu", cleaned or "(vide)", suggestions)


def resolve_region(text: str) -> str:
    """A region code from a code (« 53 ») or a name (« bretagne », « PACA », « Limousin »)."""
    cleaned = text.strip()
    if cleaned.isdigit() and len(cleaned) <= 2:
        code = cleaned.zfill(2)
        if code in REGIONS:
            return code
        raise _unknown_area("région inconnue", cleaned, [])
    found = _lookup_area(cleaned, _REGION_KEYS)
    if found:
        return found
    raise _unknown_area(
        "région inconnue", cleaned or "(vide)", _suggest_areas(cleaned, _REGION_KEYS, REGIONS)
    )


def region_label(code: str) -> str:
    """A region's name from its code (« 75 » -> « Nouvelle-Aquitaine »)."""
    try:
        return REGIONS[code]
    except KeyError:
        raise LocationUnresolved(f"région inconnue : {code}") from None

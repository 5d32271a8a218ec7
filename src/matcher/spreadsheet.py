"""CSV files as French spreadsheet software writes them, and the template offices download.

What a file may look like:

- encoding: UTF-8 with or without BOM, UTF-16 with BOM (Excel's « Texte Unicode »), else
  Windows-1252/Latin-1 when ``charset_normalizer`` finds it plausible; anything else is refused
  with a French message asking for UTF-8;
- delimiter: « ; », « , » or tab, told from the header row;
- header: the French names of ``OPPORTUNITY_HEADERS`` / ``HOLDER_HEADERS`` (compared without
  case, accents, spaces or punctuation: « Code postal », « code-postal » and « CODE POSTAL » are
  one) or the contract's own dotted names (``location.commune``);
- cells are read by the type of their column: amounts (« 30 000 € », « 1.500,50 », « 30 k€ »),
  booleans (oui/non, vrai/faux, true/false, 1/0, x), lists (« a | b ; c »), dates (« 1/3/2027 »).

« ligne N » in a message is the spreadsheet's row number (the header is row 1), which is also
the file's line as long as no cell holds a line break.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import functools
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, get_args

import charset_normalizer
from pydantic import BaseModel

from matcher.domain import (
    KIND_LABELS,
    MAX_DESCRIPTION_CHARS,
    HolderProfile,
    MatchResult,
    Opportunity,
    record_label,
)
from matcher.errors import InvalidFile, InvalidRecord

RecordKind = Literal["opportunities", "holders"]

#: Longest cell read; longer ones are that row's reject. A bit over the longest text field so
#: that the contract, not the reader, says how long a description may be.
CSV_CELL_LIMIT = MAX_DESCRIPTION_CHARS + 1_000
if csv.field_size_limit() < CSV_CELL_LIMIT:  # process-wide: raise it if needed, never lower it
    csv.field_size_limit(CSV_CELL_LIMIT)
DELIMITERS = ";,\t"
#: Numbers longer than this are refused before any conversion (Python's int() gives up at 4,300).
MAX_NUMBER_DIGITS = 30


def _table(text: str) -> dict[str, tuple[str, ...]]:
    rows = [line.split("|") for line in text.strip().splitlines()[2:]]
    return {path.strip(): tuple(name.strip() for name in names.split(",")) for path, names in rows}


OPPORTUNITY_HEADERS = _table("""
field                   | French headers (the first is the template's)
----------------------- | -------------------------------------------------------------
id                      | identifiant, id, référence, réf
kind                    | type, type d'offre, nature
title                   | titre, intitulé
description             | description, descriptif, présentation
sector                  | secteur, secteur d'activité, filière
trade                   | métier
territory               | territoire, collectivité, EPCI, intercommunalité
location.commune        | commune, ville, localité
location.postcode       | code postal, CP
location.insee          | code INSEE, INSEE
location.department     | département, dépt, dép
location.lat            | latitude, lat
location.lon            | longitude, lon, lng
price_eur               | prix, prix de cession, montant, investissement
revenue_eur             | chiffre d'affaires, CA
staff                   | salariés, effectif, nombre de salariés
housing                 | logement, logement disponible
remote_friendly         | télétravail, télétravail possible
tags                    | mots-clés, étiquettes
available_from          | disponible le, disponibilité, date de disponibilité, disponible à partir du
expires_on              | date limite, expire le, date d'expiration
contact_name            | contact, nom du contact
contact_phone           | téléphone, tél
contact_email           | e-mail, courriel, mail, e-mail de contact, adresse e-mail
status                  | statut, état
""")
"""Opportunity columns: contract field -> French headers. A field the contract does not have yet
(``trade``, ``contact_name``, ``contact_phone`` today) is listed so that its header is named in the
refusal, and read as soon as the contract gains the field."""

HOLDER_HEADERS = _table("""
field                   | French headers (the first is the template's)
----------------------- | -------------------------------------------------------------
id                      | identifiant, id, référence
name                    | nom, nom et prénom, prénom et nom
email                   | e-mail, courriel, mail, adresse e-mail
digest_opt_in           | suggestions par e-mail, suggestions par courriel
share_with_territories  | visible des territoires, partage avec les territoires
project                 | projet, description du projet
experience              | expérience, parcours
kinds                   | types, types d'offre, natures
sectors                 | secteurs, secteurs d'activité, filières
trades                  | métiers
budget_eur              | budget, apport
origin.commune          | commune d'origine, ville actuelle, commune actuelle, commune, ville
origin.postcode         | code postal, CP
origin.insee            | code INSEE, INSEE
origin.department       | département d'origine, département actuel
origin.lat              | latitude, lat
origin.lon              | longitude, lon, lng
max_distance_km         | distance max (km), distance max, distance maximale, rayon (km), rayon
departments             | départements, départements souhaités, dépts
regions                 | régions
needs_housing           | besoin de logement, logement
remote_worker           | télétravailleur, télétravailleuse, télétravail
partner_sector          | secteur du conjoint, secteur du ou de la conjointe, secteur du partenaire
available_from          | disponible le, disponibilité, date de disponibilité, disponible à partir du
counsellor.name         | conseiller, conseillère, nom du conseiller
counsellor.email        | e-mail du conseiller, courriel du conseiller
counsellor.organisation | organisation, structure, structure d'accompagnement
""")
"""Holder columns: contract field -> French headers (``trades`` and ``regions`` wait for their
fields in the contract, as above)."""

BOOLEAN_FIELDS = {"housing", "remote_friendly", "needs_housing", "remote_worker", "digest_opt_in",
                  "share_with_territories"}  # fmt: skip
AMOUNT_FIELDS = {"price_eur", "revenue_eur", "budget_eur", "staff", "max_distance_km", "lat", "lon"}
#: Amounts in euros also take « k€ » and « M€ ».
EURO_FIELDS = {"price_eur", "revenue_eur", "budget_eur"}
#: Items of a list cell are separated by « | » or « ; » (a spreadsheet quotes a cell holding
#: the delimiter by itself); lists of codes also by « , », which no code contains.
LIST_FIELDS = {"tags", "kinds", "sectors", "trades", "departments", "regions"}
CODE_LIST_FIELDS = LIST_FIELDS - {"tags"}
DATE_FIELDS = {"available_from", "expires_on"}
#: What offices write in an amount cell for an amount they do not give (as header keys): the
#: field is absent (« Montant non communiqué » for the holder), not a wrong number.
UNDISCLOSED = {
    "nousconsulter", "surdemande", "anegocier", "negociable", "nc", "noncommunique", "adefinir",
    "nonrenseigne", "inconnu", "",
}  # fmt: skip

_MODELS: dict[str, type[BaseModel]] = {"opportunities": Opportunity, "holders": HolderProfile}
_TABLES = {"opportunities": OPPORTUNITY_HEADERS, "holders": HOLDER_HEADERS}
_WHAT = {"opportunities": "des offres", "holders": "des porteurs de projet"}


def header_key(header: str) -> str:
    """How headers are compared: « Code d'INSEE » and « code dinsee » give "codedinsee"."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", header) if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]+", "", bare.lower())


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def contract_paths(model: type[BaseModel]) -> list[str]:
    """Every field of ``model`` as a CSV column names it: ``title``, ``location.commune``..."""
    paths: list[str] = []
    for name, info in model.model_fields.items():
        nested = _submodel(info.annotation)
        if nested:
            paths.extend(f"{name}.{sub}" for sub in nested.model_fields)
        else:
            paths.append(name)
    return paths


@dataclass(frozen=True)
class Columns:
    """The headers one record kind accepts, resolved against the contract as it is now."""

    kind: RecordKind
    by_key: dict[str, str]  # header_key -> field path
    pending: dict[str, str]  # header_key -> field the contract does not have yet
    french: dict[str, str]  # field path -> the French header of the template

    def resolve(self, header: str) -> str | None:
        return self.by_key.get(header.strip().lower()) or self.by_key.get(header_key(header))


@functools.cache
def columns_for(kind: RecordKind) -> Columns:
    """The columns of ``kind`` (computed once: the contract does not change at run time)."""
    paths = contract_paths(_MODELS[kind])
    by_key = {header_key(p): p for p in paths} | {p.lower(): p for p in paths}
    pending: dict[str, str] = {}
    french: dict[str, str] = {}
    for path, names in _TABLES[kind].items():
        target = by_key if path in paths else pending
        for name in names:
            key = header_key(name)
            if key in target and target[key] != path:
                raise AssertionError(f"{kind}: « {name} » names both {target[key]} and {path}")
            target[key] = path
        if path in paths:
            french[path] = names[0]
    return Columns(kind, by_key, pending, french)


def _guess_kind(header: list[str]) -> RecordKind:
    """Opportunities unless more columns are holder-only than opportunity-only."""
    opportunities, holders = columns_for("opportunities"), columns_for("holders")
    only_holders = sum(1 for h in header if holders.resolve(h) and not opportunities.resolve(h))
    only_opportunities = sum(1 for h in header if opportunities.resolve(h) and not holders.resolve(h))
    return "holders" if only_holders > only_opportunities else "opportunities"


# --- decoding --------------------------------------------------------------------------------

_WESTERN = {"cp1252", "latin_1", "iso8859_15"}
_FRENCH_LETTERS = set("àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ")
_RESAVE = (
    "réenregistrez-le en UTF-8 (LibreOffice : Enregistrer sous, « Éditer les paramètres du "
    "filtre », jeu de caractères Unicode (UTF-8) ; Excel : « CSV UTF-8 (délimité par des virgules) »)"
)


def _looks_french(text: str) -> bool:
    """A Windows-1252 reading is plausible when accented letters are few and French."""
    letters = [c for c in text if c.isalpha()]
    accented = [c for c in letters if ord(c) > 127]
    if not accented:
        return True
    french = sum(1 for c in accented if c in _FRENCH_LETTERS)
    return french >= 0.8 * len(accented) and len(accented) <= 0.3 * len(letters)


def decode_spreadsheet(content: bytes, source: str) -> str:
    """The text of a CSV file: UTF-8 (BOM or not), UTF-16 with BOM, else Windows-1252 if plausible."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif content.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding != "utf-8":
            raise InvalidFile(
                f"{source} : le fichier se dit en {encoding.upper()} mais l'octet {error.start} ne l'est "
                f"pas ; {_RESAVE}"
            ) from None
        text = _decode_legacy(content, source, error.start)
    if not text.strip():
        raise InvalidFile(f"{source} : le fichier est vide")
    return text


def _decode_legacy(content: bytes, source: str, first_bad: int) -> str:
    matches = list(charset_normalizer.from_bytes(content))
    prefix = f"{source} : le fichier n'est pas encodé en UTF-8 (octet invalide à la position {first_bad})"
    if not matches:
        raise InvalidFile(f"{prefix} et son encodage n'a pas pu être reconnu ; {_RESAVE}")
    least_chaos = min(m.chaos for m in matches)
    western = any(_WESTERN & set(m.could_be_from_charset) and m.chaos <= least_chaos + 0.1 for m in matches)
    if western:
        # Five bytes are undefined in Windows-1252; Latin-1 reads them (as control characters).
        encoding = "latin-1" if any(b in content for b in (0x81, 0x8D, 0x8F, 0x90, 0x9D)) else "cp1252"
        text = content.decode(encoding)
        if _looks_french(text):
            return text
        raise InvalidFile(f"{prefix} et son encodage ne peut être déterminé avec certitude ; {_RESAVE}")
    likely = min(matches, key=lambda m: m.chaos)
    language = f", {likely.language}" if likely.language and likely.language != "Unknown" else ""
    raise InvalidFile(
        f"{prefix} ni en Windows-1252 (il semble encodé en {likely.encoding}{language}) ; {_RESAVE}"
    )


# --- rows --------------------------------------------------------------------------------------


def sniff_delimiter(header_line: str) -> str:
    """« ; », « , » or tab: the one found most often outside quotes in the header row."""
    bare = re.sub(r'"(?:[^"]|"")*"', "", header_line)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(counts.values())
    if best == 0:
        return ","  # a single column: any delimiter reads it
    tied = [d for d in DELIMITERS if counts[d] == best]
    if len(tied) == 1:
        return tied[0]
    try:  # the sniffer alone favours « , » on one line (« prix (€, HT) »), so it only breaks ties
        sniffed = csv.Sniffer().sniff(header_line, delimiters="".join(tied)).delimiter
    except csv.Error:
        return tied[0]
    return sniffed if sniffed in tied else tied[0]


def _logical_rows(text: str, source: str) -> list[str]:
    """The file's rows: physical lines joined while a quoted cell runs across them."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows: list[str] = []
    current: list[str] = []
    quotes = 0
    start = 1
    for number, line in enumerate(lines, start=1):
        if not current:
            start = number
        current.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            rows.append("\n".join(current) + "\n")
            current, quotes = [], 0
    if current:
        raise InvalidFile(
            f"{source} : CSV mal formé à la ligne {start} (guillemet ouvert jamais refermé ; un "
            'guillemet dans une cellule s\'écrit "")'
        )
    return rows


def _cell_spans(row: str, delimiter: str) -> list[int]:
    """The length of each cell of a raw row, quotes included (to name an oversized cell)."""
    lengths, start = [], 0
    for match in re.finditer(rf'"(?:[^"]|"")*"|{re.escape(delimiter)}', row):
        if match.group() == delimiter:
            lengths.append(match.start() - start)
            start = match.end()
    lengths.append(len(row.rstrip("\n")) - start)
    return lengths


def _csv_problem(error: csv.Error) -> str:
    message = str(error)
    if "expected after" in message:
        return 'caractère inattendu après un guillemet fermant (un guillemet dans une cellule s\'écrit "")'
    if "unexpected end of data" in message:
        return "fin de ligne inattendue (guillemet non refermé)"
    if "NUL" in message:
        return "caractère nul dans la ligne"
    return f"CSV mal formé ({message})"


def _split_row(row: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(row, newline=""), delimiter=delimiter, strict=True), [])


def read_spreadsheet(
    content: bytes, source: str, kind: RecordKind | None = None
) -> tuple[dict[str, str], list[tuple[str, dict[str, Any] | InvalidRecord]]]:
    """The header as written by contract path, and (label, record or reject) for each data row;
    ``kind`` is guessed from the header if None."""
    rows = _logical_rows(decode_spreadsheet(content, source), source)
    delimiter = sniff_delimiter(rows[0])
    try:
        header = [h.strip().lstrip("\ufeff").strip() for h in _split_row(rows[0], delimiter)]
    except csv.Error as error:
        raise InvalidFile(f"{source} : CSV mal formé à la ligne 1 ({_csv_problem(error)})") from None
    columns = columns_for(kind or _guess_kind(header))
    paths = _resolve_header(header, columns, source)
    records: list[tuple[str, dict[str, Any] | InvalidRecord]] = []
    for number, row in enumerate(rows[1:], start=2):
        label = f"ligne {number}"
        if not row.strip():
            continue
        if len(row) > CSV_CELL_LIMIT and (
            oversized := [i for i, n in enumerate(_cell_spans(row, delimiter)) if n > CSV_CELL_LIMIT]
        ):
            where = paths[oversized[0]] if oversized[0] < len(paths) else ""
            records.append((label, InvalidRecord(label, [(where, _too_long(row, delimiter, oversized[0]))])))
            continue
        try:
            cells = _split_row(row, delimiter)
        except csv.Error as error:
            records.append((label, InvalidRecord(label, [("", _csv_problem(error))])))
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(paths) and not any(c.strip() for c in cells[len(paths) :]):
            cells = cells[: len(paths)]  # trailing empty cells, as some spreadsheets write them
        if len(cells) != len(paths):
            problem = f"{len(cells)} colonnes au lieu de {len(paths)}"
            records.append((label, InvalidRecord(label, [("", problem)])))
            continue
        records.append((label, record_from_cells(paths, cells, label)))
    return {path: name for path, name in zip(paths, header, strict=True) if path}, records


def _too_long(row: str, delimiter: str, index: int) -> str:
    length = _cell_spans(row, delimiter)[index]
    return f"cellule trop longue ({length} caractères ; au plus {CSV_CELL_LIMIT})"


def _resolve_header(header: list[str], columns: Columns, source: str) -> list[str]:
    if any(not h for h in header):
        raise InvalidFile(f"{source} : en-tête CSV invalide (colonne vide ou en double) : {header}")
    paths: list[str] = []
    problems: list[str] = []
    for position, name in enumerate(header, start=1):
        path = columns.resolve(name)
        if path is None:
            pending = columns.pending.get(header_key(name))
            if pending:
                problems.append(f"« {name} » ({pending}) n'est pas encore pris en charge par matcher")
            else:
                known = [n.lower() for p, names in _TABLES[columns.kind].items() if p in columns.french
                         for n in names]  # fmt: skip
                close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
                hint = f" (vouliez-vous dire « {close[0]} » ?)" if close else ""
                problems.append(f"colonne {position} « {name} » inconnue{hint}")
            continue
        if path in paths:
            other = header[paths.index(path)]
            raise InvalidFile(
                f"{source} : en-tête CSV invalide (colonne vide ou en double) : « {other} » et « {name} » "
                f"désignent le même champ ({path})"
            )
        paths.append(path)
    if problems:
        accepted = ", ".join(columns.french.values())
        raise InvalidFile(
            f"{source} : en-tête CSV : {' ; '.join(problems)}. Retirez ou renommez ces colonnes ; "
            f"en-têtes acceptés pour {_WHAT[columns.kind]} : {accepted} (ou les noms de champ "
            "du contrat, comme location.commune)"
        )
    return paths


class _CellError(ValueError):
    """A cell that cannot be read whatever the contract says (a date that does not exist...)."""


def record_from_cells(paths: list[str], cells: list[str], label: str) -> dict[str, Any] | InvalidRecord:
    """A record from text cells under contract paths (a spreadsheet's row, a web form's fields):
    each cell read by its field's type, empty cells absent; InvalidRecord for unreadable ones."""
    record: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for path, cell in zip(paths, cells, strict=True):
        if not cell.strip() or (path.split(".")[-1] in AMOUNT_FIELDS and header_key(cell) in UNDISCLOSED):
            continue  # an empty cell, or an amount not given, is an absent field
        target = record
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        try:
            target[leaf] = cell_value(path, cell)
        except _CellError as error:
            problems.append((path, str(error)))
    return InvalidRecord(record_label(record, label), problems) if problems else record


def cell_value(path: str, cell: str) -> Any:
    """A cell as its column's field wants it; what cannot be read stays text, for the contract."""
    leaf = path.split(".")[-1]
    text = cell.strip()
    if leaf in LIST_FIELDS:
        separators = r"[|;,]" if leaf in CODE_LIST_FIELDS else r"[|;]"
        items = [item.strip() for item in re.split(separators, text) if item.strip()]
        return [_code(leaf, item) for item in items]
    if leaf in BOOLEAN_FIELDS:
        return _FLAGS.get(text.lower(), text)
    if leaf in AMOUNT_FIELDS:
        number = parse_amount(text, euros=leaf in EURO_FIELDS)
        return text if number is None else number
    if leaf in DATE_FIELDS:
        return parse_french_date(text)
    return _code(leaf, text)


_FLAGS = {"oui": True, "vrai": True, "true": True, "1": True, "x": True,
          "non": False, "faux": False, "false": False, "0": False}  # fmt: skip
_CODE_WIDTHS = {"postcode": 5, "insee": 5, "department": 2, "departments": 2}


def _code(leaf: str, text: str) -> str:
    # Spreadsheets drop leading zeros: Ain's « 01 » comes back as « 1 », « 01000 » as « 1000 ».
    width = _CODE_WIDTHS.get(leaf)
    return text.zfill(width) if width and text.isdigit() and len(text) < width else text


_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
_MULTIPLIERS = {"k": 1_000, "K": 1_000, "M": 1_000_000}


def parse_amount(text: str, euros: bool = False) -> int | float | None:
    """« 30 000 € », « 1 500,50 », « 1.500,50 », « 45,89 » (and « 30 k€ » for euros), else None.

    A lone dot is a decimal point (« 2.187 » is a longitude); dots group thousands only beside
    a decimal comma or when repeated (« 1.500.000 »). Percentages and words are not numbers.
    """
    text = _SPACES.sub(" ", text).strip()
    multiplier = 1
    if euros:
        text = re.sub(r"\s*(€|eur|euros?)$", "", text, flags=re.IGNORECASE)
        if text[-1:] in _MULTIPLIERS:
            multiplier, text = _MULTIPLIERS[text[-1]], text[:-1].rstrip()
    if " " in text:
        if not re.fullmatch(r"[-+]?\d{1,3}( \d{3})+([,.]\d+)?", text):
            return None
        text = text.replace(" ", "")
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        whole, _, fraction = text.rpartition(decimal)
        if not re.fullmatch(rf"[-+]?\d{{1,3}}(\{thousands}\d{{3}})+", whole):
            return None
        text = whole.replace(thousands, "") + "." + fraction
    elif text.count(",") == 1:
        text = text.replace(",", ".")
    elif text.count(",") > 1 or text.count(".") > 1:
        separator = "," if "," in text else "."
        if not re.fullmatch(rf"[-+]?\d{{1,3}}(\{separator}\d{{3}})+", text):
            return None
        text = text.replace(separator, "")
    if not re.fullmatch(r"[-+]?\d+(\.\d+)?", text):
        return None
    if len(text) > MAX_NUMBER_DIGITS + 2:
        raise _CellError(f"nombre trop long (plus de {MAX_NUMBER_DIGITS} chiffres)")
    value = Decimal(text) * multiplier
    return int(value) if value == value.to_integral_value() else float(value)


_FRENCH_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")


def parse_french_date(text: str) -> str:
    """« 01/03/2027 », « 1/3/27 » (day first, as in France) -> "2027-03-01"; ISO dates stay."""
    match = _FRENCH_DATE.fullmatch(text)
    if not match:
        return text
    day, month, year = (int(part) for part in match.groups())
    year += 2000 if year < 100 else 0
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise _CellError(f"date inexistante : {text} (attendu JJ/MM/AAAA ou AAAA-MM-JJ)") from None


# --- template ----------------------------------------------------------------------------------

_EXAMPLES: dict[str, dict[str, str]] = {
    "opportunities": {
        "id": "rep-felletin-boulangerie",
        "kind": "reprise d'entreprise",
        "title": "Boulangerie-pâtisserie à reprendre au cœur de Felletin",
        "description": (
            "Boulangerie tenue depuis vingt-deux ans par un couple qui part à la retraite : fournil "
            "équipé (four à sole de 2019, pétrin, chambre de pousse), boutique de 40 m² sur la place "
            "du marché et tournée de dépôt de pain dans quatre villages voisins. Clientèle fidèle, "
            "accompagnement du cédant pendant trois mois."
        ),
        "sector": "alimentation",
        "territory": "Communauté de communes Creuse Grand Sud",
        "location.commune": "Felletin",
        "location.postcode": "23500",
        "location.insee": "23079",
        "location.department": "23",
        "location.lat": "45,89425",
        "location.lon": "2,187",
        "price_eur": "95 000 €",
        "revenue_eur": "210 000 €",
        "staff": "2",
        "housing": "oui",
        "remote_friendly": "non",
        "tags": "boulangerie | fournil | centre-bourg",
        "available_from": "01/09/2027",
        "expires_on": "31/03/2027",
        "contact_email": "economie@creuse-grand-sud.example.fr",
    },
    "holders": {
        "id": "h-exemple-1",
        "name": "Camille Martin",
        "email": "camille.martin@example.fr",
        "digest_opt_in": "oui",
        "share_with_territories": "non",
        "project": (
            "Reprendre une boulangerie de village avec un fournil au bois et ouvrir un petit rayon "
            "d'épicerie fine tourné vers les producteurs du coin."
        ),
        "experience": "Dix ans de boulangerie à Lyon ; CAP boulanger et brevet de maîtrise.",
        "kinds": "reprise d'entreprise | installation",
        "sectors": "alimentation | commerce",
        "budget_eur": "60 000 €",
        "origin.commune": "Lyon",
        "origin.postcode": "69001",
        "origin.insee": "69123",
        "origin.department": "69",
        "origin.lat": "45,764",
        "origin.lon": "4,8357",
        "max_distance_km": "250",
        "departments": "23 | 19 | 87",
        "needs_housing": "oui",
        "remote_worker": "non",
        "partner_sector": "sante",
        "available_from": "01/03/2027",
        "counsellor.name": "Julien Bernard",
        "counsellor.email": "julien.bernard@example.fr",
        "counsellor.organisation": "BGE Rhône",
    },
}


#: What a spreadsheet would run as a formula at the start of a cell (« =HYPERLINK(…) »).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: Any) -> Any:
    # Text written by others (an offer's title) is shown, never run: a leading « ' » keeps it text.
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) else cell


def _sheet(rows: Iterable[Iterable[Any]]) -> bytes:
    # What a French spreadsheet opens as it is: UTF-8 with a BOM, « ; » between cells.
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(
        [_inert(c) for c in row] for row in rows
    )
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def template(kind: RecordKind) -> bytes:
    """A CSV to fill in: UTF-8 with BOM, « ; », French headers and one example row."""
    columns = columns_for(kind)
    return _sheet([columns.french.values(), (_EXAMPLES[kind].get(path, "") for path in columns.french)])


MATCH_COLUMNS = ("Rang", "Offre", "Type", "Commune", "Département", "Distance (km)", "Prix (€)",
                 "Adéquation", "Raisons", "Points d'attention", "Identifiant")  # fmt: skip


def matches_sheet(result: MatchResult) -> bytes:
    """A holder's matches as a CSV a spreadsheet opens: one row per offer, numbers in French."""
    rows: list[Iterable[Any]] = [MATCH_COLUMNS]
    for match in result.matches:
        rows.append(
            (
                match.rank,
                match.title,
                KIND_LABELS[match.kind],
                match.commune or "",
                match.department or "",
                "" if match.distance_km is None else f"{match.distance_km:.0f}",
                "" if match.price_eur is None else f"{match.price_eur:.0f}",
                match.fit,
                " ; ".join(reason.text for reason in match.reasons),
                " ; ".join(warning.text for warning in match.warnings),
                match.opportunity_id,
            )
        )
    return _sheet(rows)

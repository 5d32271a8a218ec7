"""Reading records from files (JSON Lines, JSON, CSV) and importing them.

Each record is validated on its own: valid ones are stored even when others are rejected,
each in its own savepoint so that none is ever half-written. Rejects name the line (or the
id) and the field. A bad record (broken syntax, a 5,000-digit number, a thousand nested
brackets) is that record's reject; only a file that cannot be read at all is refused whole.

JSON and JSON Lines must be UTF-8 (RFC 8259). A file starting with « [ » is an array of
records; one starting with « { » is JSON Lines (records split on "\n" only, never on the other
Unicode line breaks a string may hold) unless its first line is not a whole record, in which
case it is one or more pretty-printed objects. CSV is read by :mod:`matcher.spreadsheet`.
"""

from __future__ import annotations

import bisect
import codecs
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matcher.domain import VOCABULARY, HolderProfile, Opportunity, parse, record_label
from matcher.errors import InvalidFile, InvalidRecord, LocationUnresolved
from matcher.geo import Gazetteer, resolve
from matcher.spreadsheet import (
    AMOUNT_FIELDS,
    MAX_NUMBER_DIGITS,
    RecordKind,
    parse_amount,
    read_spreadsheet,
)
from matcher.store import Store
from matcher.taxonomy import Taxonomy

#: Deepest nesting of objects and arrays in one record (the contract needs 2).
MAX_DEPTH = 20
#: Longest record, in characters of JSON text: far above any valid record (a description is at
#: most 20,000 characters, 120,000 once escaped), so that the contract names the field too long.
MAX_RECORD_CHARS = 2_000_000


@dataclass
class RawRecord:
    label: str  # how a message names it: « ligne 12 »
    value: Any
    #: How the file names each field, when not by the contract's path (a spreadsheet's French
    #: headers, « titre » for ``title``): refusals then name the column the person wrote.
    columns: Mapping[str, str] = field(default_factory=dict)

    def reason(self, error: InvalidRecord) -> str:
        """``error``'s problems as the person reads them, each under the field's own name."""
        return "; ".join(
            f"{self.columns.get(path.split('[')[0], path)}: {message}" if path else message
            for path, message in error.problems
        )


def with_organisation(records: list[RawRecord], organisation: str) -> list[RawRecord]:
    """Holder records with ``organisation`` as their counsellor's where they name none."""
    filled = []
    for record in records:
        value = record.value
        if isinstance(value, dict):
            counsellor = value.get("counsellor") or {}
            if isinstance(counsellor, dict) and not counsellor.get("organisation"):
                value = {**value, "counsellor": {**counsellor, "organisation": organisation}}
        filled.append(RawRecord(record.label, value, record.columns))
    return filled


@dataclass
class Reject:
    record: str
    reason: str


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Reject] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"record": r.record, "reason": r.reason} for r in self.rejected],
        }


def decode(content: bytes, source: str) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidFile(
            f"{source} : le fichier n'est pas encodé en UTF-8 (octet invalide à la position "
            f"{error.start}) ; réenregistrez-le en UTF-8"
        ) from None
    if not text.strip():
        raise InvalidFile(f"{source} : le fichier est vide")
    return text


def guess_format(content: bytes) -> str:
    """'json' for an array, 'jsonl' for objects, else 'csv': told by the first visible byte."""
    start = content[len(codecs.BOM_UTF8) :] if content.startswith(codecs.BOM_UTF8) else content
    first = start.lstrip()[:1]
    return "json" if first == b"[" else "jsonl" if first == b"{" else "csv"


def read_records(
    content: bytes, source: str, fmt: str | None = None, kind: RecordKind | None = None
) -> list[RawRecord]:
    """Split a file's bytes into raw records; ``fmt`` is 'jsonl', 'json' or 'csv' (else guessed).

    ``kind`` tells which French CSV headers apply; without it the header row decides.
    """
    fmt = fmt or guess_format(content)
    if fmt == "csv":
        columns, rows = read_spreadsheet(content, source, kind)
        return [RawRecord(label, value, columns) for label, value in rows]
    text = decode(content, source)
    start = len(text) - len(text.lstrip())
    if text[start] == "[":
        records = _array_records(text, start, source)
    elif text[start] != "{":
        raise InvalidFile(f"{source} : un fichier JSON doit contenir des objets ou un tableau d'objets")
    elif fmt == "json" or not _whole_first_line(text, start):
        try:
            records = _object_records(text)
        except _ScanError:
            records = _line_records(text)
    else:
        records = _line_records(text)
    if not records and text[start] != "[":
        raise InvalidFile(f"{source} : aucun enregistrement")
    return records


# --- JSON, one record at a time, with limits -----------------------------------------------------

# A string (escapes included) or one structural character. Scanning with it finds where each
# record ends and how deep it nests without parsing it, so that a bad record cannot take its
# neighbours down.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[][{},"]', re.DOTALL)


class _ScanError(ValueError):
    def __init__(self, position: int, problem: str):
        super().__init__(problem)
        self.position = position


class _Limit(ValueError):
    """A record over one of the parser's limits."""


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_DIGITS + 1:
        raise _Limit(f"nombre trop long ({len(text)} caractères ; au plus {MAX_NUMBER_DIGITS} chiffres)")
    return text


def _constant(name: str) -> Any:
    raise _Limit(f"{name} n'est pas une valeur JSON (un nombre doit être fini)")


_DECODER = json.JSONDecoder(
    parse_int=lambda text: int(_number(text)),
    parse_float=lambda text: float(_number(text)),
    parse_constant=_constant,
)

_JSON_MESSAGES = (
    ("Expecting property name enclosed in double quotes", "guillemets attendus autour du nom de champ"),
    ("Expecting ':' delimiter", "deux-points attendu après le nom de champ"),
    ("Expecting value", "valeur attendue"),
    ("Unterminated string", "chaîne non terminée"),
    ("Invalid control character", "caractère de contrôle dans une chaîne (un saut de ligne s'écrit \\n)"),
    ("Invalid \\uXXXX escape", "séquence \\uXXXX invalide"),
    ("Invalid \\escape", "échappement invalide (une barre oblique inverse s'écrit \\\\)"),
    ("Extra data", "texte en trop après l'enregistrement"),
    ("Illegal trailing comma", "virgule en trop avant la fermeture"),
)


def french_json_error(error: json.JSONDecodeError) -> str:
    """The French wording of a JSON syntax error (without its position)."""
    if error.msg.startswith("Expecting ',' delimiter"):
        if _innermost(error.doc, error.pos) == "[":
            return "virgule ou crochet fermant attendu"
        return "virgule ou accolade fermante attendue"
    for english, french in _JSON_MESSAGES:
        if error.msg.startswith(english):
            return french
    return f"syntaxe invalide ({error.msg})"


def _innermost(doc: str, position: int) -> str | None:
    """The bracket (« { » or « [ ») still open at ``position``."""
    stack: list[str] = []
    for match in _TOKEN.finditer(doc, 0, position):
        token = match.group()
        if token in "[{":
            stack.append(token)
        elif token in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _depth(text: str, start: int, end: int) -> int:
    depth = deepest = 0
    for match in _TOKEN.finditer(text, start, end):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _parse(text: str, start: int, end: int, label: str, with_line: bool) -> RawRecord:
    """The record in ``text[start:end]``, or that record's reject: syntax, limits, quoted numbers."""
    if end - start > MAX_RECORD_CHARS:
        problem = f"enregistrement trop volumineux ({end - start} caractères ; au plus {MAX_RECORD_CHARS})"
        return RawRecord(label, InvalidRecord(label, [("", problem)]))
    if _depth(text, start, end) > MAX_DEPTH:
        problem = f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux d'objets ou de tableaux)"
        return RawRecord(label, InvalidRecord(label, [("", problem)]))
    try:
        value, stop = _DECODER.raw_decode(text, start)
        rest = text[stop:end]
        if rest.strip():
            raise json.JSONDecodeError("Extra data", text, stop + len(rest) - len(rest.lstrip()))
    except json.JSONDecodeError as error:
        where = f"ligne {error.lineno}, colonne {error.colno}" if with_line else f"colonne {error.colno}"
        problem = f"JSON invalide ({french_json_error(error)}, {where})"
        return RawRecord(label, InvalidRecord(label, [("", problem)]))
    except (_Limit, RecursionError, ValueError) as error:  # the last two: a safety net only
        problem = str(error) if isinstance(error, _Limit) else "nombre ou imbrication hors limites"
        return RawRecord(label, InvalidRecord(label, [("", f"JSON invalide ({problem})")]))
    problems = quoted_amounts(value)
    if problems:
        return RawRecord(label, InvalidRecord(record_label(value, label), problems))
    return RawRecord(label, value)


def quoted_amounts(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Amounts written as strings: JSON has numbers, and « "30 000 €" » is not silently one."""
    if not isinstance(value, dict):
        return []
    problems = []
    for key, item in value.items():
        if isinstance(item, dict) and not prefix:
            problems.extend(quoted_amounts(item, f"{key}."))
        elif key in AMOUNT_FIELDS and isinstance(item, str):
            try:
                number = parse_amount(item, euros=key.endswith("_eur"))
            except ValueError:
                number = None
            example = f" : {number}" if number is not None and number >= 0 else ", par exemple 30000"
            problems.append((f"{prefix}{key}", f"doit être un nombre (sans guillemets en JSON{example})"))
    return problems


def _whole_first_line(text: str, start: int) -> bool:
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)]
    try:
        return len(_top_level(line, 0, len(line))) == 1
    except _ScanError:
        return False


def _top_level(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each top-level object in ``text[start:end]``, whitespace between them."""
    spans: list[tuple[int, int]] = []
    depth, opened, previous = 0, start, start
    for match in _TOKEN.finditer(text, start, end):
        token = match.group()
        if depth == 0:
            if text[previous : match.start()].strip() or token != "{":
                raise _ScanError(previous, "texte hors d'un enregistrement")
            opened = match.start()
        if token == '"':
            raise _ScanError(match.start(), "chaîne non terminée")
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
            if depth == 0:
                spans.append((opened, match.end()))
                previous = match.end()
            elif depth < 0:
                raise _ScanError(match.start(), "fermeture sans ouverture")
    if depth or text[previous:end].strip():
        raise _ScanError(previous, "enregistrement non fermé")
    return spans


class _Lines:
    """Line numbers of positions in a text, counting "\n" only (as the JSON decoder does)."""

    def __init__(self, text: str):
        self.breaks = [m.start() for m in re.finditer("\n", text)]

    def of(self, position: int) -> int:
        return bisect.bisect_left(self.breaks, position) + 1


def _line_records(text: str) -> list[RawRecord]:
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        label = f"ligne {number}"
        start = len(line) - len(line.lstrip())
        records.append(_parse(line, start, len(line), label, with_line=False))
    return records


def _object_records(text: str) -> list[RawRecord]:
    lines = _Lines(text)
    return [
        _parse(text, start, end, f"ligne {lines.of(start)}", with_line=True)
        for start, end in _top_level(text, 0, len(text))
    ]


def _array_records(text: str, start: int, source: str) -> list[RawRecord]:
    """The elements of a JSON array, split on its top-level commas, each parsed on its own."""
    lines = _Lines(text)
    elements: list[tuple[int, int]] = []
    depth, element_start, close = 0, start + 1, -1
    for match in _TOKEN.finditer(text, start):
        token = match.group()
        if token == '"':
            problem = f"chaîne non terminée (guillemet ligne {lines.of(match.start())})"
            raise InvalidFile(f"{source} : JSON invalide ligne {lines.of(match.start())} ({problem})")
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
        if depth == 1 and token == ",":
            elements.append((element_start, match.start()))
            element_start = match.end()
        elif depth == 0:
            elements.append((element_start, match.start()))
            close = match.end()
            break
    if close < 0:
        problem = "tableau non fermé : « ] » manquant"
        raise InvalidFile(f"{source} : JSON invalide ligne {lines.of(len(text))} ({problem})")
    if text[close:].strip():
        problem = "texte en trop après la fin du tableau"
        raise InvalidFile(f"{source} : JSON invalide ligne {lines.of(close)} ({problem})")
    if elements and not text[slice(*elements[-1])].strip():
        elements.pop()  # « [] », or a trailing comma: no record is lost
    records = []
    for number, (begin, end) in enumerate(elements, start=1):
        label = f"enregistrement {number}"
        first = end - len(text[begin:end].lstrip())
        if first >= end:
            problem = f"JSON invalide (valeur attendue : virgule en trop, ligne {lines.of(begin)})"
            records.append(RawRecord(label, InvalidRecord(label, [("", problem)])))
        else:
            records.append(_parse(text, first, end, label, with_line=True))
    return records


#: Gives the vocabulary with an encoder, built (and the encoder loaded) only for a label the
#: tables cannot read.
Meaning = Callable[[], Taxonomy]


def _family_by_meaning(label: str | None, family: str | None, meaning: Meaning | None) -> str | None:
    """The family of a label the tables could not read, by the nearest family in meaning."""
    if family is not None or not label or meaning is None:
        return family
    return meaning().classify(label).family


def validate_opportunity(
    raw: Any, label: str, gazetteer: Gazetteer | None, meaning: Meaning | None = None
) -> Opportunity:
    """Parse and place an opportunity; raises InvalidRecord naming the record and the field.

    With ``meaning``, a sector label the tables cannot read is given the nearest family in
    meaning, when it is near enough.
    """
    opportunity = parse(Opportunity, raw, label)
    try:
        location = resolve(opportunity.location, gazetteer)
    except LocationUnresolved as error:
        raise InvalidRecord(record_label(raw, label), [("location", str(error))]) from None
    family = _family_by_meaning(opportunity.sector, opportunity.sector_family, meaning)
    return opportunity.model_copy(update={"location": location, "sector_family": family})


def validate_holder(
    raw: Any,
    label: str,
    gazetteer: Gazetteer | None,
    require_id: bool = True,
    meaning: Meaning | None = None,
) -> HolderProfile:
    """Parse a holder profile and place its origin (needed for distances); with ``meaning``,
    sector labels the tables cannot read get the nearest family in meaning."""
    holder = parse(HolderProfile, raw, label)
    unread = [s for s in holder.sectors if VOCABULARY.classify(s).family is None]
    if meaning is not None and unread:
        found = [f for s in unread if (f := meaning().classify(s).family)]
        holder = holder.model_copy(update={"families": list(dict.fromkeys([*holder.families, *found]))})
    partner = _family_by_meaning(holder.partner_sector, holder.partner_family, meaning)
    if partner != holder.partner_family:
        holder = holder.model_copy(update={"partner_family": partner})
    if require_id and holder.id is None:
        raise InvalidRecord(label, [("id", "champ obligatoire manquant")])
    if holder.origin is not None:
        try:
            origin = resolve(holder.origin, gazetteer) if gazetteer else holder.origin
        except LocationUnresolved as error:
            raise InvalidRecord(record_label(raw, label), [("origin", str(error))]) from None
        if origin.lat is None:
            problem = "sans table des communes (matcher geo load), l'origine doit donner lat et lon"
            raise InvalidRecord(record_label(raw, label), [("origin", problem)])
        holder = holder.model_copy(update={"origin": origin})
    return holder


#: Records written per transaction by an import.
IMPORT_BATCH = 200


def import_records(
    store: Store,
    gazetteer: Gazetteer | None,
    kind: RecordKind,
    records: list[RawRecord],
    meaning: Meaning | None = None,
    admit: Callable[[Opportunity | HolderProfile], tuple[str, str] | None] | None = None,
) -> ImportReport:
    """Validate every record, then upsert the valid ones by id, each in its own savepoint, in
    transactions of IMPORT_BATCH records.

    ``admit`` sees each valid record in file order and tells (field, problem) to refuse it."""
    report = ImportReport()
    ids = Counter(
        r.value.get("id") for r in records if isinstance(r.value, dict) and isinstance(r.value.get("id"), str)
    )
    valid: list[Opportunity | HolderProfile] = []
    for record in records:
        try:
            if isinstance(record.value, InvalidRecord):
                raise record.value
            record_id = record.value.get("id") if isinstance(record.value, dict) else None
            if isinstance(record_id, str) and ids[record_id] > 1:
                lines = [
                    r.label for r in records if isinstance(r.value, dict) and r.value.get("id") == record_id
                ]
                raise InvalidRecord(
                    record_label(record.value, record.label),
                    [("id", f"id en double dans le fichier ({', '.join(lines)})")],
                )
            checked: Opportunity | HolderProfile
            if kind == "opportunities":
                checked = validate_opportunity(record.value, record.label, gazetteer, meaning)
            else:
                checked = validate_holder(record.value, record.label, gazetteer, meaning=meaning)
            if admit is not None and (problem := admit(checked)):
                raise InvalidRecord(record_label(record.value, record.label), [problem])
            valid.append(checked)
        except InvalidRecord as error:
            report.rejected.append(Reject(error.record, record.reason(error)))
    # Short write transactions: a long import lets the service and the digest write between
    # its batches. Each record is one upsert by id, so an import stopped midway (killed, the
    # database gone) keeps its first batches and a rerun finishes it.
    for start in range(0, len(valid), IMPORT_BATCH):
        with store.database.session() as session:
            for checked in valid[start : start + IMPORT_BATCH]:
                with session.begin_nested():
                    if isinstance(checked, Opportunity):
                        outcome = store.catalogue.save(session, checked)
                    else:
                        outcome = store.holders.save(session, checked, keep_unsubscribe=True)
                setattr(report, outcome, getattr(report, outcome) + 1)
    return report


#: What the file system says, in French.
FILE_PROBLEMS: tuple[tuple[type[OSError], str], ...] = (
    (FileNotFoundError, "fichier introuvable ; vérifiez le chemin"),
    (IsADirectoryError, "c'est un dossier, pas un fichier"),
    (PermissionError, "accès refusé ; vérifiez les droits du fichier"),
)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        problem = next(
            (text for kind, text in FILE_PROBLEMS if isinstance(error, kind)), "lecture impossible"
        )
        raise InvalidFile(f"{path} : {problem}") from None


def format_from_suffix(path: Path) -> str | None:
    """CSV is told by its suffix; JSON and JSON Lines by their first character."""
    return "csv" if path.suffix.lower() == ".csv" else None

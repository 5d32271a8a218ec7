"""Reading records from files (JSON Lines, JSON array, CSV) and importing them.

Each record is validated on its own: valid ones are stored even when others are rejected,
each in its own savepoint so that none is ever half-written. Rejects name the line (or the
id) and the field.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from matcher.domain import HolderProfile, Opportunity, parse, record_label
from matcher.errors import InvalidFile, InvalidRecord, LocationUnresolved
from matcher.geo import Gazetteer, resolve
from matcher.store import Store

RecordKind = Literal["opportunities", "holders"]
#: CSV cells holding lists separate their items with this character.
CSV_LIST_SEPARATOR = "|"
LIST_FIELDS = {"tags", "kinds", "sectors", "departments"}


@dataclass
class RawRecord:
    label: str  # how a message names it: « ligne 12 »
    value: Any


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


def _csv_cell(name: str, cell: str) -> Any:
    if name.split(".")[-1] in LIST_FIELDS:
        return [item.strip() for item in cell.split(CSV_LIST_SEPARATOR) if item.strip()]
    lowered = cell.strip().lower()
    if lowered in ("true", "vrai", "oui"):
        return True
    if lowered in ("false", "faux", "non"):
        return False
    return cell.strip()


def _csv_records(text: str, source: str) -> list[RawRecord]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise InvalidFile(f"{source} : CSV mal formé à la ligne {reader.line_num} ({error})") from None
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise InvalidFile(f"{source} : en-tête CSV invalide (colonne vide ou en double) : {header}")
    records = []
    for number, row in enumerate(rows[1:], start=2):
        label = f"ligne {number}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            records.append(
                RawRecord(
                    label,
                    InvalidRecord(label, [("", f"{len(row)} colonnes au lieu de {len(header)}")]),
                )
            )
            continue
        record: dict[str, Any] = {}
        for name, cell in zip(header, row, strict=True):
            if not cell.strip():
                continue  # an empty cell is an absent field
            target = record
            *parents, leaf = name.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = _csv_cell(name, cell)
        records.append(RawRecord(label, record))
    return records


def read_records(content: bytes, source: str, fmt: str | None = None) -> list[RawRecord]:
    """Split a file's bytes into raw records; ``fmt`` is 'jsonl', 'json' or 'csv' (else guessed)."""
    text = decode(content, source)
    stripped = text.lstrip()
    fmt = fmt or ("json" if stripped.startswith("[") else "jsonl" if stripped.startswith("{") else "csv")
    if fmt == "csv":
        return _csv_records(text, source)
    if fmt == "json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidFile(f"{source} : JSON invalide ligne {error.lineno} ({error.msg})") from None
        if not isinstance(values, list):
            raise InvalidFile(f"{source} : un fichier JSON doit contenir un tableau d'enregistrements")
        return [RawRecord(record_label(v, f"enregistrement {i}"), v) for i, v in enumerate(values, start=1)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label = f"ligne {number}"
        try:
            records.append(RawRecord(label, json.loads(line)))
        except json.JSONDecodeError as error:
            records.append(
                RawRecord(
                    label,
                    InvalidRecord(label, [("", f"JSON invalide ({error.msg}, colonne {error.colno})")]),
                )
            )
    if not records:
        raise InvalidFile(f"{source} : aucun enregistrement")
    return records


def validate_opportunity(raw: Any, label: str, gazetteer: Gazetteer | None) -> Opportunity:
    """Parse and place an opportunity; raises InvalidRecord naming the record and the field."""
    opportunity = parse(Opportunity, raw, label)
    try:
        location = resolve(opportunity.location, gazetteer)
    except LocationUnresolved as error:
        raise InvalidRecord(record_label(raw, label), [("location", str(error))]) from None
    return opportunity.model_copy(update={"location": location})


def validate_holder(
    raw: Any, label: str, gazetteer: Gazetteer | None, require_id: bool = True
) -> HolderProfile:
    """Parse a holder profile and place its origin (needed for distances)."""
    holder = parse(HolderProfile, raw, label)
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


def import_records(
    store: Store, gazetteer: Gazetteer | None, kind: RecordKind, records: list[RawRecord]
) -> ImportReport:
    """Validate every record, then upsert the valid ones by id, each in its own savepoint."""
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
            if kind == "opportunities":
                valid.append(validate_opportunity(record.value, record.label, gazetteer))
            else:
                valid.append(validate_holder(record.value, record.label, gazetteer))
        except InvalidRecord as error:
            report.rejected.append(Reject(error.record, str(error).removeprefix(f"{error.record}: ")))
    with store.database.session() as session:
        for record in valid:
            with session.begin_nested():
                if isinstance(record, Opportunity):
                    outcome = store.catalogue.save(session, record)
                else:
                    outcome = store.holders.save(session, record, keep_unsubscribe=True)
            setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidFile(f"{path} : lecture impossible ({error.strerror})") from None


def format_from_suffix(path: Path) -> str | None:
    """CSV is told by its suffix; JSON and JSON Lines by their first character."""
    return "csv" if path.suffix.lower() == ".csv" else None

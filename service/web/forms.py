"""The holder form: its fields are the contract's paths, read like spreadsheet cells.

A counsellor types what they would type in a sheet (« 30 000 € », « Creuse, Corrèze »,
« 01/03/2027 »); ``matcher.spreadsheet`` reads each field by its type and the engine validates
the record, whose French messages are shown next to their field.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

from matcher.areas import region_label
from matcher.domain import WIDENABLE_LIMITS, HolderProfile, Location
from matcher.errors import InvalidRecord
from matcher.explain import department_label, euros
from matcher.geo import commune_label
from matcher.spreadsheet import parse_amount, record_from_cells

#: The form's text fields (contract paths), in the order of the page.
TEXT_FIELDS = (
    "name",
    "email",
    "project",
    "experience",
    "trades",
    "sectors",
    "budget_eur",
    "origin.commune",
    "max_distance_km",
    "departments",
    "regions",
    "partner_sector",
    "available_from",
)
#: Checkboxes: ticked is « oui », left empty is « non ».
FLAG_FIELDS = ("needs_housing", "remote_worker", "digest_opt_in", "share_with_territories")
#: The other fields a form may keep as they are stored (the counsellor's contact).
KEPT_FIELDS = ("counsellor",)


#: « Felletin (Creuse, 23) » or « Saint-Julien (21) »: a commune as the suggestions give it.
_COMMUNE_WITH_DEPARTMENT = re.compile(r"^(?P<name>.+?)\s*\((?:[^,()]*,\s*)?(?P<department>\d[\dAB]\d?)\)$")


def holder_record(form: FormData, stored: HolderProfile | None, label: str) -> dict[str, Any] | InvalidRecord:
    """The record the form describes; what the form does not show is kept from ``stored``."""
    paths = [*TEXT_FIELDS, *FLAG_FIELDS, "kinds"]
    cells = [form_text(form, path) for path in TEXT_FIELDS]
    cells += ["oui" if form.get(path) else "non" for path in FLAG_FIELDS]
    cells.append("|".join(kind for kind in form.getlist("kinds") if isinstance(kind, str)))
    split_commune(paths, cells, "origin.commune")
    record = record_from_cells(paths, cells, label)
    if isinstance(record, InvalidRecord) or stored is None:
        return record
    kept = stored.model_dump(mode="json", exclude_none=True)
    if "origin" in kept and form_text(form, "origin.commune").strip() == place_label(stored.origin):
        record["origin"] = kept["origin"]  # unchanged: keep it as placed (coordinates, codes)
    return {"id": stored.id, **{k: kept[k] for k in KEPT_FIELDS if k in kept}, **record}


def split_commune(paths: list[str], cells: list[str], field: str) -> None:
    """Read « Felletin (Creuse, 23) », as the suggestions write it, as the commune and its
    department (two cells)."""
    position = paths.index(field)
    commune = _COMMUNE_WITH_DEPARTMENT.match(cells[position].strip())
    if commune:
        cells[position] = commune["name"]
        paths.append(field.rsplit(".", 1)[0] + ".department")
        cells.append(commune["department"])


def form_text(form: FormData, path: str) -> str:
    value = form.get(path, "")
    return value if isinstance(value, str) else ""  # a file sent in a text field is no text


def widening_from_query(constraint: str, values: list[str]) -> tuple[str, Any] | None:
    """The widening a button asks for (constraint, new limit or added values), None for none."""
    if not constraint:
        return None
    if constraint in WIDENABLE_LIMITS:
        amount = parse_amount(values[0], euros=True) if values else None
        return constraint, amount if amount is not None else (values[0] if values else None)
    return constraint, [v for v in values if v]


def form_values(holder: HolderProfile | None) -> dict[str, Any]:
    """The fields of a stored profile as the form shows them."""
    if holder is None:
        return {"kinds": [], "digest_opt_in": False, "share_with_territories": False}
    return {
        "name": holder.name or "",
        "email": holder.email or "",
        "project": holder.project,
        "experience": holder.experience or "",
        "trades": ", ".join(holder.trades),
        "sectors": ", ".join(holder.sectors),
        "budget_eur": euros(holder.budget_eur) if holder.budget_eur is not None else "",
        "origin.commune": place_label(holder.origin),
        "max_distance_km": f"{holder.max_distance_km:g}" if holder.max_distance_km else "",
        "departments": ", ".join(holder.departments),
        "regions": ", ".join(holder.regions),
        "partner_sector": holder.partner_sector or "",
        "available_from": holder.available_from.isoformat() if holder.available_from else "",
        "kinds": list(holder.kinds),
        **{flag: getattr(holder, flag) for flag in FLAG_FIELDS},
    }


def place_label(place: Location | None) -> str:
    """A holder's origin or an offer's place as the suggestions write it, which a form reads back."""
    if place is None or not place.commune:
        return ""
    return commune_label(place.commune, place.department) if place.department else place.commune


def submitted_values(form: FormData) -> dict[str, Any]:
    """The fields as the person typed them, to show the form again with its errors."""
    values: dict[str, Any] = {path: form_text(form, path) for path in TEXT_FIELDS}
    values["kinds"] = [kind for kind in form.getlist("kinds") if isinstance(kind, str)]
    values.update({flag: bool(form.get(flag)) for flag in FLAG_FIELDS})
    return values


def field_errors(error: InvalidRecord) -> dict[str, str]:
    """Each problem under the holder form's field it belongs to (« origin.lat » under the
    commune); problems of no field under ""."""
    return errors_by_field(error, (*TEXT_FIELDS, *FLAG_FIELDS, "kinds"), "origin")


def errors_by_field(error: InvalidRecord, fields: tuple[str, ...], place: str) -> dict[str, str]:
    """``error``'s problems by form field; every part of ``place`` (« origin », « location »)
    under the form's one field for it, « <place>.commune »."""
    errors: dict[str, str] = {}
    for path, message in error.problems:
        field = path.split("[")[0]
        if field.startswith(place):
            field = f"{place}.commune"
        if field not in fields:
            field = ""
        errors[field] = f"{errors[field]} ; {message}" if field in errors else message
    return errors


def constraint_summary(holder: HolderProfile) -> list[str]:
    """The profile's hard constraints in a few words each, for the top of the matches page."""
    summary = []
    if holder.origin and holder.origin.commune:
        around = f" (jusqu'à {holder.max_distance_km:g} km)" if holder.max_distance_km else ""
        summary.append(f"Habite {holder.origin.commune}{around}")
    if holder.budget_eur is not None:
        summary.append(f"Budget {euros(holder.budget_eur)}")
    if holder.departments:
        summary.append("Départements : " + ", ".join(department_label(d) for d in holder.departments))
    if holder.regions:
        summary.append("Régions : " + ", ".join(region_label(r) for r in holder.regions))
    if holder.needs_housing:
        summary.append("Cherche un logement")
    if holder.remote_worker:
        summary.append("Télétravaille")
    if holder.partner_sector:
        summary.append(f"Conjoint·e : {holder.partner_sector}")
    return summary

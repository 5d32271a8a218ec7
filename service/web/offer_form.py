"""The offer form: its fields are the contract's paths, read like spreadsheet cells.

An officer types what they would type in the import template (« 85 000 € », « 01/03/2027 »,
« oui »); ``matcher.spreadsheet`` reads each field by its type and the engine validates the
record, whose French messages are shown next to their field. The form shows what a holder
would read of the offer, and how many stored holders it could reach, before it is published.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from matcher.accounts import User
from matcher.domain import Opportunity
from matcher.errors import InvalidRecord
from matcher.explain import euros
from matcher.spreadsheet import record_from_cells
from service.web.forms import errors_by_field, form_text, place_label, split_commune

#: The form's text fields (contract paths), in the order of the page.
TEXT_FIELDS = (
    "title",
    "description",
    "sector",
    "trade",
    "location.commune",
    "price_eur",
    "revenue_eur",
    "staff",
    "tags",
    "available_from",
    "expires_on",
    "contact_name",
    "contact_phone",
    "contact_email",
)
#: Checkboxes: ticked is « oui », left empty is « non ».
FLAG_FIELDS = ("housing", "remote_friendly")
#: Chosen among fixed values.
CHOICE_FIELDS = ("kind", "territory")
#: What the form does not show and an edit keeps as stored.
KEPT_FIELDS = ("status",)


def offer_record(form: FormData, stored: Opportunity | None, label: str) -> dict[str, Any] | InvalidRecord:
    """The record the form describes; what the form does not show is kept from ``stored``."""
    paths = [*TEXT_FIELDS, *FLAG_FIELDS, *CHOICE_FIELDS]
    cells = [form_text(form, path) for path in TEXT_FIELDS]
    # Tags as people list them, with commas too (the template's lists use « ; » or « | »).
    tags = TEXT_FIELDS.index("tags")
    cells[tags] = cells[tags].replace(",", ";")
    cells += ["oui" if form.get(path) else "non" for path in FLAG_FIELDS]
    cells += [form_text(form, path) for path in CHOICE_FIELDS]
    split_commune(paths, cells, "location.commune")
    record = record_from_cells(paths, cells, label)
    if isinstance(record, InvalidRecord) or stored is None:
        return record
    kept = stored.model_dump(mode="json", exclude_none=True)
    if form_text(form, "location.commune").strip() == place_label(stored.location):
        record["location"] = kept["location"]  # unchanged: keep it as placed (coordinates, codes)
    return {**{k: kept[k] for k in KEPT_FIELDS if k in kept}, **record}


def form_values(opportunity: Opportunity | None, actor: User) -> dict[str, Any]:
    """The fields of a stored offer as the form shows them (a new one: the officer's territory)."""
    if opportunity is None:
        return {"kind": "activity", "territory": actor.territories[0] if actor.territories else ""}
    o = opportunity
    return {
        "kind": o.kind,
        "territory": o.territory,
        "title": o.title,
        "description": o.description,
        "sector": o.sector or "",
        "trade": o.trade or "",
        "location.commune": place_label(o.location),
        "price_eur": euros(o.price_eur) if o.price_eur is not None else "",
        "revenue_eur": euros(o.revenue_eur) if o.revenue_eur is not None else "",
        "staff": str(o.staff) if o.staff is not None else "",
        "tags": ", ".join(o.tags),
        "available_from": o.available_from.isoformat() if o.available_from else "",
        "expires_on": o.expires_on.isoformat() if o.expires_on else "",
        "contact_name": o.contact_name or "",
        "contact_phone": o.contact_phone or "",
        "contact_email": o.contact_email or "",
        "housing": o.housing,
        "remote_friendly": o.remote_friendly,
    }


def submitted_values(form: FormData) -> dict[str, Any]:
    """The fields as the officer typed them, to show the form again."""
    values: dict[str, Any] = {path: form_text(form, path) for path in (*TEXT_FIELDS, *CHOICE_FIELDS)}
    values.update({flag: bool(form.get(flag)) for flag in FLAG_FIELDS})
    return values


def field_errors(error: InvalidRecord) -> dict[str, str]:
    """Each problem under the offer form's field it belongs to; of no field under ""."""
    return errors_by_field(error, (*TEXT_FIELDS, *FLAG_FIELDS, *CHOICE_FIELDS), "location")

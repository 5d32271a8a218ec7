"""Templates and the filters they format with: French numbers, dates and labels.

Templates only loop and test; every sentence about a match comes from the engine (reasons,
warnings, relaxations, fit), every figure is formatted here.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from matcher.domain import KIND_LABELS, VERDICT_LABELS
from matcher.explain import (
    COMPONENT_LABELS,
    FIT_THRESHOLDS,
    FIT_TO_DISCUSS,
    department_label,
    describe_widening,
    euros,
    french_date,
    plural,
)

#: Dates and times are shown as people in France read them.
PARIS = ZoneInfo("Europe/Paris")

#: A small glyph per reason and warning code (decorative: the text says it all).
REASON_ICONS: dict[str, str] = {
    "shared_words": "≡",
    "project_close": "◎",
    "trade_sought": "✓",
    "sector_sought": "✓",
    "kind_sought": "✓",
    "distance": "↔",
    "department_targeted": "⌖",
    "region_targeted": "⌖",
    "location": "⌖",
    "kind": "•",
    "budget_fits": "€",
    "desk_price": "€",
    "price_unknown": "€",
    "housing_offered": "⌂",
    "no_housing": "⌂",
    "remote_friendly": "⇆",
    "no_remote_space": "⇆",
    "partner_work_nearby": "♥",
    "no_partner_work": "♥",
    "partner_offer": "♥",
    "no_investment": "€",
    "denied_need": "∅",
}


#: A style per fit label, so that the label's colour follows it.
FIT_CLASSES = {
    **{label: style for (_, label), style in zip(FIT_THRESHOLDS, ("tres-proche", "proche"), strict=True)},
    FIT_TO_DISCUSS: "a-discuter",
}


def kilometres(value: float | None) -> str:
    """« à 48 km », « à 2,5 km »."""
    if value is None:
        return ""
    shown = f"{value:.0f}" if value >= 10 else f"{value:.1f}".replace(".", ",").removesuffix(",0")
    return f"à {shown} km"


def moment(value: datetime | date | None) -> str:
    """« 02/12/2026 à 14:05 » (Paris time), « 02/12/2026 » for a date, « — » for nothing."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = value.astimezone(PARIS)
        return f"{french_date(local.date())} à {local:%H:%M}"
    return french_date(value)


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(
    euros=euros,
    km=kilometres,
    moment=moment,
    department=department_label,
    plural=plural,
    percent=lambda value: f"{value * 100:.0f}\u00a0%",
    widening=lambda saved: describe_widening(saved.constraint, saved.value),
)
templates.env.globals.update(
    KIND_LABELS=KIND_LABELS,
    VERDICT_LABELS=VERDICT_LABELS,
    COMPONENT_LABELS=COMPONENT_LABELS,
    REASON_ICONS=REASON_ICONS,
    FIT_CLASSES=FIT_CLASSES,
)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """One page: the template with the signed-in person and their CSRF token when there is one."""
    web_session = getattr(request.state, "web_session", None)
    context.setdefault("person", web_session.user if web_session else None)
    context.setdefault("csrf", web_session.csrf if web_session else "")
    return templates.TemplateResponse(request, name, context, status_code=status_code)

"""Time, in one neutral place: aware UTC datetimes everywhere the code keeps or compares instants."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one (a --now without zone) is taken as local time."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.astimezone().astimezone(UTC)

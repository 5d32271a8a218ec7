"""The catalogue's filterable attributes as aligned arrays, kept in step with the database."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable
from datetime import date
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from matcher.areas import DEPARTMENT_REGIONS
from matcher.store import OpportunityRow

T = TypeVar("T")

COLUMNS = (
    "row_id", "id", "kind", "status", "sector", "department", "territory", "lat", "lon",
    "price_eur", "housing", "remote_friendly", "available_from", "expires_on", "updated_at",
)  # fmt: skip


def _row_values(row: OpportunityRow) -> dict[str, object]:
    values = {name: getattr(row, name) for name in COLUMNS}
    values["price_eur"] = np.nan if row.price_eur is None else row.price_eur
    return values


class CatalogueView:
    """One row per stored opportunity (archived included), in row-id order."""

    def __init__(self) -> None:
        self.frame = pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMNS}).set_index(
            "row_id", drop=False
        )
        self._arrays: dict[str, np.ndarray] | None = None
        self._memo: dict[Hashable, Any] = {}

    def __len__(self) -> int:
        return len(self.frame)

    def upsert(self, rows: Iterable[OpportunityRow]) -> None:
        changed = pd.DataFrame([_row_values(r) for r in rows], columns=list(COLUMNS))
        if changed.empty:
            return
        changed = changed.set_index("row_id", drop=False)
        kept = self.frame.drop(index=changed.index, errors="ignore")
        self.frame = pd.concat([kept, changed]).sort_index() if len(kept) else changed.sort_index()
        self._arrays = None
        self._memo = {}  # replaced, not cleared: a copy of this view may share the old one

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A value derived from the arrays (a set of places, a mask), kept until they change."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Column arrays for vectorised filters, rebuilt lazily after a change."""
        if self._arrays is None:
            f = self.frame
            self._arrays = {
                "row_id": f["row_id"].to_numpy(dtype=np.int64),
                # Fixed-width strings, not objects: comparisons then run in C.
                "id": f["id"].to_numpy(dtype=str),  # as wide as the longest id
                "kind": f["kind"].to_numpy(dtype="U9"),
                "status": f["status"].to_numpy(dtype="U9"),
                "sector": f["sector"].fillna("").to_numpy(dtype="U16"),
                "department": f["department"].to_numpy(dtype="U3"),
                "region": f["department"].map(DEPARTMENT_REGIONS).fillna("").to_numpy(dtype="U2"),
                "lat": f["lat"].to_numpy(dtype=np.float64),
                "lon": f["lon"].to_numpy(dtype=np.float64),
                "price_eur": f["price_eur"].to_numpy(dtype=np.float64),
                "housing": f["housing"].to_numpy(dtype=bool),
                "remote_friendly": f["remote_friendly"].to_numpy(dtype=bool),
                "expires_on": _days(f["expires_on"]),
                "available_from": _days(f["available_from"]),
                "updated_at": _days(f["updated_at"]),
            }
        return self._arrays

    def positions(self, row_ids: np.ndarray) -> np.ndarray:
        """Positions in the arrays of the given row ids."""
        return np.searchsorted(self.arrays["row_id"], row_ids)


def among(column: np.ndarray, values: Collection[str]) -> np.ndarray:
    """Mask of the cells of ``column`` equal to one of ``values`` (fast for a few values)."""
    values = list(values)
    if len(values) > 8:
        return np.isin(column, values)
    mask = np.zeros(len(column), dtype=bool)
    for value in values:
        mask |= column == value
    return mask


def _days(column: pd.Series) -> np.ndarray:
    """Dates as float day numbers since the epoch (NaN when absent), for vectorised compares."""
    instants = pd.to_datetime(column, utc=True, errors="coerce")
    seconds = instants.to_numpy(dtype="datetime64[s]").astype("float64")
    seconds[instants.isna().to_numpy()] = np.nan
    return seconds / 86400.0


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_number(day: date) -> float:
    return float(day.toordinal() - EPOCH_ORDINAL)

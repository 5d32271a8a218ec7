"""Evaluation of the matcher: labelled quality report (``quality``), speed at scale (``bench``,
``digest_bench``, ``load_check``) over shared measures (``measures``)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
EVALUATION_DATA = REPO / "evaluation" / "data"
DEFAULT_OUT = REPO / "evaluation" / "out"
#: The shared INSEE communes table, when it sits beside the repository (tests and evaluation only).
SHARED_COMMUNES = REPO.parent / "shared" / "data" / "geo" / "communes.csv"

"""What the benchmarks measure the same way: latency percentiles, resident memory, recall with ties."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np


def percentiles(values_ms: list[float], digits: int = 2) -> dict[str, float]:
    """{"p50": …, "p95": …, "p99": …} of latencies in milliseconds."""
    a = np.asarray(values_ms, dtype=float)
    return {f"p{q}": round(float(np.percentile(a, q)), digits) for q in (50, 95, 99)}


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux /proc; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """The process's peak resident memory, in MB (getrusage reports kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tied_hits(scores: np.ndarray, found: np.ndarray, threshold: float) -> int:
    """Returned positions scoring at least the k-th exact score: a tie counts as found (the
    synthetic catalogues hold many copies of one vector)."""
    found = found[found >= 0]
    return int(np.count_nonzero(scores[found] >= threshold - 1e-5))

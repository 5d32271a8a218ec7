"""The benchmark's targets (issue 13), some relative to figures measured in the same run.

Latency targets are multiples of the encoder's own single-query time on this machine
(``encoder.single_query_p50_ms``): a match cannot be faster than encoding the holder's text,
and the machine's speed cancels out. Each target applies to some catalogue sizes only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ENCODER_P50 = "encoder.single_query_p50_ms"
MILLION = 1_000_000


@dataclass(frozen=True)
class Target:
    """``metric`` ``op`` ``value``, or ``value`` × the figure named ``of`` (the encoder's, read
    from the run; any other, from the same size's results)."""

    name: str
    metric: str
    op: str
    value: float
    of: str | None = None
    #: "national": sizes below 1,000,000; "million": 1,000,000 and up; "any"; "run": once a run.
    sizes: str = "national"

    def applies(self, size: int | None) -> bool:
        if self.sizes == "run":
            return size is None
        if size is None:
            return False
        return self.sizes == "any" or (self.sizes == "million") == (size >= MILLION)

    def rule(self) -> str:
        """« <= 1.6 × encoder.single_query_p50_ms », « >= 2000 »."""
        return f"{self.op} {self.value:g}" + (f" × {self.of}" if self.of else "")

    def wanted(self, report: dict[str, Any], result: dict[str, Any]) -> float | None:
        if self.of is None:
            return self.value
        if self.of.startswith("encoder."):
            reference = report["encoder"].get(self.of.removeprefix("encoder."))
        else:
            reference = result.get(self.of)
        return None if reference is None else round(self.value * reference, 2)


TARGETS = (
    Target("p95_ms", "p95_ms", "<=", 1.6, ENCODER_P50),
    Target("filtered_p95_ms", "filtered_p95_ms", "<=", 1.6, ENCODER_P50),
    Target("cached_query_p95_ms", "cached_query_p95_ms", "<=", 0.3, ENCODER_P50),
    Target("filtered_recall_at_10", "filtered_recall_at_10", ">=", 1.0, sizes="any"),
    Target("digest_holders_per_s", "digest_holders_per_s", ">=", 2000.0),
    Target("candidates_p95_ms", "candidates_p95_ms", "<=", 50.0),
    Target("faster_than_peer", "p95_ms", "<=", 1.0, "peer_p95_ms", sizes="any"),
    Target("p95_ms_at_1m", "p95_ms", "<=", 2.0, ENCODER_P50, sizes="million"),
    Target("rss_mb_at_1m", "rss_mb", "<=", 3000.0, sizes="million"),
    Target("build_encoder_share", "build_encoder_share", ">=", 0.9, sizes="run"),
)


def met(op: str, reached: float | None, wanted: float | None) -> bool | None:
    """Whether ``reached`` meets ``wanted``; None when either is missing."""
    if reached is None or wanted is None or (isinstance(reached, float) and math.isnan(reached)):
        return None
    return reached <= wanted if op == "<=" else reached >= wanted


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target against every size it applies to (and the run's own figures), in order."""
    found = []
    scopes: list[tuple[int | None, dict[str, Any]]] = [(r["size"], r) for r in report["results"]]
    scopes.append((None, report))
    for target in TARGETS:
        for size, figures in scopes:
            if not target.applies(size):
                continue
            wanted, reached = target.wanted(report, figures), figures.get(target.metric)
            found.append(
                {
                    "target": target.name,
                    "metric": target.metric,
                    "size": size,
                    "rule": target.rule(),
                    "op": target.op,
                    "wanted": wanted,
                    "reached": reached,
                    "met": met(target.op, reached, wanted),
                }
            )
    return found


def definitions(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets as the JSON gives them: ``value`` the threshold in the metric's unit (computed
    from the encoder for encoder-relative ones; None when relative to a per-size figure)."""
    return {
        t.name: {
            "metric": t.metric,
            "op": t.op,
            "value": t.wanted(report, {}) if t.of is None or t.of.startswith("encoder.") else None,
            "rule": t.rule(),
            "sizes": t.sizes,
        }
        for t in TARGETS
    }

"""Is the build bound by the encoder? A full re-embed through the engine against the encoder alone.

The sample catalogue is stored in a temporary home and ``Engine.refresh(full=True)`` embeds it
with the real encoder, which records every batch it is given; then the same batches go through
``encoder.encode`` alone. The engine's rate over the encoder's (offers per second both) is the
share of the encoder's own throughput a build reaches (target: 0.9).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from matcher.config import Settings
from matcher.domain import Opportunity
from matcher.encoders import Encoder
from matcher.engine import Engine


class RecordingEncoder:
    """The real encoder, keeping every batch it was asked for, the vectors it gave, and the time
    spent inside it."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.identity = encoder.identity
        self.dim = encoder.dim
        self.batches: list[list[str]] = []
        self.vectors: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def encode(self, texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        vectors = self.encoder.encode(texts)
        self.seconds += time.perf_counter() - start
        self.batches.append(list(texts))
        self.vectors.update(zip(texts, vectors, strict=True))
        return vectors


def measure(encoder: Encoder, offers: list[Opportunity]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the figures, every title and passage vector by text) of a full re-embed of ``offers``."""
    recorder = RecordingEncoder(encoder)
    encoder.encode(["échauffement"])
    with tempfile.TemporaryDirectory(prefix="matcher-bench-build-") as home:
        engine = Engine(Settings(home=Path(home)), encoder=recorder)
        try:
            engine.store.catalogue.bulk_insert(offers)
            start = time.perf_counter()
            report = engine.refresh(full=True)
            engine_s = time.perf_counter() - start
        finally:
            engine.close()
    start = time.perf_counter()
    for batch in recorder.batches:
        encoder.encode(batch)
    encoder_s = time.perf_counter() - start
    pieces = sum(len(b) for b in recorder.batches)
    engine_rate, encoder_rate = report.embedded / engine_s, report.embedded / encoder_s
    return {
        "offers": report.embedded,
        "pieces": pieces,
        "batches": len(recorder.batches),
        "engine_s": round(engine_s, 2),
        "encoder_s": round(encoder_s, 2),
        "engine_offers_per_s": round(engine_rate, 1),
        "encoder_offers_per_s": round(encoder_rate, 1),
        "encoder_texts_per_s": round(pieces / encoder_s, 1),
        # Of the engine's build, the time spent inside the encoder (the rest is the engine's own).
        "encoding_share_of_engine_time": round(recorder.seconds / engine_s, 3),
        "build_encoder_share": round(engine_rate / encoder_rate, 3),
    }, recorder.vectors

"""The real encoder behind a counter: tests tell how much a call embedded, not by timing it."""

from __future__ import annotations

import numpy as np

from matcher.encoders import Encoder


class CountingEncoder:
    """The real encoder, counting the texts it embeds; ``identity`` stands for another encoder."""

    def __init__(self, inner: Encoder, identity: str | None = None):
        self.inner = inner
        self.identity = identity or inner.identity
        self.dim = inner.dim
        self.texts = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts)

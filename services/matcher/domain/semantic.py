"""Meaning across languages: the pure pieces the semantic retrieval channel and scoring component are built from.
Vectors come from the ``Encoder`` port (L2-normalised, so a dot product is a cosine); nothing here encodes.

- ``semantic_text(profile)``: what of a profile is embedded: its names, descriptions, keywords and declared code
  titles, whole (encoding a long description whole finds its English title 80% first on zh-pairs, clause by clause
  50%: ``../shared/MATCHING.md``).
- ``phrases(profile)``: the supplier's own phrases, in its own language, that a reason can quote.
- ``semantic_score(cosine)``: a cosine as a 0..1 score (``FLOOR`` and ``FULL`` say where it was measured).
- ``closest_phrase``: which of the supplier's phrases is closest in meaning to the notice, for the reason.
- ``VectorIndex``: exact nearest neighbours in process (the in-memory twin of an Elasticsearch kNN search), and
  ``knn_to_es`` / ``vector_mapping``: the same search as an Elasticsearch body and field mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from contracts.supplier import SupplierProfile

Vector = npt.NDArray[np.float32]

#: Cosine at or below which a notice title and a supplier's text share no meaning, and at or above which they name
#: the same goods. Measured on zh-suppliers-dev (notice title against the supplier's whole text, Chinese or English):
#: right pairs 0.30 median, 0.13 at the 5th percentile; wrong pairs 0.13 at the 95th, 0.20 at the 99th.
FLOOR = 0.10
FULL = 0.40
#: Cosine from which a reason says the notice and a supplier phrase are close in meaning (wrong pairs stay below
#: 0.20 99 times in 100; "tarpaulins" against "Nitrile examination gloves" is 0.20): between ``FLOOR`` and here
#: meaning still counts in the score, but a reader would not believe the reason.
SHOWN = 0.25
#: Sentence ends and commas in Chinese and Latin text: where a description is cut into phrases.
_PHRASE_END = re.compile(r"[。！？；;!?\n，,、]+|\.(?:\s+|$)")
#: Phrases shorter than this say too little to be quoted as a reason.
MIN_PHRASE_CHARS = 2
MAX_PHRASE_CHARS = 80


def semantic_text(profile: SupplierProfile) -> str:
    """Names, descriptions, keywords and declared code titles, one per line (past awards are left out: a
    supplier's history has its own components)."""
    parts = [*profile.names.values(), *profile.description.values(), *profile.keywords]
    parts.extend(c.description for c in profile.codes if c.description)
    return "\n".join(p.strip() for p in parts if p.strip())


def phrases(profile: SupplierProfile) -> list[str]:
    """The supplier's own phrases (keywords, then the clauses of its descriptions), distinct, in order, each at
    most ``MAX_PHRASE_CHARS``."""
    out: dict[str, None] = {}
    for part in [*profile.keywords, *profile.description.values()]:
        for piece in _PHRASE_END.split(part):
            piece = piece.strip()
            if len(piece) >= MIN_PHRASE_CHARS:
                out.setdefault(piece[:MAX_PHRASE_CHARS])
    return list(out)


def semantic_score(cosine: float) -> float:
    """0 at or below ``FLOOR``, 1 at or above ``FULL``, linear between."""
    return float(min(max((cosine - FLOOR) / (FULL - FLOOR), 0.0), 1.0))


def closest_phrase(
    notice_vector: Vector, supplier_phrases: Sequence[str], phrase_vectors: npt.NDArray[np.float32]
) -> tuple[str, float] | None:
    """The supplier phrase closest in meaning to the notice and its cosine; ``None`` when none passes ``FLOOR``."""
    if not supplier_phrases:
        return None
    if phrase_vectors.shape[0] != len(supplier_phrases):
        raise ValueError(f"{len(supplier_phrases)} phrases and {phrase_vectors.shape[0]} vectors")
    cosines = phrase_vectors @ notice_vector
    best = int(np.argmax(cosines))
    return (supplier_phrases[best], float(cosines[best])) if cosines[best] > FLOOR else None


class VectorIndex:
    """Exact cosine nearest neighbours over unit vectors kept in one matrix (a removed row is reused)."""

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, got {dimension}")
        self.dimension = dimension
        self._matrix = np.zeros((0, dimension), dtype=np.float32)
        self._ids: list[str | None] = []
        self._row: dict[str, int] = {}
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._row)

    def upsert(self, key: str, vector: Vector) -> None:
        if vector.shape != (self.dimension,):
            raise ValueError(f"this index holds {self.dimension}-dimensional vectors, got shape {vector.shape}")
        row = self._row.get(key)
        if row is None:
            if self._free:
                row = self._free.pop()
            else:
                row = len(self._ids)
                self._ids.append(None)
                if row >= self._matrix.shape[0]:  # grow by doubling: upserts stay amortised O(1)
                    grown = np.zeros((max(16, 2 * self._matrix.shape[0]), self.dimension), dtype=np.float32)
                    grown[: self._matrix.shape[0]] = self._matrix
                    self._matrix = grown
            self._ids[row] = key
            self._row[key] = row
        self._matrix[row] = vector

    def remove(self, key: str) -> None:
        row = self._row.pop(key, None)
        if row is not None:
            self._ids[row] = None
            self._matrix[row] = 0.0
            self._free.append(row)

    def nearest(self, vector: Vector, k: int, floor: float | None = None) -> list[tuple[str, float]]:
        """The ``k`` keys closest to ``vector`` with their cosines (above ``floor`` when given), closest first, ties
        by key. Retrieval asks without a floor: a Chinese description and an English title about the same goods
        can be as far apart as 0.13 and still be each other's nearest (scoring decides what counts)."""
        if not self._row or k < 1:
            return []
        cosines = self._matrix[: len(self._ids)] @ vector
        order = np.argsort(-cosines, kind="stable")
        out: list[tuple[str, float]] = []
        for row in order.tolist():
            key = self._ids[row]
            if key is None:
                continue
            if floor is not None and cosines[row] <= floor:
                break
            out.append((key, float(cosines[row])))
        out.sort(key=lambda kv: (-kv[1], kv[0]))
        return out[:k]


def vector_mapping(dimension: int) -> dict[str, Any]:
    """The Elasticsearch field of a profile vector: indexed for kNN by cosine, searched exactly (``flat``: float32
    vectors compared one by one, so the nearest profiles are those ``VectorIndex`` finds; Elasticsearch's default,
    ``int8_hnsw``, quantises them and moves cosines by ~0.01, enough to swap neighbours)."""
    return {
        "type": "dense_vector",
        "dims": dimension,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "flat"},
    }


def knn_to_es(field: str, vector: Vector, k: int, num_candidates: int | None = None) -> dict[str, Any]:
    """The ``knn`` clause of an Elasticsearch search for the ``k`` nearest profiles (``num_candidates`` per shard,
    at least ``k``; Elasticsearch's score for cosine is ``(1 + cosine) / 2``)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return {
        "field": field,
        "query_vector": [float(x) for x in vector],
        "k": k,
        "num_candidates": max(num_candidates or 2 * k, k),
    }


def notice_semantic_text(title: str, description: str | None) -> str:
    """What of a notice is embedded: its title and description."""
    return "\n".join(p.strip() for p in (title, description or "") if p.strip())


class ProfileVectors:
    """A profile's vectors as the matcher service computed them with the ``Encoder`` port: its whole text's
    (``semantic_text``) and one per phrase a reason may quote (``phrases``, rows in that order).

    Only a shortlisted entry's reason reads the phrase vectors, so they may be given as a function that encodes the
    phrases: it is called once, the first time they are read (most candidates of a notice never are)."""

    __slots__ = ("_encode", "_phrase_vectors", "phrases", "vector")

    def __init__(
        self,
        vector: Vector,
        phrases: Sequence[str],
        phrase_vectors: npt.NDArray[np.float32] | Callable[[Sequence[str]], npt.NDArray[np.float32]],
    ) -> None:
        self.vector = vector
        self.phrases = list(phrases)
        self._phrase_vectors: npt.NDArray[np.float32] | None = None
        self._encode: Callable[[Sequence[str]], npt.NDArray[np.float32]] | None = None
        if callable(phrase_vectors):
            self._encode = phrase_vectors
        else:
            self._phrase_vectors = self._checked(phrase_vectors)

    def _checked(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if rows.shape[0] != len(self.phrases):
            raise ValueError(f"{len(self.phrases)} phrases and {rows.shape[0]} vectors")
        return rows

    @property
    def phrase_vectors(self) -> npt.NDArray[np.float32]:
        rows = self._phrase_vectors
        if rows is None:
            if self._encode is None or not self.phrases:
                rows = np.zeros((0, self.vector.shape[0]), dtype=np.float32)
            else:
                rows = self._encode(self.phrases)
            # Two threads reading at once may both encode: the same rows, the last one kept.
            self._phrase_vectors = rows = self._checked(rows)
        return rows


class SemanticInput:
    """What ``rank`` needs to score meaning: the notice's vector and the candidates' (by supplier id; a candidate
    missing here scores 0 on meaning)."""

    __slots__ = ("notice", "profiles")

    def __init__(self, notice: Vector, profiles: dict[str, ProfileVectors]) -> None:
        self.notice = notice
        self.profiles = profiles

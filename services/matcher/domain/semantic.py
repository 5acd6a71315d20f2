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
import threading
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


#: Rows a list of ``VectorIndex`` starts with; it doubles when full (amortised O(1) per insert).
_MIN_ROWS = 64
#: Rows of a list compared per matrix-vector product while re-partitioning (bounds the float32 scratch memory).
_CHUNK_ROWS = 16_384
#: Rows of an int8 or float16 list converted to float32 at a time for a query's product (``_Block.cosines``), into
#: one scratch of this many rows per thread (1 MB at 512 dimensions: it stays in a core's L2 cache). Converting a
#: whole list at once writes a fresh float32 array of its size (page faults and memory traffic): for a list of
#: 57,000 rows, 44 ms against 5.5 ms in slices of 512 (256: 6.4, 1,024 and more: 9-18), measured on this code.
_CONVERT_ROWS = 512
_scratch = threading.local()


def _float32_scratch(dimension: int) -> npt.NDArray[np.float32]:
    """This thread's float32 scratch of ``_CONVERT_ROWS`` rows (``_Block.cosines``)."""
    buffer: npt.NDArray[np.float32] | None = getattr(_scratch, "rows", None)
    if buffer is None or buffer.shape[1] != dimension:
        buffer = np.empty((_CONVERT_ROWS, dimension), dtype=np.float32)
        _scratch.rows = buffer
    return buffer


class _Block:
    """One contiguous, growable block of vectors (``dtype``) and the ids of their keys, row for row. As int8, each
    row is kept as ``round(127 * v / max|v|)`` with its scale ``max|v| / 127`` beside it (``scales``): a quarter of
    float32's memory, converted to float32 for the product at the speed of a copy (float16's conversion is ~5x
    slower), cosines within ~0.004 of the exact ones on unit vectors of 512 dimensions."""

    __slots__ = ("ids", "matrix", "scales", "size")

    def __init__(self, dimension: int, dtype: npt.DTypeLike, rows: int = _MIN_ROWS) -> None:
        self.matrix: npt.NDArray[Any] = np.empty((max(rows, _MIN_ROWS), dimension), dtype=dtype)
        self.ids = np.empty(self.matrix.shape[0], dtype=np.int64)
        self.scales: Vector | None = (
            np.empty(self.matrix.shape[0], dtype=np.float32) if self.matrix.dtype == np.int8 else None
        )
        self.size = 0

    def _reserve(self, rows: int) -> None:
        if rows <= self.matrix.shape[0]:
            return
        capacity = max(rows, 2 * self.matrix.shape[0])
        matrix = np.empty((capacity, self.matrix.shape[1]), dtype=self.matrix.dtype)
        matrix[: self.size] = self.matrix[: self.size]
        ids = np.empty(capacity, dtype=np.int64)
        ids[: self.size] = self.ids[: self.size]
        if self.scales is not None:
            scales = np.empty(capacity, dtype=np.float32)
            scales[: self.size] = self.scales[: self.size]
            self.scales = scales
        self.matrix, self.ids = matrix, ids

    def extend(self, ids: npt.NDArray[np.int64], rows: npt.NDArray[Any], scales: Vector | None = None) -> int:
        """Append ``rows`` (float32; or, with their ``scales``, as another int8 block holds them) with their ``ids``;
        the slot of the first."""
        start, end = self.size, self.size + len(ids)
        self._reserve(end)
        if self.scales is not None:
            if scales is None:
                rows, scales = quantise(rows)
            self.scales[start:end] = scales
        self.matrix[start:end] = rows
        self.ids[start:end] = ids
        self.size = end
        return start

    def pop(self, slot: int) -> int | None:
        """Drop the row at ``slot`` by moving the last row into it; the id moved there (``None``: none moved)."""
        last = self.size - 1
        self.size = last
        if slot == last:
            return None
        self.matrix[slot] = self.matrix[last]
        self.ids[slot] = self.ids[last]
        if self.scales is not None:
            self.scales[slot] = self.scales[last]
        return int(self.ids[slot])

    def rows(self, start: int = 0, stop: int | None = None) -> Vector:
        """Rows ``start:stop`` as float32 (the int8 ones scaled back)."""
        stop = self.size if stop is None else min(stop, self.size)
        rows = self.matrix[start:stop]
        out: Vector = rows if rows.dtype == np.float32 else rows.astype(np.float32)
        if self.scales is not None:
            out *= self.scales[start:stop, None]
        return out

    def cosines(self, vector: Vector) -> Vector:
        """Each row's dot product with ``vector`` (float32, unit: the cosine); int8 and float16 rows are converted
        ``_CONVERT_ROWS`` at a time into this thread's scratch, never as a whole."""
        rows = self.matrix[: self.size]
        if rows.dtype == np.float32:
            out: Vector = rows @ vector
        else:
            out = np.empty(self.size, dtype=np.float32)
            scratch = _float32_scratch(rows.shape[1])
            for start in range(0, self.size, _CONVERT_ROWS):
                chunk = rows[start : start + _CONVERT_ROWS]
                converted = scratch[: len(chunk)]
                np.copyto(converted, chunk, casting="unsafe")  # int8 and float16 values are exact in float32
                np.dot(converted, vector, out=out[start : start + len(chunk)])
        if self.scales is not None:
            out *= self.scales[: self.size]
        return out


def quantise(rows: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int8], Vector]:
    """Float rows as int8 with one scale a row (``row ~= int8 row * scale``; a zero row has scale 0)."""
    rows = np.asarray(rows, dtype=np.float32)
    peak = np.abs(rows).max(axis=1)
    scales = (peak / 127.0).astype(np.float32)
    safe = np.where(scales > 0, scales, 1.0).astype(np.float32)
    return np.rint(rows / safe[:, None]).astype(np.int8), scales


def spherical_kmeans(sample: Vector, k: int, *, iterations: int = 8, seed: int = 0) -> Vector:
    """``k`` unit centroids of the unit rows of ``sample``: k-means by cosine, seeded as k-means++ (each seed drawn
    with probability growing with its distance ``1 - cosine`` to the seeds before it, squared); a centroid left
    without rows keeps its place."""
    if not 1 <= k <= len(sample):
        raise ValueError(f"k must be between 1 and the {len(sample)} sample rows, got {k}")
    rng = np.random.default_rng(seed)
    sample = np.asarray(sample, dtype=np.float32)
    seeds = [int(rng.integers(len(sample)))]
    closest = sample @ sample[seeds[0]]
    for _ in range(1, k):
        weight = np.square(np.maximum(1.0 - closest, 0.0), dtype=np.float64)
        total = float(weight.sum())
        pick = int(rng.choice(len(sample), p=weight / total)) if total > 0 else int(rng.integers(len(sample)))
        seeds.append(pick)
        np.maximum(closest, sample @ sample[pick], out=closest)
    centroids = sample[seeds].copy()
    for _ in range(iterations):
        nearest = np.argmax(sample @ centroids.T, axis=1)
        order = np.argsort(nearest, kind="stable")
        groups, starts = np.unique(nearest[order], return_index=True)
        sums = np.add.reduceat(sample[order], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        keep = norms[:, 0] > 0
        centroids[groups[keep]] = sums[keep] / norms[keep]
    return centroids


class VectorIndex:
    """Nearest neighbours by cosine over unit vectors, in process (the twin of an Elasticsearch kNN search).

    Vectors are kept in contiguous numpy blocks (``dtype``: float32; float16 at half the memory; or int8 with a
    scale a row at a quarter, ``_Block``; compared in float32), each growing by doubling, so an insert never copies
    the whole index. Up to ``partition_at`` vectors there is one block and the search is exact: every row is
    compared, the ``k`` best taken with ``argpartition``, equal to a brute-force sort (ties by key). From
    ``partition_at`` vectors on, the index is an inverted file (IVF): about ``sqrt(n)`` blocks around centroids
    learned by spherical k-means on a sample of its vectors, each vector in the block of its nearest centroid, and a
    query compares only the rows of the ``probe`` blocks whose centroids are nearest to it: approximate (as
    Elasticsearch's HNSW at that scale), a few per cent of the rows per query. It learns its blocks again when it
    has grown ``4x`` since the last time; ``partition_at=None`` keeps it exact at any size (one matrix-vector
    product over every row per query).
    """

    def __init__(
        self,
        dimension: int,
        *,
        dtype: npt.DTypeLike = np.float32,
        partition_at: int | None = 20_000,
        probe: int = 24,
        seed: int = 0,
    ) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, got {dimension}")
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8)):
            raise ValueError(f"vectors are kept as float32, float16 or int8, not {np.dtype(dtype)}")
        if partition_at is not None and partition_at < 2:
            raise ValueError(f"partition_at must be at least 2 (or None: always exact), got {partition_at}")
        if probe < 1:
            raise ValueError(f"probe must be at least 1, got {probe}")
        self.dimension = dimension
        self.dtype = np.dtype(dtype)
        self.partition_at = partition_at
        self.probe = probe
        self._seed = seed
        self._blocks = [_Block(dimension, self.dtype)]
        self._centroids: Vector | None = None
        self._partitioned_at = 0
        self._id: dict[str, int] = {}
        self._keys: list[str | None] = []
        self._free: list[int] = []
        #: Where each id's vector is: block number and row in it (-1: no vector).
        self._block_of = np.empty(0, dtype=np.int32)
        self._slot_of = np.empty(0, dtype=np.int32)

    def __len__(self) -> int:
        return len(self._id)

    @property
    def partitioned(self) -> bool:
        """Whether a query compares only some blocks (approximate) rather than every row (exact)."""
        return self._centroids is not None

    @property
    def nbytes(self) -> int:
        """Bytes of the numpy arrays held (vectors, ids, centroids), capacity included."""
        out = sum(b.matrix.nbytes + b.ids.nbytes + (0 if b.scales is None else b.scales.nbytes) for b in self._blocks)
        out += self._block_of.nbytes + self._slot_of.nbytes
        return out + (0 if self._centroids is None else self._centroids.nbytes)

    def _new_id(self, key: str) -> int:
        if self._free:
            ident = self._free.pop()
            self._keys[ident] = key
        else:
            ident = len(self._keys)
            self._keys.append(key)
            if ident >= len(self._block_of):
                grown = max(_MIN_ROWS, 2 * len(self._block_of))
                self._block_of = np.resize(self._block_of, grown)
                self._slot_of = np.resize(self._slot_of, grown)
        self._id[key] = ident
        return ident

    def _detach(self, ident: int) -> None:
        block, slot = int(self._block_of[ident]), int(self._slot_of[ident])
        moved = self._blocks[block].pop(slot)
        if moved is not None:
            self._slot_of[moved] = slot

    def _place(self, ident: int, vector: Vector) -> None:
        block = 0 if self._centroids is None else int(np.argmax(self._centroids @ vector))
        self._block_of[ident] = block
        self._slot_of[ident] = self._blocks[block].extend(np.array([ident], dtype=np.int64), vector[None, :])

    def upsert(self, key: str, vector: Vector) -> None:
        if vector.shape != (self.dimension,):
            raise ValueError(f"this index holds {self.dimension}-dimensional vectors, got shape {vector.shape}")
        vector = np.asarray(vector, dtype=np.float32)
        ident = self._id.get(key)
        if ident is None:
            ident = self._new_id(key)
        else:
            self._detach(ident)
        self._place(ident, vector)
        n = len(self._id)
        if self.partition_at is not None and n >= max(self.partition_at, 4 * self._partitioned_at):
            self.partition()

    def remove(self, key: str) -> None:
        ident = self._id.pop(key, None)
        if ident is not None:
            self._detach(ident)
            self._keys[ident] = None
            self._free.append(ident)

    def partition(self) -> None:
        """Learn ``sqrt(n)`` centroids from a sample of the vectors and move each vector to its nearest centroid's
        block (block by block, so the vectors are held about once, plus one block's float32 scratch)."""
        n = len(self._id)
        if n < 2:
            return
        lists = max(2, round(n**0.5))
        rng = np.random.default_rng(self._seed)
        sizes = np.array([b.size for b in self._blocks])
        picks = np.sort(rng.choice(n, size=min(n, 32 * lists), replace=False))
        ends = np.cumsum(sizes)
        where = np.searchsorted(ends, picks, side="right")
        sample = np.concatenate(
            [
                self._blocks[b].rows(at, at + 1)
                for b, at in zip(where.tolist(), (picks - (ends - sizes)[where]).tolist(), strict=True)
            ]
        )
        centroids = spherical_kmeans(sample, min(lists, len(sample)), seed=self._seed)
        # Each row's list first, so that each list is allocated at its size (growing them by doubling would leave
        # up to half of every list empty: a third more memory for the whole index).
        chunks = [
            (
                block,
                start,
                np.argmax(block.rows(start, start + _CHUNK_ROWS) @ centroids.T, 1),
            )
            for block in self._blocks
            for start in range(0, block.size, _CHUNK_ROWS)
        ]
        counts = np.bincount(np.concatenate([t for _, _, t in chunks]), minlength=len(centroids))
        old, self._blocks = self._blocks, [_Block(self.dimension, self.dtype, int(c)) for c in counts.tolist()]
        for block, start, target in chunks:
            rows = block.matrix[start : start + len(target)]
            ids = block.ids[start : start + len(target)]
            scales = None if block.scales is None else block.scales[start : start + len(target)]
            order = np.argsort(target, kind="stable")
            groups, starts = np.unique(target[order], return_index=True)
            for g, lo, hi in zip(groups.tolist(), starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
                chosen = order[lo:hi]
                first = self._blocks[g].extend(ids[chosen], rows[chosen], None if scales is None else scales[chosen])
                self._block_of[ids[chosen]] = g
                self._slot_of[ids[chosen]] = np.arange(first, first + len(chosen), dtype=np.int32)
            if start + len(target) >= block.size:
                # Its rows are in the new blocks now: free it before the next one (a view would keep it alive).
                block.matrix, block.ids, block.size = block.matrix[:0].copy(), block.ids[:0].copy(), 0
                block.scales = None if block.scales is None else block.scales[:0].copy()
        del old
        self._centroids = centroids
        self._partitioned_at = n

    def nearest(self, vector: Vector, k: int, floor: float | None = None) -> list[tuple[str, float]]:
        """The ``k`` keys closest to ``vector`` with their cosines (above ``floor`` when given), closest first, ties
        by key. Retrieval asks without a floor: a Chinese description and an English title about the same goods
        can be as far apart as 0.13 and still be each other's nearest (scoring decides what counts)."""
        if not self._id or k < 1:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32)
        blocks = self._blocks
        if self._centroids is not None and len(self._centroids) > self.probe:
            near = np.argpartition(-(self._centroids @ query), self.probe - 1)[: self.probe]
            blocks = [self._blocks[i] for i in near.tolist()]
        blocks = [b for b in blocks if b.size]
        cosines = np.concatenate([b.cosines(query) for b in blocks])
        ids = np.concatenate([b.ids[: b.size] for b in blocks])
        if floor is not None:
            above = cosines > floor
            cosines, ids = cosines[above], ids[above]
        if len(cosines) > k:
            # The k-th best cosine, then every row at least as close: ties at the cut are settled by key below.
            kth = np.partition(cosines, len(cosines) - k)[len(cosines) - k]
            keep = cosines >= kth
            cosines, ids = cosines[keep], ids[keep]
        keys = self._keys
        out = [(str(keys[i]), c) for i, c in zip(ids.tolist(), cosines.tolist(), strict=True)]
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

"""Vectors of the generated profiles for ``bench.match``, encoded once and kept in files under ``.data/bench/``.

Encoding 100,000 profile texts with the multilingual USE takes minutes of CPU, more than everything else the bench
does, and the same seed always generates the same profiles (the first ``m`` of any ``n >= m``): so each profile's
whole text (``semantic.semantic_text``) is encoded once, its vector appended as float16 to
``match-profiles-seed<S>-<model>.f16`` (row ``i`` = the ``i``-th generated profile), and the CPU seconds spent are
added up in a sidecar JSON, so the encoding cost is reported apart from matching, from the cache too. The phrases
a reason can quote (``semantic.phrases``) repeat across profiles (about 9,000 distinct in 20,000 profiles): each
distinct phrase is encoded once and kept in ``match-phrases-<model>.npz``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from localrun.demodata.data import iter_suppliers
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain.semantic import ProfileVectors, semantic_text

F16 = npt.NDArray[np.float16]
F32 = npt.NDArray[np.float32]
#: Profiles encoded per batch (and appended to the file per batch: a killed run keeps what it encoded).
BATCH = 1024


def cache_dir() -> Path:
    return Path(os.environ.get("TB_DATA_DIR", ".data")) / "bench"


@dataclass(frozen=True)
class EncodingCost:
    """What encoding the vectors cost, in CPU seconds of the process that did it (this run or an earlier one)."""

    rows: int
    cpu_s: float
    encoded_now: int

    def as_dict(self) -> dict[str, float | int]:
        rate = self.rows / self.cpu_s if self.cpu_s else 0.0
        out: dict[str, float | int] = {
            "rows": self.rows,
            "cpu_s": round(self.cpu_s, 1),
            "rows_per_cpu_s": round(rate, 1),
        }
        return out | {"now": self.encoded_now}


def profile_vectors(
    n: int, seed: int, encoder: UseEncoder, progress: Callable[[int], None] | None = None
) -> tuple[F16, EncodingCost]:
    """The vectors of the first ``n`` generated profiles (rows as generated, float16, read from the file), encoding
    those the file does not hold yet."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"match-profiles-seed{seed}-{encoder.model}.f16"
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"rows": 0, "cpu_s": 0.0}
    row_bytes = encoder.dimension * 2
    have = path.stat().st_size // row_bytes if path.exists() else 0
    if have != meta["rows"]:  # a run killed between the two writes: trust the rows, not the seconds
        meta["rows"] = have
    encoded_now = 0
    if have < n:
        stream = itertools.islice(iter_suppliers(n, seed), have, n)
        with path.open("ab") as out:
            while batch := [semantic_text(p) for p in itertools.islice(stream, BATCH)]:
                c0 = time.process_time()
                rows = encoder.encode(batch).astype(np.float16)
                meta["cpu_s"] += time.process_time() - c0
                out.write(rows.tobytes())
                out.flush()
                encoded_now += len(batch)
                meta["rows"] = have + encoded_now
                meta_path.write_text(json.dumps(meta))
                if progress is not None:
                    progress(have + encoded_now)
    vectors: F16 = np.memmap(path, dtype=np.float16, mode="r", shape=(max(have, n), encoder.dimension))[:n]
    return vectors, EncodingCost(int(meta["rows"]), float(meta["cpu_s"]), encoded_now)


class PhraseVectors:
    """Each distinct phrase's vector, encoded once (kept in a file between runs). Profiles are noted one at a time
    as they stream past (only their phrases not known yet are kept), encoded together at the end; a profile's rows
    are looked up from its own phrases when a reason reads them (no map of every profile to its rows)."""

    def __init__(self, encoder: UseEncoder) -> None:
        self._encoder = encoder
        self._path = cache_dir() / f"match-phrases-{encoder.model}.npz"
        self._row: dict[str, int] = {}
        self._matrix: F32 = np.zeros((0, encoder.dimension), dtype=np.float32)
        self._todo: dict[str, None] = {}
        self.cpu_s = 0.0
        self.encoded_now = 0
        if self._path.exists():
            stored = np.load(self._path)
            self._row = {t: i for i, t in enumerate(json.loads(str(stored["texts"])))}
            self._matrix = stored["vectors"].astype(np.float32)

    def __len__(self) -> int:
        return len(self._row)

    def note(self, texts: Sequence[str]) -> None:
        """Remember the phrases of a profile (``semantic.phrases``) not known yet (encoded by ``encode_noted``)."""
        for t in texts:
            if t not in self._row:
                self._todo[t] = None

    def encode_noted(self) -> None:
        """Encode the phrases noted and not known yet, and keep them in the file."""
        todo = list(self._todo)
        self._todo = {}
        if not todo:
            return
        c0 = time.process_time()
        rows = self._encoder.encode(todo).astype(np.float16).astype(np.float32)  # as read back from the file
        self.cpu_s += time.process_time() - c0
        self.encoded_now += len(todo)
        for t in todo:
            self._row[t] = len(self._row)
        self._matrix = np.vstack([self._matrix, rows])
        texts = json.dumps(list(self._row), ensure_ascii=False)
        np.savez(self._path, texts=np.array(texts), vectors=self._matrix.astype(np.float16))

    def of(self, texts: Sequence[str], vector: F32) -> ProfileVectors:
        """A profile's ``ProfileVectors``: its whole text's ``vector`` and the rows of its phrases ``texts`` (noted
        and encoded before; ``SupplierStats.phrases``, split when the profile was written), looked up only if a
        reason reads them, as the matcher service encodes them only then."""
        return ProfileVectors(vector, texts, self.rows)

    def rows(self, texts: Sequence[str]) -> F32:
        """The vectors of phrases noted and encoded before, a row each in the order given."""
        return self._matrix[np.array([self._row[t] for t in texts], dtype=np.int32)]

"""The matcher's code data, shipped as package data in ``services/matcher/data`` (see its README for sources and
licences) and read once per process: UNSPSC and CPV titles, the code index that ``domain.suggest`` searches, the
CPV <-> UNSPSC crosswalk. ``python -m bench.xling.build_codes`` regenerates them.

The index stores vectors as int8 with a float32 scale per row (a quarter of float32, cosines within 0.01),
projected by PCA to fewer dimensions than the encoder's; the projection ships with them.
"""

from __future__ import annotations

import csv
import functools
import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contracts.common import CodeScheme
from services.matcher.domain.crosswalk import Crosswalk, CrosswalkPair
from services.matcher.domain.suggest import CodeIndex

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
INDEX_FILE = "code-index.npz"
_TITLE_FILES = {CodeScheme.UNSPSC: "unspsc-titles.csv", CodeScheme.CPV: "cpv-titles.csv"}
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class CodeData:
    """What the build writes: per scheme, the code of each row, its vector (projected) and its score offset."""

    model: str
    projection: F32
    unspsc_codes: list[str]
    unspsc_vectors: F32
    unspsc_offsets: F32
    cpv_codes: list[str]
    cpv_vectors: F32
    cpv_offsets: F32


def _quantised(vectors: F32) -> tuple[npt.NDArray[np.int8], F32]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scale = (np.abs(unit).max(axis=1, keepdims=True) / 127).astype(np.float32)
    return np.round(unit / scale).astype(np.int8), scale


def write_index(path: Path, data: CodeData) -> None:
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "model": np.array(data.model),
        "projection": data.projection.astype(np.float16),
    }
    for scheme, codes, vectors, offsets in (
        ("unspsc", data.unspsc_codes, data.unspsc_vectors, data.unspsc_offsets),
        ("cpv", data.cpv_codes, data.cpv_vectors, data.cpv_offsets),
    ):
        q, scale = _quantised(vectors)
        arrays |= {
            f"{scheme}_codes": np.array(codes, dtype="U8"),
            f"{scheme}_vectors": q,
            f"{scheme}_scale": scale,
            f"{scheme}_offsets": offsets.astype(np.float16),
        }
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


@functools.cache
def titles(scheme: CodeScheme) -> dict[str, str]:
    """8-digit code -> title (UNSPSC codes at every level; CPV codes without their check digit)."""
    with (DATA_DIR / _TITLE_FILES[scheme]).open(encoding="utf-8") as f:
        return {row["code"]: row["title"] for row in csv.DictReader(f)}


@functools.cache
def cpv_check_digits() -> dict[str, str]:
    with (DATA_DIR / _TITLE_FILES[CodeScheme.CPV]).open(encoding="utf-8") as f:
        return {row["code"]: row["check_digit"] for row in csv.DictReader(f)}


def written(scheme: CodeScheme, code: str) -> str:
    """A code as people write it: UNSPSC's 8 digits; CPV's with its check digit (``33141411-4``) where known."""
    check = cpv_check_digits().get(code) if scheme == CodeScheme.CPV else None
    return f"{code}-{check}" if check else code


@functools.cache
def code_index(scheme: CodeScheme) -> CodeIndex:
    """The shipped index of ``scheme`` (UNSPSC or CPV), loaded once."""
    if scheme not in _TITLE_FILES:
        raise ValueError(f"codes are suggested in UNSPSC or CPV, not {scheme}")
    return read_index(DATA_DIR / INDEX_FILE, scheme, titles(scheme))


def read_index(path: Path, scheme: CodeScheme, code_titles: Mapping[str, str]) -> CodeIndex:
    """The index of ``scheme`` in the file ``write_index`` wrote. No fallback: suggestions from titles alone would
    be much worse and nothing would say so, so a missing or incomplete file is a ``FileNotFoundError`` or
    ``ValueError`` that names the file and the command that rebuilds it."""
    rebuild = "reinstall tenderbridge or rebuild it: python -m bench.xling.build_codes"
    if not path.is_file():
        raise FileNotFoundError(f"the code index {path} is missing: {rebuild}")
    name = scheme.value.lower()
    with np.load(path, allow_pickle=False) as z:
        wanted = {"model", "projection", f"{name}_codes", f"{name}_vectors", f"{name}_scale", f"{name}_offsets"}
        missing = sorted(wanted - set(z.files))
        if missing:
            raise ValueError(f"the code index {path} has no {', '.join(missing)}: {rebuild}")
        vectors = (z[f"{name}_vectors"].astype(np.float32) * z[f"{name}_scale"]).astype(np.float32)
        return CodeIndex(
            scheme=scheme,
            codes=tuple(str(c) for c in z[f"{name}_codes"]),
            vectors=vectors,
            offsets=z[f"{name}_offsets"].astype(np.float32),
            titles=code_titles,
            model=str(z["model"]),
            projection=z["projection"].astype(np.float32),
        )


@functools.cache
def crosswalk() -> Crosswalk:
    """The shipped CPV <-> UNSPSC crosswalk, loaded once."""
    pairs: dict[tuple[CodeScheme, str], list[CrosswalkPair]] = {}
    with gzip.open(DATA_DIR / "crosswalk.csv.gz", "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            source = CodeScheme(row["from_scheme"])
            target = CodeScheme.UNSPSC if source == CodeScheme.CPV else CodeScheme.CPV
            pairs.setdefault((source, row["from_code"]), []).append(
                CrosswalkPair(target, row["to_code"], titles(target).get(row["to_code"], ""), float(row["score"]))
            )
    return Crosswalk({key: tuple(value) for key, value in pairs.items()})

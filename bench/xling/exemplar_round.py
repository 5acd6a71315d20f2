"""``python -m bench.xling.exemplar_round``: supplier-style exemplar texts as labelled rows of the code index,
measured (fifth round).

An experiment over the shipped index, quicker than ``build_codes``: the shipped UNSPSC index as it is, plus one row
per exemplar of ``bench/xling/supplier-exemplars.jsonl`` (``build_codes.read_exemplars``; 826 Chinese
self-descriptions, one or two per UNSPSC family, written from the code list alone before any evaluation text was
read), encoded, projected with the index's own projection (``CodeIndex.project``) and stored as the index stores
rows (written with ``codebook.write_index`` and read back with ``codebook.read_index``: int8 with a scale per row,
float16 offsets), each at ``build_codes.EXEMPLAR_OFFSET`` (-0.1, a title's, fixed before the first run); -0.05 and
-0.15 as sensitivity rows, and the exemplars alone (without the shipped rows) to show what they carry by themselves.
The shipped vote (``suggest.vote_scores``, ``suggest_codes``' defaults) and list (``suggest.diverse_top``).

Measured, family@5 / class@5: the 60 dev suppliers' Chinese descriptions (``zh``), their Chinese profiles as the
matcher reads them (``zh_profile``: ``semantic_text``), their English descriptions (``en``), the fixed 2,000-row
sample (seed 7) of the AusTender test months (``aus``), family@20 / class@20 on ``zh`` (the ceiling of any re-ranking
of the candidates); the whole 11,485 test months for the reference and the -0.1 variant. Then why: the mean cosine of
a text's nearest shipped row and nearest exemplar, how often its nearest row is an exemplar, and the classes of the
suppliers the variant gains and loses.

The adoption rule, fixed before any figure was seen, read on the -0.1 row only: adopt if (1) ``zh`` family@5 gains at
least +0.05 over the reference of the same run (3 suppliers of 60), (2) ``zh_profile`` family@5 is not lower, and
(3) AusTender class@5 on the whole 11,485 stays within 0.01 of the reference's.

Vectors are cached under ``--cache`` (``$TB_DATA_DIR/bench/exemplar-round``). One process; run it with
``OMP_NUM_THREADS=1 nice``. Results: ``bench/xling/README.md``, "Fifth round".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.xling.__main__ import SHARED
from bench.xling.build_codes import EXEMPLAR_OFFSET, EXEMPLARS_FILE, read_exemplars
from bench.xling.cpv_round import (
    AUS_CLASS_TOLERANCE,
    ZH_GAIN,
    encoded,
    family_hits,
    figures,
    of,
    print_table,
    texts,
    votes,
)
from bench.xling.e5_round import shares
from contracts import CodeScheme
from services.matcher.adapters.codebook import CodeData, code_index, read_index, write_index
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain.suggest import CodeIndex

F32 = npt.NDArray[np.float32]
CACHE = Path(os.environ.get("TB_DATA_DIR", ".data")) / "bench" / "exemplar-round"
#: The sensitivity rows beside ``EXEMPLAR_OFFSET`` (the adoption decision reads that one only).
SENSITIVITY = (-0.05, -0.15)


def stored_rows(index: CodeIndex, codes: Sequence[str], vectors: F32, offset: float) -> CodeIndex:
    """``codes`` with the encoder ``vectors`` as ``index`` would store them: projected, int8 with a scale per row,
    ``offset`` as float16 (a round trip through the index file's own writer and reader)."""
    assert index.projection is not None
    empty = np.zeros((0, index.vectors.shape[1]), np.float32)
    data = CodeData(
        model=index.model,
        projection=index.projection,
        unspsc_codes=list(codes),
        unspsc_vectors=index.project(vectors),
        unspsc_offsets=np.full(len(codes), offset, np.float32),
        cpv_codes=[],
        cpv_vectors=empty,
        cpv_offsets=np.zeros(0, np.float32),
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exemplars.npz"
        write_index(path, data)
        return read_index(path, CodeScheme.UNSPSC, index.titles)


def joined(index: CodeIndex, extra: CodeIndex) -> CodeIndex:
    """``index`` with the rows of ``extra`` appended."""
    return CodeIndex(
        scheme=index.scheme,
        codes=(*index.codes, *extra.codes),
        vectors=np.concatenate([index.vectors, extra.vectors]),
        offsets=np.concatenate([index.offsets, extra.offsets]),
        titles=index.titles,
        model=index.model,
        projection=index.projection,
    )


def nearest_is_exemplar(index: CodeIndex, shipped_rows: int, vectors: F32) -> float:
    """The share of texts whose nearest row (cosine plus offset) is one of the rows after ``shipped_rows``."""
    sims = index.project(vectors) @ index.vectors.T + index.offsets
    return round(float((sims.argmax(axis=1) >= shipped_rows).mean()), 3)


def nearest_cosine(shipped: CodeIndex, exemplars: CodeIndex, vectors: F32) -> dict[str, float]:
    """The mean cosine (no offset) of each text's nearest shipped row and nearest exemplar: how far a text is from
    the labelled rows before, and from text written the way suppliers write."""
    return {
        "shipped_row": round(float((shipped.project(vectors) @ shipped.vectors.T).max(axis=1).mean()), 3),
        "exemplar": round(float((exemplars.project(vectors) @ exemplars.vectors.T).max(axis=1).mean()), 3),
    }


def changed(
    before: Sequence[dict[str, float]], after: Sequence[dict[str, float]], classes: Sequence[str], index: CodeIndex
) -> dict[str, list[str]]:
    """The classes of the texts the variant's top 5 gets right (family) and the reference's does not, and back."""
    out: dict[str, list[str]] = {"gained": [], "lost": []}
    for (hit_a, hit_b), cls in zip(family_hits(before, after, classes, index), classes, strict=True):
        if hit_b and not hit_a:
            out["gained"].append(cls)
        elif hit_a and not hit_b:
            out["lost"].append(cls)
    return out


def measure(shared: Path, cache: Path, exemplar_file: Path) -> dict[str, object]:
    groups, classes, sample = texts(shared)
    encoder = UseEncoder(cache_size=0)
    shipped = code_index(CodeScheme.UNSPSC)
    exemplars = read_exemplars(exemplar_file)
    e_codes = [code for code, _ in exemplars]
    e_vec = encoded(encoder, cache, "exemplars", [text for _, text in exemplars])
    vectors = {name: encoded(encoder, cache, name, items) for name, items in groups.items()}
    vectors["aus"] = vectors["aus_full"][sample]
    classes["aus"] = [classes["aus_full"][i] for i in sample]

    reference = "shipped index (reference)"
    chosen = f"+ exemplars, offset {EXEMPLAR_OFFSET}"
    indexes = {reference: shipped}
    for offset in (EXEMPLAR_OFFSET, *SENSITIVITY):
        indexes[f"+ exemplars, offset {offset}"] = joined(shipped, stored_rows(shipped, e_codes, e_vec, offset))
    indexes["exemplars alone"] = stored_rows(shipped, e_codes, e_vec, EXEMPLAR_OFFSET)

    sets = ("zh", "zh_profile", "en", "aus")
    results: dict[str, dict[str, str]] = {}
    kept: dict[str, dict[str, list[dict[str, float]]]] = {}
    for label, index in indexes.items():
        kept[label] = {name: votes(index, vectors[name]) for name in sets}
        results[label] = {name: shares(classes[name], [(1.0, of(kept[label][name]))], index) for name in sets}
        results[label]["zh top 20"] = shares(classes["zh"], [(1.0, of(kept[label]["zh"]))], index, 20)
        print(f"{label}\t{json.dumps(results[label])}", file=sys.stderr, flush=True)

    full = {
        label: shares(classes["aus_full"], [(1.0, of(votes(indexes[label], vectors["aus_full"])))], indexes[label])
        for label in (reference, chosen)
    }
    print(f"aus_full\t{json.dumps(full)}", file=sys.stderr, flush=True)

    def at(label: str, name: str, level: int) -> float:
        return figures(results[label][name])[level]

    rule = {
        "zh_gain": round(at(chosen, "zh", 0) - at(reference, "zh", 0), 3),
        "zh_profile_change": round(at(chosen, "zh_profile", 0) - at(reference, "zh_profile", 0), 3),
        "aus_full_class_change": round(figures(full[chosen])[1] - figures(full[reference])[1], 3),
    }
    adopted = (
        rule["zh_gain"] >= ZH_GAIN - 1e-9
        and rule["zh_profile_change"] >= -1e-9
        and rule["aus_full_class_change"] >= -AUS_CLASS_TOLERANCE - 1e-9
    )
    variant = indexes[chosen]
    why = {
        "nearest_cosine": {name: nearest_cosine(shipped, indexes["exemplars alone"], vectors[name]) for name in sets},
        "nearest_row_is_exemplar": {
            name: nearest_is_exemplar(variant, len(shipped.codes), vectors[name]) for name in sets
        },
        "families_changed": {
            name: changed(kept[reference][name], kept[chosen][name], classes[name], shipped)
            for name in ("zh", "zh_profile", "en")
        },
    }
    return {
        "results": results,
        "aus_full": full,
        "rule": rule,
        "adopted": adopted,
        "why": why,
        "n": {k: len(classes[k]) for k in (*sets, "aus_full")} | {"exemplars": len(exemplars)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--exemplars", type=Path, default=EXEMPLARS_FILE)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    out = measure(args.shared, args.cache, args.exemplars)
    print_table(out)
    print(f"rule: {json.dumps(out['rule'])}, adopted: {out['adopted']}")
    print(f"why: {json.dumps(out['why'], ensure_ascii=False)}")
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

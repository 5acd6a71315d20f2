"""Retrieval alone at sizes the whole bench takes long to build: the pruned top-k against the plain sum, same run.

``python -m bench.match.retrieval [--sizes 200000,1000000] [--notices 300] [--warmup 50] [--no-knn]``
``    [--encode-limit 40000] [--probe 8] [--prune-from N] [--json]``

For each size, profiles streamed from ``localrun.demodata.data.iter_suppliers`` into an ``InMemoryProfileIndex``
(packed, nothing stored with them: retrieval reads only the posting lists) with, unless ``--no-knn``, their vectors
in an int8 ``VectorIndex`` (``--encode-limit`` distinct vectors reused cyclically, read from ``.data/bench/`` as
``bench.match`` caches them). Per generated notice (``build_candidate_query`` with the notice's vector, as
``bench.match`` times it), in one process, one after the other: ``candidate_ids(query, exhaustive=True)`` (every
posting list summed whole: the method before the pruned top-k) and ``candidate_ids(query)`` (the pruned one), CPU
time of each, and whether the two lists are the same (ids and order); the postings alone (no kNN) and the kNN search
alone (``VectorIndex.nearest``) timed apart. Notices of another seed are run first, untimed. ``--prune-from``: the
index's ``prune_from`` (default ``retrieval.PRUNE_FROM``; 0: prune every query, however short its lists).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.match.vectors import profile_vectors
from contracts.notice import TenderNotice
from localrun.demodata.data import generate_notices, iter_suppliers
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query
from services.matcher.domain.retrieval import PRUNE_FROM, CandidateQuery
from services.matcher.domain.semantic import VectorIndex, notice_semantic_text
from services.matcher.entrypoints.worker import one_native_thread


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 2)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99)}


def _cpu(call: Callable[[], Any]) -> tuple[float, Any]:
    c0 = time.process_time()
    out = call()
    return time.process_time() - c0, out


def run_size(
    n: int,
    notices: int,
    warmup: int,
    console: Console,
    *,
    knn: bool,
    encode_limit: int,
    probe: int,
    prune_from: int = PRUNE_FROM,
    seed: int = 7,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    config = ScoringConfig()
    encoder = UseEncoder(cache_size=0) if knn else None
    vector_index = VectorIndex(512, dtype=np.int8, probe=probe) if knn else None
    rows = None
    if encoder is not None:
        rows, _ = profile_vectors(min(n, encode_limit), seed, encoder, lambda done: None)
    index = InMemoryProfileIndex(vector_index, packed=True, prune_from=prune_from)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, p in enumerate(iter_suppliers(n, seed)):
        index.upsert(p, None if rows is None else np.asarray(rows[i % len(rows)], dtype=np.float32))
    console.print(
        f"{n} profiles indexed in {time.perf_counter() - t0:.0f} s ({time.process_time() - c0:.0f} s CPU)"
        + ("" if vector_index is None else f", vectors in {vector_index.nbytes / 1e6:.0f} MB")
    )

    def query(notice: TenderNotice) -> CandidateQuery:
        vector = None
        if encoder is not None:
            vector = encoder.encode([notice_semantic_text(notice.title, notice.description)])[0]
        return build_candidate_query(notice, config, vector)

    for q in (query(notice) for notice in generate_notices(warmup, seed=8, now=now)):
        index.candidate_ids(q, exhaustive=True)
        index.candidate_ids(q)
    timed = [query(notice) for notice in generate_notices(notices, now=now)]
    cpu: dict[str, list[float]] = {k: [] for k in ("sum", "topk", "sum_postings", "topk_postings", "knn")}
    different = 0
    for q in timed:
        spent, before = _cpu(lambda q=q: index.candidate_ids(q, exhaustive=True))
        cpu["sum"].append(spent)
        spent, after = _cpu(lambda q=q: index.candidate_ids(q))
        cpu["topk"].append(spent)
        different += before != after
        postings = CandidateQuery(q.code_terms, q.text_terms, q.limit, q.buyer_terms, q.suggested_terms)
        cpu["sum_postings"].append(_cpu(lambda p=postings: index.candidate_ids(p, exhaustive=True))[0])
        cpu["topk_postings"].append(_cpu(lambda p=postings: index.candidate_ids(p))[0])
        if q.knn is not None and vector_index is not None:
            vector, k = q.knn
            cpu["knn"].append(_cpu(lambda v=vector, k=k: vector_index.nearest(v, k))[0])
    return {
        "profiles": n,
        "prune_from": prune_from,
        "notices": len(timed),
        "different_candidate_lists": different,
        "cpu": {k: _ms(v) for k, v in cpu.items() if v},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.match.retrieval", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--notices", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--no-knn", action="store_true", help="postings only (no vectors, no encoder)")
    ap.add_argument("--encode-limit", type=int, default=40_000, help="distinct profile vectors, reused cyclically")
    ap.add_argument("--probe", type=int, default=8, help="VectorIndex probe")
    ap.add_argument("--prune-from", type=int, default=PRUNE_FROM, help="InMemoryProfileIndex prune_from")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    # One BLAS thread, as the matcher runs: CPU time is one core's.
    one_native_thread()
    results = [
        run_size(
            int(size),
            args.notices,
            args.warmup,
            console,
            knn=not args.no_knn,
            encode_limit=args.encode_limit,
            probe=args.probe,
            prune_from=args.prune_from,
        )
        for size in args.sizes.split(",")
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    table = Table(title="retrieval CPU p50 / p99 ms: plain sum -> pruned top-k")
    for column in ("profiles", "postings + kNN", "postings alone", "kNN alone", "lists differing"):
        table.add_column(column, justify="right")
    for r in results:
        c = r["cpu"]

        def pair(before: str, after: str, c: dict[str, dict[str, float]] = c) -> str:
            return f"{c[before]['p50_ms']} / {c[before]['p99_ms']} -> {c[after]['p50_ms']} / {c[after]['p99_ms']}"

        knn = c.get("knn")
        table.add_row(
            f"{r['profiles']:,}",
            pair("sum", "topk"),
            pair("sum_postings", "topk_postings"),
            "-" if knn is None else f"{knn['p50_ms']} / {knn['p99_ms']}",
            f"{r['different_candidate_lists']} of {r['notices']}",
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

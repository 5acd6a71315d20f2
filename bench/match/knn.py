"""The kNN channel alone at sizes the whole bench cannot reach yet: ``VectorIndex`` over ``--rows`` vectors.

``python -m bench.match.knn [--rows 1000000] [--dtype int8|float16|float32] [--probe 24] [--queries 200] [--json]``

Rows are the profile vectors ``bench.match`` cached under ``.data/bench/`` (encoding a million texts takes over an
hour and a half of CPU), reused cyclically with a little noise (``0.05`` of a random unit vector, normalised
again) so that no two rows are equal; queries are the vectors of other cached profiles, noised the same way.
Prints the time to insert every row (growth and the re-partitions included), the CPU time per query (p50/p99),
the recall at k=50 against an exact scan of every row, the index's own arrays and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import numpy.typing as npt

from bench.match.vectors import cache_dir
from services.matcher.domain.semantic import Vector, VectorIndex


def noised(rows: npt.NDArray[np.float16], rng: np.random.Generator, scale: float = 0.05) -> Vector:
    out = rows.astype(np.float32) + scale * rng.standard_normal(rows.shape, dtype=np.float32) / np.sqrt(rows.shape[1])
    result: Vector = out / np.linalg.norm(out, axis=1, keepdims=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.match.knn", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dtype", choices=("float32", "float16", "int8"), default="int8")
    ap.add_argument("--probe", type=int, default=24)
    ap.add_argument("--partition-at", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    files = sorted(cache_dir().glob("match-profiles-seed*.f16"))
    if not files:
        raise SystemExit("no cached profile vectors: run python -m bench.match first")
    cached = np.fromfile(files[0], dtype=np.float16).reshape(-1, 512)
    queries_from, pool = cached[-args.queries :], cached[: -args.queries]
    rng = np.random.default_rng(0)
    index = VectorIndex(512, dtype=args.dtype, partition_at=args.partition_at, probe=args.probe)
    t0, c0 = time.perf_counter(), time.process_time()
    exact_rows = np.empty((args.rows, 512), dtype=np.float16)  # for the exact scan only, not the index's
    for start in range(0, args.rows, 10_000):
        count = min(10_000, args.rows - start)
        block = noised(pool[np.arange(start, start + count) % len(pool)], rng)
        exact_rows[start : start + count] = block
        for i, row in enumerate(block):
            index.upsert(str(start + i), row)
    insert_s, insert_cpu = time.perf_counter() - t0, time.process_time() - c0
    queries = noised(queries_from, rng)
    cpu: list[float] = []
    found: list[set[str]] = []
    for q in queries:
        c0 = time.process_time()
        hits = index.nearest(q, args.k)
        cpu.append(time.process_time() - c0)
        found.append({k for k, _ in hits})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    recall_hits = 0
    cos = np.zeros((args.rows, len(queries)), dtype=np.float32)
    for start in range(0, args.rows, 65_536):
        cos[start : start + 65_536] = exact_rows[start : start + 65_536].astype(np.float32) @ queries.T
    for j in range(len(queries)):
        top = np.argpartition(-cos[:, j], args.k - 1)[: args.k]
        recall_hits += len({str(i) for i in top.tolist()} & found[j])
    ordered = sorted(cpu)
    result = {
        "rows": args.rows,
        "dtype": args.dtype,
        "probe": args.probe,
        "partitioned": index.partitioned,
        "insert_s": round(insert_s, 1),
        "insert_cpu_s": round(insert_cpu, 1),
        "query_cpu_p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "query_cpu_p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000, 2),
        f"recall@{args.k}": round(recall_hits / (args.k * len(queries)), 4),
        "index_mb": round(index.nbytes / 1e6),
        "peak_rss_mb_with_exact_copy": round(peak),
    }
    print(result if not args.json else json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

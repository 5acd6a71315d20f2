"""Throughput and latency of the in-process scoring step (retrieval + rank) against generated profiles.

``python -m bench.match [--sizes 10000,100000] [--notices 300] [--baseline-notices 30] [--warmup 100] [--json]``
``python -m bench.match --stack [--stack-profiles 2000] [--stack-notices 150] [--es-url URL] [--json]``

For each size: profiles from ``localrun.demodata.data.generate_suppliers``, indexed in ``InMemoryProfileIndex`` and
fitted into a ``MatchModel`` (TF-IDF and statistics; weights as configured, learning is not timed here); then each
generated notice is matched (``build_candidate_query`` -> ``candidates`` -> ``rank``) and timed. The baseline, in
the same run, is the naive approach: rapidfuzz token-set similarity of the notice title against every profile's
text, keeping the top k.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rapidfuzz import fuzz, process, utils
from rich.console import Console
from rich.table import Table

from localrun.demodata.data import generate_notices, generate_suppliers
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query, fit_model, rank
from services.matcher.domain.documents import profile_text


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_size(n: int, notices: int, baseline_notices: int, console: Console, warmup: int = 100) -> dict[str, Any]:
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    profiles = generate_suppliers(n)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = InMemoryProfileIndex()
    for p in profiles:
        index.upsert(p)
    index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = fit_model(profiles, learn=False)
    fit_s = time.perf_counter() - t0
    config = ScoringConfig()
    batch = generate_notices(notices, now=now)
    console.print(f"[bold]{n} profiles[/bold]: generated {gen_s:.1f} s, indexed {index_s:.1f} s, fitted {fit_s:.1f} s")

    # Warm-up, not timed: first-call costs (the numpy array of each posting list is built on its first query and
    # kept until a profile with that key changes; id ranks) that a running service has paid. Other notices than
    # the timed ones (another seed), enough of them to touch most of the generated vocabulary once.
    for notice in generate_notices(warmup, seed=8, now=now):
        rank(notice, index.candidates(build_candidate_query(notice, config)), config, now, model=model)
    latencies: list[float] = []
    cpu: list[float] = []
    shortlisted = 0
    for notice in batch:
        t0, c0 = time.perf_counter(), time.process_time()
        candidates = index.candidates(build_candidate_query(notice, config))
        result = rank(notice, candidates, config, now, model=model)
        latencies.append(time.perf_counter() - t0)
        # CPU time of this process too: on a shared, loaded machine the wall clock mostly measures the others.
        cpu.append(time.process_time() - c0)
        shortlisted += len(result.entries)

    texts = [utils.default_process(" ".join(profile_text(p))) for p in profiles]
    base: list[float] = []
    base_cpu: list[float] = []
    for notice in batch[:baseline_notices]:
        t0, c0 = time.perf_counter(), time.process_time()
        process.extract(
            utils.default_process(notice.title), texts, scorer=fuzz.token_set_ratio, processor=None, limit=config.top_k
        )
        base.append(time.perf_counter() - t0)
        base_cpu.append(time.process_time() - c0)

    ours_rate = len(latencies) / sum(latencies)
    base_rate = len(base) / sum(base)
    return {
        "profiles": n,
        "notices": len(latencies),
        "notices_per_s": round(ours_rate, 1),
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "cpu_p50_ms": round(_percentile(cpu, 0.5) * 1000, 2),
        "cpu_p99_ms": round(_percentile(cpu, 0.99) * 1000, 2),
        "mean_shortlist": round(shortlisted / len(latencies), 1),
        "baseline": {
            "notices": len(base),
            "notices_per_s": round(base_rate, 1),
            "p50_ms": round(statistics.median(base) * 1000, 2),
            "p99_ms": round(_percentile(base, 0.99) * 1000, 2),
            "cpu_p50_ms": round(_percentile(base_cpu, 0.5) * 1000, 2),
        },
        "speedup": round(ours_rate / base_rate, 1),
        "cpu_speedup": round(sum(base_cpu) / len(base_cpu) / (sum(cpu) / len(cpu)), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.match", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated profile counts")
    ap.add_argument("--notices", type=int, default=300, help="notices matched per size")
    ap.add_argument("--baseline-notices", type=int, default=30, help="notices for the naive baseline per size")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--warmup", type=int, default=100, help="untimed notices (another seed) matched first")
    ap.add_argument(
        "--stack",
        action="store_true",
        help="instead: notices/s through Matcher and the Elasticsearch adapters on the local stack",
    )
    ap.add_argument("--stack-profiles", type=int, default=2000, help="profiles indexed for --stack")
    ap.add_argument("--stack-notices", type=int, default=150, help="notices (plus amendments) for --stack")
    ap.add_argument("--es-url", default="http://127.0.0.1:29200", help="Elasticsearch for --stack")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    if args.stack:
        from bench.match.stack import run_stack

        stack = run_stack(args.stack_profiles, args.stack_notices, args.es_url, console)
        stack_table = Table(title="Matcher + Elasticsearch adapters on the local stack (publisher in memory)")
        for col in ("mode", "notices", "notices/s", "wall s", "client CPU ms/notice", "stored"):
            stack_table.add_column(col)
        for mode in ("one_by_one", "batch"):
            if mode in stack:
                m = stack[mode]
                stack_table.add_row(
                    mode.replace("_", " "),
                    str(stack["notices"]),
                    f"{m['notices_per_s']:.1f}",
                    f"{m['wall_s']:.1f}",
                    f"{m['client_cpu_ms_per_notice']:.1f}",
                    str(m["shortlists_stored"]),
                )
        Console().print(stack_table)
        if args.json:
            sys.stdout.write(json.dumps({"stack": stack}) + "\n")
        return 0
    results = [
        run_size(int(s), args.notices, args.baseline_notices, console, args.warmup)
        for s in args.sizes.split(",")
        if s.strip()
    ]
    table = Table(title="In-process scoring (retrieval + rank) vs naive rapidfuzz over every profile")
    cols = ("profiles", "notices/s", "p50 ms", "p99 ms", "CPU p50/p99 ms", "baseline notices/s", "baseline p50 ms")
    for col in (*cols, "speedup (CPU)"):
        table.add_column(col)
    for r in results:
        b = r["baseline"]
        table.add_row(
            str(r["profiles"]),
            f"{r['notices_per_s']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['cpu_p50_ms']:.1f} / {r['cpu_p99_ms']:.1f}",
            f"{b['notices_per_s']:.1f}",
            f"{b['p50_ms']:.0f}",
            f"{r['speedup']:.0f}x ({r['cpu_speedup']:.0f}x)",
        )
    Console().print(table)
    if args.json:
        sys.stdout.write(json.dumps({"results": results}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput, latency and memory of the in-process scoring step (retrieval with the kNN channel + rank) against
generated profiles.

``python -m bench.match [--sizes 10000,100000] [--notices 300] [--baseline-notices 30] [--warmup 100] [--json]``
``    [--no-knn] [--encode-limit N] [--vector-dtype int8|float32|float16] [--partition-at 20000] [--probe 24]``
``    [--no-records] [--pack-from 500000] [--default-gc]``
``python -m bench.match --sizes 1000000 --encode-limit 40000 --notices 200 --probe 8``
``python -m bench.match --stack [--stack-profiles 2000] [--stack-notices 150] [--es-url URL] [--json]``

For each size: profiles streamed from ``localrun.demodata.data.iter_suppliers`` (a generator: no list of them is
ever built) into ``InMemoryProfileIndex``, which holds them packed (pickled and compressed, a bounded LRU of decoded
ones), with their vectors (the multilingual USE of ``semantic_text``, read from ``.data/bench/`` where they are
encoded once: ``bench/match/vectors.py``; the encoding cost is reported apart; ``--encode-limit N`` encodes only
the first N texts and gives profile ``i`` the vector of profile ``i % N``, since a million texts take hours) in a
``VectorIndex`` of int8 rows by default, and with each profile's scoring statistics computed as it is written and
packed with it, as the Elasticsearch store keeps them (``--no-records``: none, the model computes them for
candidates); then a ``MatchModel`` is fitted over the index's profiles streamed back (weights as configured,
learning is not timed here). Each generated notice is embedded (CPU time reported apart,
p50/p99) and matched: ``build_candidate_query`` with its vector -> ``candidates`` (codes, terms and the
``retrieval_knn_k`` nearest profiles) -> ``rank`` with the candidates' vectors (the semantic component and its
reason). The process runs numpy's BLAS on one thread, as ``python -m services.matcher`` does, so CPU time is one
core's, and handles its garbage collector as the notice worker does (``worker.QuietCollector``: what is alive frozen
after loading and after each notice; ``--default-gc``: Python's default, whose full collections walk the caches).
Reported beside it: the kNN channel's recall against an exact search over every vector, retrieval's CPU time alone,
the resident memory after each stage (and the bytes of the packed profiles and of the vector index) and the peak of
the matching process (read before the baseline's texts are built), fit time and memory. The baseline, in the same
run, is the naive approach: rapidfuzz token-set similarity of the notice title against every profile's text, keeping
the top k.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import resource
import statistics
import sys
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process, utils
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.match.vectors import PhraseVectors, profile_vectors
from contracts.notice import TenderNotice
from contracts.supplier import SupplierProfile
from localrun.demodata.data import generate_notices, iter_suppliers, supplier_position
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain import (
    InMemoryProfileIndex,
    ScoringConfig,
    build_candidate_query,
    fit_model,
    rank,
    screen,
)
from services.matcher.domain.documents import profile_text
from services.matcher.domain.scoring import supplier_stats
from services.matcher.domain.semantic import (
    ProfileVectors,
    SemanticInput,
    Vector,
    VectorIndex,
    notice_semantic_text,
    phrases,
)
from services.matcher.entrypoints.worker import QuietCollector, one_native_thread
from services.matcher.service import PROFILE_VECTORS_CACHED


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_percentile(values, 0.5) * 1000, 2), "p99_ms": round(_percentile(values, 0.99) * 1000, 2)}


def _rss_mb() -> float:
    """Resident memory of this process now (``/proc/self/statm``), MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``, KB on Linux), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _exact_recall(
    vectors: npt.NDArray[np.float16], n: int, seed: int, queries: Vector, found: list[set[str]], k: int
) -> float:
    """Share of the exact ``k`` nearest of the ``n`` profiles (profile ``i`` has row ``i % len(vectors)``, every
    one compared) that the index returned. Ties at the cut are cut arbitrarily here, by position."""
    distinct = np.asarray(vectors, dtype=np.float32) @ queries.T  # rows x queries
    hits = 0
    for q in range(len(queries)):
        cos = distinct[np.arange(n) % len(vectors), q]
        top = set(np.argpartition(-cos, k - 1)[:k].tolist())
        hits += sum(1 for sid in found[q] if supplier_position(sid, seed) in top)
    return hits / (k * len(queries))


class _GcCollections:
    """A ``gc.callbacks`` hook: how many collections of the oldest generation ran, and their CPU time. Such a
    collection walks every tracked object (the bounded caches of decoded profiles, statistics and vectors hold about a
    million at 40,000 profiles: ~1 s), so the notice it lands in is the p99."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.process_time()
        else:
            self.times.append(time.process_time() - self._start)

    def report(self) -> dict[str, float]:
        return {"count": len(self.times), "cpu_ms_max": round(max(self.times, default=0.0) * 1000, 1)}


def run_size(
    n: int,
    notices: int,
    baseline_notices: int,
    console: Console,
    warmup: int = 100,
    *,
    knn: bool = True,
    seed: int = 7,
    vector_dtype: str = "int8",
    partition_at: int | None = 20_000,
    probe: int = 24,
    encode_limit: int | None = None,
    records: bool = True,
    packed: bool = False,
    quiet_gc: bool = True,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    rss: dict[str, float] = {"start": round(_rss_mb())}
    config = ScoringConfig()
    encoder = UseEncoder(cache_size=0) if knn else None
    vectors: npt.NDArray[np.float16] | None = None
    encoding: dict[str, Any] | None = None
    if encoder is not None:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"profile vectors ({n})", total=n)
            encoded = n if encode_limit is None else min(n, encode_limit)
            vectors, cost = profile_vectors(encoded, seed, encoder, lambda done: bar.update(task, completed=done))
        encoding = {"profiles": cost.as_dict(), "distinct_profile_vectors": encoded}
        rss["encoder"] = round(_rss_mb())

    # Profiles streamed from the generator into the index (the index holds them packed; no list is built), their
    # phrases noted on the way past (encoded after, apart).
    t0, c0 = time.perf_counter(), time.process_time()
    vector_index = VectorIndex(512, dtype=vector_dtype, partition_at=partition_at, probe=probe) if knn else None
    index = InMemoryProfileIndex(vector_index, packed=packed)
    table: PhraseVectors | None = None if encoder is None else PhraseVectors(encoder)
    for i, p in enumerate(iter_suppliers(n, seed)):
        # What scoring needs of the supplier, computed when it is written and kept with it, as the Elasticsearch
        # store does (the model then computes nothing for candidates).
        record = supplier_stats(p) if records else None
        index.upsert(
            p, None if vectors is None else np.asarray(vectors[i % len(vectors)], dtype=np.float32), stored=record
        )
        if table is not None:
            table.note(phrases(p) if record is None else record.phrases)
    index_s, index_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss["indexed"] = round(_rss_mb())
    parts = {"profiles_packed": round(index.packed_bytes / 1e6)}
    if vector_index is not None:
        parts["vector_index"] = round(vector_index.nbytes / 1e6)
    # Printed as each stage ends: a run stopped before the end still says where the memory went.
    console.print(f"{n} profiles indexed in {index_s:.1f} s ({index_cpu:.1f} s CPU); RSS MB {rss}; parts MB {parts}")
    t0, c0 = time.perf_counter(), time.process_time()
    model = fit_model(index.iter_profiles(), learn=False)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss["fitted"] = round(_rss_mb())
    if table is not None and encoding is not None:
        table.encode_noted()
        encoding["phrases"] = {"distinct": len(table), "encoded_now": table.encoded_now, "cpu_s": round(table.cpu_s, 1)}
        rss["phrases"] = round(_rss_mb())
    console.print(
        f"[bold]{n} profiles[/bold]: indexed {index_s:.1f} s ({index_cpu:.1f} s CPU), fitted {fit_s:.1f} s "
        f"({fit_cpu:.1f} s CPU); RSS MB {rss}; parts MB {parts}"
    )

    def embed(notice: TenderNotice) -> Vector | None:
        if encoder is None:
            return None
        return encoder.encode([notice_semantic_text(notice.title, notice.description)])[0]

    # The candidates' vectors, kept between notices as the matcher service keeps them (an LRU of the same bound).
    cached: OrderedDict[str, ProfileVectors] = OrderedDict()
    # The profile vectors as a plain array: a row of a ``np.memmap`` is a memmap too, slow to make per candidate.
    rows = None if vectors is None else vectors.view(np.ndarray)

    def match(notice: TenderNotice, vector: Vector | None) -> tuple[int, list[str]]:
        # Packed: each candidate's compact form, its record decoded when read, not its whole profile
        # (``ranking_candidates``). As the service does: the hard rules first, then records and vectors are read
        # only for the candidates they keep.
        retrieved, stored = index.ranking_candidates(build_candidate_query(notice, config, vector))
        screened = screen(notice, retrieved, now)
        candidates = screened.kept
        semantic = None
        if vector is not None and rows is not None and table is not None:
            own: dict[str, ProfileVectors] = {}
            for c in candidates:
                sid = c.supplier_id
                found = cached.get(sid)
                if found is None:
                    row = rows[supplier_position(sid, seed) % len(rows)].astype(np.float32)
                    # The phrases as split when the profile was written (its record), as the service reads them;
                    # a candidate without a record is a whole profile (``ranking_candidates``).
                    record = stored.get(sid)
                    if record is not None:
                        texts = record.phrases
                    else:
                        assert isinstance(c, SupplierProfile)
                        texts = phrases(c)
                    found = table.of(texts, row)
                    cached[sid] = found
                    if len(cached) > PROFILE_VECTORS_CACHED:
                        cached.popitem(last=False)
                else:
                    cached.move_to_end(sid)
                own[sid] = found
            semantic = SemanticInput(vector, own)
        result = rank(
            notice,
            candidates,
            config,
            now,
            model=model,
            vectors=semantic,
            stored=stored,
            exclusions=screened.exclusions,
        )
        return len(result.entries), [c.supplier_id for c in retrieved]

    # As the notice worker does: what is loaded and each notice's survivors out of the collector's way.
    collector = QuietCollector() if quiet_gc else None
    if collector is not None:
        collector.start()
    # Warm-up, not timed: first-call costs (id ranks, the encoder's weights, caches) that a running service has
    # paid. Other notices than the timed ones (another seed).
    for notice in generate_notices(warmup, seed=8, now=now):
        match(notice, embed(notice))
        if collector is not None:
            collector.after_notice()
    batch = generate_notices(notices, now=now)
    decodes0, computed0, whole0 = index.decodes, model.records_computed, index.profile_decodes
    records0 = index.record_decodes
    collections = _GcCollections()
    gc.callbacks.append(collections)
    latencies: list[float] = []
    cpu: list[float] = []
    embed_cpu: list[float] = []
    # Retrieval alone (candidate ids: the postings and the kNN search, nothing decoded), once more per notice,
    # untimed in the step: what of the step grows with the profiles.
    retrieval_cpu: list[float] = []
    notice_vectors: list[Vector] = []
    knn_found: list[set[str]] = []
    shortlisted = 0
    for notice in batch:
        e0 = time.process_time()
        vector = embed(notice)
        embed_cpu.append(time.process_time() - e0)
        if vector is not None and vector_index is not None:
            notice_vectors.append(vector)
            knn_found.append({k for k, _ in vector_index.nearest(vector, config.retrieval_knn_k)})
        r0 = time.process_time()
        index.candidate_ids(build_candidate_query(notice, config, vector))
        retrieval_cpu.append(time.process_time() - r0)
        t0, c0 = time.perf_counter(), time.process_time()
        entries, _ = match(notice, vector)
        if collector is not None:
            collector.after_notice()
        latencies.append(time.perf_counter() - t0)
        # CPU time of this process too: on a shared, loaded machine the wall clock mostly measures the others.
        cpu.append(time.process_time() - c0)
        shortlisted += entries
    gc.callbacks.remove(collections)
    peak_matching = _peak_rss_mb()
    caches = {
        "profiles_decoded_per_notice": round((index.decodes - decodes0) / len(batch), 1),
        # Of those, whole profiles (packed, the others are compact candidates: ``ranking_candidates``).
        "whole_profiles_decoded_per_notice": round((index.profile_decodes - whole0) / len(batch), 1),
        # Scoring records decoded (read for the candidates the hard rules keep, the LRU's not decoded again).
        "records_decoded_per_notice": round((index.record_decodes - records0) / len(batch), 1),
        "statistics_computed_per_notice": round((model.records_computed - computed0) / len(batch), 1),
        "oldest_generation_gc": collections.report(),
    }
    if packed:
        # What one decode of a whole profile costs here, over the first 2,000 packed profiles.
        d0 = time.process_time()
        decoded = sum(1 for _ in itertools.islice(index.iter_profiles(), 2000))
        caches["decode_cpu_us"] = round((time.process_time() - d0) / max(decoded, 1) * 1e6, 1)
        # And one compact candidate, its record left packed (what ``ranking_candidates`` decodes per candidate).
        d0 = time.process_time()
        decoded = sum(1 for _ in itertools.islice(index.iter_candidates(), 2000))
        caches["compact_decode_cpu_us"] = round((time.process_time() - d0) / max(decoded, 1) * 1e6, 1)
    if collector is not None:
        # What frozen garbage matching left (reference cycles): what a periodic full collection would reclaim.
        c0 = time.process_time()
        caches["frozen_full_collection"] = {
            "unreachable": collector.full_collect(),
            "cpu_ms": round((time.process_time() - c0) * 1000, 1),
        }

    knn_report: dict[str, Any] | None = None
    if vectors is not None and vector_index is not None and encoding is not None:
        queries = np.stack(notice_vectors)
        recall = _exact_recall(vectors, n, seed, queries, knn_found, config.retrieval_knn_k)
        encoding["notice"] = {k.replace("p", "cpu_p", 1): v for k, v in _ms(embed_cpu).items()}
        knn_report = {
            "k": config.retrieval_knn_k,
            "recall_vs_exact": round(recall, 4),
            "partitioned": vector_index.partitioned,
            "probe": probe,
            "dtype": vector_dtype,
            "vector_index_mb": round(vector_index.nbytes / 1e6),
        }

    # After the peak was read: the baseline's texts of every profile are the baseline's memory, not the matcher's.
    texts = [utils.default_process(" ".join(profile_text(p))) for p in index.iter_profiles()]
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
        "packed": packed,
        "notices": len(latencies),
        "knn": knn_report,
        "notices_per_s": round(ours_rate, 1),
        **_ms(latencies),
        **{f"cpu_{k}": v for k, v in _ms(cpu).items()},
        "retrieval_ids": {f"cpu_{k}": v for k, v in _ms(retrieval_cpu).items()},
        "mean_shortlist": round(shortlisted / len(latencies), 1),
        "caches": caches,
        "index_s": round(index_s, 1),
        "fit_s": round(fit_s, 1),
        "fit_cpu_s": round(fit_cpu, 1),
        "rss_mb": rss,
        "parts_mb": parts,
        "fit_mb": rss["fitted"] - rss["indexed"],
        "peak_rss_mb": round(peak_matching),
        "encoding": encoding,
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
    ap.add_argument("--no-knn", action="store_true", help="without the kNN channel and meaning (no encoder)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the generated profiles")
    ap.add_argument("--vector-dtype", choices=("float32", "float16", "int8"), default="int8", help="VectorIndex rows")
    ap.add_argument("--partition-at", type=int, default=20_000, help="VectorIndex partition_at (0: always exact)")
    ap.add_argument(
        "--encode-limit",
        type=int,
        default=None,
        help="encode only the first N profiles' texts; profile i gets the vector of profile i %% N (encoding is "
        "~160 texts per CPU second: 100,000 take 10 CPU minutes, 1,000,000 over an hour and a half)",
    )
    ap.add_argument(
        "--pack-from",
        type=int,
        default=500_000,
        help="from this size on, the index holds profiles packed (bytes, decoded per candidate): less memory, slower",
    )
    ap.add_argument("--probe", type=int, default=24, help="VectorIndex probe: lists compared per query")
    ap.add_argument(
        "--no-records",
        action="store_true",
        help="store no scoring statistics with the profiles (the model computes them for candidates, LRU-cached)",
    )
    ap.add_argument(
        "--default-gc",
        action="store_true",
        help="leave the garbage collector as Python sets it (else as the notice worker does: QuietCollector)",
    )
    ap.add_argument(
        "--stack",
        action="store_true",
        help="instead: notices/s through Matcher and the Elasticsearch adapters on the local stack",
    )
    ap.add_argument("--stack-profiles", type=int, default=2000, help="profiles indexed for --stack")
    ap.add_argument("--stack-notices", type=int, default=150, help="notices (plus amendments) for --stack")
    ap.add_argument("--es-url", default="http://127.0.0.1:29200", help="Elasticsearch for --stack")
    args = ap.parse_args(argv)
    # As the matcher process does (``python -m services.matcher``): one BLAS thread, so the CPU time per notice
    # is one core's (two threads spinning over small products doubled it at no gain in latency).
    one_native_thread()
    console = Console(stderr=True)
    if args.stack:
        from bench.match.stack import run_stack

        stack = run_stack(args.stack_profiles, args.stack_notices, args.es_url, console)
        stack_table = Table(title="Matcher + Elasticsearch adapters on the local stack (publisher in memory)")
        for col in ("mode", "notices", "notices/s", "wall p50/p99 ms", "client CPU p50/p99 ms", "CPU ms/notice"):
            stack_table.add_column(col)
        for mode in ("one_by_one", "batch"):
            if mode in stack:
                m = stack[mode]
                stack_table.add_row(
                    mode.replace("_", " "),
                    str(stack["notices"]),
                    f"{m['notices_per_s']:.1f}",
                    f"{m['p50_ms']:.0f} / {m['p99_ms']:.0f}" if "p50_ms" in m else "-",
                    f"{m['cpu_p50_ms']:.0f} / {m['cpu_p99_ms']:.0f}" if "cpu_p50_ms" in m else "-",
                    f"{m['client_cpu_ms_per_notice']:.1f}",
                )
        stack_table.caption = (
            f"{stack['profiles']} profiles: stored in {stack['load_s']:.0f} s, fitted in {stack['fit_s']:.0f} s; "
            f"indexes {stack['indexes']}; server memory {stack['server_memory']}"
        )
        Console().print(stack_table)
        if args.json:
            sys.stdout.write(json.dumps({"stack": stack}) + "\n")
        return 0
    partition_at = None if args.partition_at == 0 else args.partition_at
    results = [
        run_size(
            int(size),
            args.notices,
            args.baseline_notices,
            console,
            args.warmup,
            knn=not args.no_knn,
            seed=args.seed,
            vector_dtype=args.vector_dtype,
            partition_at=partition_at,
            probe=args.probe,
            encode_limit=args.encode_limit,
            records=not args.no_records,
            packed=int(size) >= args.pack_from,
            quiet_gc=not args.default_gc,
        )
        for size in args.sizes.split(",")
        if size.strip()
    ]
    table = Table(title="In-process scoring (retrieval with kNN + rank) vs naive rapidfuzz over every profile")
    cols = ("profiles", "CPU p50/p99 ms", "wall p50/p99 ms", "baseline CPU p50 ms", "speedup (CPU)", "kNN recall")
    for col in (*cols, "notice embedding CPU p50/p99 ms", "fit s / MB", "peak RSS MB"):
        table.add_column(col)
    for r in results:
        b = r["baseline"]
        knn_cell = "off" if r["knn"] is None else f"{r['knn']['recall_vs_exact']:.3f}"
        embedding = "-" if r["encoding"] is None else r["encoding"]["notice"]
        table.add_row(
            str(r["profiles"]),
            f"{r['cpu_p50_ms']:.1f} / {r['cpu_p99_ms']:.1f}",
            f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}",
            f"{b['cpu_p50_ms']:.0f}",
            f"{r['cpu_speedup']:.0f}x",
            knn_cell,
            "-" if embedding == "-" else f"{embedding['cpu_p50_ms']:.1f} / {embedding['cpu_p99_ms']:.1f}",
            f"{r['fit_s']:.0f} / {r['fit_mb']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    Console().print(table)
    if args.json:
        sys.stdout.write(json.dumps({"results": results}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

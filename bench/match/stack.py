"""Notices per second through ``Matcher`` and the real Elasticsearch adapters (``python -m bench.match --stack``).

Per notice the worker stores the notice, looks up its shortlist and the previous version's, retrieves candidates,
ranks them and stores the shortlist. This measures that path against the local stack (fresh, uniquely named indexes,
removed afterwards); the publisher is in memory, so Kafka is not part of the figure. Two modes, both timed:
``one by one`` (``handle_notice`` per message, as the worker did: wall and matcher CPU p50/p99 per notice) and
``batch`` (``handle_notices`` over poll-sized batches, as the worker does now), each on its own copy of the notices so
neither finds the other's shortlists. Reported beside them: the time to load the profiles (stored with their vectors,
then the model fitted), the size of the bench's indexes as the server counts it (documents, store bytes), and the
server's own resident memory (``VmRSS`` and ``VmHWM`` of the process listening on the Elasticsearch port, from
``/proc``) before loading and after matching.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from contracts import TenderNotice
from localrun.demodata.data import generate_notices, iter_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import bootstrap
from services.matcher.settings import Settings

#: As ``services.matcher.entrypoints.worker.MAX_POLL_RECORDS``.
BATCH = 20


def _renamed(notices: list[TenderNotice], tag: str) -> list[TenderNotice]:
    return [
        n.model_copy(update={"notice_id": f"{n.notice_id}-{tag}", "source_id": f"{n.source_id}-{tag}"}) for n in notices
    ]


def _listening_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1/0.0.0.0 ``port`` (TCP), from ``/proc/net/tcp`` and the processes' socket
    descriptors; ``None`` when not found (another user's process, another host)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                return int(pid)
        except OSError:
            continue
    return None


def server_memory_mb(es_url: str) -> dict[str, Any] | None:
    """Resident memory now and at its peak (``VmRSS``, ``VmHWM``, MB) of the server behind ``es_url``."""
    pid = _listening_pid(urlsplit(es_url).port or 9200)
    if pid is None:
        return None
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").rsplit("/", 1)[-1]
    return {
        "pid": pid,
        "process": name,
        "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024),
        "peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024),
    }


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = {q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] for q in (0.5, 0.99)}
    return {"p50_ms": round(at[0.5] * 1000, 1), "p99_ms": round(at[0.99] * 1000, 1)}


def run_stack(profiles: int, notices: int, es_url: str, console: Console) -> dict[str, Any]:
    now = datetime.now(UTC)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(elasticsearch_url=es_url, matcher_index_prefix=prefix, create_topics=False)
    container = bootstrap(settings, publisher=InMemoryPublisher(), clock=lambda: now)
    matcher = container.matcher
    server_before = server_memory_mb(es_url)
    try:
        t0 = time.perf_counter()
        batch_of: list[Any] = []
        for supplier in iter_suppliers(profiles):
            batch_of.append(supplier)
            if len(batch_of) == 500:
                matcher.profiles.put_many(batch_of)
                batch_of = []
        if batch_of:
            matcher.profiles.put_many(batch_of)
        load_s = time.perf_counter() - t0
        matcher.refit()
        fit_s = time.perf_counter() - t0 - load_s
        console.print(f"[bold]stack[/bold]: {profiles} profiles stored in {load_s:.1f} s, fitted in {fit_s:.1f} s")
        base = generate_notices(notices, now=now)
        # Every third notice comes again as version 2 (an amendment: the previous shortlist is looked up).
        amended = [n.model_copy(update={"version": 2}) for n in base[::3]]
        stream = base + amended
        results: dict[str, Any] = {
            "profiles": profiles,
            "notices": len(stream),
            "load_s": round(load_s, 1),
            "fit_s": round(fit_s, 1),
        }
        modes: list[tuple[str, Any]] = [("one_by_one", None)]
        if hasattr(matcher, "handle_notices"):
            modes.append(("batch", matcher.handle_notices))
        for mode, batch_handler in modes:
            batch = _renamed(stream, mode)
            t0, c0 = time.perf_counter(), time.process_time()
            per_notice: dict[str, float] = {}
            if batch_handler is None:
                wall_each: list[float] = []
                cpu_each: list[float] = []
                for n in batch:
                    w0, p0 = time.perf_counter(), time.process_time()
                    matcher.handle_notice(n)
                    wall_each.append(time.perf_counter() - w0)
                    cpu_each.append(time.process_time() - p0)
                per_notice = _ms(wall_each) | {f"cpu_{k}": v for k, v in _ms(cpu_each).items()}
            else:
                for start in range(0, len(batch), BATCH):
                    batch_handler(batch[start : start + BATCH])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stored = sum(1 for n in batch if matcher.shortlists.get(n.notice_id, n.version) is not None)
            results[mode] = {
                "notices_per_s": round(len(batch) / wall, 1),
                "wall_s": round(wall, 2),
                "client_cpu_ms_per_notice": round(cpu / len(batch) * 1000, 1),
                "shortlists_stored": stored,
                **per_notice,
            }
        results["indexes"] = _index_sizes(container.es, prefix)
        results["server_memory"] = {"before": server_before, "after": server_memory_mb(es_url)}
        return results
    finally:
        es = container.es
        if es is not None:
            names = [*es.indices.get(index=f"{prefix}-*")]
            for name in names:
                es.indices.delete(index=name, ignore_unavailable=True)
        container.close()


def _index_sizes(es: Any, prefix: str) -> dict[str, dict[str, int]]:
    """Documents and store bytes of each of the bench's indexes, as the server reports them."""
    if es is None:
        return {}
    stats = es.indices.stats(index=f"{prefix}-*", metric="docs,store")
    return {
        name.removeprefix(f"{prefix}-"): {
            "docs": int(s["primaries"]["docs"]["count"]),
            "bytes": int(s["primaries"]["store"]["size_in_bytes"]),
        }
        for name, s in sorted(stats["indices"].items())
    }

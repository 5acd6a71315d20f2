"""Notices per second through ``Matcher`` and the real Elasticsearch adapters (``python -m bench.match --stack``).

Per notice the worker stores the notice, looks up its shortlist and the previous version's, retrieves candidates,
ranks them and stores the shortlist. This measures that path against the local stack (fresh, uniquely named indexes,
removed afterwards); the publisher is in memory, so Kafka is not part of the figure. Two modes, both timed:
``one by one`` (``handle_notice`` per message, as the worker did) and ``batch`` (``handle_notices`` over poll-sized
batches, as the worker does now), each on its own copy of the notices so neither finds the other's shortlists.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from contracts import TenderNotice
from localrun.demodata.data import generate_notices, generate_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import bootstrap
from services.matcher.settings import Settings

#: As ``services.matcher.entrypoints.worker.MAX_POLL_RECORDS``.
BATCH = 20


def _renamed(notices: list[TenderNotice], tag: str) -> list[TenderNotice]:
    return [
        n.model_copy(update={"notice_id": f"{n.notice_id}-{tag}", "source_id": f"{n.source_id}-{tag}"}) for n in notices
    ]


def run_stack(profiles: int, notices: int, es_url: str, console: Console) -> dict[str, Any]:
    now = datetime.now(UTC)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(elasticsearch_url=es_url, matcher_index_prefix=prefix, create_topics=False)
    container = bootstrap(settings, publisher=InMemoryPublisher(), clock=lambda: now)
    matcher = container.matcher
    try:
        t0 = time.perf_counter()
        suppliers = generate_suppliers(profiles)
        for start in range(0, len(suppliers), 500):
            matcher.profiles.put_many(suppliers[start : start + 500])
        matcher.refit()
        console.print(f"[bold]stack[/bold]: {profiles} profiles indexed and fitted in {time.perf_counter() - t0:.1f} s")
        base = generate_notices(notices, now=now)
        # Every third notice comes again as version 2 (an amendment: the previous shortlist is looked up).
        amended = [n.model_copy(update={"version": 2}) for n in base[::3]]
        stream = base + amended
        results: dict[str, Any] = {"profiles": profiles, "notices": len(stream)}
        modes: list[tuple[str, Any]] = [("one_by_one", None)]
        if hasattr(matcher, "handle_notices"):
            modes.append(("batch", matcher.handle_notices))
        for mode, batch_handler in modes:
            batch = _renamed(stream, mode)
            t0, c0 = time.perf_counter(), time.process_time()
            if batch_handler is None:
                for n in batch:
                    matcher.handle_notice(n)
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
            }
        return results
    finally:
        es = container.es
        if es is not None:
            names = [*es.indices.get(index=f"{prefix}-*")]
            for name in names:
                es.indices.delete(index=name, ignore_unavailable=True)
        container.close()

"""Backfill throughput: notices re-ranked per second by ``services.matcher.backfill`` with 1, 2 and 4 workers.

``python -m bench.backfill [--store memory|elastic] [--suppliers 2000] [--notices 400] [--workers 1,2,4]
[--es-url URL] [--year 700000] [--json]``

One store, seeded once: ``--suppliers`` generated profiles (``localrun.demodata``), of which the first 80% are
stored and every generated open notice matched against them (its shortlist stored); then the other 20% arrive
behind the matcher's back (a new supplier base) and the model is refitted. Each worker count then backfills the same
period from the same stored shortlists (put back before each run), so every run does the same work: the same
notices ranked, the same shortlists changed (checked). The first worker count is the baseline of the same run; a
warm-up run (untimed) comes first. The projection is the time a year of TED (``--year`` notices) would take at each
rate with every notice ranked: an upper bound, since a backfill skips closed notices at next to no cost.

``--store memory``: the in-process stores (ranking alone, Python, one core at a time under the GIL);
``--store elastic``: the local Elasticsearch (``--es-url``, indexes of their own, deleted afterwards), where the
workers overlap their round trips. The publisher is in process in both (what is measured is the matcher's work).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from contracts import Shortlist
from localrun.demodata.data import generate_notices, generate_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.memory import InMemoryCheckpoints
from services.matcher.backfill import Backfill, Outcome, Period
from services.matcher.bootstrap import Container, bootstrap, bootstrap_in_memory
from services.matcher.settings import Settings

#: The share of the suppliers stored before the notices are matched; the rest is the new supplier base.
FIRST_SHARE = 0.8


@contextmanager
def store(kind: str, es_url: str, now: datetime) -> Iterator[Container]:
    settings = Settings(
        matcher_encoder="none", elasticsearch_url=es_url, matcher_index_prefix=f"bench-bf-{uuid.uuid4().hex[:8]}"
    )
    if kind == "memory":
        yield bootstrap_in_memory(settings, clock=lambda: now)
        return
    c = bootstrap(settings, clock=lambda: now, publisher=InMemoryPublisher())
    try:
        yield c
    finally:
        for index in c.es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            c.es.indices.delete(index=index)
        c.close()


def seed(c: Container, suppliers: int, notices: int, now: datetime, console: Console) -> list[Shortlist]:
    """The store as a backfill finds it; returns the stored shortlists to put back before each run."""
    profiles = generate_suppliers(suppliers)
    first = int(len(profiles) * FIRST_SHARE)
    m = c.matcher
    t0 = time.perf_counter()
    m.profiles.put_many(profiles[:first])
    m.refit()
    stored = []
    for notice in generate_notices(notices, now=now):
        shortlist = m.handle_notice(notice)
        assert shortlist is not None
        stored.append(shortlist)
    m.publisher.flush()
    m.profiles.put_many(profiles[first:])
    m.refit()
    console.print(
        f"seeded {first:,} + {len(profiles) - first:,} suppliers and {len(stored):,} notices in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return stored


def run_workers(c: Container, stored: list[Shortlist], workers: int, period: Period) -> dict[str, Any]:
    m = c.matcher
    for shortlist in stored:
        m.shortlists.put(shortlist)
    m.publisher = InMemoryPublisher()
    t0 = time.perf_counter()
    report = Backfill(m, InMemoryCheckpoints()).run(period, workers)
    seconds = time.perf_counter() - t0
    return {
        "workers": workers,
        "notices": report.done,
        "changed": report.outcomes.get(Outcome.CHANGED, 0),
        "seconds": round(seconds, 2),
        "notices_per_s": round(report.done / seconds, 1) if seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("memory", "elastic"), default="memory")
    ap.add_argument("--suppliers", type=int, default=2000)
    ap.add_argument("--notices", type=int, default=400)
    ap.add_argument("--workers", default="1,2,4", help="worker counts, the first one the baseline")
    ap.add_argument("--es-url", default="http://127.0.0.1:29200")
    ap.add_argument("--year", type=int, default=700_000, help="notices in a year of TED, for the projection")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    if not counts or min(counts) < 1 or args.suppliers < 10 or args.notices < 1:
        ap.error("--workers must list counts >= 1; --suppliers at least 10; --notices at least 1")
    console = Console(stderr=True)
    now = datetime.now(UTC)
    period = Period(now - timedelta(days=11))  # generated notices are published in the 10 days before now
    with store(args.store, args.es_url, now) as c:
        stored = seed(c, args.suppliers, args.notices, now, console)
        # Warm-up, not timed: first-call costs (posting arrays built on a key's first query, the profile cache of
        # the Elasticsearch store) that a running matcher has paid, and that would otherwise favour later runs.
        run_workers(c, stored, counts[0], period)
        rows = []
        for w in counts:
            rows.append(run_workers(c, stored, w, period))
            console.print(f"{w} workers: {rows[-1]['notices_per_s']} notices/s")
    if len({(r["notices"], r["changed"]) for r in rows}) != 1:
        console.print(f"[red]the runs did not do the same work: {rows}[/red]")
        return 1
    base = rows[0]["notices_per_s"] or 0.0
    for r in rows:
        rate = r["notices_per_s"] or 0.0
        r["speedup"] = round(rate / base, 2) if base else None
        r["year_hours"] = round(args.year / rate / 3600, 2) if rate else None
    out = {
        "store": args.store,
        "suppliers": args.suppliers,
        "notices": args.notices,
        "changed": rows[0]["changed"],
        "baseline_workers": counts[0],
        "year_notices": args.year,
        "runs": rows,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    table = Table(title=f"backfill, {args.store} store: {args.suppliers:,} suppliers, {args.notices:,} notices")
    for col in ("workers", "notices/s", "x baseline", f"{args.year:,} notices (h)", "changed"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["workers"]), str(r["notices_per_s"]), str(r["speedup"]), str(r["year_hours"]), str(r["changed"])
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

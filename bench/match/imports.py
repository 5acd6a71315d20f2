"""Importing suppliers into a running matcher: reverse matching against the open notices, on the local stack.

    python -m bench.match.imports [--stored 100] [--new 100] [--notices 60] [--es-url URL]

A matcher on Elasticsearch (fresh indexes of its own, removed at the end) holds ``--stored`` profiles and
``--notices`` open notices, each already matched; then ``--new`` suppliers are imported. Baseline, in the same run
on the same data: the import as it was, every new profile reverse-matched on its own (each open notice it fits is
re-ranked once per such supplier). Measured: ``Matcher.import_profiles``, which re-ranks every notice concerned once
per batch. Both must end with the same shortlists (checked). Figures are wall time (the local server does most of
the work, in its own process) and this process's CPU time.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from localrun.demodata.data import generate_notices, generate_suppliers
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import bootstrap
from services.matcher.settings import Settings


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    reranks: int
    shortlists: dict[str, list[tuple[str, float]]]


def run(es_url: str, stored: int, new: int, notices: int, batch: bool) -> Run:
    now = datetime.now(UTC)
    prefix = f"bench-imports-{uuid.uuid4().hex[:8]}"
    settings = Settings(matcher_index_prefix=prefix, elasticsearch_url=es_url)
    container = bootstrap(settings, publisher=InMemoryPublisher(), clock=lambda: now)
    es = Elasticsearch(es_url)
    try:
        m = container.matcher
        profiles = generate_suppliers(stored + new, seed=11)
        m.profiles.put_many(profiles[:stored])
        open_notices = generate_notices(notices, seed=11, now=now)
        for notice in open_notices:
            m.handle_notice(notice)
        before = m.metrics.reverse_matches._value.get()
        cpu, started = time.process_time(), time.perf_counter()
        if batch:
            m.import_profiles(profiles[stored:], batch=200)
        else:
            m.profiles.put_many(profiles[stored:])
            for profile in profiles[stored:]:
                m.reverse_match(profile)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        reranks = int(m.metrics.reverse_matches._value.get() - before)
        shortlists = {}
        for notice in open_notices:
            shortlist = m.shortlists.get(notice.notice_id, notice.version)
            entries = [] if shortlist is None else shortlist.entries
            shortlists[notice.notice_id] = [(e.supplier_id, e.total_score) for e in entries]
        return Run(wall, cpu, reranks, shortlists)
    finally:
        container.close()
        for name in es.indices.get(index=f"{prefix}*"):
            es.indices.delete(index=name)
        es.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.match.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=100, help="profiles stored before the import")
    parser.add_argument("--new", type=int, default=100, help="suppliers imported")
    parser.add_argument("--notices", type=int, default=60, help="open notices, matched before the import")
    parser.add_argument("--es-url", default="http://127.0.0.1:29200")
    args = parser.parse_args(argv)
    print(f"{args.new} suppliers imported into a matcher with {args.stored} profiles and {args.notices} open notices")

    def line(label: str, r: Run) -> str:
        return f"  {label:33}{r.wall_s:7.1f} s wall  {r.cpu_s:6.1f} s CPU  {r.reranks} re-ranks"

    base = run(args.es_url, args.stored, args.new, args.notices, batch=False)
    print(line("baseline: one profile at a time", base))
    mine = run(args.es_url, args.stored, args.new, args.notices, batch=True)
    ratio = f"{base.wall_s / mine.wall_s:.1f}x wall, {base.cpu_s / max(mine.cpu_s, 1e-9):.1f}x CPU"
    print(line("import_profiles (batched)", mine) + f"   ({ratio})")
    same = base.shortlists == mine.shortlists
    print(f"  same shortlists for all {len(base.shortlists)} notices: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""End-to-end notifier throughput through the real service code: shortlists in, emails accepted by a local SMTP sink,
every state kept in the local stack's Elasticsearch (a fresh index prefix per run), in poll batches of 50 shortlists
as the Kafka worker hands them over.

    python -m bench.notify --pipeline [--shortlists 200] [--per-shortlist 4] [--connections 1,4,8]

Modes, each on its own fresh notifications index, with the same shortlists and the same sink (its own process),
interleaved batch by batch (every mode handles batch 1, then every mode batch 2...) so that the shared server's slow
and fast phases fall on all of them alike:

- ``one by one``: the earlier path (``one_by_one=True``), per email a create-only claim, the SMTP transaction,
  ``committing`` and ``sent``, each write its own request: the baseline;
- ``batched, N conn.``: ``Notifier.handle_shortlists`` as the worker runs it: one bulk claim per batch, rounds of N
  emails over N connections, one bulk ``committing`` and one bulk ``sent`` per round.

The rate limit is off (it would be the bound otherwise). Wall clock and CPU time of this process are printed; the
machine is shared, so run it a few times and read the range. Every email is counted by the sink at the end.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch

from bench.notify.server import Server
from contracts import (
    AlertPreferences,
    Buyer,
    Classification,
    CodeScheme,
    Item,
    Money,
    ScoreComponent,
    Shortlist,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
)
from services.notifier.adapters.store import ElasticsearchNotificationStore, State
from services.notifier.bootstrap import bootstrap_in_memory, smtp_sender
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.settings import Settings

BATCH = 50  # the worker's max_poll_records


def workload(
    n_shortlists: int, per_shortlist: int, n_suppliers: int = 200
) -> tuple[list[SupplierProfile], list[Shortlist]]:
    now = datetime.now(UTC)
    profiles = [
        SupplierProfile(
            supplier_id=f"s{i}",
            names={"en": f"Supplier {i} Ltd", "zh-Hans": f"供应商{i}有限公司"},
            country="CN",
            emails=[f"s{i}@example.com"],
            preferences=AlertPreferences(language="zh-Hans" if i % 3 == 0 else "en", timezone="Asia/Shanghai"),
        )
        for i in range(n_suppliers)
    ]
    shortlists = []
    for n in range(n_shortlists):
        notice = TenderNotice(
            notice_id=f"ungm:{n}",
            source="ungm",
            source_id=str(n),
            title=f"Supply of nitrile examination gloves, lot {n}",
            description="x" * 400,
            buyer=Buyer(name="UNICEF Supply Division"),
            items=[
                Item(classification=Classification(scheme=CodeScheme.UNSPSC, code="42132203", description="Gloves"))
            ],
            estimated_value=Money(amount=10_000 + n, currency="USD"),
            deadline_at=now + timedelta(days=20),
        )
        entries = [
            ShortlistEntry(
                rank=r + 1,
                supplier_id=f"s{(n * per_shortlist + r) % n_suppliers}",
                supplier_name="x",
                total_score=0.8,
                components=[ScoreComponent(name="codes", score=0.9, weight=1, contribution=0.9, reason="UNSPSC match")],
            )
            for r in range(per_shortlist)
        ]
        shortlists.append(
            Shortlist(
                shortlist_id=Shortlist.make_id(notice.notice_id, 1),
                notice_id=notice.notice_id,
                notice_version=1,
                notice_status=notice.status,
                notice=notice,
                entries=entries,
                algorithm="bench",
                generated_at=now,
            )
        )
    return profiles, shortlists


@dataclass
class Figure:
    mode: str
    emails: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.emails / self.wall_s


class Mode:
    """One way of running the notifier, on its own fresh index, timed batch by batch."""

    def __init__(
        self,
        name: str,
        es_url: str,
        smtp_port: int,
        connections: int,
        profiles: list[SupplierProfile],
        one_by_one: bool,
    ) -> None:
        self.name, self.one_by_one = name, one_by_one
        self.wall_s = self.cpu_s = 0.0
        self.settings = Settings(
            elasticsearch_url=es_url,
            notifier_index_prefix=f"bench-notify-{uuid.uuid4().hex[:8]}",
            notifier_smtp_host="127.0.0.1",
            notifier_smtp_port=smtp_port,
            notifier_smtp_connections=connections,
            notifier_rate_limit_per_s=0,
        )
        self.es = Elasticsearch(es_url, request_timeout=30)
        self.store = ElasticsearchNotificationStore(
            self.es, self.settings.notifications_index, self.settings.unsubscribes_index
        )
        self.store.ensure_indexes()
        directory = ProfileDirectory()
        for p in profiles:
            directory.put(p)
        self.mail = smtp_sender(self.settings)
        # The service's code over the real store and SMTP; events and the matcher stay in memory.
        self.notifier = bootstrap_in_memory(
            self.settings, instance_id="bench", store=self.store, mail=self.mail, profiles=directory
        ).notifier

    def run(self, batch: list[Shortlist]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.notifier.alerts.handle_shortlists(batch, one_by_one=self.one_by_one)
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += time.process_time() - cpu

    def close(self) -> Figure:
        sent = len(self.store.find(states=[State.SENT]))
        self.mail.close()
        self.es.indices.delete(
            index=f"{self.settings.notifications_index},{self.settings.unsubscribes_index}", ignore_unavailable=True
        )
        self.es.close()
        return Figure(self.name, sent, self.wall_s, self.cpu_s)


def main(es_url: str, n_shortlists: int, per_shortlist: int, connections: list[int]) -> int:
    profiles, shortlists = workload(n_shortlists, per_shortlist)
    expected = n_shortlists * per_shortlist
    server = Server.start([])
    try:
        warm = Mode("warm-up", es_url, server.port, 1, profiles, True)
        warm.run(shortlists[:10])  # imports, templates, first connections: not counted
        warm.close()
        modes = [Mode("one by one", es_url, server.port, 1, profiles, True)]
        modes += [Mode(f"batched, {n} conn.", es_url, server.port, n, profiles, False) for n in connections]
        # Batch by batch, every mode in turn: the shared server's slow and fast phases fall on all of them alike.
        for start in range(0, len(shortlists), BATCH):
            for mode in modes:
                mode.run(shortlists[start : start + BATCH])
        figures = [mode.close() for mode in modes]
    finally:
        received = server.stop()
    print(f"\nnotifier pipeline: {n_shortlists} shortlists x {per_shortlist} suppliers = {expected} emails per mode,")
    print(f"batches of {BATCH} shortlists, Elasticsearch {es_url}, SMTP sink in its own process, no rate limit")
    base = figures[0]
    ok = True
    for f in figures:
        ok &= f.emails == expected
        print(
            f"  {f.mode:<20} {f.rate:8.1f} emails/s  wall {f.wall_s:6.2f} s  cpu {f.cpu_s:6.2f} s "
            f"({1000 * f.cpu_s / max(f.emails, 1):.2f} ms/email)  x{f.rate / base.rate:4.1f}"
            + ("" if f.emails == expected else f"  <-- {f.emails} sent, expected {expected}")
        )
    total = 10 * per_shortlist + expected * len(figures)
    print(f"  sink received {received} of {total} emails" + ("" if received == total else "  <-- MISMATCH"))
    return 0 if ok and received == total else 1

"""The ingest use case: mapped records in, versions and dead letters out, state and checkpoint moved after flush.

At-least-once, with a narrow window: a batch is published, flushed (acks=all), then its notice states, rejection
fingerprints and the source checkpoint are committed in one sqlite transaction. A stop between batches (SIGTERM,
Ctrl-C, ``should_stop``) loses and repeats nothing. A crash after a flush and before the commit can republish
that batch; the copies are identical (same ``notice_id``, ``version`` and ``content_hash``), so consumers keyed on
``(notice_id, version)`` stay idempotent.

Processes sharing a state directory take turns per batch (``StateStore.exclusive``, held from the batch's first
read of the state to its commit), so each reads the versions the other committed and no version is published
twice with different content.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter

from contracts import TenderNotice
from services.infra.bus import EventPublisher, dead_letter
from services.ingest.domain.model import Outcome, Rejection
from services.ingest.domain.versioning import Known, next_version
from services.ingest.ports import Checkpoint, StateStore

log = logging.getLogger(__name__)

#: Kafka's default message limit is 1 MB; a dead letter keeps at most this much of its payload.
MAX_PAYLOAD_CHARS = 512_000


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.published = PromCounter(
            "ingest_notices_published", "Notice versions published", ["source", "status"], registry=self.registry
        )
        self.unchanged = PromCounter(
            "ingest_notices_unchanged", "Notices re-read without change", ["source"], registry=self.registry
        )
        self.rejected = PromCounter(
            "ingest_records_rejected", "Records that could not become notices", ["reason"], registry=self.registry
        )
        self.last_success = Gauge(
            "ingest_source_last_success_timestamp_seconds",
            "When a source was last read completely",
            ["source"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "ingest_source_lag_seconds",
            "Seconds since a source was last read completely (updated on every poll)",
            ["source"],
            registry=self.registry,
        )


@dataclass
class Stats:
    published: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    #: Rejections already dead-lettered by an earlier run (not sent again).
    rejections_known: int = 0
    stopped: bool = False

    def add(self, other: Stats) -> None:
        self.published.update(other.published)
        self.rejected.update(other.rejected)
        self.unchanged += other.unchanged
        self.rejections_known += other.rejections_known
        self.stopped = self.stopped or other.stopped

    def summary(self) -> str:
        published = sum(self.published.values())
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(self.published.items())) or "none"
        reasons = ", ".join(f"{k} {v}" for k, v in self.rejected.most_common()) or "none"
        return (
            f"published {published} ({by_status}); unchanged {self.unchanged}; "
            f"rejected {sum(self.rejected.values())} ({reasons}); already dead-lettered {self.rejections_known}"
        )


def fingerprint(rejection: Rejection) -> str:
    return hashlib.sha256(f"{rejection.reason}\n{rejection.payload}".encode()).hexdigest()


class Ingestor:
    def __init__(
        self,
        publisher: EventPublisher,
        state: StateStore,
        notices_topic: str,
        dlq_topic: str,
        metrics: Metrics | None = None,
        batch_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.publisher = publisher
        self.state = state
        self.notices_topic = notices_topic
        self.dlq_topic = dlq_topic
        self.metrics = metrics or Metrics()
        self.batch_size = max(1, batch_size)
        self.clock = clock
        # One publisher and one state store serve the pollers and the push endpoint: one ingest at a time.
        self._lock = threading.Lock()

    def ingest(
        self,
        outcomes: Iterable[Outcome],
        origin: str,
        checkpoint: tuple[str, Checkpoint] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> tuple[Stats, list[TenderNotice]]:
        """Publish what is new, dead-letter what is bad; returns the stats and the versions published.

        The checkpoint moves only when every outcome was handled (not when ``should_stop`` cut the run short).
        """
        with self._lock:
            return self._ingest(outcomes, origin, checkpoint, should_stop)

    def _ingest(
        self,
        outcomes: Iterable[Outcome],
        origin: str,
        checkpoint: tuple[str, Checkpoint] | None,
        should_stop: Callable[[], bool],
    ) -> tuple[Stats, list[TenderNotice]]:
        with contextlib.ExitStack() as held:  # the state's lock, from a batch's first outcome to its commit
            return self._ingest_batches(outcomes, origin, checkpoint, should_stop, held)

    def _ingest_batches(
        self,
        outcomes: Iterable[Outcome],
        origin: str,
        checkpoint: tuple[str, Checkpoint] | None,
        should_stop: Callable[[], bool],
        held: contextlib.ExitStack,
    ) -> tuple[Stats, list[TenderNotice]]:
        stats = Stats()
        published: list[TenderNotice] = []
        batch: dict[str, TenderNotice] = {}
        rejections: dict[str, None] = {}
        in_batch = 0
        #: Outcomes read since the lock was taken (None: not held); a long unchanged run lets it go too.
        held_for: int | None = None
        for outcome in outcomes:
            if held_for is not None and held_for >= self.batch_size and in_batch == 0:
                held.close()  # a batch's worth of unchanged notices, nothing pending: the others' turn
                held_for = None
            if held_for is None:
                # Read under the lock, so the known versions are the ones another process committed last.
                held.enter_context(self.state.exclusive())
                held_for = 0
            held_for += 1
            if isinstance(outcome, Rejection):
                stats.rejected[outcome.reason] += 1
                self.metrics.rejected.labels(outcome.reason).inc()
                fp = fingerprint(outcome)
                if fp in rejections or self.state.rejection_seen(fp):
                    stats.rejections_known += 1
                    continue
                payload = outcome.payload
                detail = outcome.detail
                if len(payload) > MAX_PAYLOAD_CHARS:
                    detail += f" (payload truncated from {len(payload)} characters)"
                    payload = payload[:MAX_PAYLOAD_CHARS]
                letter = dead_letter("ingest", origin, outcome.reason, detail, payload, key=outcome.key)
                self.publisher.publish(self.dlq_topic, outcome.key or origin, letter)
                rejections[fp] = None
            else:
                pending = batch.get(outcome.notice_id)
                known = (
                    Known(pending.content_hash, pending.version, pending.status, pending)
                    if pending is not None
                    else self.state.known(outcome.notice_id)
                )
                version = next_version(outcome, known, self.clock())
                if version is None:
                    stats.unchanged += 1
                    self.metrics.unchanged.labels(outcome.source).inc()
                    continue
                self.publisher.publish(self.notices_topic, version.notice_id, version)
                batch[version.notice_id] = version
                published.append(version)
                stats.published[version.status.value] += 1
                self.metrics.published.labels(version.source, version.status.value).inc()
            in_batch += 1
            if in_batch >= self.batch_size:
                self._commit(batch, rejections, None)
                held.close()  # the other processes' turn between batches
                batch, rejections, in_batch, held_for = {}, {}, 0, None
                if should_stop():
                    stats.stopped = True
                    return stats, published
        self._commit(batch, rejections, checkpoint)
        return stats, published

    def _commit(
        self, batch: dict[str, TenderNotice], rejections: dict[str, None], checkpoint: tuple[str, Checkpoint] | None
    ) -> None:
        if not batch and not rejections and checkpoint is None:
            return
        self.publisher.flush()  # raises if Kafka did not take the batch: the state then stays where it was
        self.state.commit(list(batch.values()), list(rejections), checkpoint)

"""The ingest use case: mapped records in, versions and dead letters out, state and checkpoint moved after flush.

Notices go to the notices topic, award records to the awards topic (``awards.records``, key ``award_id``), each
versioned the same way (an unchanged re-read publishes nothing); a rejected record goes to the dead-letter topic of
what it was to become (``Rejection.record``).

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

from contracts import AwardRecord, TenderNotice
from contracts.topics import AWARDS, AWARDS_DLQ, MAX_NOTICE_BYTES
from services.infra.bus import EventPublisher, dead_letter
from services.infra.exceptions import PermanentPublishError, Refused
from services.ingest.domain.model import Record, Rejection, oversized
from services.ingest.domain.versioning import Known, KnownAward, next_award_version, next_version
from services.ingest.ports import Checkpoint, StateStore

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.published = PromCounter(
            "ingest_notices_published", "Notice versions published", ["source", "status"], registry=self.registry
        )
        self.unchanged = PromCounter(
            "ingest_notices_unchanged", "Notices re-read without change", ["source"], registry=self.registry
        )
        self.awards_published = PromCounter(
            "ingest_awards_published", "Award record versions published", ["source"], registry=self.registry
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
    #: Award record versions published, and awards read again unchanged.
    awards_published: int = 0
    awards_unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    #: Rejections already dead-lettered by an earlier run (not sent again).
    rejections_known: int = 0
    #: Notices refused here rather than by their mapper (too large for the bus, refused by Kafka), dead-lettered.
    refused: list[Rejection] = field(default_factory=list)
    stopped: bool = False

    def add(self, other: Stats) -> None:
        self.refused.extend(other.refused)
        self.published.update(other.published)
        self.rejected.update(other.rejected)
        self.unchanged += other.unchanged
        self.awards_published += other.awards_published
        self.awards_unchanged += other.awards_unchanged
        self.rejections_known += other.rejections_known
        self.stopped = self.stopped or other.stopped

    def summary(self) -> str:
        published = sum(self.published.values())
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(self.published.items())) or "none"
        reasons = ", ".join(f"{k} {v}" for k, v in self.rejected.most_common()) or "none"
        awards = ""
        if self.awards_published or self.awards_unchanged:
            awards = f"award records published {self.awards_published}, unchanged {self.awards_unchanged}; "
        return (
            f"published {published} ({by_status}); unchanged {self.unchanged}; {awards}"
            f"rejected {sum(self.rejected.values())} ({reasons}); already dead-lettered {self.rejections_known}"
        )


def fingerprint(rejection: Rejection) -> str:
    if rejection.record == "award":
        # Several awards of one document (the lots of a result notice) share its payload: the key tells them apart.
        text = f"{rejection.reason}\n{rejection.key}\n{rejection.payload}"
    else:
        text = f"{rejection.reason}\n{rejection.payload}"
    return hashlib.sha256(text.encode()).hexdigest()


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
        max_notice_bytes: int = MAX_NOTICE_BYTES,
        awards_topic: str = AWARDS.name,
        awards_dlq_topic: str = AWARDS_DLQ.name,
    ) -> None:
        self.publisher = publisher
        self.state = state
        self.notices_topic = notices_topic
        self.dlq_topic = dlq_topic
        self.metrics = metrics or Metrics()
        self.batch_size = max(1, batch_size)
        self.clock = clock
        self.max_notice_bytes = max_notice_bytes
        self.awards_topic = awards_topic
        self.awards_dlq_topic = awards_dlq_topic
        # One publisher and one state store serve the pollers and the push endpoint: one ingest at a time.
        self._lock = threading.Lock()

    def ingest(
        self,
        outcomes: Iterable[Record],
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
        outcomes: Iterable[Record],
        origin: str,
        checkpoint: tuple[str, Checkpoint] | None,
        should_stop: Callable[[], bool],
    ) -> tuple[Stats, list[TenderNotice]]:
        with contextlib.ExitStack() as held:  # the state's lock, from a batch's first outcome to its commit
            return self._ingest_batches(outcomes, origin, checkpoint, should_stop, held)

    def _ingest_batches(
        self,
        outcomes: Iterable[Record],
        origin: str,
        checkpoint: tuple[str, Checkpoint] | None,
        should_stop: Callable[[], bool],
        held: contextlib.ExitStack,
    ) -> tuple[Stats, list[TenderNotice]]:
        run = _Run(origin)
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
                if not self._dead_letter(outcome, run):
                    continue
            elif isinstance(outcome, AwardRecord):
                if not self._award(outcome, run):
                    continue
            else:
                pending = run.batch.get(outcome.notice_id)
                known = (
                    Known(pending.content_hash, pending.version, pending.status, pending)
                    if pending is not None
                    else self.state.known(outcome.notice_id)
                )
                version = next_version(outcome, known, self.clock())
                if version is None:
                    run.stats.unchanged += 1
                    self.metrics.unchanged.labels(outcome.source).inc()
                    continue
                if not self._publish(version, run):
                    continue
            in_batch += 1
            if in_batch >= self.batch_size:
                self._commit(run, None)
                held.close()  # the other processes' turn between batches
                in_batch, held_for = 0, None
                if should_stop():
                    run.stats.stopped = True
                    return run.stats, run.published
        self._commit(run, checkpoint)
        return run.stats, run.published

    def _award(self, award: AwardRecord, run: _Run) -> bool:
        """Queue the next version of an award unless it is unchanged. Whether a message was queued."""
        pending = run.award_batch.get(award.award_id)
        known = (
            KnownAward(pending.content_hash, pending.version, pending)
            if pending
            else self.state.known_award(award.award_id)
        )
        version = next_award_version(award, known, self.clock())
        if version is None:
            run.stats.awards_unchanged += 1
            return False
        try:
            self.publisher.publish(self.awards_topic, version.award_id, version)
        except PermanentPublishError as exc:
            refusal = refused_by_kafka(exc.refused[0], version)
            run.stats.refused.append(refusal)
            return self._dead_letter(refusal, run)
        run.award_batch[version.award_id] = version
        return True

    def _publish(self, version: TenderNotice, run: _Run) -> bool:
        """Queue a version; one the bus cannot carry is dead-lettered instead. Whether a message was queued."""
        refusal = oversized(version, self.max_notice_bytes)
        if refusal is None:
            try:
                self.publisher.publish(self.notices_topic, version.notice_id, version)
            except PermanentPublishError as exc:
                refusal = refused_by_kafka(exc.refused[0], version)
        if refusal is not None:
            run.stats.refused.append(refusal)
            return self._dead_letter(refusal, run)
        run.batch[version.notice_id] = version
        run.published.append(version)
        return True

    def _dead_letter(self, rejection: Rejection, run: _Run) -> bool:
        """Count a rejection and queue its dead letter, unless an earlier run sent it. Whether one was queued."""
        run.stats.rejected[rejection.reason] += 1
        self.metrics.rejected.labels(rejection.reason).inc()
        fp = fingerprint(rejection)
        if fp in run.rejections or self.state.rejection_seen(fp):
            run.stats.rejections_known += 1
            return False
        # The payload is cut by bytes, with a marker, so that the letter fits in a message (``dead_letter``).
        letter = dead_letter("ingest", run.origin, rejection.reason, rejection.detail, rejection.payload, rejection.key)
        topic = self.awards_dlq_topic if rejection.record == "award" else self.dlq_topic
        self.publisher.publish(topic, rejection.key or run.origin, letter)
        run.rejections[fp] = rejection
        return True

    def _commit(self, run: _Run, checkpoint: tuple[str, Checkpoint] | None) -> None:
        """Flush, then record the batch's versions, rejections and the checkpoint; a version Kafka refused at the
        flush is dead-lettered (flushed too) and not recorded, so nothing is stored that was not published."""
        if not run.batch and not run.award_batch and not run.rejections and checkpoint is None:
            return
        try:
            self.publisher.flush()  # raises if Kafka did not take the batch: the state then stays where it was
        except PermanentPublishError as exc:
            self._refused_at_flush(exc.refused, run)
            self.publisher.flush()
        versions = run.published[run.batch_start :]
        awards = list(run.award_batch.values())
        self.state.commit(list(run.batch.values()), list(run.rejections), checkpoint, awards)
        for version in versions:
            run.stats.published[version.status.value] += 1
            self.metrics.published.labels(version.source, version.status.value).inc()
        for award in awards:
            run.stats.awards_published += 1
            self.metrics.awards_published.labels(award.source).inc()
        run.batch, run.award_batch, run.rejections, run.batch_start = {}, {}, {}, len(run.published)

    def _refused_at_flush(self, refused: list[Refused], run: _Run) -> None:
        for r in refused:
            if r.topic == self.awards_topic:
                award = run.award_batch.pop(r.key, None)
                if award is not None:
                    refusal = refused_by_kafka(r, award)
                    run.stats.refused.append(refusal)
                    self._dead_letter(refusal, run)
                continue
            if r.topic in (self.dlq_topic, self.awards_dlq_topic):
                # Logged at ERROR and counted by the publisher; not recorded as sent, so a later run tries again.
                for fp in [fp for fp, rej in run.rejections.items() if (rej.key or run.origin) == r.key]:
                    del run.rejections[fp]
                continue
            version = run.batch.pop(r.key, None)
            if version is None:
                continue
            run.published[run.batch_start :] = [v for v in run.published[run.batch_start :] if v.notice_id != r.key]
            refusal = refused_by_kafka(r, version)
            run.stats.refused.append(refusal)
            self._dead_letter(refusal, run)


@dataclass
class _Run:
    """One call of ``Ingestor.ingest``: what it published and rejected, and the batch not yet committed."""

    origin: str
    stats: Stats = field(default_factory=Stats)
    published: list[TenderNotice] = field(default_factory=list)
    #: Index in ``published`` of the first version of the batch in hand.
    batch_start: int = 0
    batch: dict[str, TenderNotice] = field(default_factory=dict)
    #: Award versions of the batch in hand, by ``award_id``.
    award_batch: dict[str, AwardRecord] = field(default_factory=dict)
    #: Fingerprint -> rejection, of the dead letters of the batch in hand.
    rejections: dict[str, Rejection] = field(default_factory=dict)


def refused_by_kafka(refused: Refused, version: TenderNotice | AwardRecord) -> Rejection:
    """The rejection of a notice or award version Kafka refused for what it is (``message_too_large``...), to
    dead-letter on the dead-letter topic of its kind."""
    if isinstance(version, AwardRecord):
        what, key, record = "award", version.award_id, "award"
    else:
        what, key, record = "notice", version.notice_id, "notice"
    return Rejection(
        refused.reason,
        f"{what} {key} version {version.version} refused by Kafka: {refused.detail}",
        version.model_dump_json(),
        key,
        record,
    )

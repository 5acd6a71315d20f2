"""The notice worker: consume ``tenders.notices``, match, store and publish the shortlist, then commit.

At-least-once and idempotent: offsets are committed only after the shortlist is stored in Elasticsearch and the
publisher has flushed, and a redelivered version republishes the stored shortlist. A message that is not a
TenderNotice goes to ``tenders.notices.dlq`` with the reason (then it is committed: it will never parse). A notice
whose shortlist Kafka refuses for good (over the bus limit, at ``publish`` or at the flush) goes there too, with
Kafka's reason (``message_too_large``...), logged at ERROR and counted, and the worker goes on: waiting cannot
help, and the shortlist stays stored (``rematch`` republishes it once the limit allows). When
Elasticsearch does not answer, the handled part of the batch is committed and the rest handed over again after a
back-off (doubling, up to ``TB_MATCHER_MAX_BACKOFF_SECONDS``), still polling so it keeps its place in the group.
Any other error propagates: the worker stops without committing and the message is delivered again. The loop and
that policy are ``services.infra.bus.ConsumerLoop``'s, shared with the notifier's worker.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from threadpoolctl import threadpool_limits

from contracts import TenderNotice
from services.infra.bus import (
    Backoff,
    BatchHandler,
    ConsumerLoop,
    MembershipWatch,
    Unreadable,
    dead_letter,
    json_consumer,
    read_message,
)
from services.infra.exceptions import PermanentPublishError, Refused
from services.matcher.exceptions import InvalidInput, StoreUnavailable
from services.matcher.service import Matcher
from services.matcher.settings import Settings

log = logging.getLogger(__name__)

Outcome = Literal["matched", "stale", "dead_lettered"]

#: Notices fetched per poll: each is matched, stored and published before the batch is committed.
MAX_POLL_RECORDS = 20
#: Seconds between looks at the profiles topic's end offsets (profile changes made by other processes).
PROFILE_LOG_EVERY_S = 30.0


def one_native_thread() -> None:
    """Limit numpy's BLAS (and any OpenMP pool) to one thread, for the whole process, once at start.

    Matching one notice multiplies small matrices (a few hundred candidates): OpenBLAS spreads each product over
    every core and spins its threads, which doubled the process CPU time per notice at 100k profiles (wall p99 24 ms,
    CPU p99 48 ms on two cores) for no gain in latency. A matcher scales with notices in parallel (replicas, workers),
    not threads inside a product. Set process-wide (not per call): BLAS thread counts are global, shared by the notice
    worker, the HTTP API and the background refit, so a per-notice context would race with the other threads.
    """
    threadpool_limits(limits=1)


#: Notices between two full collections of the cyclic garbage collector (``QuietCollector``): the one notice in this
#: many that pays for it takes ~1-2 s of CPU at a million profiles (it walks every object the caches hold).
FULL_COLLECTION_EVERY = 10_000
#: Notices after which the full collection is made as soon as the worker is idle (a poll that brought nothing),
#: before ``FULL_COLLECTION_EVERY`` makes it between two notices: a worker that waits for notices now and then never
#: holds one back for it.
IDLE_COLLECTION_AFTER = 1_000
#: Net allocations of tracked objects (containers) after which the collector walks the youngest generation, while
#: ``QuietCollector`` runs (Python's default: 700). Each such walk reads the collector's header of every object the
#: young ones refer to: ranking a notice makes a few hundred copies of candidates' statistics that refer to ~20
#: objects each, spread over a large heap, so a walk misses the CPU cache at nearly every read. At 1M profiles a
#: notice met ~2 of them at ~1.9 ms each (0 objects found), and rank took 14.2 ms against 10.5 with this threshold
#: (CPU p50, the same 200 notices alternated three times in one process, its caches full). ``gc.freeze`` after each
#: notice sets the count back to 0, so a notice that makes fewer is never walked: the few reference cycles matching
#: leaves (~19 objects a notice at 1M) are frozen with the rest and reclaimed by the full collection (``when_idle``).
YOUNG_COLLECTION_AFTER = 20_000


class QuietCollector:
    """Keeps CPython's cyclic garbage collector from walking the matcher's long-lived objects inside a notice.

    The matcher's bounded caches (profiles read from the store, candidates' statistics, TF-IDF rows and vectors) hold
    about a million tracked objects, and they churn: every notice brings in a few hundred candidates' objects and
    evicts as many. Left alone, the collector's oldest generation fills with them, and every ~30 notices a full
    collection walks them all: 1-2 s of CPU at a million profiles, landing in one notice (the p99 was that, 30-60x the
    notice's own time). So after start-up and after each notice, what is alive is moved out of the collector's reach
    (``gc.freeze``: O(1)); evicted entries are still freed at once by their reference counts, and the young
    generations keep collecting a notice's own garbage, walked only every ``young_after`` net allocations
    (``YOUNG_COLLECTION_AFTER``) from ``start`` to ``stop``. Only reference cycles that become garbage after being
    frozen would wait: a full collection over everything runs when the worker is idle after ``idle_after`` notices
    (``when_idle``), and between two notices after ``full_every`` for a worker that is never idle (none is made by
    matching; the bench counts what such a collection finds).
    """

    def __init__(
        self,
        full_every: int = FULL_COLLECTION_EVERY,
        idle_after: int | None = None,
        young_after: int = YOUNG_COLLECTION_AFTER,
    ) -> None:
        """``idle_after``: ``IDLE_COLLECTION_AFTER`` by default, or ``full_every`` if that is fewer."""
        if idle_after is None:
            idle_after = min(IDLE_COLLECTION_AFTER, full_every)
        if full_every < 1:
            raise ValueError(f"full_every must be >= 1, got {full_every}")
        if young_after < 1:
            raise ValueError(f"young_after must be >= 1, got {young_after}")
        if not 1 <= idle_after <= full_every:
            raise ValueError(f"idle_after must be between 1 and full_every ({full_every}), got {idle_after}")
        self.full_every = full_every
        self.idle_after = idle_after
        self.young_after = young_after
        #: The collector's thresholds before ``start``, given back by ``stop``.
        self._thresholds: tuple[int, int, int] | None = None
        self._since = 0
        #: Full collections run so far (after start-up) and what they found unreachable.
        self.full_collections = 0
        self.collected = 0

    def start(self) -> None:
        """Once everything long-lived is loaded (the model, the indexes): collect, then freeze what is left; the
        youngest generation walked every ``young_after`` allocations until ``stop``."""
        gc.collect()
        gc.freeze()
        self._since = 0
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
        gc.set_threshold(self.young_after, *self._thresholds[1:])

    def stop(self) -> None:
        """The collector's thresholds as they were before ``start`` (what is frozen stays so)."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def after_notice(self) -> None:
        """After each notice: freeze what it left alive; every ``full_every`` notices, a full collection first."""
        self._since += 1
        if self._since >= self.full_every:
            self.full_collect()
        gc.freeze()

    def when_idle(self) -> int | None:
        """The worker has nothing to do (its last poll brought no notice): the full collection now if
        ``idle_after`` notices came since the last one (what it found; ``None``: not due)."""
        return self.full_collect() if self._since >= self.idle_after else None

    def full_collect(self) -> int:
        """Unfreeze and collect everything (the cycles that became garbage while frozen), then freeze again; how
        many unreachable objects it found."""
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self._since = 0
        self.full_collections += 1
        self.collected += found
        return found


def handle_message(matcher: Matcher, dlq_topic: str, origin: str, key: bytes | None, value: bytes | None) -> Outcome:
    """Handle one raw message. Raises ``StoreUnavailable`` when Elasticsearch does not answer."""
    key_text = key.decode("utf-8", errors="replace") if key is not None else None
    notice = read_message(value, TenderNotice, "notice")
    if isinstance(notice, Unreadable):
        reason, detail = notice.reason, notice.detail
    else:
        try:
            return "matched" if matcher.handle_notice(notice) is not None else "stale"
        except InvalidInput as exc:
            reason, detail = "rejected_by_store", str(exc)
        except PermanentPublishError as exc:
            # Kafka refuses the shortlist itself (found before sending): the same every time, so not retried.
            for refused in exc.refused:
                set_aside(matcher, dlq_topic, origin, refused, key_text, value)
            return "dead_lettered"
    set_aside_unreadable(matcher, dlq_topic, origin, key_text, reason, detail, value)
    return "dead_lettered"


def set_aside_unreadable(
    matcher: Matcher, dlq_topic: str, origin: str, key: str | None, reason: str, detail: str, value: bytes | None
) -> None:
    """Dead-letter a message that will never be handled (it does not parse, or the store refuses it) with the
    reason, counted and logged at WARNING; the caller commits it."""
    matcher.publisher.publish(
        dlq_topic, key or "unknown", dead_letter("matcher", origin, reason, detail, value or b"", key=key)
    )
    matcher.metrics.dead_letters.labels(reason).inc()
    log.warning("dead-lettered a message from %s (key %s): %s", origin, key, reason)


def set_aside(
    matcher: Matcher, dlq_topic: str, origin: str, refused: Refused, key: str | None, value: bytes | None
) -> None:
    """Dead-letter what made a message Kafka refused for good (the notice whose shortlist it was, ``value``, when
    known), with Kafka's reason; logged at ERROR (an operator acts: the shortlist is stored, not published)."""
    detail = f"Kafka refused the message for {refused.topic} (key {refused.key}): {refused.detail}"
    matcher.publisher.publish(
        dlq_topic, key or refused.key, dead_letter("matcher", origin, refused.reason, detail, value or b"", key=key)
    )
    matcher.metrics.dead_letters.labels(refused.reason).inc()
    log.error("dead-lettered %s (key %s): %s", origin, key or refused.key, detail)


#: How long a matcher worker may take over one poll's batch before its group evicts it (and fails its commit): a
#: batch may re-rank notices, a second or more each when Elasticsearch is slow.
MAX_POLL_INTERVAL_MS = 600_000


class MatcherWorker:
    """What the matcher's consumers (notices, award records, suppliers' marks) share: the matcher, its settings and
    the stop event, a consumer (``consumer_factory``, else the worker's ``_default_consumer``), and one
    ``ConsumerLoop`` backing off as the settings say."""

    def __init__(
        self,
        matcher: Matcher,
        settings: Settings,
        stop: threading.Event,
        consumer_factory: Callable[[], Any] | None = None,
        initial_backoff: float = 0.5,
    ) -> None:
        self.matcher = matcher
        self.settings = settings
        self.stop = stop
        self.initial_backoff = initial_backoff
        self._consumer_factory = consumer_factory or self._default_consumer

    def _default_consumer(self) -> Any:
        raise NotImplementedError

    def _json_consumer(self, topic: str, group_id: str, client_id: str, max_poll_records: int, **extra: Any) -> Any:
        """A consumer of ``group_id``, a static member of it (``TB_MATCHER_STATIC_MEMBERSHIP``) in every group: a
        restarted replica takes its own place back in each, where a dead dynamic member would hold up every
        rebalance of its group until the broker expires it (the local server never does)."""
        if self.settings.matcher_static_membership:
            extra = {"group_instance_id": f"{group_id}-{self.settings.matcher_instance_id}"[:249], **extra}
        return json_consumer(
            self.settings.kafka_bootstrap_servers,
            [topic],
            group_id=group_id,
            client_id=client_id,
            max_poll_records=max_poll_records,
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
            **extra,
        )

    def _loop(self, consumer: Any, handle: BatchHandler, name: str, **extra: Any) -> ConsumerLoop:
        """The loop over ``consumer``; a consumer whose group membership stays stuck for
        ``TB_MATCHER_CONSUMER_STUCK_SECONDS`` is replaced by a new one of ``consumer_factory``, and counted."""
        backoff = Backoff(self.initial_backoff, self.settings.matcher_max_backoff_seconds)
        stuck_s, metrics = self.settings.matcher_consumer_stuck_seconds, self.matcher.metrics
        return ConsumerLoop(
            consumer, self.stop, handle, self.matcher.publisher, backoff, name=name,
            watch=MembershipWatch(stuck_s) if stuck_s > 0 else None, recreate=self._consumer_factory,
            on_recreated=lambda reason: metrics.consumer_recreations.labels(name, reason).inc(),
            on_partitions=metrics.consumer_partitions.labels(name).set, **extra,
        )  # fmt: skip


class NoticeWorker(MatcherWorker):
    def __init__(
        self,
        matcher: Matcher,
        settings: Settings,
        stop: threading.Event,
        consumer_factory: Callable[[], Any] | None = None,
        initial_backoff: float = 0.5,
        profile_log_every_s: float = PROFILE_LOG_EVERY_S,
        collector: QuietCollector | None = None,
    ) -> None:
        """``collector``: the process's garbage-collection policy, applied after each notice (``python -m
        services.matcher run`` gives one; ``None``: Python's default)."""
        super().__init__(matcher, settings, stop, consumer_factory, initial_backoff)
        self.profile_log_every_s = profile_log_every_s
        self.collector = collector
        #: Messages handled (matched, stale or dead-lettered) and store failures seen, for logs and tests.
        self.handled = 0
        self.store_failures = 0
        #: The records of the batch being handled, by key: a shortlist refused at the flush is dead-lettered with
        #: the notice it was made from.
        self._batch: dict[str, Any] = {}
        #: Whether a batch was handled since the last work between batches (else the poll brought nothing).
        self._batch_handled = False

    def _default_consumer(self) -> Any:
        return self._json_consumer(
            self.settings.topic_notices,
            self.settings.matcher_consumer_group,
            "matcher",
            # A notice can take a second or more when Elasticsearch is slow: small batches keep each poll well
            # inside the poll interval, so the group does not evict a busy worker (and fail its commit).
            MAX_POLL_RECORDS,
        )

    def run(self) -> None:
        if self.collector is not None:
            self.collector.start()
        consumer = self._consumer_factory()
        # Profiles stored elsewhere before this process started count before its first notice.
        self._note_profile_log(consumer)
        next_profile_log = time.monotonic() + self.profile_log_every_s

        def between_batches() -> None:
            nonlocal next_profile_log
            # A poll that brought nothing: an idle moment for the collector's full collection, when due.
            if self.collector is not None and not self._batch_handled:
                self.collector.when_idle()
            self._batch_handled = False
            if time.monotonic() >= next_profile_log:
                next_profile_log = time.monotonic() + self.profile_log_every_s
                self._note_profile_log(loop.consumer)  # the loop's: it replaces a consumer whose membership is stuck
            # After enough profile changes or time, refit on a background thread: matching goes on with the current
            # model and never waits for a fit (an unexpected fit error is raised here).
            self.matcher.refit_in_background(self.settings.matcher_refit_interval_seconds)

        loop = self._loop(
            consumer, self._handle, "notice worker", between_batches=between_batches, on_refused=self._refused_at_flush
        )
        try:
            loop.run()
        finally:
            if self.collector is not None:
                self.collector.stop()
            log.info("notice worker stopped after %d messages", self.handled)

    def _note_profile_log(self, consumer: Any) -> None:
        """Profiles stored by another process (``import-suppliers``, another instance) count towards the next refit,
        as this matcher's own changes do: without this, a model fitted before an import would serve for up to
        ``TB_MATCHER_REFIT_INTERVAL_SECONDS``."""
        topic = self.settings.topic_profiles
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            end = consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
        except KafkaError as exc:
            log.warning("could not read the end offsets of %s: %s", topic, exc)
            return
        others = self.matcher.note_profile_log(sum(end.values()))
        if others:
            log.info("%d profile changes made elsewhere count towards the next model fit", others)

    def _refused_at_flush(self, refused: Refused) -> None:
        """A message of the batch Kafka refused at the flush (a topic whose limit is below the producer's)."""
        record = self._batch.get(refused.key)
        origin = record.topic if record is not None else self.settings.topic_notices
        value = record.value if record is not None else None
        set_aside(self.matcher, self.settings.topic_notices_dlq, origin, refused, refused.key, value)

    def _handle(self, records: list[Any]) -> int:
        """Handle the records in order until Elasticsearch fails or a stop is asked for; how many were handled."""
        self._batch = {r.key.decode("utf-8", "replace"): r for r in records if r.key is not None}
        self._batch_handled = True

        def one(record: Any) -> None:
            handle_message(self.matcher, self.settings.topic_notices_dlq, record.topic, record.key, record.value)
            self.handled += 1
            if self.collector is not None:
                self.collector.after_notice()

        done, self.store_failures = handle_in_order(records, self.stop, one, self.store_failures)
        return done


def handle_in_order(
    records: list[Any], stop: threading.Event, handle: Callable[[Any], None], failures: int
) -> tuple[int, int]:
    """Handle the records one by one, in order, until Elasticsearch does not answer (``StoreUnavailable``: the
    rest is handed over again) or a stop is asked for; how many were handled, and ``failures`` plus the outage."""
    for n, record in enumerate(records):
        if stop.is_set():
            return n, failures
        try:
            handle(record)
        except StoreUnavailable as exc:
            log.warning("Elasticsearch unavailable, will retry %s[%d]@%d: %s", record.topic, record.partition,
                        record.offset, exc)  # fmt: skip
            return n, failures + 1
    return len(records), failures

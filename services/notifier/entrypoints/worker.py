"""The Kafka worker: shortlists in, emails out, offsets committed only after the batch is handled.

Per batch: catch the profile feed up to the end offsets seen now, handle the batch's shortlists together
(``Notifier.handle_shortlists``: one claim request for all their emails, sent in rounds over several SMTP
connections; unreadable ones go to ``matches.shortlists.dlq`` with the reason), flush the produced events and dead
letters, then commit. Kafka going away (a broker restart, a rebalance that fails a commit) is waited out: the
batch is handed over again and handled again, and the idempotency keys send nothing twice. An unexpected error
crashes the worker without committing, so the batch is redelivered; the keys make that harmless too. Between
batches it sends due digests, forwards pending unsubscribes, parks abandoned records and sends the confirmation emails
of newly registered addresses (double opt-in).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import ValidationError

from contracts import Shortlist
from services.infra.bus import (
    KAFKA_UNAVAILABLE,
    POLL_TIMEOUT_MS,
    EventPublisher,
    IdlePoller,
    commit_or_redeliver,
    dead_letter,
    rewind,
)
from services.notifier.exceptions import ShuttingDown
from services.notifier.service import SERVICE, Notifier

log = logging.getLogger(__name__)


class ProfileFeed(Protocol):
    def catch_up(self, timeout_s: float = 30.0) -> int: ...

    def close(self) -> None: ...


class ShortlistWorker:
    def __init__(
        self,
        notifier: Notifier,
        consumer: Any,
        feed: ProfileFeed,
        publisher: EventPublisher,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.consumer = consumer
        self.feed = feed
        self.publisher = publisher
        self.stop = stop
        self._clock = clock
        self._next_digest = 0.0
        self._next_sync = 0.0
        self._next_sweep = 0.0
        self._next_confirm = 0.0
        #: True once the profile feed was read to its end at start (readiness).
        self.started = False
        self.error: BaseException | None = None
        self._poller = IdlePoller(consumer, stop)

    def start(self) -> None:
        self.notifier.load_unsubscribes()
        self.feed.catch_up(timeout_s=60.0)
        self.notifier.metrics.profiles.set(len(self.notifier.profiles))
        self.started = True

    def run_once(self, timeout_ms: int = POLL_TIMEOUT_MS) -> int:
        """Poll, handle and commit one batch; returns how many shortlists it held (after a pause when none)."""
        batch = self._poller.poll(timeout_ms)
        records = [r for part in batch.values() for r in part]
        if records:
            try:
                self.feed.catch_up()
                self.notifier.metrics.profiles.set(len(self.notifier.profiles))
                if self.stop.is_set():
                    raise ShuttingDown("stop requested before a batch")
                shortlists = [s for s in (self._read(record) for record in records) if s is not None]
                # Stop promptly (between rounds of emails): the rest of the batch stays uncommitted and comes back
                # after the restart, where the idempotency keys skip what this process already sent.
                self.notifier.handle_shortlists(shortlists, stop=self.stop.is_set)
                self.publisher.flush()
            except KAFKA_UNAVAILABLE:
                # Kafka went away mid-batch: hand the batch over again once it is back (the keys send nothing twice).
                rewind(self.consumer, batch)
                raise
            commit_or_redeliver(self.consumer)
        self.maintenance()
        return len(records)

    def _read(self, record: Any) -> Shortlist | None:
        """The shortlist, or None for a tombstone or an unreadable value (dead-lettered with the reason)."""
        settings = self.notifier.settings
        key = record.key.decode("utf-8", "replace") if record.key else None
        if record.value is None:
            return None  # a tombstone on a delete-retention topic means nothing here
        try:
            return Shortlist.model_validate_json(record.value)
        except ValidationError as exc:
            self.notifier.metrics.invalid_input.labels(record.topic).inc()
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            log.warning(
                "unreadable shortlist at %s[%s]@%s dead-lettered", record.topic, record.partition, record.offset
            )
            self.publisher.publish(
                settings.topic_shortlists_dlq,
                key or f"{record.topic}:{record.partition}:{record.offset}",
                dead_letter(SERVICE, record.topic, "invalid_shortlist", detail, record.value, key),
            )
            return None

    def maintenance(self, force: bool = False) -> None:
        settings = self.notifier.settings
        now = self._clock()
        if force or now >= self._next_digest:
            self._next_digest = now + settings.notifier_digest_interval_s
            self.feed.catch_up()
            self.notifier.send_due_digests()
            self.notifier.resolve_abandoned()
            self.publisher.flush()
        if force or now >= self._next_sync:
            self._next_sync = now + settings.notifier_unsubscribe_sync_interval_s
            self.notifier.sync_unsubscribes()
        if force or now >= self._next_confirm:
            self._next_confirm = now + settings.notifier_confirmation_interval_s
            self.feed.catch_up()
            if self.notifier.send_confirmations(self.stop.is_set):
                self.publisher.flush()

    def run(self) -> None:
        """Until ``stop`` is set. Unexpected errors end the loop (recorded in ``error``) after closing cleanly."""
        try:
            self.start()
            backoff = 1.0
            while not self.stop.is_set():
                try:
                    self.run_once()
                except KAFKA_UNAVAILABLE as exc:
                    # A broker restart or a network cut: wait and go on where this worker was (nothing committed
                    # that was not handled), instead of stopping the service.
                    log.warning("Kafka unavailable (%s: %s); trying again in %.0f s", type(exc).__name__, exc, backoff)
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
        except ShuttingDown as exc:
            log.info("%s; the batch is left uncommitted", exc)
        except Exception as exc:
            self.error = exc
            log.exception("notifier worker crashed; uncommitted shortlists will be redelivered")
        finally:
            try:
                self.publisher.flush()
            except KAFKA_UNAVAILABLE as exc:  # events of a batch left uncommitted: it comes back, they are made again
                log.warning("events not flushed at stop (%s: %s)", type(exc).__name__, exc)
            finally:
                self.consumer.close()
                self.feed.close()

"""The Kafka worker: shortlists in, emails out, offsets committed only after the batch is handled.

Per batch: catch the profile feed up to the end offsets seen now, handle the batch's shortlists together
(``Alerts.handle_shortlists``: one claim request for all their emails, sent in rounds over several SMTP
connections; unreadable ones, tombstones too, go to ``matches.shortlists.dlq`` with the reason), flush the produced
events and dead letters, then commit. Kafka going away (a broker restart, a rebalance that fails a commit) is waited
out: the batch is handed over again and handled again, and the idempotency keys send nothing twice. An unexpected
error crashes the worker without committing, so the batch is redelivered; the keys make that harmless too. The loop
and that policy are ``services.infra.bus.ConsumerLoop``'s, shared with the matcher's worker. Between
batches it sends due digests, forwards pending unsubscribes, parks abandoned records and sends the confirmation emails
of newly registered addresses (double opt-in).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from contracts import Shortlist
from services.infra.bus import Backoff, ConsumerLoop, EventPublisher, Unreadable, dead_letter, read_message
from services.notifier.exceptions import ShuttingDown
from services.notifier.ports import ProfileFeed
from services.notifier.service import SERVICE, Notifier

if TYPE_CHECKING:
    from services.notifier.bootstrap import Container

log = logging.getLogger(__name__)

#: Kafka away: the first wait, doubled up to the cap, before the worker polls again.
KAFKA_BACKOFF_S = 1.0
KAFKA_BACKOFF_MAX_S = 30.0


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
        self._next_confirm = 0.0
        #: True once the profile feed was read to its end at start (readiness).
        self.started = False
        self.error: BaseException | None = None
        self.loop = ConsumerLoop(
            consumer,
            stop,
            self.handle,
            publisher,
            Backoff(KAFKA_BACKOFF_S, KAFKA_BACKOFF_MAX_S),
            self.maintenance,
            name="notifier worker",
            on_refused=notifier.delivery.dead_letter_refused,
        )

    def start(self) -> None:
        self.notifier.subscriptions.load_unsubscribes()
        self.feed.catch_up(timeout_s=60.0)
        self.notifier.metrics.profiles.set(len(self.notifier.profiles))
        self.started = True

    def handle(self, records: list[Any]) -> int:
        """A poll's shortlists, all of them (``ConsumerLoop``'s handler): the profile feed caught up first."""
        self.feed.catch_up()
        self.notifier.metrics.profiles.set(len(self.notifier.profiles))
        if self.stop.is_set():
            raise ShuttingDown("stop requested before a batch")
        shortlists = [s for s in (self._read(record) for record in records) if s is not None]
        # Stop promptly (between rounds of emails): the rest of the batch stays uncommitted and comes back after the
        # restart, where the idempotency keys skip what this process already sent.
        self.notifier.alerts.handle_shortlists(shortlists, stop=self.stop.is_set)
        return len(records)

    def _read(self, record: Any) -> Shortlist | None:
        """The shortlist, or None for a value that is not one (dead-lettered with the reason)."""
        shortlist = read_message(record.value, Shortlist, "shortlist")
        if not isinstance(shortlist, Unreadable):
            return shortlist
        key = record.key.decode("utf-8", "replace") if record.key else None
        self.notifier.metrics.invalid_input.labels(record.topic).inc()
        log.warning("unreadable shortlist at %s[%s]@%s dead-lettered (%s)", record.topic, record.partition,
                    record.offset, shortlist.reason)  # fmt: skip
        self.notifier.delivery.publish(
            self.notifier.settings.topic_shortlists_dlq,
            key or f"{record.topic}:{record.partition}:{record.offset}",
            dead_letter(SERVICE, record.topic, shortlist.reason, shortlist.detail, record.value or b"", key),
        )
        return None

    def maintenance(self, force: bool = False) -> None:
        settings = self.notifier.settings
        now = self._clock()
        if force or now >= self._next_digest:
            self._next_digest = now + settings.notifier_digest_interval_s
            self.feed.catch_up()
            self.notifier.digests.send_due_digests()
            self.notifier.delivery.resolve_abandoned()
            self.notifier.delivery.flush()
        if force or now >= self._next_sync:
            self._next_sync = now + settings.notifier_unsubscribe_sync_interval_s
            self.notifier.subscriptions.sync_unsubscribes()
        if force or now >= self._next_confirm:
            self._next_confirm = now + settings.notifier_confirmation_interval_s
            self.feed.catch_up()
            if self.notifier.confirmations.send_confirmations(self.stop.is_set):
                self.notifier.delivery.flush()

    def run(self) -> None:
        """Until ``stop`` is set. Unexpected errors end the loop (recorded in ``error``) after closing cleanly."""
        try:
            self.start()
            self.loop.run()
        except ShuttingDown as exc:
            log.info("%s; the batch is left uncommitted", exc)
        except Exception as exc:
            self.error = exc
            log.exception("notifier worker crashed; uncommitted shortlists will be redelivered")
        finally:
            if not self.started:  # the loop did not start: it closed nothing
                self.consumer.close()
            self.feed.close()


def worker_for(container: Container) -> ShortlistWorker:
    """The Kafka worker over what ``bootstrap()`` wired: its consumer, profile feed, publisher and stop event."""
    if container.consumer is None or container.feed is None:
        raise ValueError("this container has no Kafka consumer (an in-memory bootstrap): no worker to run")
    return ShortlistWorker(container.notifier, container.consumer, container.feed, container.publisher, container.stop)

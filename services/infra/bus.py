"""Kafka for every service: the ``EventPublisher`` port, its Kafka adapter and its one in-memory fake; and the
consumer side, one loop (``ConsumerLoop``) that every worker runs with its own batch handler.

Producers use ``acks=all`` and retries with one request in flight, so a retried batch cannot overtake the next
one and per-key order holds. Callers ``flush()`` before they commit a consumer offset or move a checkpoint.

The consumer policy, written once here: poll; hand the batch to the worker's handler; flush what it published;
then commit what it handled. A message that cannot be read (``read_message``: a tombstone, not JSON, not the
contract's model) is the handler's to dead-letter with that reason. Kafka going away (a failed flush, poll or
read-to-end) rewinds the batch and backs off; a dependency going away (the handler handled only part of the batch)
commits that part, rewinds the rest and backs off; the back-off doubles up to its cap and resets after a batch
that went through. Any other error propagates: nothing of the batch is committed, so it is delivered again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from pydantic import BaseModel, ValidationError

from contracts import DeadLetter
from contracts.topics import TopicSpec

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    def publish(self, topic: str, key: str, value: BaseModel | None) -> None:
        """Queue one message; ``None`` publishes a tombstone (compacted topics)."""

    def flush(self) -> None:
        """Block until every queued message is acknowledged by the broker, or raise."""


class KafkaPublisher:
    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id=client_id,
            acks="all",
            retries=10,
            retry_backoff_ms=200,
            max_in_flight_requests_per_connection=1,
            linger_ms=5,
            request_timeout_ms=30_000,
        )
        self._pending: list[Any] = []

    def publish(self, topic: str, key: str, value: BaseModel | None) -> None:
        payload = None if value is None else value.model_dump_json().encode()
        self._pending.append(self._producer.send(topic, key=key.encode(), value=payload))

    def flush(self) -> None:
        self._producer.flush()
        pending, self._pending = self._pending, []
        for future in pending:
            future.get(timeout=30)  # raises the broker's error if a send failed after its retries

    def close(self) -> None:
        self._producer.close(timeout=10)


@dataclass
class InMemoryPublisher:
    """The fake for unit tests: records what was published and flushed."""

    pending: list[tuple[str, str, BaseModel | None]] = field(default_factory=list)
    published: list[tuple[str, str, BaseModel | None]] = field(default_factory=list)

    def publish(self, topic: str, key: str, value: BaseModel | None) -> None:
        self.pending.append((topic, key, value))

    def flush(self) -> None:
        self.published.extend(self.pending)
        self.pending.clear()

    def on(self, topic: str) -> list[BaseModel | None]:
        return [value for t, _, value in self.published if t == topic]


def ensure_topics(bootstrap_servers: str, topics: Iterable[tuple[str, TopicSpec]]) -> None:
    """Create the missing topics with their spec's partitions and configuration."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="tenderbridge-admin")
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(name, spec.partitions, 1, topic_configs=spec.config())
            for name, spec in topics
            if name not in existing
        ]
        # Another service may create the same topic between our list and create.
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
    finally:
        admin.close()


def json_consumer(
    bootstrap_servers: str, topics: list[str], group_id: str, client_id: str, **overrides: Any
) -> KafkaConsumer:
    """A consumer for at-least-once handling: no auto-commit; start from the earliest offset for a new group."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers.split(","),
        "group_id": group_id,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 200,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


#: A consumer loop's poll: short, then a pause when it returned nothing. The local server (noida-db) answers an
#: empty fetch at once instead of holding it for ``fetch_max_wait_ms`` as Kafka does, so back-to-back polls of an
#: idle topic keep a client busy re-fetching (measured: half a core per idle consumer). Kafka itself is unaffected:
#: an idle consumer there is only slower to see the next record by at most the pause.
POLL_TIMEOUT_MS = 100
IDLE_PAUSE_S = 0.25
#: Empty polls in a row after which a consumer counts as idle (about two seconds without a record).
IDLE_AFTER_EMPTY_POLLS = 6


class IdlePoller:
    """A consumer loop's poll: ``poll``; when nothing came, wait ``pause_s`` (or until ``stop``) before returning.

    It counts the polls in a row that returned nothing. An idle consumer (``IDLE_AFTER_EMPTY_POLLS`` of them) that
    holds partitions polls without waiting: what a fetch brought in since is returned and a new fetch is sent. On
    the local server, ``timeout_ms`` of fetching again and again cost an idle service 15-20% of a core; this costs
    1-2%, and the first record after a quiet spell waits up to about ``pause_s`` more. A busy consumer keeps waiting
    ``timeout_ms`` (short gaps between batches cost no pause), and one with no partitions yet too: its polls drive
    the group join.
    """

    def __init__(self, consumer: Any, stop: threading.Event, pause_s: float = IDLE_PAUSE_S) -> None:
        self.consumer = consumer
        self.stop = stop
        self.pause_s = pause_s
        self.empty_polls = 0

    def poll(self, timeout_ms: int = POLL_TIMEOUT_MS) -> dict[Any, list[Any]]:
        blocking = self.empty_polls < IDLE_AFTER_EMPTY_POLLS or not self.consumer.assignment()
        batch: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=timeout_ms if blocking else 0)
        self.empty_polls = 0 if batch else self.empty_polls + 1
        if not batch:
            self.stop.wait(self.pause_s)
        return batch


#: Errors of an unreachable or restarting Kafka (and of a read to end offsets that ran out of time): a consumer loop
#: waits and tries again instead of stopping.
KAFKA_UNAVAILABLE = (KafkaError, TimeoutError)


def commit_or_redeliver(consumer: Any, offsets: dict[Any, Any] | None = None) -> None:
    """Commit; when the commit fails (the group rebalanced under this member, the coordinator is away), say so and
    go on: the batch is handled again by the partition's next owner, or covered by this member's next commit.
    Handling is idempotent in every consumer here, so nothing is done twice that shows."""
    try:
        if offsets is None:
            consumer.commit()
        else:
            consumer.commit(offsets)
    except KafkaError as exc:
        log.warning("offsets not committed (%s): the batch will be handled again", exc)


def rewind(consumer: Any, batch: dict[Any, list[Any]]) -> None:
    """Seek every partition of ``batch`` back to its first record, so that the next poll hands it over again
    (partitions this member no longer holds are left to their new owner)."""
    for tp, records in batch.items():
        if records:
            with contextlib.suppress(KafkaError, AssertionError, ValueError):
                consumer.seek(tp, records[0].offset)


def records_to_end(consumer: Any, partitions: list[Any], timeout_s: float, what: str) -> Iterator[Any]:
    """The records of ``partitions`` (assigned to ``consumer``) from its positions up to the end offsets observed
    now, poll after poll; records past those offsets that come in the same poll are yielded too (the positions
    have moved past them). Raises TimeoutError after ``timeout_s`` seconds short of the end."""
    end = {tp: n for tp, n in consumer.end_offsets(partitions).items() if n > 0}
    deadline = time.monotonic() + timeout_s
    while any(consumer.position(tp) < n for tp, n in end.items()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not read {what} up to its end offsets within {timeout_s:.0f} s")
        for records in consumer.poll(timeout_ms=200).values():
            yield from records


def dead_letter(
    service: str, origin: str, reason: str, detail: str, payload: bytes | str, key: str | None = None, attempts: int = 1
) -> DeadLetter:
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    return DeadLetter(
        service=service,
        origin=origin,
        reason=reason,
        detail=detail,
        key=key,
        payload=text,
        attempts=attempts,
        occurred_at=datetime.now(UTC),
    )


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Unreadable:
    """Why a message is not an event of its topic: ``reason`` (``DeadLetter.reason``) and a readable detail."""

    reason: str
    detail: str


def read_message(value: bytes | None, model: type[M], what: str) -> M | Unreadable:
    """A message's value as ``model``, or why not, by the one rule of every consumer: a null value is
    ``empty_message`` (a tombstone: no producer writes one on the delete-retention topics the workers read, so it is
    set aside rather than skipped silently), text that is not JSON ``invalid_json``, JSON that is not a ``model``
    ``invalid_<what>``; the detail names the first five errors."""
    if value is None:
        return Unreadable("empty_message", f"a null value (tombstone) is not a {what}")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        invalid_json = any(e.get("type") == "json_invalid" for e in exc.errors())
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'message'}: {e.get('msg', '')}" for e in exc.errors()[:5]
        )
        return Unreadable("invalid_json" if invalid_json else f"invalid_{what}", detail)


@dataclass
class Backoff:
    """How long a worker waits before it tries again: ``initial_s``, doubled after each failure up to ``max_s``,
    back to ``initial_s`` after a batch that went through."""

    initial_s: float
    max_s: float
    current_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.current_s = self.initial_s

    def wait(self, stop: threading.Event) -> None:
        """Wait (a stop request ends the wait at once), then double the next wait."""
        stop.wait(self.current_s)
        self.current_s = min(self.current_s * 2, self.max_s)

    def reset(self) -> None:
        self.current_s = self.initial_s


#: A worker's batch handler: the records of one poll (each partition's in offset order), handled in that order;
#: returns how many it handled, the first ones. Fewer than all: a dependency went away (the rest is handed over
#: again after a back-off). It publishes and does not flush: the loop flushes before it commits.
BatchHandler = Callable[[list[Any]], int]


class ConsumerLoop:
    """One worker's consumer loop, with the policy of this module's docstring. ``between_batches`` runs after each
    poll that went through (empty or not): a worker's periodic work (digests, refits)."""

    def __init__(
        self,
        consumer: Any,
        stop: threading.Event,
        handle: BatchHandler,
        publisher: EventPublisher,
        backoff: Backoff,
        between_batches: Callable[[], None] = lambda: None,
        name: str = "worker",
    ) -> None:
        self.consumer = consumer
        self.stop = stop
        self.handle = handle
        self.publisher = publisher
        self.backoff = backoff
        self.between_batches = between_batches
        self.name = name
        self._poller = IdlePoller(consumer, stop)

    def run_once(self, timeout_ms: int = POLL_TIMEOUT_MS) -> bool:
        """Poll, handle, flush and commit one batch; False when it went only part way (back off before the next).
        Raises Kafka's errors (the batch rewound) and the handler's."""
        batch = self._poller.poll(timeout_ms)
        records = [record for part in batch.values() for record in part]
        if not records:
            return True
        try:
            handled = self.handle(records)
            # Everything handled is stored; publish it for good before the offsets move.
            self.publisher.flush()
        except KAFKA_UNAVAILABLE:
            rewind(self.consumer, batch)  # handled again once Kafka is back: idempotently
            raise
        done: dict[Any, int] = {}
        again: dict[Any, int] = {}
        for record in records[:handled]:
            done[(record.topic, record.partition)] = record.offset + 1
        for record in records[handled:]:
            again.setdefault((record.topic, record.partition), record.offset)
        partitions = {(tp.topic, tp.partition): tp for tp in batch}
        if done:
            commit_or_redeliver(
                self.consumer, {partitions[k]: OffsetAndMetadata(offset, "", -1) for k, offset in done.items()}
            )
        for k, offset in again.items():
            self.consumer.seek(partitions[k], offset)
        return not again

    def run(self) -> None:
        """Until ``stop`` is set; then flush (best effort: what was not committed comes back) and close the
        consumer. Errors other than Kafka's propagate, after that."""
        try:
            while not self.stop.is_set():
                try:
                    went_through = self.run_once()
                    if went_through:
                        self.backoff.reset()
                        self.between_batches()
                except KAFKA_UNAVAILABLE as exc:
                    # A broker restart or a network cut (in a batch or in the work between batches): wait it out
                    # and go on where this worker was (nothing committed that was not handled) instead of stopping.
                    log.warning("%s: Kafka unavailable (%s: %s); trying again in %.1f s", self.name,
                                type(exc).__name__, exc, self.backoff.current_s)  # fmt: skip
                    went_through = False
                if not went_through:
                    self.backoff.wait(self.stop)
        finally:
            try:
                self.publisher.flush()
            except KAFKA_UNAVAILABLE as exc:  # events of a batch left uncommitted: it comes back, they are made again
                log.warning("%s: events not flushed at stop (%s: %s)", self.name, type(exc).__name__, exc)
            finally:
                self.consumer.close()

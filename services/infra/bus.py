"""Kafka for every service: the ``EventPublisher`` port, its Kafka adapter and its one in-memory fake; and the
consumer side, one loop (``ConsumerLoop``) that every worker runs with its own batch handler.

Producers use ``acks=all`` and retries with one request in flight, so a retried batch cannot overtake the next
one and per-key order holds. Callers ``flush()`` before they commit a consumer offset or move a checkpoint.

Failures come in two kinds (``services.infra.exceptions``): ``TransientPublishError`` (Kafka away or slow, still so
after retries with back-off: commit nothing, publish again later) and ``PermanentPublishError`` (Kafka refuses the
message itself: dead-letter it with the reason, ``dead_letter`` below). No failure is silent.

The consumer policy, written once here: poll; hand the batch to the worker's handler; flush what it published;
then commit what it handled. A message that cannot be read (``read_message``: a tombstone, not JSON, not the
contract's model) is the handler's to dead-letter with that reason. Kafka going away (a failed flush, poll or
read-to-end) rewinds the batch and backs off; a dependency going away (the handler handled only part of the batch)
commits that part, rewinds the rest and backs off; the back-off doubles up to its cap and resets after a batch
that went through. A message Kafka refuses for good at the flush (``PermanentPublishError``) is handed to the
worker's ``on_refused`` (which dead-letters it with the reason), those dead letters are flushed, and the batch is
committed: waiting cannot help, redelivering would refuse it again. Any other error propagates: nothing of the batch
is committed, so it is delivered again. A consumer whose group membership makes no progress (``MembershipWatch``) is
closed and created again between batches, from the committed offsets.
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
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownError,
)
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from contracts import DeadLetter
from contracts.topics import DEAD_LETTER_PAYLOAD_BYTES, MAX_MESSAGE_BYTES, TopicSpec
from services.infra.exceptions import PermanentPublishError, Refused, TransientPublishError
from services.infra.limits import cut_payload

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    def publish(self, topic: str, key: str, value: BaseModel | None) -> None:
        """Queue one message; ``None`` publishes a tombstone (compacted topics). Raises ``PermanentPublishError``
        for a message the bus cannot carry (too large, not serialisable)."""

    def flush(self) -> None:
        """Block until every queued message is acknowledged by the broker, or raise ``TransientPublishError``
        (nothing committed: publish again later) or ``PermanentPublishError`` (the messages it names were refused,
        the others acknowledged)."""


#: Kafka errors that no retry can mend: the message itself is refused (reason code for its dead letter). Every other
#: error of a send (broker unavailable, timeouts, leader elections, a topic not created yet) is transient.
_REFUSALS: tuple[tuple[type[KafkaError], str], ...] = (
    (MessageSizeTooLargeError, "message_too_large"),
    (RecordListTooLargeError, "message_too_large"),
    (InvalidTopicError, "invalid_topic"),
    (TopicAuthorizationFailedError, "refused_by_kafka"),
    (InvalidRecordError, "refused_by_kafka"),
    (CorruptRecordError, "refused_by_kafka"),
)


def refusal_reason(exc: BaseException) -> str | None:
    """The reason code of an error that refuses a message for good (``message_too_large``...), None if transient."""
    return next((reason for kind, reason in _REFUSALS if isinstance(exc, kind)), None)


@dataclass(frozen=True)
class _Sent:
    topic: str
    key: str
    payload: bytes | None


class PublishMetrics:
    """``publish_failures_total{topic,kind}``: messages Kafka refused (``permanent``: dead-lettered, an operator
    should look) and sends that failed for a while and were retried (``transient``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.failures = PromCounter(
            "publish_failures",
            "Messages Kafka refused (permanent) or did not acknowledge in time (transient)",
            ["topic", "kind"],
            registry=registry,
        )


#: Flushes retried while kafka-python splits refused batches (each split halves a batch: 8 covers 256 records).
_SPLIT_FLUSHES = 8


class KafkaPublisher:
    """The Kafka adapter of ``EventPublisher``: sends are sorted into acknowledged, transient and permanent.

    - A message Kafka refuses for what it is (larger than ``max_message_bytes``, not serialisable, invalid topic)
      raises ``PermanentPublishError`` naming it, from ``publish`` (found before sending) or ``flush``; it is logged
      at ERROR and counted (``publish_failures_total{kind="permanent"}``): the caller dead-letters it.
    - A send that fails for the time being (broker unavailable, timeouts) is sent again by ``flush``, with the
      messages queued after it (so that per-key order holds: consumers are idempotent on repeats), after a back-off
      doubling from ``backoff_s``, up to ``attempts`` rounds; still failing, ``TransientPublishError``: nothing
      was committed, nothing is lost.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        registry: CollectorRegistry | None = None,
        attempts: int = 4,
        backoff_s: float = 1.0,
        ack_timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        producer: Any = None,
    ) -> None:
        """``producer``: a ``KafkaProducer`` already built (tests hand in one whose sends fail on cue)."""
        self._producer = producer or KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id=client_id,
            acks="all",
            retries=10,
            retry_backoff_ms=200,
            max_in_flight_requests_per_connection=1,
            linger_ms=5,
            request_timeout_ms=30_000,
            max_request_size=max_message_bytes,
            # Not idempotent: kafka-python's idempotent producer takes any refusal from the broker (a message over
            # a topic's max.message.bytes) for a fatal error, fails every pending send with it and refuses all later
            # ones. One request in flight keeps per-key order; a retry may repeat a message, which every consumer
            # handles idempotently (at-least-once, as documented).
            enable_idempotence=False,
        )
        self.max_message_bytes = max_message_bytes
        self.metrics = PublishMetrics(registry)
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.ack_timeout_s = ack_timeout_s
        self.sleep = sleep
        self._pending: list[tuple[_Sent, Any]] = []

    def publish(self, topic: str, key: str, value: BaseModel | None) -> None:
        try:
            payload = None if value is None else value.model_dump_json().encode()
        except (PydanticSerializationError, ValueError) as exc:
            raise self._refused([Refused(topic, key, "unserializable", str(exc))]) from exc
        if payload is not None and len(payload) > self.max_message_bytes:
            detail = f"{len(payload):,} bytes, over the bus limit of {self.max_message_bytes:,} (max_message_bytes)"
            raise self._refused([Refused(topic, key, "message_too_large", detail)])
        sent = _Sent(topic, key, payload)
        self._pending.append((sent, self._send(sent)))

    def _send(self, sent: _Sent) -> Any:
        try:
            return self._producer.send(sent.topic, key=sent.key.encode(), value=sent.payload)
        except (KafkaError, ValueError) as exc:  # ValueError: kafka-python's check of the topic name
            reason = "invalid_topic" if isinstance(exc, ValueError) else refusal_reason(exc)
            if reason is None:
                raise TransientPublishError(f"Kafka did not take a message for {sent.topic}: {exc}") from exc
            raise self._refused([Refused(sent.topic, sent.key, reason, str(exc))]) from exc

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        refused: list[Refused] = []
        for attempt in range(self.attempts):
            refused_at, retry_from, error = self._acknowledged(pending)
            refused.extend(refused_at.values())
            if retry_from is None:
                break
            self.metrics.failures.labels(pending[retry_from][0].topic, "transient").inc()
            if attempt == self.attempts - 1:
                raise TransientPublishError(
                    f"Kafka did not acknowledge {len(pending) - retry_from} message(s) after {self.attempts} "
                    f"attempts: {error}"
                )
            pause = self.backoff_s * 2**attempt
            log.warning("Kafka did not acknowledge a message (%s): sending again in %.1f s", error, pause)
            self.sleep(pause)
            # Sent again from the first failure on, in order: a later message of the same key never overtakes it.
            again = [sent for i, (sent, _) in enumerate(pending) if i >= retry_from and i not in refused_at]
            pending = [(sent, self._send(sent)) for sent in again]
        if refused:
            raise self._refused(refused)

    def _acknowledged(
        self, pending: list[tuple[_Sent, Any]]
    ) -> tuple[dict[int, Refused], int | None, Exception | None]:
        """Wait for every send: the refused messages by index, the index of the first transient failure (None:
        none) and its error."""
        self._flush_producer()
        refused: dict[int, Refused] = {}
        retry_from: int | None = None
        error: Exception | None = None
        for index, (sent, future) in enumerate(pending):
            try:
                future.get(timeout=self.ack_timeout_s)
            except (KafkaError, TimeoutError) as exc:
                reason = refusal_reason(exc)
                if reason is not None:
                    refused[index] = Refused(sent.topic, sent.key, reason, str(exc))
                elif retry_from is None:
                    retry_from, error = index, exc
        return refused, retry_from, error

    def _flush_producer(self) -> None:
        """``KafkaProducer.flush``, through kafka-python 3's handling of a batch the broker refused as too large: it
        splits the batch and sends its records again in smaller ones, but ``flush`` then raises ``UnknownError('Future
        not done')`` for the split batch instead of waiting for the new ones (which would make a refused message look
        like Kafka going away, and its batch come back for ever). Flushing again waits for them; each record's own
        future then says whether it was refused."""
        for _ in range(_SPLIT_FLUSHES):
            try:
                self._producer.flush()
                return
            except UnknownError as exc:
                if "Future not done" not in str(exc):
                    raise
        self._producer.flush()

    def _refused(self, refused: list[Refused]) -> PermanentPublishError:
        for r in refused:
            self.metrics.failures.labels(r.topic, "permanent").inc()
            log.error("Kafka refused a message for %s (key %s): %s: %s", r.topic, r.key, r.reason, r.detail)
        return PermanentPublishError(refused)

    def close(self) -> None:
        self._producer.close(timeout=10)


@dataclass
class InMemoryPublisher:
    """The fake for unit tests: records what was published and flushed. Like Kafka, it refuses at ``publish`` a
    message larger than ``max_message_bytes``; at ``flush`` it refuses the messages of ``refuse`` ((topic, key) ->
    reason, as a broker with a smaller limit would) and, while ``unavailable``, acknowledges nothing."""

    pending: list[tuple[str, str, BaseModel | None]] = field(default_factory=list)
    published: list[tuple[str, str, BaseModel | None]] = field(default_factory=list)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    refuse: dict[tuple[str, str], str] = field(default_factory=dict)
    unavailable: bool = False

    def publish(self, topic: str, key: str, value: BaseModel | None) -> None:
        size = 0 if value is None else len(value.model_dump_json().encode())
        if size > self.max_message_bytes:
            detail = f"{size:,} bytes, over the bus limit of {self.max_message_bytes:,} (max_message_bytes)"
            raise PermanentPublishError([Refused(topic, key, "message_too_large", detail)])
        self.pending.append((topic, key, value))

    def flush(self) -> None:
        if self.unavailable:
            raise TransientPublishError("Kafka did not acknowledge (the fake is unavailable)")
        refused = [
            Refused(t, k, self.refuse[t, k], "refused by the fake") for t, k, _ in self.pending if (t, k) in self.refuse
        ]
        self.published.extend(m for m in self.pending if m[:2] not in self.refuse)
        self.pending.clear()
        if refused:
            raise PermanentPublishError(refused)

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


class GroupConsumer(KafkaConsumer):  # type: ignore[misc]
    """A ``KafkaConsumer`` subscribed to its topics with a rebalance listener, so that it can tell whether it is
    joining its group (``joining()``): from its start, and from the moment a rebalance revokes its partitions until
    the new ones are assigned. kafka-python keeps the revoked partitions in ``assignment()`` all that time (eager
    protocol), and polls fetch nothing meanwhile."""

    def __init__(self, topics: list[str], **options: Any) -> None:
        super().__init__(**options)
        self._joining = True
        self.subscribe(topics, listener=_JoinListener(self))

    def joining(self) -> bool:
        return self._joining


class _JoinListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Flags the consumer joining, and logs each join's outcome (which member holds what, for an operator)."""

    def __init__(self, consumer: GroupConsumer) -> None:
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:  # also called for partitions lost
        self.consumer._joining = True

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.consumer._joining = False
        held = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(assigned, key=lambda tp: tp.partition))
        log.info("%s joined group %s holding %s", self.consumer.config.get("client_id"),
                 self.consumer.config.get("group_id"), held or "no partition")  # fmt: skip


def joining(consumer: Any) -> bool:
    """Whether ``consumer`` is joining its group (``GroupConsumer.joining``); for a consumer without that
    method, whether it holds no partitions."""
    method = getattr(consumer, "joining", None)
    return bool(method()) if callable(method) else not consumer.assignment()


def json_consumer(
    bootstrap_servers: str, topics: list[str], group_id: str, client_id: str, **overrides: Any
) -> GroupConsumer:
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
    return GroupConsumer(topics, **options)


#: A consumer loop's poll: short, then a pause when it returned nothing. The local server (noida-db) answers an
#: empty fetch at once instead of holding it for ``fetch_max_wait_ms`` as Kafka does, so back-to-back polls of an
#: idle topic keep a client busy re-fetching (measured: half a core per idle consumer). Kafka itself is unaffected:
#: an idle consumer there is only slower to see the next record by at most the pause.
POLL_TIMEOUT_MS = 100
IDLE_PAUSE_S = 0.25
#: Empty polls in a row after which a consumer counts as idle (about two seconds without a record).
IDLE_AFTER_EMPTY_POLLS = 6
#: A consumer's poll while it joins its group (``joining``): long, and never followed by a pause.
#: kafka-python (3.0) sends JoinGroup and SyncGroup in a task that a poll awaits for its timeout; a task that ends
#: between two polls is not taken up, and the next poll sends a fresh JoinGroup, which starts another rebalance.
#: With a 100 ms poll and a 250 ms pause most joins ended between polls: on the local server two members rejoined
#: in turn for minutes (measured: 1 of 3 pairs of consumers never settled; with this, 4 of 4 in one rebalance).
JOIN_POLL_TIMEOUT_MS = 1_000


class IdlePoller:
    """A consumer loop's poll: ``poll``; when nothing came, wait ``pause_s`` (or until ``stop``) before returning.

    It counts the polls in a row that returned nothing. An idle consumer (``IDLE_AFTER_EMPTY_POLLS`` of them) that
    holds partitions polls without waiting: what a fetch brought in since is returned and a new fetch is sent. On
    the local server, ``timeout_ms`` of fetching again and again cost an idle service 15-20% of a core; this costs
    1-2%, and the first record after a quiet spell waits up to about ``pause_s`` more. A busy consumer keeps waiting
    ``timeout_ms`` (short gaps between batches cost no pause). One joining its group (``joining``) polls for
    ``JOIN_POLL_TIMEOUT_MS`` and again at once, without a pause: its polls drive the join, and a join that ends
    while no poll waits for it is sent again (see ``JOIN_POLL_TIMEOUT_MS``).
    """

    def __init__(self, consumer: Any, stop: threading.Event, pause_s: float = IDLE_PAUSE_S) -> None:
        self.consumer = consumer
        self.stop = stop
        self.pause_s = pause_s
        self.empty_polls = 0

    def poll(self, timeout_ms: int = POLL_TIMEOUT_MS) -> dict[Any, list[Any]]:
        if joining(self.consumer):
            timeout_ms = max(timeout_ms, JOIN_POLL_TIMEOUT_MS)
        elif self.empty_polls >= IDLE_AFTER_EMPTY_POLLS:
            timeout_ms = 0
        batch: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=timeout_ms)
        self.empty_polls = 0 if batch else self.empty_polls + 1
        # No pause while joining (the poll may have started a rejoin: a rebalance under way).
        if not batch and not joining(self.consumer):
            self.stop.wait(self.pause_s)
        return batch


#: Errors of an unreachable or restarting Kafka (and of a read to end offsets that ran out of time, and of a flush
#: that Kafka did not acknowledge after the publisher's retries): a consumer loop waits and tries again instead of
#: stopping. ``PermanentPublishError`` is not one of them: waiting cannot help, the message must be dead-lettered.
KAFKA_UNAVAILABLE = (KafkaError, TimeoutError, TransientPublishError)


def commit_or_redeliver(consumer: Any, offsets: dict[Any, Any] | None = None) -> bool:
    """Commit; when the commit fails (the group rebalanced under this member, the coordinator is away), say so and
    go on: the batch is handled again by the partition's next owner, or covered by this member's next commit.
    Handling is idempotent in every consumer here, so nothing is done twice that shows. Whether it committed."""
    try:
        if offsets is None:
            consumer.commit()
        else:
            consumer.commit(offsets)
    except KafkaError as exc:
        log.warning("offsets not committed (%s): the batch will be handled again", exc)
        return False
    return True


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


#: The part of a dead letter's ``detail`` kept, in bytes as JSON (a detail quotes what it found, which can be long).
DEAD_LETTER_DETAIL_BYTES = 16_384


def dead_letter(
    service: str,
    origin: str,
    reason: str,
    detail: str,
    payload: bytes | str,
    key: str | None = None,
    attempts: int = 1,
    max_payload_bytes: int = DEAD_LETTER_PAYLOAD_BYTES,
) -> DeadLetter:
    """A ``DeadLetter`` that fits in a message: a payload longer than ``max_payload_bytes`` (as JSON) is cut by
    bytes with a marker at its end, and the detail says so."""
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    text, cut = cut_payload(text, max_payload_bytes)
    if cut:
        detail += f" (payload cut: {cut:,} bytes left out)"
    detail, _ = cut_payload(detail, DEAD_LETTER_DETAIL_BYTES)
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


#: What a worker does with a message Kafka refused for good: publish its dead letter (not flush), log, count.
OnRefused = Callable[[Refused], None]


def flush_or_dead_letter(publisher: EventPublisher, on_refused: OnRefused | None) -> list[Refused]:
    """Flush; the messages Kafka refuses for good are handed to ``on_refused`` (their dead letters are then flushed
    in turn) and returned. Without ``on_refused``, or when a dead letter is refused in turn (a dead-letter topic
    that cannot take it is a deployment error), ``PermanentPublishError`` propagates."""
    try:
        publisher.flush()
    except PermanentPublishError as exc:
        if on_refused is None:
            raise
        for refused in exc.refused:
            on_refused(refused)
        publisher.flush()
        return exc.refused
    return []


#: Why a consumer's group membership is stuck (``MembershipWatch``), the label of its recreation.
STUCK_REASONS = ("joining", "commits_failing", "no_records_with_lag")
#: Longest wait for a join before a consumer is recreated again (the wait doubles after each recreation for it: a
#: consumer that cannot tell a join from holding no partitions, ``joining``, waits rightly beyond the partition
#: count).
MAX_JOINING_S = 3_600.0


class MembershipWatch:
    """Tells when a consumer's group membership makes no progress for longer than ``stuck_after_s``, so that the
    loop closes the consumer (a dynamic member leaves the group) and creates it again, which resumes from the
    committed offsets. Three signs, each with a reason of ``STUCK_REASONS``:

    - ``joining``: joining the group all that time (a rebalance that never completes). The bound doubles after each
      recreation for it, up to ``MAX_JOINING_S``, and is back to ``stuck_after_s`` once the member joined;
    - ``commits_failing``: every commit refused all that time, two at least (the member's generation is gone:
      ``IllegalGeneration``, ``UnknownMemberId``, or a rebalance that never ends);
    - ``no_records_with_lag``: partitions held, no record all that time, and records waiting on them
      (``lag()``, asked only then: a member the group believes Stable that is fetched nothing).

    Pure: the loop reports each poll and commit, the clock is given.
    """

    def __init__(self, stuck_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if stuck_after_s <= 0:
            raise ValueError(f"stuck_after_s must be positive, not {stuck_after_s}")
        self.stuck_after_s = stuck_after_s
        self.clock = clock
        self.joining_after_s = stuck_after_s
        self._joining_since: float | None = None
        self._quiet_since: float | None = None
        self._failing_since: float | None = None
        self._failed_commits = 0

    def polled(self, joining: bool, records: int) -> None:
        now = self.clock()
        if joining:
            self._joining_since = self._joining_since if self._joining_since is not None else now
            self._quiet_since = None
            return
        self._joining_since = None
        self.joining_after_s = self.stuck_after_s
        if records:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = now

    def committed(self, ok: bool) -> None:
        if ok:
            self._failing_since, self._failed_commits = None, 0
            return
        self._failed_commits += 1
        if self._failing_since is None:
            self._failing_since = self.clock()

    def stuck(self, lag: Callable[[], int]) -> str | None:
        """Why the membership is stuck, or None. ``lag()``: records waiting on the partitions held (it may raise
        Kafka's errors: then nothing is concluded)."""
        now = self.clock()
        if self._joining_since is not None and now - self._joining_since > self.joining_after_s:
            return "joining"
        if (
            self._failing_since is not None
            and self._failed_commits >= 2
            and now - self._failing_since > self.stuck_after_s
        ):
            return "commits_failing"
        if self._quiet_since is not None and now - self._quiet_since > self.stuck_after_s:
            if lag() > 0:
                return "no_records_with_lag"
            self._quiet_since = now  # idle rightly: look again after another bound
        return None

    def recreated(self, reason: str) -> None:
        """A new consumer replaced the stuck one: every sign starts afresh."""
        if reason == "joining":
            self.joining_after_s = min(2 * self.joining_after_s, MAX_JOINING_S)
        self._joining_since = self._quiet_since = self._failing_since = None
        self._failed_commits = 0


def lag_of(consumer: Any) -> int:
    """Records waiting on the partitions ``consumer`` holds: their end offsets less its positions."""
    partitions = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
    if not partitions:
        return 0
    end = consumer.end_offsets(partitions)
    return sum(max(0, end.get(tp, 0) - consumer.position(tp)) for tp in partitions)


#: A worker's batch handler: the records of one poll (each partition's in offset order), handled in that order;
#: returns how many it handled, the first ones. Fewer than all: a dependency went away (the rest is handed over
#: again after a back-off). It publishes and does not flush: the loop flushes before it commits.
BatchHandler = Callable[[list[Any]], int]


class ConsumerLoop:
    """One worker's consumer loop, with the policy of this module's docstring. ``between_batches`` runs after each
    poll that went through (empty or not): a worker's periodic work (digests, refits). ``on_refused`` dead-letters
    a message Kafka refuses for good at the flush (without it, the refusal propagates and ends the loop).

    With a ``watch`` and ``recreate`` (the worker's consumer factory), a consumer whose group membership is stuck
    (``MembershipWatch``) is closed and replaced between two batches; what was handled is flushed by then, and what
    was not committed comes again from the committed offsets (at-least-once, as after a crash).
    ``on_recreated(reason)`` counts it; ``on_partitions(n)`` is told the partitions held after each poll (0 while
    joining the group)."""

    def __init__(
        self,
        consumer: Any,
        stop: threading.Event,
        handle: BatchHandler,
        publisher: EventPublisher,
        backoff: Backoff,
        between_batches: Callable[[], None] = lambda: None,
        name: str = "worker",
        on_refused: OnRefused | None = None,
        watch: MembershipWatch | None = None,
        recreate: Callable[[], Any] | None = None,
        on_recreated: Callable[[str], None] = lambda reason: None,
        on_partitions: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.consumer = consumer
        self.on_refused = on_refused
        self.stop = stop
        self.handle = handle
        self.publisher = publisher
        self.backoff = backoff
        self.between_batches = between_batches
        self.name = name
        self.watch = watch if recreate is not None else None
        self.recreate = recreate
        self.on_recreated = on_recreated
        self.on_partitions = on_partitions
        self._poller = IdlePoller(consumer, stop)
        #: Why the consumer was closed when its replacement could not be created yet (Kafka away): tried again.
        self._replacing: str | None = None

    def check_membership(self) -> None:
        """Replace the consumer when the watch finds its membership stuck (or finish a replacement that Kafka
        interrupted). Raises Kafka's errors (the next turn tries again)."""
        if self.watch is None or self.recreate is None:
            return
        if self._replacing is None:
            reason = self.watch.stuck(lambda: lag_of(self.consumer))
            if reason is None:
                return
            log.warning("%s: consumer group membership stuck (%s) for over %.0f s; closing the consumer and joining "
                        "again from the committed offsets", self.name, reason, self.watch.stuck_after_s)  # fmt: skip
            self._replacing = reason
            try:
                self.consumer.close()
            except KAFKA_UNAVAILABLE as exc:
                log.warning("%s: the stuck consumer did not close cleanly (%s)", self.name, exc)
        reason = self._replacing
        self.consumer = self.recreate()
        self._poller = IdlePoller(self.consumer, self.stop)
        self._replacing = None
        self.watch.recreated(reason)
        self.on_recreated(reason)

    def run_once(self, timeout_ms: int = POLL_TIMEOUT_MS) -> bool:
        """Poll, handle, flush and commit one batch; False when it went only part way (back off before the next).
        Raises Kafka's errors (the batch rewound) and the handler's."""
        batch = self._poller.poll(timeout_ms)
        records = [record for part in batch.values() for record in part]
        in_join = joining(self.consumer)
        self.on_partitions(0 if in_join else len(self.consumer.assignment()))
        if self.watch is not None:
            self.watch.polled(in_join, len(records))
        if not records:
            return True
        try:
            handled = self.handle(records)
            # Everything handled is stored; publish it for good (or dead-letter what Kafka refuses for good) before
            # the offsets move.
            flush_or_dead_letter(self.publisher, self.on_refused)
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
            ok = commit_or_redeliver(
                self.consumer, {partitions[k]: OffsetAndMetadata(offset, "", -1) for k, offset in done.items()}
            )
            if self.watch is not None:
                self.watch.committed(ok)
        for k, offset in again.items():
            self.consumer.seek(partitions[k], offset)
        return not again

    def run(self) -> None:
        """Until ``stop`` is set; then flush (best effort: what was not committed comes back) and close the
        consumer. Errors other than Kafka's propagate, after that."""
        try:
            while not self.stop.is_set():
                try:
                    self.check_membership()
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
                flush_or_dead_letter(self.publisher, self.on_refused)
            except KAFKA_UNAVAILABLE as exc:  # events of a batch left uncommitted: it comes back, they are made again
                log.warning("%s: events not flushed at stop (%s: %s)", self.name, type(exc).__name__, exc)
            finally:
                self.consumer.close()

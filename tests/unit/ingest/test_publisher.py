"""``KafkaPublisher`` sorts failures: transient ones are sent again with back-off, in order, then raised as
``TransientPublishError``; refusals raise ``PermanentPublishError`` naming the message, and are never sent again.

The producer here is a stand-in for kafka-python's, whose sends fail on cue (a broker cannot be made to time out
on demand); the integration tests run the refusals against the local Kafka."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError
from prometheus_client import CollectorRegistry, generate_latest

from contracts import DeadLetter
from services.infra.bus import KafkaPublisher, dead_letter, refusal_reason
from services.infra.exceptions import PermanentPublishError, TransientPublishError

pytestmark = pytest.mark.unit


@dataclass
class Sent:
    error: Exception | None

    def get(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class Producer:
    """Sends fail with the errors queued per key (one per send), then succeed; ``sent`` lists the keys in order."""

    errors: dict[str, deque[Exception]] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)

    def send(self, topic: str, key: bytes, value: bytes | None) -> Sent:
        name = key.decode()
        self.sent.append(name)
        queue = self.errors.get(name)
        return Sent(queue.popleft() if queue else None)

    def flush(self) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


def letter(key: str) -> DeadLetter:
    return dead_letter("ingest", "test", "r", "", key)


def publisher(producer: Producer, sleeps: list[float], registry: CollectorRegistry) -> KafkaPublisher:
    return KafkaPublisher("unused:9092", "test", producer=producer, sleep=sleeps.append, registry=registry)


def test_a_transient_failure_is_sent_again_with_what_followed_in_order() -> None:
    producer = Producer(errors={"b": deque([KafkaTimeoutError("slow")])})
    sleeps: list[float] = []
    registry = CollectorRegistry()
    kafka = publisher(producer, sleeps, registry)
    for key in "abc":
        kafka.publish("t", key, letter(key))
    kafka.flush()
    assert producer.sent == ["a", "b", "c", "b", "c"]  # c again too: it must not overtake b
    assert sleeps == [1.0]
    assert 'publish_failures_total{kind="transient",topic="t"} 1.0' in generate_latest(registry).decode()


def test_kafka_away_through_every_attempt_raises_transient_after_backing_off() -> None:
    producer = Producer(errors={"a": deque([NotLeaderForPartitionError()] * 10)})
    sleeps: list[float] = []
    kafka = publisher(producer, sleeps, CollectorRegistry())
    kafka.publish("t", "a", letter("a"))
    with pytest.raises(TransientPublishError, match="after 4 attempts"):
        kafka.flush()
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_refused_message_is_named_and_not_sent_again_while_a_transient_one_is() -> None:
    producer = Producer(errors={"big": deque([MessageSizeTooLargeError()]), "slow": deque([KafkaTimeoutError("slow")])})
    registry = CollectorRegistry()
    kafka = publisher(producer, [], registry)
    for key in ("slow", "big", "ok"):
        kafka.publish("t", key, letter(key))
    with pytest.raises(PermanentPublishError) as raised:
        kafka.flush()
    assert [(r.key, r.reason) for r in raised.value.refused] == [("big", "message_too_large")]
    assert producer.sent == ["slow", "big", "ok", "slow", "ok"]
    assert 'publish_failures_total{kind="permanent",topic="t"} 1.0' in generate_latest(registry).decode()


def test_a_message_over_the_limit_is_refused_before_it_is_sent() -> None:
    producer = Producer()
    kafka = KafkaPublisher("unused:9092", "test", max_message_bytes=100, producer=producer)
    with pytest.raises(PermanentPublishError, match="message_too_large"):
        kafka.publish("t", "a", dead_letter("ingest", "test", "r", "", "x" * 200))
    assert producer.sent == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MessageSizeTooLargeError(), "message_too_large"),
        (KafkaTimeoutError(), None),
        (NotLeaderForPartitionError(), None),
        (TimeoutError(), None),
    ],
)
def test_refusal_reason(error: Exception, reason: str | None) -> None:
    assert refusal_reason(error) == reason

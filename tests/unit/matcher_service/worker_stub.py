"""The notice worker over the stub consumer (``tests.unit.consumer_stub``): a matcher with one supplier in memory,
notice records, and a consumer that asks the worker to stop once it has no batch left."""

from __future__ import annotations

import threading
from typing import Any

from kafka.structs import TopicPartition

from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.settings import Settings
from tests.unit.consumer_stub import Consumer, Message
from tests.unit.matcher_service.builders import NOW, notice, supplier

NOTICES = TopicPartition("t.notices", 0)


def container(publisher: InMemoryPublisher) -> Container:
    settings = Settings(topic_notices="t.notices", topic_notices_dlq="t.notices.dlq", topic_shortlists="t.shortlists")
    c = bootstrap_in_memory(settings, clock=lambda: NOW, publisher=publisher)
    c.matcher.profiles.put(supplier("S1"))
    return c


class NoticeConsumer(Consumer):
    """The stub consumer, with the end offsets the notice worker reads, setting ``stop`` once it has no batch."""

    def __init__(self, publisher: InMemoryPublisher, batches: list[Any], stop: threading.Event) -> None:
        super().__init__(publisher, batches)
        self.stop = stop

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Message]]:
        if not self.batches:
            self.stop.set()
        return super().poll(timeout_ms)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set()

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {}


def record(offset: int, n: str) -> Message:
    value = notice(n).model_dump_json().encode()
    return Message(NOTICES.topic, NOTICES.partition, offset, f"ungm:{n}".encode(), value)

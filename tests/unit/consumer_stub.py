"""A stand-in for kafka-python's ``KafkaConsumer`` in workers' unit tests: it hands out the batches it is given and
records what the consumer loop asked of it (commits, seeks, closing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.structs import OffsetAndMetadata, TopicPartition

from services.infra.bus import InMemoryPublisher

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def message(tp: TopicPartition, offset: int, value: bytes | None = b"{}") -> Message:
    return Message(tp.topic, tp.partition, offset, b"k", value)


@dataclass
class Consumer:
    """Hands out ``batches`` one per poll, then nothing; records commits (with what was still unflushed then),
    seeks and closing."""

    publisher: InMemoryPublisher
    batches: list[dict[TopicPartition, list[Message]]] = field(default_factory=list)
    commits: list[dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=list)
    unflushed_at_commit: list[int] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    closed: bool = False

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Message]]:
        return self.batches.pop(0) if self.batches else {}

    def assignment(self) -> set[TopicPartition]:
        return {P0, P1}

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.unflushed_at_commit.append(len(self.publisher.pending))
        self.commits.append(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def close(self) -> None:
        self.closed = True

"""A stand-in for kafka-python's ``KafkaConsumer`` in workers' unit tests: it hands out the batches it is given and
records what the consumer loop asked of it (commits, seeks, closing, its polls' timeouts); it can be joining its
group, refuse commits as a broker does to a member whose generation is gone, and report end offsets."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.errors import CommitFailedError
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
    seeks, closing and each poll's timeout. It holds ``held``, and is joining its group with ``joining_group``; with
    ``refuse_commits`` every commit fails as kafka-python's does after ``IllegalGeneration``; ``end`` are its
    partitions' end offsets, ``positions`` its own (0 when not given)."""

    publisher: InMemoryPublisher
    batches: list[dict[TopicPartition, list[Message]]] = field(default_factory=list)
    commits: list[dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=list)
    unflushed_at_commit: list[int] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    closed: bool = False
    held: set[TopicPartition] = field(default_factory=lambda: {P0, P1})
    refuse_commits: bool = False
    end: dict[TopicPartition, int] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    poll_timeouts: list[int] = field(default_factory=list)
    joining_group: bool = False

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Message]]:
        self.poll_timeouts.append(timeout_ms)
        return self.batches.pop(0) if self.batches else {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def joining(self) -> bool:
        return self.joining_group

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.refuse_commits:
            raise CommitFailedError("[Error 22] IllegalGenerationError")
        self.unflushed_at_commit.append(len(self.publisher.pending))
        self.commits.append(offsets)

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.end.get(tp, 0) for tp in partitions}

    def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def close(self) -> None:
        self.closed = True

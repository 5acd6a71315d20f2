"""The one consumer loop of the workers (``services.infra.bus``): flush then commit what was handled, hand the rest
over again, rewind a batch when Kafka goes away, back off and reset; and the one reading rule for unreadable
messages. Against a stand-in for kafka-python's consumer that records what the loop asked of it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition

from contracts import Shortlist
from services.infra.bus import Backoff, ConsumerLoop, InMemoryPublisher, Unreadable, read_message
from services.infra.exceptions import PermanentPublishError, Refused
from tests.unit.consumer_stub import P0, P1, Consumer, Message, message
from tests.unit.notifier.factories import notice, shortlist

pytestmark = pytest.mark.unit


class FailingFlush(InMemoryPublisher):
    def flush(self) -> None:
        raise KafkaTimeoutError("broker away")


def loop(consumer: Consumer, handle: Any, stop: threading.Event | None = None) -> ConsumerLoop:
    return ConsumerLoop(consumer, stop or threading.Event(), handle, consumer.publisher, Backoff(1.0, 8.0))


def committed(consumer: Consumer) -> list[dict[TopicPartition, int]]:
    return [{tp: meta.offset for tp, meta in offsets.items()} for offsets in consumer.commits]


def test_a_handled_batch_is_flushed_then_committed_past_its_last_record_per_partition() -> None:
    publisher = InMemoryPublisher()
    consumer = Consumer(publisher, [{P0: [message(P0, 5), message(P0, 6)], P1: [message(P1, 9)]}])

    def handle(records: list[Message]) -> int:
        for record in records:
            publisher.publish("out", str(record.offset), None)
        return len(records)

    assert loop(consumer, handle).run_once() is True
    assert committed(consumer) == [{P0: 7, P1: 10}]
    assert consumer.unflushed_at_commit == [0]
    assert len(publisher.published) == 3
    assert consumer.seeks == []


def test_a_partly_handled_batch_commits_its_part_and_hands_the_rest_over_again() -> None:
    consumer = Consumer(InMemoryPublisher(), [{P0: [message(P0, 5), message(P0, 6)], P1: [message(P1, 9)]}])
    assert loop(consumer, lambda records: 1).run_once() is False  # a dependency went away after the first record
    assert committed(consumer) == [{P0: 6}]
    assert consumer.seeks == [(P0, 6), (P1, 9)]


def test_kafka_going_away_at_the_flush_rewinds_the_batch_and_commits_nothing() -> None:
    consumer = Consumer(FailingFlush(), [{P0: [message(P0, 5), message(P0, 6)], P1: [message(P1, 9)]}])
    with pytest.raises(KafkaTimeoutError):
        loop(consumer, lambda records: len(records)).run_once()
    assert consumer.commits == []
    assert consumer.seeks == [(P0, 5), (P1, 9)]


def test_an_unexpected_error_ends_the_loop_uncommitted_and_closes_the_consumer() -> None:
    consumer = Consumer(InMemoryPublisher(), [{P0: [message(P0, 5)]}])

    def handle(records: list[Message]) -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        loop(consumer, handle).run()
    assert consumer.commits == []
    assert consumer.closed


def test_work_between_batches_runs_after_each_poll_that_went_through_until_stop() -> None:
    stop = threading.Event()
    consumer = Consumer(InMemoryPublisher(), [{P0: [message(P0, 1)]}, {}, {P0: [message(P0, 2)]}])
    ticks: list[int] = []

    def between() -> None:
        ticks.append(len(consumer.commits))
        if len(ticks) == 3:
            stop.set()

    ConsumerLoop(consumer, stop, lambda records: len(records), consumer.publisher, Backoff(0.0, 0.0), between).run()
    assert ticks == [1, 1, 2]
    assert consumer.closed


def test_the_back_off_doubles_up_to_its_cap_and_resets() -> None:
    stopped = threading.Event()
    stopped.set()  # the waits return at once
    backoff = Backoff(1.0, 5.0)
    waits = []
    for _ in range(4):
        waits.append(backoff.current_s)
        backoff.wait(stopped)
    assert waits == [1.0, 2.0, 4.0, 5.0]
    backoff.reset()
    assert backoff.current_s == 1.0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_message"),
        (b"{not json", "invalid_json"),
        (b'{"notice_id": "ungm:1"}', "invalid_shortlist"),
        (b"[]", "invalid_shortlist"),
    ],
)
def test_a_message_that_is_not_the_model_says_why(value: bytes | None, reason: str) -> None:
    read = read_message(value, Shortlist, "shortlist")
    assert isinstance(read, Unreadable)
    assert read.reason == reason
    assert read.detail


def test_a_message_of_the_model_is_read() -> None:
    sl = shortlist(notice(), ["a"])
    assert read_message(sl.model_dump_json().encode(), Shortlist, "shortlist") == sl


def test_kafka_going_away_in_the_work_between_batches_is_waited_out_too() -> None:
    stop = threading.Event()
    consumer = Consumer(InMemoryPublisher(), [{P0: [message(P0, 1)]}, {P0: [message(P0, 2)]}])
    calls: list[int] = []

    def between() -> None:
        calls.append(len(consumer.commits))
        if len(calls) == 1:
            raise KafkaTimeoutError("the profile feed could not be read")
        stop.set()

    ConsumerLoop(consumer, stop, lambda records: len(records), consumer.publisher, Backoff(0.0, 0.0), between).run()
    assert calls == [1, 2]  # the loop went on after the failure, to the next batch
    assert consumer.closed


def test_a_message_kafka_refuses_for_good_at_the_flush_is_dead_lettered_and_the_batch_committed() -> None:
    publisher = InMemoryPublisher(refuse={("out", "5"): "message_too_large"})
    consumer = Consumer(publisher, [{P0: [message(P0, 5), message(P0, 6)]}])
    refusals: list[Refused] = []

    def handle(records: list[Message]) -> int:
        for record in records:
            publisher.publish("out", str(record.offset), None)
        return len(records)

    def on_refused(refused: Refused) -> None:
        refusals.append(refused)
        publisher.publish("out.dlq", refused.key, None)

    run = ConsumerLoop(consumer, threading.Event(), handle, publisher, Backoff(1.0, 8.0), on_refused=on_refused)
    assert run.run_once() is True
    assert [(r.topic, r.key, r.reason) for r in refusals] == [("out", "5", "message_too_large")]
    assert [(t, k) for t, k, _ in publisher.published] == [("out", "6"), ("out.dlq", "5")]
    assert committed(consumer) == [{P0: 7}]
    assert consumer.unflushed_at_commit == [0]


def test_without_a_dead_letter_hook_a_refusal_at_the_flush_ends_the_loop_uncommitted() -> None:
    publisher = InMemoryPublisher(refuse={("out", "5"): "message_too_large"})
    consumer = Consumer(publisher, [{P0: [message(P0, 5)]}])

    def handle(records: list[Message]) -> int:
        publisher.publish("out", "5", None)
        return 1

    with pytest.raises(PermanentPublishError):
        loop(consumer, handle).run_once()
    assert consumer.commits == []

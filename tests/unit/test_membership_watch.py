"""A worker's consumer whose group membership is stuck is replaced (``services.infra.bus.MembershipWatch`` and
``ConsumerLoop``): the rule with a clock the test moves, and the loop against the consumer stand-in; and a consumer
joining its group polls long and without a pause (``IdlePoller``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError

from services.infra.bus import (
    JOIN_POLL_TIMEOUT_MS,
    MAX_JOINING_S,
    POLL_TIMEOUT_MS,
    Backoff,
    ConsumerLoop,
    IdlePoller,
    InMemoryPublisher,
    MembershipWatch,
    joining,
    lag_of,
)
from tests.unit.consumer_stub import P0, P1, Consumer, Message, message

pytestmark = pytest.mark.unit

BOUND = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def no_lag_asked() -> int:
    raise AssertionError("the lag is asked only after the bound without records")


J, IN = True, False  # joining the group, or in it
# Each case: what the watch is told, in order ("poll", joining, records) / ("commit", ok) / ("wait", seconds), the
# lag then, and the verdict.
CASES: list[tuple[str, list[tuple[Any, ...]], int, str | None]] = [
    ("in the group, records come", [("poll", IN, 5), ("wait", 100), ("poll", IN, 1)], 7, None),
    ("joining, within the bound", [("poll", J, 0), ("wait", 29), ("poll", J, 0)], 0, None),
    ("joining past the bound", [("poll", J, 0), ("wait", 31), ("poll", J, 0)], 0, "joining"),
    ("joined in time", [("poll", J, 0), ("wait", 20), ("poll", IN, 0), ("wait", 20), ("poll", IN, 0)], 0, None),
    ("a rejoin waiting on records", [("poll", IN, 0), ("wait", 20), ("poll", J, 0), ("wait", 20)], 4, None),
    ("commits refused past the bound", [("poll", IN, 3), ("commit", False), ("wait", 31), ("commit", False)], 0,
     "commits_failing"),
    ("one commit refused, then quiet", [("poll", IN, 3), ("commit", False), ("wait", 100), ("poll", IN, 1)], 0, None),
    ("a commit went through since", [("commit", False), ("wait", 31), ("commit", True), ("commit", False)], 0, None),
    ("commits refused within the bound", [("commit", False), ("wait", 10), ("commit", False)], 0, None),
    ("records waiting, none fetched past the bound", [("poll", IN, 0), ("wait", 31), ("poll", IN, 0)], 4,
     "no_records_with_lag"),
    ("idle with nothing waiting", [("poll", IN, 0), ("wait", 31), ("poll", IN, 0)], 0, None),
]  # fmt: skip


@pytest.mark.parametrize(("events", "lag", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_watch_calls_a_membership_stuck_only_past_its_bound(
    events: list[tuple[Any, ...]], lag: int, verdict: str | None
) -> None:
    clock = Clock()
    watch = MembershipWatch(BOUND, clock)
    for event in events:
        if event[0] == "poll":
            watch.polled(event[1], event[2])
        elif event[0] == "commit":
            watch.committed(event[1])
        else:
            clock.now += event[1]
    assert watch.stuck(lambda: lag) == verdict


def test_the_lag_is_asked_only_after_the_bound_without_records_and_a_rightly_idle_member_is_looked_at_again() -> None:
    clock = Clock()
    watch = MembershipWatch(BOUND, clock)
    watch.polled(IN, 0)
    clock.now += 10
    assert watch.stuck(no_lag_asked) is None
    clock.now += 21
    assert watch.stuck(lambda: 0) is None  # nothing waiting: idle, not stuck
    clock.now += 10
    assert watch.stuck(no_lag_asked) is None  # a new bound starts from that look
    clock.now += 21
    assert watch.stuck(lambda: 3) == "no_records_with_lag"


def test_the_wait_for_a_join_doubles_after_each_recreation_for_it_and_resets_once_joined() -> None:
    clock = Clock()
    watch = MembershipWatch(BOUND, clock)
    watch.polled(J, 0)
    clock.now += 31
    assert watch.stuck(no_lag_asked) == "joining"
    watch.recreated("joining")
    watch.polled(J, 0)
    clock.now += 31
    assert watch.stuck(no_lag_asked) is None  # a member beyond the partitions "joins" for ever: not every 30 s
    clock.now += 30
    assert watch.stuck(no_lag_asked) == "joining"
    for _ in range(20):
        watch.recreated("joining")
    assert watch.joining_after_s == MAX_JOINING_S
    watch.polled(IN, 1)
    assert watch.joining_after_s == BOUND


def test_a_watch_needs_a_positive_bound() -> None:
    with pytest.raises(ValueError, match="positive"):
        MembershipWatch(0)


def test_the_lag_is_the_end_offsets_less_the_positions_of_the_partitions_held() -> None:
    consumer = Consumer(InMemoryPublisher(), end={P0: 10, P1: 4}, positions={P0: 7, P1: 4})
    assert lag_of(consumer) == 3
    consumer.held = set()
    assert lag_of(consumer) == 0


def stuck_loop(
    first: Consumer, make: Any, clock: Clock, recreated: list[str]
) -> tuple[ConsumerLoop, list[tuple[Any, ...]]]:
    handled: list[tuple[Any, ...]] = []

    def handle(records: list[Message]) -> int:
        handled.extend((r.partition, r.offset) for r in records)
        return len(records)

    loop = ConsumerLoop(
        first, threading.Event(), handle, first.publisher, Backoff(0.0, 0.0),
        watch=MembershipWatch(BOUND, clock), recreate=make, on_recreated=recreated.append,
    )  # fmt: skip
    return loop, handled


def test_a_consumer_whose_commits_keep_failing_is_closed_and_replaced_and_the_batch_comes_again() -> None:
    clock = Clock()
    publisher = InMemoryPublisher()
    old = Consumer(publisher, [{P0: [message(P0, 5)]}, {P0: [message(P0, 6)]}], refuse_commits=True)
    new = Consumer(publisher, [{P0: [message(P0, 5), message(P0, 6)]}])  # from the committed offset: 5 again
    made: list[Consumer] = []
    recreated: list[str] = []
    loop, handled = stuck_loop(old, lambda: made.append(new) or new, clock, recreated)

    loop.check_membership()
    assert loop.run_once()
    clock.now += 31
    assert loop.run_once()
    loop.check_membership()
    assert (made, recreated, old.closed) == ([new], ["commits_failing"], True)
    assert loop.consumer is new
    assert loop.run_once()
    assert handled == [(0, 5), (0, 6), (0, 5), (0, 6)]  # at-least-once: what was not committed is handled again
    assert [{tp: m.offset for tp, m in c.items()} for c in new.commits] == [{P0: 7}]
    loop.check_membership()
    assert made == [new]  # the new one commits: nothing stuck


def test_a_replacement_that_kafka_interrupts_is_finished_at_the_next_turn() -> None:
    clock = Clock()
    old = Consumer(InMemoryPublisher(), joining_group=True)
    new = Consumer(InMemoryPublisher())
    attempts: list[int] = []

    def make() -> Consumer:
        attempts.append(1)
        if len(attempts) == 1:
            raise KafkaConnectionError("no broker answers")
        return new

    recreated: list[str] = []
    loop, _ = stuck_loop(old, make, clock, recreated)
    loop.run_once()
    clock.now += 31
    with pytest.raises(KafkaConnectionError):
        loop.check_membership()
    assert old.closed
    assert recreated == []
    loop.check_membership()
    assert loop.consumer is new
    assert recreated == ["joining"]
    assert len(attempts) == 2


def test_without_a_consumer_factory_nothing_is_watched() -> None:
    consumer = Consumer(InMemoryPublisher(), joining_group=True)
    loop = ConsumerLoop(
        consumer, threading.Event(), len, consumer.publisher, Backoff(0.0, 0.0), watch=MembershipWatch(BOUND)
    )
    assert loop.watch is None
    loop.check_membership()
    assert not consumer.closed


class RecordedStop(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return False


def test_a_consumer_joining_its_group_polls_long_and_again_at_once_though_it_still_lists_its_old_partitions() -> None:
    stop = RecordedStop()
    consumer = Consumer(InMemoryPublisher(), joining_group=True)
    poller = IdlePoller(consumer, stop)
    for _ in range(3):
        poller.poll()
    assert consumer.poll_timeouts == [JOIN_POLL_TIMEOUT_MS] * 3
    assert stop.waits == []


class Plain:
    """A consumer without ``joining``: joining as long as it holds no partitions."""

    def __init__(self, held: set[Any]) -> None:
        self.held = held

    def assignment(self) -> set[Any]:
        return self.held


def test_a_consumer_that_cannot_tell_is_joining_while_it_holds_no_partitions() -> None:
    assert joining(Plain(set()))
    assert not joining(Plain({P0}))
    assert joining(Consumer(InMemoryPublisher(), joining_group=True))
    assert not joining(Consumer(InMemoryPublisher()))


def test_the_partitions_reported_are_none_while_joining() -> None:
    consumer = Consumer(InMemoryPublisher(), joining_group=True)
    reported: list[int] = []
    loop = ConsumerLoop(
        consumer, threading.Event(), len, consumer.publisher, Backoff(0.0, 0.0), on_partitions=reported.append
    )
    loop.run_once()
    consumer.joining_group = False
    loop.run_once()
    assert reported == [0, 2]


def test_a_consumer_holding_partitions_pauses_after_an_empty_poll_and_polls_without_waiting_once_idle() -> None:
    stop = RecordedStop()
    consumer = Consumer(InMemoryPublisher())
    poller = IdlePoller(consumer, stop, pause_s=0.25)
    for _ in range(8):
        poller.poll()
    assert consumer.poll_timeouts == [POLL_TIMEOUT_MS] * 6 + [0, 0]
    assert stop.waits == [0.25] * 8

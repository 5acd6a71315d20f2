"""The notice worker's garbage-collection policy (``worker.QuietCollector``): what a notice leaves alive is moved
out of the cyclic collector's walk, so a full collection over the caches never lands in a notice, and the reference
cycles that become garbage meanwhile are still reclaimed every ``full_every`` notices."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from services.infra.bus import InMemoryPublisher
from services.matcher.entrypoints.worker import NoticeWorker, QuietCollector
from tests.unit.matcher_service.worker_stub import NOTICES, NoticeConsumer, container, record

pytestmark = pytest.mark.unit


class _Node:
    """A tracked object that can hold itself (a reference cycle)."""

    def __init__(self) -> None:
        self.me: _Node | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """The collector freezes the whole process and sets its thresholds: thaw it and set them back after each test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _dropped_cycle(collector: QuietCollector) -> weakref.ref[_Node]:
    """A reference cycle a notice leaves alive (frozen after it), then drops: a weak reference to it."""
    node = _Node()
    node.me = node
    alive = weakref.ref(node)
    collector.after_notice()
    del node
    return alive


def _in_collected_generations(obj: object) -> bool:
    return any(o is obj for generation in range(3) for o in gc.get_objects(generation))


@pytest.mark.usefixtures("thawed")
def test_what_a_notice_leaves_alive_is_out_of_the_collectors_walk() -> None:
    collector = QuietCollector()
    collector.start()
    cached = _Node()  # what a cache keeps from a notice
    assert _in_collected_generations(cached)
    collector.after_notice()
    assert not _in_collected_generations(cached)
    assert gc.is_tracked(cached)


@pytest.mark.usefixtures("thawed")
def test_a_cycle_dropped_after_its_notice_is_reclaimed_by_the_periodic_full_collection() -> None:
    collector = QuietCollector(full_every=3)
    collector.start()
    alive = _dropped_cycle(collector)
    gc.collect()
    assert alive() is not None  # frozen: a collection does not see it
    collector.after_notice()
    assert alive() is not None
    collector.after_notice()  # the third notice: a full collection over everything first
    assert alive() is None
    assert collector.full_collections == 1
    assert collector.collected >= 1


def test_a_full_collection_at_least_every_notice() -> None:
    with pytest.raises(ValueError, match="full_every must be >= 1"):
        QuietCollector(full_every=0)


@pytest.mark.usefixtures("thawed")
def test_an_idle_worker_makes_the_full_collection_once_enough_notices_came() -> None:
    collector = QuietCollector(full_every=10, idle_after=2)
    collector.start()
    alive = _dropped_cycle(collector)
    assert collector.when_idle() is None  # one notice since start: not due
    assert alive() is not None
    collector.after_notice()
    assert collector.when_idle() is not None
    assert alive() is None
    assert collector.full_collections == 1
    assert collector.when_idle() is None  # counted again from the collection


def test_the_idle_collection_comes_no_later_than_the_forced_one() -> None:
    with pytest.raises(ValueError, match="idle_after must be between 1 and full_every"):
        QuietCollector(full_every=5, idle_after=6)
    with pytest.raises(ValueError, match="idle_after must be between 1 and full_every"):
        QuietCollector(full_every=5, idle_after=0)


@pytest.mark.usefixtures("thawed")
@pytest.mark.parametrize(("batches", "collections"), [(["1", "", "2", ""], 1), (["1", "2"], 1), (["1", "2", "3"], 1)])
def test_the_notice_worker_collects_when_a_poll_brings_nothing(batches: list[str], collections: int) -> None:
    # Two notices make the collection due; it runs at the first empty poll after them (the stub's last poll is
    # empty and stops the worker), never between two notices (``full_every`` is far).
    publisher = InMemoryPublisher()
    c = container(publisher)
    stop = threading.Event()
    polls = [{NOTICES: [record(i, n)]} if n else {} for i, n in enumerate(batches)]
    consumer = NoticeConsumer(publisher, polls, stop)
    collector = QuietCollector(full_every=100, idle_after=2, young_after=30_000)
    worker = NoticeWorker(c.matcher, c.settings, stop, consumer_factory=lambda: consumer, collector=collector)
    thresholds = gc.get_threshold()
    worker.run()
    assert worker.handled == len([n for n in batches if n])
    assert collector.full_collections == collections
    # The worker gives the collector's thresholds back when it stops.
    assert gc.get_threshold() == thresholds


@pytest.mark.usefixtures("thawed")
def test_a_busy_worker_is_not_collected_while_idle_polls_are_not_due() -> None:
    publisher = InMemoryPublisher()
    c = container(publisher)
    stop = threading.Event()
    consumer = NoticeConsumer(publisher, [{NOTICES: [record(0, "1")]}, {}, {}], stop)
    collector = QuietCollector(full_every=100, idle_after=2)
    NoticeWorker(c.matcher, c.settings, stop, consumer_factory=lambda: consumer, collector=collector).run()
    assert collector.full_collections == 0


def _young_collections() -> int:
    return int(gc.get_stats()[0]["collections"])


@pytest.mark.usefixtures("thawed")
def test_between_start_and_stop_the_young_generation_is_walked_only_every_young_after_allocations() -> None:
    gc.set_threshold(700, 10, 10)
    collector = QuietCollector(young_after=50_000)
    collector.start()
    assert gc.get_threshold() == (50_000, 10, 10)
    before = _young_collections()
    kept = [[i] for i in range(20_000)]  # a notice's containers: 20,000 net allocations, under the threshold
    assert _young_collections() == before
    collector.after_notice()
    collector.stop()
    assert gc.get_threshold() == (700, 10, 10)
    more = [[i] for i in range(5_000)]  # Python's own threshold again: walked as it goes
    assert _young_collections() > before
    assert len(kept) + len(more) == 25_000


@pytest.mark.usefixtures("thawed")
def test_a_cycle_made_inside_a_notice_is_still_reclaimed_once_young_after_allocations_came() -> None:
    collector = QuietCollector(young_after=1_000)
    collector.start()
    alive = weakref.ref(cycle := _Node())
    cycle.me = cycle
    del cycle
    assert alive() is not None  # garbage, not walked yet
    churn = [[i] for i in range(2_000)]
    assert alive() is None
    assert len(churn) == 2_000
    collector.stop()


def test_young_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="young_after must be >= 1, got 0"):
        QuietCollector(young_after=0)

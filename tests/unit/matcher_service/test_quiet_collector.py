"""The notice worker's garbage-collection policy (``worker.QuietCollector``): what a notice leaves alive is moved
out of the cyclic collector's walk, so a full collection over the caches never lands in a notice, and the reference
cycles that become garbage meanwhile are still reclaimed every ``full_every`` notices."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.matcher.entrypoints.worker import QuietCollector

pytestmark = pytest.mark.unit


class _Node:
    """A tracked object that can hold itself (a reference cycle)."""

    def __init__(self) -> None:
        self.me: _Node | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """The collector freezes the whole process: thaw it again after each test."""
    yield
    gc.unfreeze()


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
    node = _Node()
    node.me = node
    alive = weakref.ref(node)
    collector.after_notice()
    del node
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

"""The notifier's worker over the in-memory bootstrap: the profile feed is caught up before a batch, the batch's
shortlists become emails, what cannot be read (a tombstone too) is dead-lettered with its reason, and the offsets
move only after the events are flushed; a stop request before a batch leaves it uncommitted."""

from __future__ import annotations

import threading

import pytest

from contracts import DeadLetter
from services.notifier.adapters.memory import InMemoryProfileFeed
from services.notifier.entrypoints.worker import ShortlistWorker
from tests.unit.consumer_stub import P0, Consumer, message
from tests.unit.notifier.factories import notice, profile, shortlist
from tests.unit.notifier.rig import Rig

pytestmark = pytest.mark.unit


def worker(
    rig: Rig, consumer: Consumer, stop: threading.Event | None = None
) -> tuple[ShortlistWorker, InMemoryProfileFeed]:
    feed = InMemoryProfileFeed(rig.profiles)
    return ShortlistWorker(rig.notifier(), consumer, feed, rig.publisher, stop or threading.Event()), feed


def test_a_batch_is_sent_to_profiles_published_before_it_and_committed_after_the_flush(rig: Rig) -> None:
    good = shortlist(notice(), ["a"]).model_dump_json().encode()
    consumer = Consumer(rig.publisher, [{P0: [message(P0, 3, None), message(P0, 4, b"{oops"), message(P0, 5, good)]}])
    w, feed = worker(rig, consumer)
    feed.published.append(profile("a"))  # on suppliers.profiles before the shortlist that names it
    assert w.loop.run_once() is True
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match"]
    letters = [v for v in rig.publisher.on(rig.settings.topic_shortlists_dlq) if isinstance(v, DeadLetter)]
    assert [(d.reason, d.payload) for d in letters] == [("empty_message", ""), ("invalid_json", "{oops")]
    assert [{tp: m.offset for tp, m in c.items()} for c in consumer.commits] == [{P0: 6}]
    assert consumer.unflushed_at_commit == [0]
    assert rig.statuses() == [("a|ungm:1001|1|new_match", "sent")]


def test_a_stop_before_a_batch_leaves_it_uncommitted_and_the_worker_closes(rig: Rig) -> None:
    stop = threading.Event()
    stop.set()
    good = shortlist(notice(), ["a"]).model_dump_json().encode()
    consumer = Consumer(rig.publisher, [{P0: [message(P0, 5, good)]}])
    w, feed = worker(rig, consumer, stop)
    rig.add(profile("a"))
    w.start()
    with pytest.raises(Exception, match="stop requested"):
        w.loop.run_once()
    w.run()  # stopped already: closes the consumer and the feed without handling anything
    assert rig.mail.sent == []
    assert consumer.commits == []
    assert consumer.closed
    assert feed.closed

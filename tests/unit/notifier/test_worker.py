"""The notifier's worker over the in-memory bootstrap: the profile feed is caught up before a batch, the batch's
shortlists become emails, what cannot be read (a tombstone too) is dead-lettered with its reason, and the offsets
move only after the events are flushed; a stop request before a batch leaves it uncommitted."""

from __future__ import annotations

import logging
import threading

import pytest

from contracts import DeadLetter
from services.infra.exceptions import TransientPublishError
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


def test_an_event_kafka_refuses_for_good_is_dead_lettered_with_the_reason_and_the_worker_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.publisher.refuse[rig.settings.topic_notifications, "a|ungm:1001|1|new_match"] = "message_too_large"
    first = shortlist(notice(), ["a"]).model_dump_json().encode()
    second = shortlist(notice("1002"), ["a"]).model_dump_json().encode()
    consumer = Consumer(rig.publisher, [{P0: [message(P0, 3, first)]}, {P0: [message(P0, 4, second)]}])
    w, _ = worker(rig, consumer)
    rig.add(profile("a"))
    with caplog.at_level(logging.ERROR):
        assert w.loop.run_once() is True
        assert w.loop.run_once() is True
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match", "a|ungm:1002|1|new_match"]
    [letter] = rig.dead_letters()
    assert (letter.origin, letter.key, letter.reason) == (
        rig.settings.topic_notifications,
        "a|ungm:1001|1|new_match",
        "message_too_large",
    )
    assert rig.statuses() == [("a|ungm:1002|1|new_match", "sent")]
    assert [{tp: m.offset for tp, m in c.items()} for c in consumer.commits] == [{P0: 4}, {P0: 5}]
    assert any("message_too_large" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    refused = w.notifier.metrics.registry.get_sample_value(
        "notifier_publish_refused_total",
        {"topic": rig.settings.topic_notifications, "reason": "message_too_large"},
    )
    assert refused == 1.0


def test_kafka_away_is_retried_and_a_refusal_found_once_it_is_back_is_dead_lettered(rig: Rig) -> None:
    rig.publisher.refuse[rig.settings.topic_notifications, "a|ungm:1001|1|new_match"] = "message_too_large"
    good = shortlist(notice(), ["a"]).model_dump_json().encode()
    consumer = Consumer(rig.publisher, [{P0: [message(P0, 3, good)]}])
    w, _ = worker(rig, consumer)
    rig.add(profile("a"))
    rig.publisher.unavailable = True
    with pytest.raises(TransientPublishError):
        w.loop.run_once()  # Kafka away: nothing committed, nothing dead-lettered, the batch is handed over again
    assert consumer.commits == []
    assert rig.publisher.on(rig.settings.topic_notifications_dlq) == []
    rig.publisher.unavailable = False
    consumer.batches.append({P0: [message(P0, 3, good)]})
    assert w.loop.run_once() is True
    assert [(d.key, d.reason) for d in rig.dead_letters()] == [("a|ungm:1001|1|new_match", "message_too_large")]
    assert rig.keys_sent() == ["a|ungm:1001|1|new_match"]  # sent once, not again on the redelivery
    assert [{tp: m.offset for tp, m in c.items()} for c in consumer.commits] == [{P0: 4}]


def test_the_app_built_beside_a_worker_is_ready_once_the_worker_read_the_profiles(rig: Rig) -> None:
    from fastapi.testclient import TestClient

    from services.notifier.entrypoints.http import app_for

    container = rig.container()
    w = ShortlistWorker(container.notifier, Consumer(rig.publisher), InMemoryProfileFeed(rig.profiles),
                        rig.publisher, threading.Event())  # fmt: skip
    client = TestClient(app_for(container, w))
    before = client.get("/readyz")
    assert before.status_code == 503
    assert before.json()["checks"] == {"memory": True, "profiles_loaded": False, "worker": True}
    w.start()
    assert client.get("/readyz").status_code == 200
    w.error = RuntimeError("crashed")
    assert client.get("/readyz").json()["checks"]["worker"] is False


def test_an_in_memory_container_has_no_worker_to_run(rig: Rig) -> None:
    from services.notifier.entrypoints.worker import worker_for

    with pytest.raises(ValueError, match="no Kafka consumer"):
        worker_for(rig.container())

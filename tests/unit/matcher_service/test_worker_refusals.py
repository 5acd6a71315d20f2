"""A shortlist Kafka refuses for good (over the bus limit) never leaves the notice worker waiting for a Kafka that
is not away, nor drops the notice: the notice is dead-lettered with Kafka's reason, logged at ERROR, counted, and the
worker goes on with the next one."""

from __future__ import annotations

import logging
import threading

import pytest

from contracts import DeadLetter, Shortlist, TenderNotice
from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container
from services.matcher.entrypoints.worker import NoticeWorker, handle_message
from tests.unit.matcher_service.builders import notice
from tests.unit.matcher_service.worker_stub import NOTICES, NoticeConsumer, container, record

pytestmark = pytest.mark.unit


def letters(publisher: InMemoryPublisher) -> list[DeadLetter]:
    return [v for v in publisher.on("t.notices.dlq") if isinstance(v, DeadLetter)]


def dead_lettered(c: Container, reason: str) -> float:
    value = c.registry.get_sample_value("matcher_dead_letters_total", {"reason": reason})
    return value or 0.0


def test_a_shortlist_over_the_bus_limit_dead_letters_its_notice_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The shortlist carries the notice and the ranked suppliers: over 2,000 bytes; the notice's dead letter is not.
    publisher = InMemoryPublisher(max_message_bytes=2_000)
    c = container(publisher)
    value = notice("1").model_dump_json().encode()
    with caplog.at_level(logging.ERROR):
        assert handle_message(c.matcher, "t.notices.dlq", "t.notices", b"ungm:1", value) == "dead_lettered"
    publisher.flush()
    [letter] = letters(publisher)
    assert (letter.reason, letter.key, letter.origin) == ("message_too_large", "ungm:1", "t.notices")
    assert TenderNotice.model_validate_json(letter.payload).notice_id == "ungm:1"  # the notice, whole, to replay
    assert "t.shortlists" in letter.detail
    assert publisher.on("t.shortlists") == []
    assert dead_lettered(c, "message_too_large") == 1.0
    assert any(r.levelno == logging.ERROR and "ungm:1" in r.getMessage() for r in caplog.records)


def test_a_shortlist_refused_at_the_flush_dead_letters_its_notice_and_the_worker_goes_on() -> None:
    publisher = InMemoryPublisher(refuse={("t.shortlists", "ungm:1"): "message_too_large"})
    c = container(publisher)
    stop = threading.Event()
    consumer = NoticeConsumer(publisher, [{NOTICES: [record(7, "1")]}, {NOTICES: [record(8, "2")]}], stop)
    worker = NoticeWorker(c.matcher, c.settings, stop, consumer_factory=lambda: consumer)
    worker.run()
    [letter] = letters(publisher)
    assert (letter.reason, letter.key, letter.origin) == ("message_too_large", "ungm:1", "t.notices")
    assert TenderNotice.model_validate_json(letter.payload).notice_id == "ungm:1"
    assert [s.notice_id for s in publisher.on("t.shortlists") if isinstance(s, Shortlist)] == ["ungm:2"]
    assert [{tp: m.offset for tp, m in offsets.items()} for offsets in consumer.commits] == [
        {NOTICES: 8},
        {NOTICES: 9},
    ]
    assert dead_lettered(c, "message_too_large") == 1.0

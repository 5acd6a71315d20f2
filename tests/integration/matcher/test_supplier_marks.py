"""A supplier's own "not relevant for me" over the local Kafka and Elasticsearch: published on the feedback topic
as the notifier publishes it, consumed by the matcher's feedback worker, stored in Elasticsearch (a buyer's mark on
the same topic left alone: the matcher stored its own when the buyer made it), and the supplier ranks lower on the
refused notice and on another agency's notice like it, saying it was the supplier's word; a message that is not a
mark goes to the feedback dead-letter topic with the reason, and is committed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaProducer

from contracts import DeadLetter, Shortlist
from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback
from services.matcher.bootstrap import Container
from services.matcher.domain.feedback import SUPPLIER_SAID_SIMILAR
from services.matcher.entrypoints.feedback_worker import FeedbackWorker
from services.notifier.domain.not_relevant import NoticeRef, supplier_mark
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import (
    RunningWorker,
    committed_total,
    make_settings,
    read_topic,
    stack_container,
)
from tests.unit.matcher_service.builders import NOW, feedback_mark, notice, supplier

pytestmark = pytest.mark.integration


@pytest.fixture
def container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    with stack_container(make_settings(endpoints, unique), lambda: NOW) as c:
        yield c


def order(shortlist: Shortlist | None) -> list[str]:
    assert shortlist is not None
    return [e.supplier_id for e in shortlist.entries]


def publish(bootstrap_servers: str, topic: str, marks: list[ShortlistFeedback | tuple[str, bytes]]) -> None:
    """Marks as the notifier publishes them, or (key, raw value) pairs as a broken producer might."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    for mark in marks:
        if isinstance(mark, ShortlistFeedback):
            key, value = mark.feedback_id, mark.model_dump_json().encode()
        else:
            key, value = mark
        producer.send(topic, key=key.encode(), value=value)
    producer.flush()
    producer.close()


def test_a_suppliers_mark_on_the_topic_is_stored_and_moves_it_down_on_notices_like_the_refused_one(
    container: Container,
) -> None:
    settings, m = container.settings, container.matcher
    assert m.feedback is not None
    for sid in ("S1", "S2", "S3"):  # alike in all but their ids: without marks they rank by id
        m.save_profile(supplier(sid))
    m.handle_notice(notice("a1", agency="UNICEF"))
    m.publisher.flush()
    assert order(m.shortlists.latest("ungm:a1")) == ["S1", "S2", "S3"]

    own = supplier_mark(NoticeRef("S1", "ungm:a1", 1, "UNICEF"), FeedbackReason.WRONG_PRODUCTS, NOW)
    buyers = feedback_mark("wfp", "ungm:a1", "S2", FeedbackMark.NOT_RELEVANT)  # made (and stored) by a matcher
    publish(settings.kafka_bootstrap_servers, settings.topic_feedback, [buyers, own])

    with RunningWorker(container, lambda stop: FeedbackWorker(m, settings, stop, initial_backoff=0.2)) as running:
        worker = running.worker
        deadline = time.monotonic() + 60
        while sum(worker.outcomes.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert (worker.outcomes["stored"], worker.outcomes["buyers"]) == (1, 1)

    assert m.feedback.from_suppliers(10) == [own]  # stored in Elasticsearch as published
    assert m.feedback.for_agency(None, 10) == []  # the buyer's mark was not stored a second time
    # The refused notice was ranked again at once.
    assert order(m.shortlists.latest("ungm:a1")) == ["S2", "S3", "S1"]
    # The next ranking of a notice like it, of another agency, moves the supplier down and says why.
    m.handle_notice(notice("w1", agency="WFP", codes=("42132205",)))
    m.publisher.flush()
    similar = m.shortlists.latest("ungm:w1")
    assert order(similar) == ["S2", "S3", "S1"]
    assert similar is not None
    [entry] = [e for e in similar.entries if e.supplier_id == "S1"]
    assert entry.adjustment < 0
    assert entry.adjustment_reason == (
        f"{SUPPLIER_SAID_SIMILAR} (wrong products): it refused a similar notice (ungm:a1)"
    )


def test_a_message_that_is_not_a_mark_is_dead_lettered_with_the_reason_and_the_marks_after_it_are_stored(
    container: Container,
) -> None:
    settings, m = container.settings, container.matcher
    assert m.feedback is not None
    m.save_profile(supplier("S1"))
    m.handle_notice(notice("a1", agency="UNICEF"))
    m.publisher.flush()
    own = supplier_mark(NoticeRef("S1", "ungm:a1", 1, "UNICEF"), None, NOW)
    publish(settings.kafka_bootstrap_servers, settings.topic_feedback, [("garbled-1", b"{not json"), own])

    with RunningWorker(container, lambda stop: FeedbackWorker(m, settings, stop, initial_backoff=0.2)) as running:
        deadline = time.monotonic() + 60
        while committed_total(settings, feedback=True) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert committed_total(settings, feedback=True) == 2  # both handled, then committed
    assert (running.worker.outcomes["dead_lettered"], running.worker.outcomes["stored"]) == (1, 1)

    [(key, raw)] = read_topic(settings.kafka_bootstrap_servers, settings.topic_feedback_dlq, 1)
    letter = DeadLetter.model_validate_json(raw)
    assert (key, letter.reason, letter.service) == ("garbled-1", "invalid_json", "matcher")
    assert (letter.origin, letter.key, letter.payload) == (settings.topic_feedback, "garbled-1", "{not json")
    assert m.feedback.from_suppliers(10) == [own]

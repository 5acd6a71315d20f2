"""A shortlist the local Kafka refuses for good (its topic's ``max.message.bytes`` below the shortlist) is not
waited out as "Kafka unavailable" nor dropped: the notice worker dead-letters its notice with Kafka's reason, commits,
and goes on with the next notice, whose shortlist is delivered."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from contracts import DeadLetter, Shortlist, TenderNotice
from services.infra.bus import KafkaPublisher, ensure_topics
from services.matcher.bootstrap import bootstrap_in_memory
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import RunningWorker, make_settings, publish_raw, read_topic
from tests.unit.matcher_service.builders import NOW, notice

pytestmark = pytest.mark.integration

#: The shortlists topic's limit here: a shortlist carries its notice, so a notice with a 5,000-character
#: description makes one over it, a plain notice one well under it.
SHORTLIST_TOPIC_LIMIT = 4_000


def test_a_shortlist_the_broker_refuses_dead_letters_its_notice_and_the_next_one_is_delivered(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    settings = make_settings(endpoints, unique)
    admin = KafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    try:
        admin.create_topics(
            [NewTopic(settings.topic_shortlists, 1, 1, topic_configs={"max.message.bytes": str(SHORTLIST_TOPIC_LIMIT)})]
        )
    finally:
        admin.close()
    ensure_topics(settings.kafka_bootstrap_servers, settings.topic_map().items())
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, unique("matcher"))
    container = bootstrap_in_memory(settings, clock=lambda: NOW, publisher=publisher)
    big = notice("1", description="tender documents " * 300).model_dump_json().encode()
    small = notice("2").model_dump_json().encode()
    try:
        with RunningWorker(container) as running:
            publish_raw(settings, [("ungm:1", big), ("ungm:2", small)])
            deadline = time.monotonic() + 60
            while running.worker.handled < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert running.worker.handled == 2
            letters = read_topic(settings.kafka_bootstrap_servers, settings.topic_notices_dlq, 1)
            shortlists = read_topic(settings.kafka_bootstrap_servers, settings.topic_shortlists, 1)
    finally:
        publisher.close()
    # At least once: a batch the producer split (kafka-python retries the refused batch message by message) may
    # be handed over again, so a dead letter or a shortlist can come twice; never another notice, never none.
    key, value = letters[0]
    assert {k for k, _ in letters} == {"ungm:1"}
    letter = DeadLetter.model_validate_json(value)
    assert (key, letter.reason, letter.origin) == ("ungm:1", "message_too_large", settings.topic_notices)
    assert settings.topic_shortlists in letter.detail
    assert TenderNotice.model_validate_json(letter.payload).notice_id == "ungm:1"
    assert {Shortlist.model_validate_json(v).notice_id for _, v in shortlists} == {"ungm:2"}
    assert container.registry.get_sample_value("matcher_dead_letters_total", {"reason": "message_too_large"}) >= 1.0

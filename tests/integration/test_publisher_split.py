"""A message the broker refuses as too large, sent in one batch with others: kafka-python splits the batch and sends
its records again one by one, and its ``flush`` raises ``UnknownError('Future not done')`` meanwhile. The publisher
waits for the split batches: the big message is refused for good by name (to be dead-lettered), the small one is
delivered; never taken for Kafka being away, which made a worker hand the same batch over again for ever."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from services.infra.bus import KafkaPublisher, dead_letter
from services.infra.exceptions import PermanentPublishError
from tests.conftest import Endpoints
from tests.integration.ingest.helpers import read_topic

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("round_", range(3))  # the split is a race inside kafka-python: a few rounds catch it
def test_a_refused_message_batched_with_others_is_refused_by_name_and_the_others_delivered(
    endpoints: Endpoints, unique: Callable[[str], str], round_: int
) -> None:
    topic = unique("split")
    admin = KafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "3000"})])
    finally:
        admin.close()
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, unique("split"), attempts=1)
    try:
        publisher.publish(topic, "big", dead_letter("t", "t", "r", "", "x" * 5_000))
        publisher.publish(topic, "small", dead_letter("t", "t", "r", "", "a"))
        with pytest.raises(PermanentPublishError) as raised:
            publisher.flush()
    finally:
        publisher.close()
    assert [(r.key, r.reason) for r in raised.value.refused] == [("big", "message_too_large")]
    assert [key for key, _ in read_topic(endpoints.kafka_bootstrap, topic, 1, timeout=15)] == ["small"]

"""The size policy over the local Kafka: what the bus cannot carry is refused by the publisher with a distinct error
(logged at ERROR, counted), and through the push endpoint every size is either delivered (read back from the topic)
or refused and dead-lettered (read back from the dead-letter topic): never a 500, never stored but unpublished."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry, generate_latest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from contracts import DeadLetter, TenderNotice
from contracts.topics import MAX_MESSAGE_BYTES, MAX_NOTICE_BYTES
from services.infra.bus import KafkaPublisher, dead_letter
from services.infra.exceptions import PermanentPublishError
from services.ingest.adapters.state import SqliteStateStore
from services.ingest.domain.model import Context
from services.ingest.entrypoints.http import MAX_BODY_BYTES, create_app
from services.ingest.service import Ingestor
from tests.conftest import REPO, Endpoints
from tests.integration.ingest.helpers import ingest_env, read_topic
from tests.unit.ingest.util import notice_body

pytestmark = pytest.mark.integration

KEY = {"X-API-Key": "secret", "content-type": "application/json"}


def test_a_message_over_the_bus_limit_is_refused_by_name_logged_and_counted(
    endpoints: Endpoints,
    unique: Callable[[str], str],
    topics: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    notices, _ = topics
    registry = CollectorRegistry()
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, unique("publisher"), registry=registry)
    big = dead_letter("ingest", "test", "r", "", "x", max_payload_bytes=10)
    big = big.model_copy(update={"payload": "x" * (MAX_MESSAGE_BYTES + 10)})
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(PermanentPublishError) as raised:
            publisher.publish(notices, "k1", big)
        [refused] = raised.value.refused
        assert (refused.topic, refused.key, refused.reason) == (notices, "k1", "message_too_large")
        assert any(r.levelno == logging.ERROR and "message_too_large" in r.getMessage() for r in caplog.records)
        assert f'publish_failures_total{{kind="permanent",topic="{notices}"}} 1.0' in generate_latest(registry).decode()
        publisher.publish(notices, "k2", dead_letter("ingest", "test", "r", "", "small"))
        publisher.flush()  # the refused message left nothing behind: the next one goes through
    finally:
        publisher.close()
    assert [key for key, _ in read_topic(endpoints.kafka_bootstrap, notices, 1, timeout=15)] == ["k2"]


def test_a_message_the_broker_refuses_is_named_at_the_flush_and_the_others_are_acknowledged(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    small_topic = unique("small")
    admin = KafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    admin.create_topics([NewTopic(small_topic, 1, 1, topic_configs={"max.message.bytes": "50000"})])
    admin.close()
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, unique("publisher"))
    try:
        publisher.publish(small_topic, "small-1", dead_letter("ingest", "t", "r", "", "a"))
        publisher.publish(small_topic, "big", dead_letter("ingest", "t", "r", "", "x" * 100_000))
        publisher.publish(small_topic, "small-2", dead_letter("ingest", "t", "r", "", "b"))
        with pytest.raises(PermanentPublishError) as raised:
            publisher.flush()
        # The refusal did not leave the producer unusable (an idempotent kafka-python producer would be).
        publisher.publish(small_topic, "small-3", dead_letter("ingest", "t", "r", "", "c"))
        publisher.flush()
    finally:
        publisher.close()
    assert [(r.key, r.reason) for r in raised.value.refused] == [("big", "message_too_large")]
    got = read_topic(endpoints.kafka_bootstrap, small_topic, 3, timeout=15)
    assert sorted(key for key, _ in got) == ["small-1", "small-2", "small-3"]


def test_an_invalid_topic_is_a_permanent_refusal(endpoints: Endpoints, unique: Callable[[str], str]) -> None:
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, unique("publisher"))
    try:
        with pytest.raises(PermanentPublishError) as raised:
            publisher.publish("not a topic!", "k", dead_letter("ingest", "t", "r", "", "a"))
    finally:
        publisher.close()
    assert raised.value.refused[0].reason == "invalid_topic"


#: Sizes around each limit: a notice's, Kafka's message, the push body's.
_AROUND = st.sampled_from([MAX_NOTICE_BYTES, MAX_MESSAGE_BYTES, MAX_BODY_BYTES]).flatmap(
    lambda limit: st.integers(limit - 2_048, limit + 2_048)
)


def test_pushes_of_any_size_are_delivered_or_refused_and_dead_lettered_never_500(
    endpoints: Endpoints, unique: Callable[[str], str], topics: tuple[str, str], tmp_path: Path
) -> None:
    notices, dlq = topics
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, unique("push"))
    state = SqliteStateStore(tmp_path)
    app = create_app(
        Ingestor(publisher, state, notices, dlq), {"secret"}, Context(source="push", detect_language=False)
    )
    client = TestClient(app, raise_server_exceptions=False)
    ids = (str(i) for i in itertools.count())
    delivered: set[str] = set()
    dead_lettered: set[str] = set()
    unread = 0

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(size=_AROUND, char=st.sampled_from(["a", "招", "<p>é</p>"]))
    def push(size: int, char: str) -> None:
        nonlocal unread
        source_id = next(ids)
        body = notice_body(size, source_id, char)
        response = client.post("/notices", content=body, headers=KEY)
        assert response.status_code in (202, 413), response.text
        known = state.known(f"push:{source_id}")
        if response.status_code == 202:
            assert known is not None
            delivered.add(f"push:{source_id}")
        else:
            assert known is None
            if len(body) > MAX_BODY_BYTES:
                unread += 1  # refused before it was read: nothing to dead-letter
            else:
                dead_lettered.add(f"push:{source_id}")

    try:
        push()
    finally:
        publisher.close()
        state.close()
    on_topic = read_topic(endpoints.kafka_bootstrap, notices, len(delivered), timeout=30)
    assert {TenderNotice.model_validate_json(v).notice_id for _, v in on_topic} == delivered
    letters = read_topic(endpoints.kafka_bootstrap, dlq, len(dead_lettered), timeout=30)
    read_back = [DeadLetter.model_validate_json(v) for _, v in letters]
    assert {x.key for x in read_back} == dead_lettered
    assert {x.reason for x in read_back} <= {"too_large"}


def test_cli_publish_names_each_bad_record_and_dead_letters_an_oversized_notice(
    endpoints: Endpoints, unique: Callable[[str], str], topics: tuple[str, str], tmp_path: Path
) -> None:
    notices, dlq = topics
    feed = tmp_path / "notices.jsonl"
    lines = [
        notice_body(100, "1"),
        b'{"notice_id": "push:2", "source": "push", "source_id": "2"}',  # no title, no buyer
        notice_body(MAX_NOTICE_BYTES + 10, "3"),
    ]
    feed.write_bytes(b"\n".join(lines) + b"\n")
    env = ingest_env(endpoints, notices, dlq, tmp_path / "state")
    cmd = [sys.executable, "-m", "services.ingest", "publish", str(feed), "--source", "jsonl"]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("rejected")]
    assert said[0].startswith(f"rejected {feed} [push:2]: invalid_notice: line 2: title: Field required")
    assert said[1].startswith(f"rejected {feed} [push:3]: too_large: notice push:3 takes ")
    assert f"over the limit of {MAX_NOTICE_BYTES:,} bytes" in said[1]
    assert "published 1 (active 1)" in done.stderr
    assert [k for k, _ in read_topic(endpoints.kafka_bootstrap, notices, 1, timeout=15)] == ["push:1"]
    letters = [DeadLetter.model_validate_json(v) for _, v in read_topic(endpoints.kafka_bootstrap, dlq, 2)]
    assert sorted((x.key, x.reason) for x in letters) == [("push:2", "invalid_notice"), ("push:3", "too_large")]

"""What the matcher's integration tests share: settings over unique topics and indexes, reading a topic back,
the committed offsets, raw publishing and a worker running in a thread."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from services.infra.bus import EventPublisher
from services.matcher.bootstrap import Container, bootstrap
from services.matcher.entrypoints.worker import NoticeWorker
from services.matcher.ports import Encoder
from services.matcher.settings import Settings
from tests.conftest import REPO, Endpoints

BUYER = "it-buyer-key"


def make_settings(endpoints: Endpoints, unique: Callable[[str], str]) -> Settings:
    return Settings(
        kafka_bootstrap_servers=endpoints.kafka_bootstrap,
        elasticsearch_url=endpoints.elasticsearch_url,
        matcher_index_prefix=unique("m"),
        matcher_consumer_group=unique("matcher"),
        matcher_awards_consumer_group=unique("matcher-awards"),
        matcher_feedback_consumer_group=unique("matcher-feedback"),
        topic_notices=unique("notices"),
        topic_notices_dlq=unique("notices-dlq"),
        topic_profiles=unique("profiles"),
        topic_shortlists=unique("shortlists"),
        topic_shortlists_dlq=unique("shortlists-dlq"),
        topic_notifications=unique("notifications"),
        topic_notifications_dlq=unique("notifications-dlq"),
        topic_awards=unique("awards"),
        topic_awards_dlq=unique("awards-dlq"),
        topic_feedback=unique("feedback"),
        topic_feedback_dlq=unique("feedback-dlq"),
        matcher_refit_interval_seconds=0,
    )


@contextlib.contextmanager
def stack_container(
    settings: Settings,
    clock: Callable[[], datetime],
    publisher: EventPublisher | None = None,
    encoder: Encoder | None = None,
) -> Iterator[Container]:
    """The matcher over the local servers in ``settings``' indexes and topics (``publisher``: instead of Kafka);
    its indexes deleted afterwards."""
    c = bootstrap(settings, clock=clock, publisher=publisher, encoder=encoder)
    try:
        yield c
    finally:
        for index in c.es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            c.es.indices.delete(index=index)
        c.close()


def read_topic(bootstrap_servers: str, topic: str, expected: int, timeout: float = 30) -> list[tuple[str, bytes]]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(300).values():
                got.extend((r.key.decode(), r.value) for r in records)
    finally:
        consumer.close()
    return got


def committed_total(settings: Settings, *, awards: bool = False, feedback: bool = False) -> int:
    """Offsets committed by the notice worker's group on the notices topic (with ``awards``: the awards worker's
    group on the awards topic; with ``feedback``: the feedback worker's on the feedback topic), summed over
    partitions."""
    group, topic = settings.matcher_consumer_group, settings.topic_notices
    if awards:
        group, topic = settings.matcher_awards_consumer_group, settings.topic_awards
    elif feedback:
        group, topic = settings.matcher_feedback_consumer_group, settings.topic_feedback
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


def publish_raw(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for key, value in messages:
        producer.send(settings.topic_notices, key=key.encode(), value=value)
    producer.flush()
    producer.close()


class RunningWorker:
    """A worker run in a thread: the notice worker, or the one ``make`` builds around the stop event."""

    def __init__(self, container: Container, make: Callable[[threading.Event], Any] | None = None) -> None:
        self.stop = threading.Event()
        self.error: list[BaseException] = []
        self.worker = (
            make(self.stop)
            if make is not None
            else NoticeWorker(container.matcher, container.settings, self.stop, initial_backoff=0.2)
        )
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # surfaced by the test
            self.error.append(exc)

    def __enter__(self) -> RunningWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        assert not self.error, self.error


def matcher_cli(
    endpoints: Endpoints, unique: Callable[[str], str], label: str
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``call("awards", "explain", ID)``: ``python -m services.matcher`` over the local servers, in indexes and
    topics of its own (``label``)."""
    env = os.environ | {
        "TB_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "TB_ELASTICSEARCH_URL": endpoints.elasticsearch_url,
        "TB_MATCHER_INDEX_PREFIX": unique(label),
        "TB_TOPIC_PROFILES": unique("profiles"),
        "TB_TOPIC_SHORTLISTS": unique("shortlists"),
        "COLUMNS": "200",
    }

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.matcher", *args]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)

    return call

"""Helpers shared by ingest's integration tests: an ingestor over the real Kafka and sqlite state, the environment of
an ingest process, and reading a topic back."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kafka import KafkaConsumer

from services.infra.bus import KafkaPublisher
from services.ingest.adapters.state import SqliteStateStore
from services.ingest.service import Ingestor
from tests.conftest import Endpoints


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[tuple[str, bytes]]:
    """Every message of a topic, waiting for at least ``expected``; then a short grace period for extras."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    got: list[tuple[str, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        grace: float | None = None
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend((r.key.decode(), r.value) for r in records)
            if len(got) >= expected:
                grace = grace or time.monotonic() + 2
                if time.monotonic() > grace:
                    break
    finally:
        consumer.close()
    return got


def make_ingestor(endpoints: Endpoints, state_dir: Path, notices: str, dlq: str, batch: int = 5) -> Ingestor:
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, "ingest-test")
    return Ingestor(publisher, SqliteStateStore(state_dir), notices, dlq, batch_size=batch)


def close(ingestor: Ingestor) -> None:
    ingestor.publisher.close()  # type: ignore[attr-defined]
    ingestor.state.close()  # type: ignore[attr-defined]


def ingest_env(endpoints: Endpoints, notices: str, dlq: str, state: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TB_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "TB_TOPIC_NOTICES": notices,
        "TB_TOPIC_NOTICES_DLQ": dlq,
        # An award-only release's dead letter goes to the awards' DLQ: this run's own, not the shared one.
        "TB_TOPIC_AWARDS": f"{dlq}-awards",
        "TB_TOPIC_AWARDS_DLQ": f"{dlq}-awards-dlq",
        "TB_INGEST_STATE_DIR": str(state),
        "TB_INGEST_DETECT_LANGUAGE": "false",
        **extra,
    }

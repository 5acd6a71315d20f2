"""The local stack speaks real Kafka and Elasticsearch: the official clients produce, consume, index and search."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, KafkaProducer

from contracts import topics
from localrun import stack
from services.infra.bus import ensure_topics
from tests.conftest import Endpoints

pytestmark = pytest.mark.integration


def test_kafka_round_trip_with_committed_offsets(endpoints: Endpoints, unique: Callable[[str], str]) -> None:
    topic, group = unique("roundtrip"), unique("group")
    ensure_topics(endpoints.kafka_bootstrap, [(topic, topics.NOTICES)])
    producer = KafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
    for i in range(20):
        producer.send(topic, key=f"k{i % 4}".encode(), value=f"v{i}".encode())
    producer.flush()
    producer.close()

    def drain(expected: int) -> list[bytes]:
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=endpoints.kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(500).values():
                got.extend(r.value for r in records)
        consumer.commit()
        consumer.close()
        return got

    first = drain(20)
    assert sorted(first) == sorted(f"v{i}".encode() for i in range(20))
    # The group committed: a new consumer in the same group resumes after the last message and sees nothing.
    producer = KafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
    producer.send(topic, key=b"k0", value=b"late")
    producer.flush()
    producer.close()
    assert drain(1) == [b"late"]


def test_elasticsearch_index_and_search(endpoints: Endpoints, unique: Callable[[str], str]) -> None:
    es = Elasticsearch(endpoints.elasticsearch_url)
    index = unique("suppliers")
    es.indices.create(
        index=index,
        mappings={
            "properties": {"name": {"type": "text"}, "codes": {"type": "keyword"}, "country": {"type": "keyword"}}
        },
    )
    docs = [
        ("s1", "Nitrile examination gloves", ["42132203", "421322"], "CN"),
        ("s2", "Laptop computers and tablets", ["43211503", "432115"], "IN"),
        ("s3", "Surgical gloves, sterile", ["42132205", "421322"], "CN"),
    ]
    for sid, name, codes, country in docs:
        es.index(index=index, id=sid, document={"name": name, "codes": codes, "country": country})
    es.indices.refresh(index=index)
    hits = es.search(
        index=index,
        query={"bool": {"must": [{"match": {"name": "gloves"}}], "filter": [{"terms": {"codes": ["421322"]}}]}},
    )["hits"]["hits"]
    assert {h["_id"] for h in hits} == {"s1", "s3"}
    by_country = es.search(index=index, query={"term": {"country": "IN"}})["hits"]["hits"]
    assert [h["_id"] for h in by_country] == ["s2"]
    es.close()


@pytest.mark.parametrize("ignore_term", [False, True], ids=["polite", "ignores-sigterm"])
def test_stop_process_stops_the_child_and_what_it_started(tmp_path: Path, ignore_term: bool) -> None:
    # A launcher that starts a grandchild, as the noida-db entry point does; the stubborn one ignores SIGTERM.
    trap = "trap '' TERM; " if ignore_term else ""
    proc = stack.spawn(["sh", "-c", f"{trap}sleep 300 & {trap}wait"], tmp_path / "child.log")
    deadline = time.monotonic() + 10
    while len(stack.group_members(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(stack.group_members(proc.pid)) == 2, "the launcher and its grandchild share the child's process group"

    stack.stop_process(proc, timeout=0.5 if ignore_term else 10)

    assert proc.returncode is not None
    assert stack.group_members(proc.pid) == []
    if ignore_term:
        assert proc.returncode == -signal.SIGKILL

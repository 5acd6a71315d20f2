"""Two matcher replicas in one consumer group over the local stack share the notices; one killed mid-stream
(``kill -9``) and started again loses none, the other matching on meanwhile: every notice version ends with exactly
one shortlist, stored once and published only as stored (a redelivered notice republishes the stored shortlist, the
at-least-once repeat the notifier's idempotency keys absorb)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, KafkaProducer

from contracts import TenderNotice
from localrun.demo import ensure_pipeline_topics, topic_names
from localrun.pipeline import Pipeline, ServiceProcess, new_run_id
from services.infra.net import free_port
from tests.conftest import Endpoints
from tests.e2e.pipeline import TEST_ENV, handled_up_to_now, make_notices, make_suppliers, stack_of, write_models

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

#: Notices in the stream: small, so that a rebalance on the local server stays short.
N = 40
SUPPLIERS = 20


def metric(replica: ServiceProcess, prefix: str) -> float:
    """The sum of the replica's ``/metrics`` samples whose line starts with ``prefix``; 0 once it is gone."""
    try:
        with urllib.request.urlopen(f"{replica.url}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def matched(replica: ServiceProcess) -> float:
    """Notices the replica matched so far."""
    return metric(replica, "matcher_notices_matched_total{")


def partitions(replica: ServiceProcess) -> float:
    """Partitions of the notices topic the replica's notice worker holds now."""
    return metric(replica, 'matcher_consumer_partitions{worker="notice worker"}')


def recreations(replica: ServiceProcess) -> float:
    """Consumers the replica replaced because their group membership was stuck."""
    return metric(replica, "matcher_consumer_recreations_total{")


def shortlists_on(bootstrap: str, topic: str, until_notices: int, timeout: float) -> dict[str, list[dict[str, object]]]:
    """Every shortlist message on ``topic`` by notice id, read from the beginning until ``until_notices`` notices
    have one or ``timeout`` passes (then a few more seconds, so that late repeats are counted too)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap.split(","), auto_offset_reset="earliest")
    seen: dict[str, list[dict[str, object]]] = {}
    deadline = time.monotonic() + timeout
    quiet_until: float | None = None
    try:
        while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
            for records in consumer.poll(500).values():
                for r in records:
                    seen.setdefault(r.key.decode(), []).append(json.loads(r.value))
            if quiet_until is None and len(seen) >= until_notices:
                quiet_until = time.monotonic() + 3
    finally:
        consumer.close()
    return seen


@pytest.fixture
def replicas(endpoints: Endpoints, tmp_path: Path) -> Iterator[tuple[Pipeline, list[ServiceProcess]]]:
    """Two matcher processes of one pipeline (same topics, indexes and consumer group, unique to this test), each
    its own static group member and HTTP port; suppliers imported first. Stopped afterwards."""
    ports = {name: free_port() for name in ("matcher", "ingest", "notifier")}
    # A stuck membership is replaced after 15 s here (60 s by default): shorter than the waits below. Session
    # timeouts would not help: the local server never expires a member.
    extra = {**TEST_ENV, "TB_MATCHER_AWARDS_WORKER_ENABLED": "false", "TB_MATCHER_CONSUMER_STUCK_SECONDS": "15"}
    pipeline = Pipeline(
        stack_of(endpoints, tmp_path / "data"), tmp_path / "run", new_run_id(), extra_env=extra, ports=ports
    )
    ensure_pipeline_topics(pipeline)
    prefix = f"r{pipeline.run_id}"
    suppliers = tmp_path / "suppliers.jsonl"
    write_models(suppliers, make_suppliers(SUPPLIERS, prefix))
    pipeline.cli("matcher", "import-suppliers", str(suppliers), timeout=180)
    started: list[ServiceProcess] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            env = {**pipeline.env(), "TB_MATCHER_INSTANCE_ID": f"replica-{name}", "TB_MATCHER_HTTP_PORT": str(port)}
            replica = ServiceProcess("matcher", env, tmp_path / "run" / "logs" / f"matcher-{name}.log", port)
            replica.start()
            started.append(replica)
        for replica in started:
            replica.wait_healthy(timeout=90)
        yield pipeline, started
    finally:
        for replica in started:
            replica.stop()


def test_two_replicas_share_the_stream_and_a_kill_9_of_one_mid_stream_loses_no_notice(
    replicas: tuple[Pipeline, list[ServiceProcess]],
) -> None:
    pipeline, (a, b) = replicas
    topics = topic_names(pipeline)
    bootstrap = pipeline.cfg.kafka_bootstrap
    notices = make_notices(N, SUPPLIERS, f"r{pipeline.run_id}")
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all")

    def publish(batch: list[TenderNotice]) -> None:
        for n in batch:
            producer.send(topics["notices"], key=n.notice_id.encode(), value=n.model_dump_json().encode())
        producer.flush()

    try:
        # Both replicas in the group first: "healthy" says the API answers, not that the worker holds partitions, and
        # a replica that joins late finds the first half matched by the other.
        deadline = time.monotonic() + 180
        while not (partitions(a) >= 1 and partitions(b) >= 1):
            assert time.monotonic() < deadline, (
                f"the replicas never both held partitions (a {partitions(a)}, b {partitions(b)}; consumers "
                f"replaced: a {recreations(a)}, b {recreations(b)}); see {a.log_path} and {b.log_path}"
            )
            time.sleep(0.2)
        # The first half, until both replicas matched some (the group shares the partitions) and everything is
        # committed (the group is stable: a member killed mid-rebalance can wedge the local server's group).
        publish(notices[: N // 2])
        while not (matched(a) >= 1 and matched(b) >= 1 and handled_up_to_now(pipeline, "matcher", "notices")):
            assert time.monotonic() < deadline, (
                f"the replicas never both matched a notice and committed (a {matched(a)}, b {matched(b)}; "
                f"partitions: a {partitions(a)}, b {partitions(b)}; consumers replaced: a {recreations(a)}, "
                f"b {recreations(b)}): the group did not share the partitions; see {a.log_path} and {b.log_path}"
            )
            time.sleep(0.2)
        # Then a quarter (its keys spread over the topic's three partitions, some of them replica a's), and the kill
        # as soon as replica a is matching it: mid-stream, its last notices possibly uncommitted.
        before_kill = matched(a)
        publish(notices[N // 2 : 3 * N // 4])
        while matched(a) <= before_kill:
            assert time.monotonic() < deadline + 60, f"replica a matched nothing of the second half; {a.log_path}"
            time.sleep(0.05)
        done_by_a, b_at_kill = matched(a), matched(b)
        a.kill()
        assert done_by_a < N
        # Replica b goes on with its own partitions meanwhile: the last quarter is published while a is down.
        publish(notices[3 * N // 4 :])
        while matched(b) <= b_at_kill:
            assert time.monotonic() < deadline + 120, f"replica b stopped matching when a died; {b.log_path}"
            time.sleep(0.2)
        # The local server (noida-db 0.2.3) never expires a dead member from a group (measured: 40 s after a
        # kill -9, with a 10 s session timeout, the survivor still held only its own partition), so the killed
        # replica's partitions wait for it to come back, as the deployment's restart policy brings it: the same
        # static member (TB_MATCHER_INSTANCE_ID) takes its place and its uncommitted notices are redelivered. On
        # Kafka the session timeout hands them to replica b instead.
        a.start()
        a.wait_healthy(timeout=90)
    finally:
        producer.close()

    got = shortlists_on(bootstrap, topics["shortlists"], N, timeout=240)

    logs = f"see {a.log_path} and {b.log_path}"
    assert sorted(got) == sorted(n.notice_id for n in notices), f"notices without a shortlist; {logs}"
    for notice_id, messages in got.items():
        versions = {m["notice_version"] for m in messages}
        assert versions == {1}, (notice_id, versions)
        # Published more than once only as a redelivery's repeat of the stored shortlist: one shortlist, the same.
        assert all(m == messages[0] for m in messages), f"{notice_id} was shortlisted twice, differently; {logs}"
    es = Elasticsearch(pipeline.cfg.elasticsearch_url)
    try:
        index = f"{pipeline.env()['TB_MATCHER_INDEX_PREFIX']}-shortlists"
        es.indices.refresh(index=index)
        stored = es.search(index=index, query={"match_all": {}}, size=2 * N, source_includes=["shortlist"])
    finally:
        es.close()
    ids = sorted(h["_id"] for h in stored["hits"]["hits"])
    assert ids == sorted(f"{n.notice_id}@1" for n in notices)
    for h in stored["hits"]["hits"]:
        published = got[h["_source"]["shortlist"]["notice_id"]][0]
        assert h["_source"]["shortlist"] == published, "the stored shortlist is not the one published"
    assert done_by_a >= 1

"""Real Apache Kafka (KRaft) and Elasticsearch 8 containers for ``TB_TEST_BACKEND=docker``."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from services.infra.net import free_port, port_open

KAFKA_IMAGE = "apache/kafka:3.8.0"
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:8.15.3"
MAILPIT_IMAGE = "axllent/mailpit:v1.20"


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return
        time.sleep(1)
    raise RuntimeError(f"port {port} did not open within {timeout}s")


def start_containers(client: Any) -> Iterator[Any]:
    from tests.conftest import Endpoints

    kafka_port, es_port, smtp_port = free_port(), free_port(), free_port()
    containers = []
    try:
        containers.append(
            client.containers.run(
                KAFKA_IMAGE,
                detach=True,
                remove=True,
                ports={"9092/tcp": ("127.0.0.1", kafka_port)},
                environment={
                    "KAFKA_NODE_ID": "1",
                    "KAFKA_PROCESS_ROLES": "broker,controller",
                    "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
                    "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{kafka_port}",
                    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
                    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
                    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
                    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
                },
            )
        )
        containers.append(
            client.containers.run(
                ES_IMAGE,
                detach=True,
                remove=True,
                ports={"9200/tcp": ("127.0.0.1", es_port)},
                environment={
                    "discovery.type": "single-node",
                    "xpack.security.enabled": "false",
                    "ES_JAVA_OPTS": "-Xms512m -Xmx512m",
                },
            )
        )
        containers.append(
            client.containers.run(MAILPIT_IMAGE, detach=True, remove=True, ports={"1025/tcp": ("127.0.0.1", smtp_port)})
        )
        _wait_http(f"http://127.0.0.1:{es_port}", 120)
        _wait_port(kafka_port, 120)
        _wait_port(smtp_port, 60)
        yield Endpoints(f"127.0.0.1:{kafka_port}", f"http://127.0.0.1:{es_port}", "127.0.0.1", smtp_port, None)
    finally:
        for container in containers:
            container.stop(timeout=5)

"""What the notifier's integration tests share: an aiosmtpd sink they control (start, stop, restart on the same
port, reject some recipients), settings isolated per test, a running notifier, and a topic reader."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any, TypeVar

import uvicorn
from aiosmtpd.controller import Controller
from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel
from starlette.exceptions import StarletteDeprecationWarning

from contracts import Classification, CodeScheme, Shortlist, SupplierProfile
from services.infra.bus import KafkaPublisher, ensure_topics
from services.matcher.bootstrap import Container as MatcherContainer
from services.matcher.entrypoints.http import create_app as matcher_app
from services.notifier.bootstrap import Container, bootstrap
from services.notifier.entrypoints.worker import worker_for
from services.notifier.settings import Settings
from tests.conftest import Endpoints
from tests.unit.notifier.factories import profile

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient as TestClient  # for the tests, the warning silenced once

M = TypeVar("M", bound=BaseModel)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Collector:
    """aiosmtpd handler: keeps every accepted message; refuses recipients containing ``reject`` with a 550."""

    def __init__(self, pipelining: bool = False) -> None:
        self.messages: list[bytes] = []
        self.sessions = 0
        #: Advertise RFC 2920 PIPELINING (aiosmtpd handles a pipelined group in order but does not say so).
        self.pipelining = pipelining
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self._lock:
            self.sessions += 1
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if "reject" in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(bytes(envelope.original_content or envelope.content))
        return "250 2.0.0 accepted"


class Sink:
    def __init__(self, port: int | None = None, pipelining: bool = False, **smtp_options: Any) -> None:
        self.port = port or free_port()
        self.handler = Collector(pipelining)
        #: Passed to aiosmtpd's SMTP server (``timeout=`` closes idle connections).
        self.smtp_options = smtp_options
        self._controller: Controller | None = None

    def start(self) -> Sink:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.smtp_options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def emails(self) -> list[EmailMessage]:
        out = []
        for raw in list(self.handler.messages):
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
        return out

    def keys(self) -> list[str]:
        return [str(m["X-Tenderbridge-Key"]) for m in self.emails()]

    def wait_for(self, count: int, timeout: float = 60) -> list[EmailMessage]:
        wait_until(lambda: len(self.handler.messages) >= count, timeout, f"{count} emails in the sink")
        return self.emails()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def isolated_settings(endpoints: Endpoints, unique: Callable[[str], str], smtp_port: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": endpoints.kafka_bootstrap,
        "elasticsearch_url": endpoints.elasticsearch_url,
        "topic_profiles": unique("profiles"),
        "topic_shortlists": unique("shortlists"),
        "topic_shortlists_dlq": unique("shortlists-dlq"),
        "topic_notifications": unique("notifications"),
        "topic_notifications_dlq": unique("notifications-dlq"),
        "notifier_index_prefix": unique("tb"),
        "notifier_consumer_group": unique("notifier"),
        "notifier_smtp_host": "127.0.0.1",
        "notifier_smtp_port": smtp_port,
        "notifier_smtp_timeout_s": 5,
        "notifier_rate_limit_per_s": 0,
        "notifier_backoff_base_s": 0.05,
        "notifier_backoff_max_s": 0.4,
        "notifier_max_attempts": 80,
        "notifier_digest_interval_s": 3600,
        "notifier_unsubscribe_sync_interval_s": 3600,
        # Nothing listens there: unsubscribes stay pending, which these tests do not exercise.
        "notifier_matcher_url": f"http://127.0.0.1:{free_port()}",
        "notifier_unsubscribe_secret": "integration-secret",
    }
    values.update(extra)
    return Settings(**values)


@contextlib.contextmanager
def running(settings: Settings, instance_id: str) -> Iterator[Container]:
    """A notifier worker in a thread (the HTTP app is not served); stopped and closed afterwards."""
    runtime = bootstrap(settings, instance_id=instance_id)
    worker = worker_for(runtime)
    thread = threading.Thread(target=worker.run, name=f"notifier-{instance_id}")
    thread.start()
    try:
        wait_until(lambda: worker.started or worker.error is not None, 60, "the worker to start")
        yield runtime
    finally:
        runtime.stop.set()
        thread.join(timeout=60)
        runtime.close()
    assert worker.error is None, f"the worker crashed: {worker.error!r}"


def read_topic(bootstrap_servers: str, topic: str, model: type[M], timeout: float = 30) -> list[tuple[str, M]]:
    """Every message on the topic up to its current end, as (key, model)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), enable_auto_commit=False, group_id=None)
    try:
        deadline = time.monotonic() + timeout
        parts = consumer.partitions_for_topic(topic)
        while not parts and time.monotonic() < deadline:
            time.sleep(0.1)
            parts = consumer.partitions_for_topic(topic)
        partitions = [TopicPartition(topic, p) for p in sorted(parts or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        out: list[tuple[str, M]] = []
        while any(consumer.position(tp) < offset for tp, offset in end.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end")
            for records in consumer.poll(timeout_ms=200).values():
                out.extend((r.key.decode(), model.model_validate_json(r.value)) for r in records if r.value)
        return out
    finally:
        consumer.close()


def counter(runtime: Container, name: str, **labels: str) -> float:
    return runtime.notifier.metrics.registry.get_sample_value(name, labels) or 0.0


def publish(settings: Settings, *items: SupplierProfile | Shortlist) -> None:
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, client_id="test")
    for item in items:
        if isinstance(item, SupplierProfile):
            publisher.publish(settings.topic_profiles, item.supplier_id, item)
        elif isinstance(item, Shortlist):
            publisher.publish(settings.topic_shortlists, item.notice_id, item)
    publisher.flush()
    publisher.close()


def prepare(settings: Settings) -> None:
    ensure_topics(settings.kafka_bootstrap_servers, settings.topic_map().items())


ADMIN_KEY = "it-admin-key"


class Served:
    """The matcher's HTTP app on a free port (uvicorn in a thread), started and stopped by the test."""

    def __init__(self, container: MatcherContainer) -> None:
        self.container = container
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            matcher_app(self.container), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="matcher-http")
        self._thread.start()
        server = self._server
        wait_until(lambda: server.started, 20, "the matcher's HTTP app to start")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)

    def close(self) -> None:
        """Stop serving, delete the matcher's indexes, close its clients."""
        self.stop()
        es = self.container.es
        for index in es.indices.get(index=f"{self.container.settings.matcher_index_prefix}-*"):
            es.indices.delete(index=index)
        self.container.close()


BUYER_KEY = "it-buyer-key"
AGENCY = "UNICEF Supply Division"
GLOVES = Classification(scheme=CodeScheme.UNSPSC, code="42132203", description="Medical gloves")


def glove_maker(supplier_id: str, address: str) -> SupplierProfile:
    return profile(supplier_id, emails=[address]).model_copy(
        update={"codes": [GLOVES], "keywords": ["nitrile gloves"], "updated_at": None}
    )


def to(message: EmailMessage) -> list[str]:
    return [a.addr_spec for a in message["To"].addresses]


def key(message: EmailMessage) -> str:
    return str(message["X-Tenderbridge-Key"])


def sent(sink: Sink) -> list[str]:
    """The idempotency keys of the emails the sink accepted, in order."""
    return [key(m) for m in sink.emails()]


def confirmations(sink: Sink) -> list[EmailMessage]:
    return [m for m in sink.emails() if "|confirmation|" in key(m)]


def message(i: int, to: str = "buyer@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alerts@tenderbridge.local"
    msg["To"] = to
    msg["Subject"] = f"tender {i}"
    msg["X-Tenderbridge-Key"] = f"k{i}"
    msg.set_content(f".a line starting with a dot\nmessage {i}\n")
    msg.add_alternative(f"<p>message {i}</p>", subtype="html")
    return msg

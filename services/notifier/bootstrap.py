"""Wiring: settings in, a ``Notifier`` with real adapters (and the Kafka worker and HTTP app) out. Nothing is
connected at import time."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from elasticsearch import Elasticsearch
from fastapi import FastAPI

from services.infra.bus import KafkaPublisher, ensure_topics, json_consumer
from services.notifier.adapters.mail import SmtpMailSender
from services.notifier.adapters.matcher import HttpPreferencesClient
from services.notifier.adapters.profiles import KafkaProfileFeed
from services.notifier.adapters.store import ElasticsearchNotificationStore
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.domain.rendering import load_code_titles
from services.notifier.entrypoints.http import create_app
from services.notifier.entrypoints.worker import ShortlistWorker
from services.notifier.exceptions import ShuttingDown
from services.notifier.metrics import Metrics
from services.notifier.service import Notifier
from services.notifier.settings import Settings


def smtp_sender(settings: Settings, reuse_connection: bool = True) -> SmtpMailSender:
    return SmtpMailSender(
        settings.notifier_smtp_host,
        settings.notifier_smtp_port,
        starttls=settings.notifier_smtp_starttls,
        implicit_tls=settings.notifier_smtp_tls,
        user=settings.notifier_smtp_user,
        password=settings.notifier_smtp_password.get_secret_value() if settings.notifier_smtp_password else None,
        timeout_s=settings.notifier_smtp_timeout_s,
        rate_limit_per_s=settings.notifier_rate_limit_per_s,
        reuse_connection=reuse_connection,
        ca_file=settings.notifier_smtp_ca_file,
        connections=settings.notifier_smtp_connections,
    )


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Runtime:
    settings: Settings
    notifier: Notifier
    store: ElasticsearchNotificationStore
    publisher: KafkaPublisher
    worker: ShortlistWorker
    app: FastAPI
    stop: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.notifier.mail.close()
        self.publisher.close()


def bootstrap(settings: Settings, instance_id: str | None = None) -> Runtime:
    if settings.create_topics:
        ensure_topics(settings.kafka_bootstrap_servers, settings.topic_map().items())
    es = Elasticsearch(settings.elasticsearch_url, request_timeout=30)
    store = ElasticsearchNotificationStore(es, settings.notifications_index, settings.unsubscribes_index)
    store.ensure_indexes()
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, client_id="notifier")
    profiles = ProfileDirectory()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise ShuttingDown("stop requested during a retry backoff")

    key = settings.notifier_matcher_api_key
    member = instance_id or settings.notifier_instance_id
    notifier = Notifier(
        settings,
        store,
        smtp_sender(settings),
        publisher,
        profiles,
        HttpPreferencesClient(settings.notifier_matcher_url, key.get_secret_value() if key else None),
        Metrics(),
        code_titles=load_code_titles(Path(p.strip()) for p in settings.notifier_code_lists.split(",") if p.strip()),
        sleep=sleep,
        instance_id=member,
    )
    static: dict[str, str] = (
        {"group_instance_id": f"{settings.notifier_consumer_group}-{member}"[:249]}
        if settings.notifier_static_membership
        else {}
    )
    consumer = json_consumer(
        settings.kafka_bootstrap_servers,
        [settings.topic_shortlists],
        settings.notifier_consumer_group,
        client_id="notifier",
        # A batch may wait for SMTP retries; allow for it before the group evicts us.
        max_poll_records=50,
        max_poll_interval_ms=600_000,
        **static,
    )
    feed = KafkaProfileFeed(settings.kafka_bootstrap_servers, settings.topic_profiles, profiles, "notifier-profiles")
    worker = ShortlistWorker(notifier, consumer, feed, publisher, stop)

    def ready() -> dict[str, bool]:
        return {
            "elasticsearch": store.ping(),
            "profiles_loaded": worker.started,
            "worker": worker.error is None,
            "smtp": _port_open(settings.notifier_smtp_host, settings.notifier_smtp_port),
        }

    app = create_app(notifier, ready)
    return Runtime(settings, notifier, store, publisher, worker, app, stop)

"""Wiring: settings -> adapters -> the ingest use case. Nothing here runs at import time."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from services.infra.bus import EventPublisher, KafkaPublisher, ensure_topics
from services.ingest.adapters.fetcher import Fetcher, HttpFetcher
from services.ingest.adapters.files import load_cpv_check_digits
from services.ingest.adapters.state import SqliteStateStore, StateStore
from services.ingest.domain.model import Context
from services.ingest.polling import Poller, SourceSpec, load_sources
from services.ingest.service import Ingestor, Metrics
from services.ingest.settings import Settings


@dataclass
class Container:
    settings: Settings
    ingestor: Ingestor
    base_context: Context
    fetcher: Fetcher
    pollers: list[Poller] = field(default_factory=list)

    def close(self) -> None:
        for closable in (self.ingestor.publisher, self.ingestor.state, self.fetcher):
            close = getattr(closable, "close", None)
            if close is not None:
                close()


def kafka_reachable(bootstrap_servers: str, timeout_s: float = 1.0) -> bool:
    """Whether one of the bootstrap servers accepts a TCP connection (a cheap readiness check)."""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def base_context(settings: Settings) -> Context:
    return Context(
        source="ocds",
        cpv_check_digits=load_cpv_check_digits(settings.ingest_cpv_list_path),
        detect_language=settings.ingest_detect_language,
    )


def bootstrap(
    settings: Settings,
    publisher: EventPublisher | None = None,
    state: StateStore | None = None,
    fetcher: Fetcher | None = None,
    with_pollers: bool = False,
) -> Container:
    metrics = Metrics()
    if publisher is None:
        if settings.create_topics:
            wanted = {settings.topic_notices, settings.topic_notices_dlq}
            ensure_topics(
                settings.kafka_bootstrap_servers, [(n, s) for n, s in settings.topic_map().items() if n in wanted]
            )
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            settings.ingest_client_id,
            max_message_bytes=settings.kafka_max_message_bytes,
            registry=metrics.registry,  # publish_failures_total beside ingest's own metrics on /metrics
        )
    ingestor = Ingestor(
        publisher,
        state or SqliteStateStore(settings.ingest_state_dir),
        settings.topic_notices,
        settings.topic_notices_dlq,
        metrics,
        settings.ingest_batch_size,
        max_notice_bytes=settings.ingest_max_notice_bytes,
    )
    ctx = base_context(settings)
    container = Container(settings, ingestor, ctx, fetcher or HttpFetcher(settings.ingest_http_timeout_s))
    if with_pollers and settings.ingest_sources_file is not None:
        specs: list[SourceSpec] = load_sources(settings.ingest_sources_file)
        container.pollers = [
            Poller(spec, ingestor, container.fetcher, ctx, settings.ingest_max_pages) for spec in specs
        ]
    return container

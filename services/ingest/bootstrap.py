"""Wiring: ``bootstrap(settings)`` builds ingest over Kafka, sqlite3 and HTTP; ``bootstrap_in_memory`` over the
in-memory fakes (unit tests). Nothing here runs at import time."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.infra.bus import EventPublisher, InMemoryPublisher, KafkaPublisher, ensure_topics
from services.ingest.adapters.fetcher import HttpFetcher
from services.ingest.adapters.files import load_cpv_check_digits
from services.ingest.adapters.memory import InMemoryFetcher, InMemoryStateStore
from services.ingest.adapters.state import SqliteStateStore
from services.ingest.domain.model import Context
from services.ingest.polling import Poller, SourceSpec, load_sources
from services.ingest.ports import Fetcher, StateStore
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


def base_context(settings: Settings) -> Context:
    return Context(
        source="ocds",
        cpv_check_digits=load_cpv_check_digits(settings.ingest_cpv_list_path),
        detect_language=settings.ingest_detect_language,
    )


def _container(
    settings: Settings,
    publisher: EventPublisher,
    state: StateStore,
    fetcher: Fetcher,
    with_pollers: bool,
    metrics: Metrics | None = None,
) -> Container:
    """The one place ingest is built from settings, whatever its adapters."""
    ingestor = Ingestor(
        publisher,
        state,
        settings.topic_notices,
        settings.topic_notices_dlq,
        metrics or Metrics(),
        settings.ingest_batch_size,
        max_notice_bytes=settings.ingest_max_notice_bytes,
        awards_topic=settings.topic_awards,
        awards_dlq_topic=settings.topic_awards_dlq,
    )
    ctx = base_context(settings)
    container = Container(settings, ingestor, ctx, fetcher)
    if with_pollers and settings.ingest_sources_file is not None:
        specs: list[SourceSpec] = load_sources(settings.ingest_sources_file)
        container.pollers = [Poller(spec, ingestor, fetcher, ctx, settings.ingest_max_pages) for spec in specs]
    return container


def bootstrap_in_memory(
    settings: Settings | None = None,
    *,
    publisher: EventPublisher | None = None,
    fetcher: Fetcher | None = None,
    with_pollers: bool = False,
) -> Container:
    """Ingest over the in-memory fakes: nothing is published outside this process, nothing is written to disk."""
    return _container(
        settings or Settings(),
        publisher or InMemoryPublisher(),
        InMemoryStateStore(),
        fetcher or InMemoryFetcher(),
        with_pollers,
    )


def bootstrap(
    settings: Settings,
    publisher: EventPublisher | None = None,
    state: StateStore | None = None,
    fetcher: Fetcher | None = None,
    with_pollers: bool = False,
) -> Container:
    """Ingest over Kafka (topics created when missing and allowed), sqlite3 state and HTTP fetching."""
    metrics = Metrics()
    if publisher is None:
        if settings.create_topics:
            wanted = {
                settings.topic_notices,
                settings.topic_notices_dlq,
                settings.topic_awards,
                settings.topic_awards_dlq,
            }
            ensure_topics(
                settings.kafka_bootstrap_servers, [(n, s) for n, s in settings.topic_map().items() if n in wanted]
            )
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            settings.ingest_client_id,
            max_message_bytes=settings.kafka_max_message_bytes,
            registry=metrics.registry,  # publish_failures_total beside ingest's own metrics on /metrics
        )
    return _container(
        settings,
        publisher,
        state or SqliteStateStore(settings.ingest_state_dir),
        fetcher or HttpFetcher(settings.ingest_http_timeout_s),
        with_pollers,
        metrics,
    )

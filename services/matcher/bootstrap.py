"""Wiring: ``bootstrap(settings)`` builds the matcher over Elasticsearch and Kafka; tests pass fakes instead.
Nothing here runs at import time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.infra.bus import EventPublisher, InMemoryPublisher, KafkaPublisher, ensure_topics
from services.infra.net import any_port_open
from services.matcher.adapters import memory
from services.matcher.domain import ScoringConfig
from services.matcher.domain.crosswalk import Crosswalk
from services.matcher.ports import Encoder, FeedbackStore, KeyStore, NoticeStore, ProfileStore, ShortlistStore
from services.matcher.service import Matcher, MatcherMetrics, RegistrationQuota, SelfRegistration, SlidingWindows
from services.matcher.settings import Settings
from services.matcher.suggestions import TextCodes

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    matcher: Matcher
    keys: KeyStore
    registry: CollectorRegistry
    ready: Callable[[], dict[str, bool]]
    es: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    #: The public registration form's use case and its limits (counted in this process).
    registration: SelfRegistration = field(init=False)

    def __post_init__(self) -> None:
        self.registration = self_registration(self.settings, self.matcher)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # closing is best effort; the process is ending anyway
                log.warning("error while closing", exc_info=True)


def self_registration(settings: Settings, matcher: Matcher) -> SelfRegistration:
    """The registration form's use case with the limits of the settings."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    return SelfRegistration(
        matcher=matcher,
        per_client=SlidingWindows(
            {
                "hour": (hour, settings.matcher_register_per_client_hour),
                "day": (day, settings.matcher_register_per_client_day),
            }
        ),
        per_mailbox=SlidingWindows({"day": (day, settings.matcher_register_per_address_day)}),
        per_client_suggestions=SlidingWindows({"hour": (hour, settings.matcher_register_suggestions_per_client_hour)}),
    )


def _is_production(encoder: Encoder | None) -> bool:
    """Whether ``encoder`` is the one ``make_encoder`` builds (not a test's fake)."""
    from services.matcher.adapters.encoder import UseEncoder

    return isinstance(encoder, UseEncoder)


def make_encoder(settings: Settings) -> Encoder | None:
    """The encoder ``TB_MATCHER_ENCODER`` names (``None`` for ``none``); its model loads on first use."""
    if settings.matcher_encoder == "none":
        return None
    from services.matcher.adapters.encoder import UseEncoder

    return UseEncoder()


def shipped_code_data(encoder: Encoder | None) -> tuple[Crosswalk, TextCodes | None]:
    """The shipped CPV <-> UNSPSC crosswalk, and code suggestion for code-less profiles and notices when the shipped
    code index was made with ``encoder``'s model (``None`` otherwise: its vectors could not be compared)."""
    from services.matcher.adapters import codebook

    text_codes = None if encoder is None else TextCodes.for_encoder(encoder, codebook.code_index)
    if encoder is not None and text_codes is None:
        log.warning("the shipped code index was not made with %s: no codes are suggested for matching", encoder.model)
    return codebook.crosswalk(), text_codes


def _matcher(
    settings: Settings,
    registry: CollectorRegistry,
    config: ScoringConfig,
    clock: Callable[[], datetime],
    *,
    profiles: ProfileStore,
    notices: NoticeStore,
    shortlists: ShortlistStore,
    publisher: EventPublisher,
    feedback: FeedbackStore,
    encoder: Encoder | None,
    crosswalk: Crosswalk | None = None,
    text_codes: TextCodes | None = None,
) -> Matcher:
    """The one place a ``Matcher`` is built from settings, whatever its stores."""
    metrics = MatcherMetrics(registry)
    quota = RegistrationQuota(
        settings.matcher_new_addresses_per_key_hour, settings.matcher_new_addresses_per_key_day, metrics
    )
    return Matcher(
        profiles=profiles,
        notices=notices,
        shortlists=shortlists,
        publisher=publisher,
        topic_shortlists=settings.topic_shortlists,
        topic_profiles=settings.topic_profiles,
        metrics=metrics,
        config=config,
        clock=clock,
        ineligible=frozenset(settings.matcher_ineligible_suppliers),
        refit_every_changes=settings.matcher_refit_every_changes,
        reverse_match_limit=settings.matcher_reverse_match_limit,
        learn_weights=settings.matcher_learn_weights,
        limits=settings.profile_limits(),
        registrations=quota,
        feedback=feedback,
        topic_feedback=settings.topic_feedback,
        encoder=encoder,
        feedback_pooling=settings.matcher_feedback_pooling,
        crosswalk=crosswalk,
        text_codes=text_codes,
    )


def bootstrap_in_memory(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = _now,
    config: ScoringConfig | None = None,
    publisher: EventPublisher | None = None,
    encoder: Encoder | None = None,
    code_data: tuple[Crosswalk | None, TextCodes | None] | None = None,
) -> Container:
    """The matcher over the in-memory fakes (unit tests, offline ``match``). No encoder unless one is given (the
    offline ``match`` passes ``make_encoder(settings)``; unit tests a ``HashingEncoder`` or none). ``code_data``:
    the crosswalk and code suggestion; by default the shipped ones (``shipped_code_data``) with the production
    encoder, none with a fake one or none."""
    settings = settings or Settings()
    config = config if config is not None else settings.scoring_config()
    if code_data is None:
        code_data = shipped_code_data(encoder) if _is_production(encoder) else (None, None)
    crosswalk, text_codes = code_data
    registry = CollectorRegistry()
    matcher = _matcher(
        settings,
        registry,
        config,
        clock,
        profiles=memory.InMemoryProfileStore(encoder=encoder, text_codes=text_codes),
        notices=memory.InMemoryNoticeStore(config),
        shortlists=memory.InMemoryShortlistStore(),
        publisher=publisher or InMemoryPublisher(),
        feedback=memory.InMemoryFeedbackStore(),
        encoder=encoder,
        crosswalk=crosswalk,
        text_codes=text_codes,
    )
    return Container(settings, matcher, memory.InMemoryKeyStore(), registry, ready=lambda: {"memory": True})


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = _now,
    config: ScoringConfig | None = None,
    publisher: EventPublisher | None = None,
    profiles: ProfileStore | None = None,
    notices: NoticeStore | None = None,
    shortlists: ShortlistStore | None = None,
    keys: KeyStore | None = None,
    feedback: FeedbackStore | None = None,
    create_indexes: bool = True,
    encoder: Encoder | None = None,
) -> Container:
    """The matcher over Elasticsearch and Kafka (topics and indexes created when missing); the encoder is
    ``TB_MATCHER_ENCODER``'s unless one is given."""
    from services.matcher.adapters import elastic

    settings = settings or Settings()
    config = config if config is not None else settings.scoring_config()
    encoder = encoder if encoder is not None else make_encoder(settings)
    crosswalk, text_codes = shipped_code_data(encoder)
    es = elastic.make_client(settings.elasticsearch_url, settings.matcher_es_timeout_seconds)
    names = elastic.IndexNames(settings.matcher_index_prefix)
    if create_indexes:
        elastic.ensure_indexes(es, names, encoder.dimension if encoder is not None else None)
        elastic.ensure_feedback_index(es, names)
    closers: list[Callable[[], None]] = [es.close]
    if publisher is None:
        if settings.create_topics:
            ensure_topics(settings.kafka_bootstrap_servers, list(settings.topic_map().items()))
        kafka = KafkaPublisher(settings.kafka_bootstrap_servers, client_id="matcher")
        closers.append(kafka.close)
        publisher = kafka
    registry = CollectorRegistry()
    matcher = _matcher(
        settings,
        registry,
        config,
        clock,
        profiles=profiles
        or elastic.ElasticProfileStore(
            es, names, clock, settings.matcher_profile_cache_size, encoder=encoder, text_codes=text_codes
        ),
        notices=notices or elastic.ElasticNoticeStore(es, names, config),
        shortlists=shortlists or elastic.ElasticShortlistStore(es, names),
        publisher=publisher,
        feedback=feedback or elastic.ElasticFeedbackStore(es, names),
        encoder=encoder,
        crosswalk=crosswalk,
        text_codes=text_codes,
    )

    def ready() -> dict[str, bool]:
        return {"elasticsearch": elastic.ping(es), "kafka": any_port_open(settings.kafka_bootstrap_servers)}

    return Container(
        settings,
        matcher,
        keys or elastic.ElasticKeyStore(es, names),
        registry,
        ready=ready,
        es=es,
        closers=closers,
    )

"""Fixtures of the notifier's integration tests: an SMTP sink of the test's own, the notifier's settings over the
test's own topics and indexes, and the matcher's HTTP app (publishing to those topics, or not started yet)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container, bootstrap
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings as MatcherSettings
from services.notifier.settings import Settings
from tests.conftest import Endpoints
from tests.integration.notifier.helpers import (
    ADMIN_KEY,
    AGENCY,
    BUYER_KEY,
    Served,
    Sink,
    isolated_settings,
    prepare,
)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink().start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def settings(endpoints: Endpoints, unique: Callable[[str], str], sink: Sink) -> Settings:
    return isolated_settings(endpoints, unique, sink.port, notifier_confirmation_interval_s=0.2)


@pytest.fixture
def matcher(endpoints: Endpoints, unique: Callable[[str], str], settings: Settings) -> Iterator[Served]:
    """The matcher's HTTP app on a free port, publishing profiles and shortlists to the notifier's topics."""
    prepare(settings)
    matcher_settings = MatcherSettings(
        kafka_bootstrap_servers=endpoints.kafka_bootstrap,
        elasticsearch_url=endpoints.elasticsearch_url,
        matcher_index_prefix=unique("m"),
        matcher_admin_api_key=ADMIN_KEY,  # type: ignore[arg-type]
        topic_profiles=settings.topic_profiles,
        topic_shortlists=settings.topic_shortlists,
        create_topics=False,
    )
    container: Container = bootstrap(matcher_settings)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    container.keys.put(ApiKey(key_hash=hash_token(BUYER_KEY), role=Role.BUYER, agency=AGENCY, created_at=created))
    served = Served(container)
    served.start()
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def stopped_matcher(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Served]:
    """The matcher's HTTP app on a free port over its own indexes, not served until the test starts it."""
    settings = MatcherSettings(
        elasticsearch_url=endpoints.elasticsearch_url,
        matcher_index_prefix=unique("m"),
        matcher_admin_api_key=ADMIN_KEY,  # type: ignore[arg-type]
    )
    container = bootstrap(settings, publisher=InMemoryPublisher())
    served = Served(container)
    try:
        yield served
    finally:
        served.close()

"""Fixtures shared by ingest's integration tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.topics import NOTICES, NOTICES_DLQ
from services.infra.bus import ensure_topics
from tests.conftest import Endpoints


@pytest.fixture
def topics(endpoints: Endpoints, unique: Callable[[str], str]) -> tuple[str, str]:
    """A notices topic and its dead-letter topic of this test's own, created on the local Kafka."""
    notices, dlq = unique("notices"), unique("notices-dlq")
    ensure_topics(endpoints.kafka_bootstrap, [(notices, NOTICES), (dlq, NOTICES_DLQ)])
    return notices, dlq

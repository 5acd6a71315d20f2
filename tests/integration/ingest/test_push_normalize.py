"""A TenderNotice pushed to ``POST /notices`` reaches the local Kafka normalized like the notices of any source."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from contracts import CodeScheme, TenderNotice
from services.ingest.domain.model import Context
from services.ingest.entrypoints.http import create_app
from tests.conftest import Endpoints
from tests.integration.ingest.helpers import close, make_ingestor, read_topic

pytestmark = pytest.mark.integration


def test_a_pushed_4_digit_unspsc_code_is_published_padded(
    endpoints: Endpoints, tmp_path: Path, topics: tuple[str, str]
) -> None:
    notices, dlq = topics
    ingestor = make_ingestor(endpoints, tmp_path, notices, dlq)
    client = TestClient(create_app(ingestor, {"k1"}, Context(source="push", detect_language=True)))
    body = {
        "notice_id": "push:4213",
        "source": "push",
        "source_id": "4213",
        "title": "<p>Supply of water <b>pumps</b></p>",
        "description": "Solar powered water pumps and spare parts for the refugee camps in the north.",
        "buyer": {"name": "UNICEF"},
        "classifications": [{"scheme": "UNSPSC", "code": "4213"}],
    }
    try:
        response = client.post("/notices", json=body, headers={"X-API-Key": "k1"})
        assert response.status_code == 202
        assert response.json() == {"notice_id": "push:4213", "version": 1, "published": True, "warnings": []}
        [(key, value)] = read_topic(endpoints.kafka_bootstrap, notices, 1)
    finally:
        close(ingestor)
    notice = TenderNotice.model_validate_json(value)
    assert key == "push:4213"
    assert [(c.scheme, c.code) for c in notice.classifications] == [(CodeScheme.UNSPSC, "42130000")]
    assert notice.title == "Supply of water pumps"
    assert notice.language == "en"

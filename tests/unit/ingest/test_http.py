from __future__ import annotations

import warnings

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from contracts import DeadLetter
from services.infra.bus import InMemoryPublisher
from services.ingest.bootstrap import bootstrap_in_memory
from services.ingest.entrypoints.http import create_app
from services.ingest.settings import Settings
from tests.unit.ingest.util import release

pytestmark = pytest.mark.unit

KEY = {"X-API-Key": "secret"}
NOTICE = {
    "notice_id": "push:1",
    "source": "push",
    "source_id": "1",
    "title": "Water pumps",
    "buyer": {"name": "UNICEF"},
}


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def client(publisher: InMemoryPublisher) -> TestClient:
    settings = Settings(topic_notices="notices", topic_notices_dlq="dlq", ingest_detect_language=False)
    container = bootstrap_in_memory(settings, publisher=publisher)
    return TestClient(create_app(container.ingestor, {"secret"}, container.base_context))


def test_push_needs_a_key(client: TestClient) -> None:
    response = client.post("/notices", json=NOTICE)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert client.post("/notices", json=NOTICE, headers={"X-API-Key": "wrong"}).status_code == 401


def test_push_a_tender_notice(client: TestClient, publisher: InMemoryPublisher) -> None:
    response = client.post("/notices", json=NOTICE, headers={"Authorization": "Bearer secret"})
    assert response.status_code == 202
    assert response.json() == {"notice_id": "push:1", "version": 1, "published": True, "warnings": []}
    again = client.post("/notices", json=NOTICE, headers=KEY)
    assert again.json()["published"] is False
    assert len(publisher.on("notices")) == 1


def test_push_an_ocds_release(client: TestClient) -> None:
    response = client.post("/notices", json=release(), headers=KEY)
    assert response.status_code == 202
    assert response.json()["notice_id"] == "ocds-abc123:ocds-abc123-0001"


def test_push_with_a_utf8_byte_order_mark(client: TestClient) -> None:
    body = b"\xef\xbb\xbf" + orjson.dumps(release())
    response = client.post("/notices", content=body, headers={**KEY, "Content-Type": "application/json"})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'{"hello": "world"}', "unknown_document"),
        (b'{"notice_id": "push:2", "source": "push", "source_id": "2"}', "invalid_notice"),
        (b'{"ocid": "ocds-abc123-9", "tag": ["award"]}', "not_a_notice"),
        # Hostile nesting: deeper than orjson accepts, and deep enough to exhaust the mappers' recursion.
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
        (b'{"ocid": ' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b"}", "invalid_json"),
    ],
)
def test_bad_pushes_get_422_problem_json_and_are_dead_lettered(
    client: TestClient, publisher: InMemoryPublisher, body: bytes, reason: str
) -> None:
    response = client.post("/notices", content=body, headers={**KEY, "content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == reason
    assert problem["detail"]
    [letter] = publisher.on("dlq")
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.origin) == (reason, "http")


def test_ops_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    client.post("/notices", json=NOTICE, headers=KEY)
    assert 'ingest_notices_published_total{source="push",status="active"} 1.0' in client.get("/metrics").text

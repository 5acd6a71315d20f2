"""The buyer API over real Elasticsearch, where the store itself refuses what the in-memory fake does not: an
empty id (its client raises before asking), an offset beyond ±18:00 (its date parser refuses it). Neither may answer
a 500 nor the store's own error."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container, bootstrap
from services.matcher.entrypoints.http import create_app
from services.matcher.settings import Settings
from tests.conftest import Endpoints
from tests.unit.matcher_service.builders import NOW, key_header, notice, supplier

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

ADMIN = "adm"


@pytest.fixture
def client(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[TestClient]:
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("m"), matcher_admin_api_key=ADMIN
    )
    c: Container = bootstrap(settings, publisher=InMemoryPublisher(), clock=lambda: NOW)
    try:
        c.matcher.profiles.put(supplier("S1"))
        c.matcher.handle_notice(notice("8", deadline=NOW.replace(day=20)))
        c.es.indices.refresh(index=f"{settings.matcher_index_prefix}-*")  # GET /notices searches
        with TestClient(create_app(c), raise_server_exceptions=False) as http:
            yield http
    finally:
        for index in c.es.indices.get(index=f"{settings.matcher_index_prefix}-*"):
            c.es.indices.delete(index=index)
        c.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/notices/"), ("GET", "/notices//shortlist"), ("POST", "/notices//rematch"), ("GET", "/ui/notices/")],
)
def test_an_empty_notice_id_is_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, headers=key_header(ADMIN))
    assert response.status_code == 404, response.text


def test_a_deadline_with_an_offset_beyond_18_hours_filters_in_utc(client: TestClient) -> None:
    late = {"deadline_from": "2026-03-01T00:00:00+23:59"}
    response = client.get("/notices", params=late, headers=key_header(ADMIN))
    assert response.status_code == 200, response.text
    assert [n["notice_id"] for n in response.json()["items"]] == ["ungm:8"]

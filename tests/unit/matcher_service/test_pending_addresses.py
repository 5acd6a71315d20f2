"""An address waiting for its owner's consent is the registrant's to see, not every buyer's."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, supplier

pytestmark = pytest.mark.unit

ADMIN, UNICEF, WFP = "admin-secret", "key-unicef", "key-wfp"


@pytest.fixture
def client() -> Iterator[TestClient]:
    container: Container = bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN), clock=lambda: NOW)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    container.keys.put(ApiKey(key_hash=hash_token(UNICEF), role=Role.BUYER, agency="UNICEF", created_at=created))
    container.keys.put(ApiKey(key_hash=hash_token(WFP), role=Role.BUYER, agency="WFP", created_at=created))
    with TestClient(create_app(container)) as c:
        yield c


def test_a_buyer_sees_the_pending_addresses_its_agency_registered_not_those_of_others(client: TestClient) -> None:
    # An admin's write keeps the confirmation entries it states: two addresses typed in by two agencies, waiting.
    pending = {
        "unicef-typed@example.org": {"registered_by": "UNICEF", "registered_at": "2026-10-01T00:00:00Z"},
        "wfp-typed@example.org": {"registered_by": "WFP", "registered_at": "2026-10-01T00:00:00Z"},
    }
    emails = ["sales@example.org", "unicef-typed@example.org", "wfp-typed@example.org"]
    profile = supplier("S9").model_dump(mode="json") | {"emails": emails, "email_confirmations": pending}
    assert client.post("/suppliers", json=profile, headers={"X-API-Key": ADMIN}).status_code == 201

    seen = client.get("/suppliers/S9", headers={"X-API-Key": UNICEF}).json()
    assert seen["emails"] == ["sales@example.org", "unicef-typed@example.org"]
    assert list(seen["email_confirmations"]) == ["unicef-typed@example.org"]
    [found] = client.get("/suppliers/search", params={"q": "gloves"}, headers={"X-API-Key": WFP}).json()["items"]
    assert found["emails"] == ["sales@example.org", "wfp-typed@example.org"]
    admin = client.get("/suppliers/S9", headers={"X-API-Key": ADMIN}).json()
    assert admin["emails"] == emails
    assert len(admin["email_confirmations"]) == 2

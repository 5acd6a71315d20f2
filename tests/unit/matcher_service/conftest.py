"""Fixtures shared by the matcher service's unit tests: ``api_container`` (the matcher over its fakes with keys,
suppliers and notices) and ``page_client`` (the buyer API over a module's ``container`` fixture, as a browser sees
it: redirects are answers, not followed)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.keys import ApiKey, Role, hash_token
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import ADMIN, BUYER_A, BUYER_B, NOW, SUPPLIER_S1, notice, supplier

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def api_container() -> Container:
    """The matcher over its fakes as the buyer API sees it: the admin key set, buyer keys of UNICEF (``BUYER_A``)
    and WFP (``BUYER_B``), supplier S1's own key; suppliers S1, S2 (India) and S3; one notice of each agency."""
    c = bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN), clock=lambda: NOW)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    c.keys.put(ApiKey(key_hash=hash_token(BUYER_A), role=Role.BUYER, agency="UNICEF", created_at=created))
    c.keys.put(ApiKey(key_hash=hash_token(BUYER_B), role=Role.BUYER, agency="WFP", created_at=created))
    c.keys.put(ApiKey(key_hash=hash_token(SUPPLIER_S1), role=Role.SUPPLIER, supplier_id="S1", created_at=created))
    for p in (supplier("S1"), supplier("S2", country="IN"), supplier("S3")):
        c.matcher.profiles.put(p)
    c.matcher.handle_notice(notice("a1", agency="UNICEF"))
    c.matcher.handle_notice(notice("b1", agency="WFP", title="Surgical gloves"))
    return c


@pytest.fixture
def page_client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as browser:
        yield browser

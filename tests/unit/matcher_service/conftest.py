"""``page_client``: the buyer API over the module's ``container`` fixture, as a browser sees it (redirects are
answers, not followed)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from services.matcher.bootstrap import Container
from services.matcher.entrypoints.http import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def page_client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as browser:
        yield browser

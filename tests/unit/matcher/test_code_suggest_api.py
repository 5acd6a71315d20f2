"""``POST /codes/suggest`` over the fake encoder (swapped in with ``app.dependency_overrides``): any valid key may ask,
the codes come back per text in order, and what cannot be answered is a 4xx problem saying why."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from contracts.common import CodeScheme
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.routers.codes import code_suggester
from services.matcher.settings import Settings
from services.matcher.suggestions import CodeSuggester
from tests.unit.matcher.code_indexes import title_index
from tests.unit.matcher_service.builders import ADMIN, NOW

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

TITLES = {"33141420": "Surgical gloves", "30213100": "Portable computers", "09331200": "Solar photovoltaic modules"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    encoder = HashingEncoder()
    index = title_index(encoder, TITLES, CodeScheme.CPV)
    app = create_app(bootstrap_in_memory(Settings(matcher_admin_api_key=ADMIN), clock=lambda: NOW))
    app.dependency_overrides[code_suggester] = lambda: CodeSuggester(encoder, lambda scheme: index)
    with TestClient(app) as c:
        yield c


def test_codes_come_back_per_text_in_order_with_titles_and_check_digits(client: TestClient) -> None:
    texts = [{"id": "a", "text": "portable computers"}, {"text": "surgical gloves"}]
    body = {"texts": texts, "scheme": "CPV", "top": 2}
    answer = client.post("/codes/suggest", json=body, headers={"X-API-Key": ADMIN})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [item["id"] for item in items] == ["a", None]
    laptops, gloves = (item["codes"] for item in items)
    assert laptops[0] == {
        "scheme": "CPV",
        "code": "30213100",
        "check_digit": "6",
        "title": "Portable computers",
        "score": laptops[0]["score"],
    }
    assert gloves[0]["code"] == "33141420"
    assert len(laptops) == 2


def test_without_a_key_nothing_is_suggested(client: TestClient) -> None:
    assert client.post("/codes/suggest", json={"texts": [{"text": "gloves"}]}).status_code == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"texts": [{"text": "gloves"}], "scheme": "OTHER"}, "scheme"),
        ({"texts": []}, "texts"),
        ({"texts": [{"text": "gloves"}], "top": 0}, "top"),
    ],
)
def test_what_cannot_be_answered_is_422_saying_why(client: TestClient, body: dict[str, object], words: str) -> None:
    answer = client.post("/codes/suggest", json=body, headers={"X-API-Key": ADMIN})
    assert answer.status_code == 422
    assert words in answer.text

"""One size policy for the push endpoint: every body up to the documented 5,000,000 bytes is answered (never 500),
a notice the bus cannot carry is refused with the limit named and dead-lettered, and nothing is stored that was not
published."""

from __future__ import annotations

import warnings
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from contracts import DeadLetter, TenderNotice
from contracts.topics import MAX_MESSAGE_BYTES, MAX_NOTICE_BYTES
from services.infra.bus import InMemoryPublisher
from services.infra.limits import json_size
from services.ingest.adapters.memory import InMemoryStateStore
from services.ingest.domain.model import Context
from services.ingest.entrypoints.http import MAX_BODY_BYTES, create_app
from services.ingest.service import Ingestor
from services.ingest.settings import Settings
from tests.unit.ingest.util import notice_body

pytestmark = pytest.mark.unit

KEY = {"X-API-Key": "secret", "content-type": "application/json"}


class Push:
    """The ingest HTTP app over the in-memory bus and state: what a push answers, publishes and stores."""

    def __init__(self, publisher: InMemoryPublisher | None = None) -> None:
        self.publisher = publisher or InMemoryPublisher()
        self.state = InMemoryStateStore()
        ingestor = Ingestor(self.publisher, self.state, "notices", "dlq")
        app = create_app(ingestor, {"secret"}, Context(source="push", detect_language=False))
        self.client = TestClient(app, raise_server_exceptions=False)

    def post(self, body: bytes) -> Any:
        return self.client.post("/notices", content=body, headers=KEY)

    def letters(self) -> list[DeadLetter]:
        return [x for x in self.publisher.on("dlq") if isinstance(x, DeadLetter)]


def test_a_push_of_2_16_mb_is_refused_with_the_limit_named_and_dead_lettered() -> None:
    push = Push()
    response = push.post(notice_body(2_160_000))
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["reason"] == "too_large"
    assert f"{MAX_NOTICE_BYTES:,}" in problem["detail"]
    [letter] = push.letters()
    assert letter.reason == "too_large"
    assert letter.key == "push:1"
    assert "bytes (UTF-8) left out]" in letter.payload  # cut by bytes, with the marker
    assert len(letter.model_dump_json().encode()) <= MAX_MESSAGE_BYTES
    assert push.publisher.on("notices") == []
    assert push.state.known("push:1") is None  # nothing stored: a smaller version later is version 1
    smaller = push.post(notice_body(10_000))
    assert (smaller.status_code, smaller.json()["version"]) == (202, 1)


def test_a_notice_of_1_036_293_bytes_is_refused_at_ingest_not_left_to_fail_downstream() -> None:
    push = Push()
    body = notice_body(1_036_293 - len(notice_body(0)))
    assert len(body) == 1_036_293
    response = push.post(body)
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"
    assert push.publisher.on("notices") == []
    assert [x.reason for x in push.letters()] == ["too_large"]


def test_a_notice_just_under_the_limit_is_published_and_fits_in_a_shortlist_message() -> None:
    push = Push()
    body = notice_body(MAX_NOTICE_BYTES - 2_000)
    response = push.post(body)
    assert response.status_code == 202, response.text
    [notice] = push.publisher.on("notices")
    assert isinstance(notice, TenderNotice)
    assert len(notice.model_dump_json().encode()) <= MAX_NOTICE_BYTES
    assert push.state.known("push:1") is not None


def test_a_body_over_the_documented_limit_is_refused_before_it_is_read() -> None:
    push = Push()
    response = push.post(b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert f"{MAX_BODY_BYTES:,}" in response.json()["detail"]
    assert push.publisher.published == []


def test_a_rejected_record_of_1_8_mb_of_chinese_is_dead_lettered_cut_by_bytes() -> None:
    push = Push()
    record = {"notice_id": "push:9", "source": "push", "source_id": "9", "description": "招标" * 300_000}
    body = orjson.dumps(record)  # no title, no buyer: not a notice
    assert len(body) > 1_800_000
    response = push.post(body)
    assert response.status_code == 422, response.text
    assert response.json()["reason"] == "invalid_notice"
    [letter] = push.letters()
    assert json_size(letter.payload) <= 524_288
    head, marker = letter.payload.rsplit("\n", 1)
    assert body.decode().startswith(head)  # a prefix: no character split, none replaced
    assert "bytes (UTF-8) left out" in marker
    assert "payload cut" in letter.detail
    assert len(letter.model_dump_json().encode()) <= MAX_MESSAGE_BYTES


def test_a_notice_kafka_refuses_at_the_flush_is_dead_lettered_and_not_stored() -> None:
    push = Push(InMemoryPublisher(refuse={("notices", "push:1"): "message_too_large"}))
    response = push.post(notice_body(100))
    assert response.status_code == 413
    assert response.json()["reason"] == "message_too_large"
    assert push.state.known("push:1") is None
    assert [x.reason for x in push.letters()] == ["message_too_large"]


def test_kafka_unavailable_answers_503_and_stores_nothing_so_the_push_can_be_repeated() -> None:
    publisher = InMemoryPublisher(unavailable=True)
    push = Push(publisher)
    response = push.post(notice_body(100))
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert push.state.known("push:1") is None
    publisher.unavailable = False
    again = push.post(notice_body(100))
    assert (again.status_code, again.json()["version"]) == (202, 1)


def test_json_nested_100000_deep_is_422_not_500() -> None:
    push = Push()
    response = push.post(b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 422
    assert response.json()["reason"] == "invalid_json"
    assert "64 levels" in response.json()["detail"]


#: Sizes around each limit: the notice limit, Kafka's message limit, the push body limit.
_AROUND = st.sampled_from([MAX_NOTICE_BYTES, MAX_MESSAGE_BYTES, MAX_BODY_BYTES]).flatmap(
    lambda limit: st.integers(limit - 4_096, limit + 4_096)
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=_AROUND, char=st.sampled_from(["a", "é", "招", "<b>x</b>"]))
def test_any_size_around_a_limit_is_refused_or_delivered_never_500_never_stored_unpublished(
    size: int, char: str
) -> None:
    push = Push()
    body = notice_body(size, char=char)
    response = push.post(body)
    assert response.status_code in (202, 413), response.text
    published = push.publisher.on("notices")
    stored = push.state.known("push:1")
    if response.status_code == 202:
        [notice] = published
        assert stored is not None
        assert stored.content_hash == notice.content_hash  # type: ignore[union-attr]
        assert len(notice.model_dump_json().encode()) <= MAX_NOTICE_BYTES  # type: ignore[union-attr]
    else:
        assert published == []
        assert stored is None
        letters = push.letters()
        if len(body) <= MAX_BODY_BYTES:  # read, so dead-lettered with the reason; larger: not read at all
            assert [x.reason for x in letters] == ["too_large"]
            assert len(letters[0].model_dump_json().encode()) <= MAX_MESSAGE_BYTES
        else:
            assert letters == []


def test_a_notice_limit_over_half_a_message_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TB_KAFKA_MAX_MESSAGE_BYTES", "1048576")
    monkeypatch.setenv("TB_INGEST_MAX_NOTICE_BYTES", "600000")
    with pytest.raises(ValidationError, match="at most half of TB_KAFKA_MAX_MESSAGE_BYTES"):
        Settings()
    monkeypatch.setenv("TB_INGEST_MAX_NOTICE_BYTES", "500000")
    assert Settings().ingest_max_notice_bytes == 500_000

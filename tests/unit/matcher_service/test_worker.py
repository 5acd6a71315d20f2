"""The notice worker's message handling: matched, stale, dead-lettered with a reason; store outages propagate."""

from __future__ import annotations

import pytest

from contracts import DeadLetter
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.memory import InMemoryNoticeStore
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.worker import handle_message
from services.matcher.exceptions import StoreUnavailable
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

DLQ = "t.notices.dlq"


@pytest.fixture
def container() -> Container:
    c = bootstrap_in_memory(Settings(topic_shortlists="t.shortlists"), clock=lambda: NOW)
    c.matcher.profiles.put(supplier("S1"))
    return c


def dead_letters(c: Container) -> list[DeadLetter]:
    publisher = c.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.flush()
    return [v for v in publisher.on(DLQ) if isinstance(v, DeadLetter)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'{"notice_id": "ungm:1"}', "invalid_notice"),
        (notice("1").model_dump_json().replace('"ungm:1"', '"ted:1"').encode(), "invalid_notice"),
        (None, "empty_message"),
    ],
)
def test_bad_messages_are_dead_lettered_with_the_reason_and_payload(
    container: Container, value: bytes | None, reason: str
) -> None:
    outcome = handle_message(container.matcher, DLQ, "tenders.notices", b"ungm:1", value)
    assert outcome == "dead_lettered"
    [letter] = dead_letters(container)
    assert letter.reason == reason
    assert letter.service == "matcher"
    assert letter.key == "ungm:1"
    assert letter.payload == (value or b"").decode()
    assert container.matcher.shortlists.latest("ungm:1") is None


def test_a_good_message_is_matched_and_an_older_version_is_stale(container: Container) -> None:
    v2 = notice("1", version=2).model_dump_json().encode()
    v1 = notice("1", version=1).model_dump_json().encode()
    assert handle_message(container.matcher, DLQ, "tenders.notices", b"ungm:1", v2) == "matched"
    assert handle_message(container.matcher, DLQ, "tenders.notices", b"ungm:1", v1) == "stale"
    assert dead_letters(container) == []


def test_a_store_outage_propagates_and_nothing_is_dead_lettered(container: Container) -> None:
    store = container.matcher.notices
    assert isinstance(store, InMemoryNoticeStore)
    store.available = False
    with pytest.raises(StoreUnavailable):
        handle_message(container.matcher, DLQ, "tenders.notices", b"ungm:1", notice("1").model_dump_json().encode())
    assert dead_letters(container) == []

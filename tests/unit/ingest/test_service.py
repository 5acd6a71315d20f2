from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest

from contracts import DeadLetter, NoticeStatus, TenderNotice
from services.infra.bus import InMemoryPublisher
from services.infra.exceptions import TransientPublishError
from services.ingest.adapters.memory import InMemoryStateStore
from services.ingest.domain import ocds
from services.ingest.domain.model import Context, Outcome, Rejection
from services.ingest.domain.normalize import content_hash
from services.ingest.ports import Checkpoint
from services.ingest.service import Ingestor
from tests.unit.ingest.util import release

pytestmark = pytest.mark.unit

CTX = Context(source="ocds", detect_language=False)
NOW = datetime(2026, 10, 2, tzinfo=UTC)


def mapped(doc: dict[str, Any]) -> Outcome:
    [outcome] = list(ocds.parse(orjson.dumps(doc), CTX))
    return outcome


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def state() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture
def ingestor(publisher: InMemoryPublisher, state: InMemoryStateStore) -> Ingestor:
    return Ingestor(publisher, state, "notices", "notices.dlq", batch_size=2, clock=lambda: NOW)


def published_notices(publisher: InMemoryPublisher) -> list[TenderNotice]:
    return [v for v in publisher.on("notices") if isinstance(v, TenderNotice)]


def test_new_notice_is_version_1_and_an_unchanged_reread_publishes_nothing(
    ingestor: Ingestor, publisher: InMemoryPublisher
) -> None:
    stats, _ = ingestor.ingest([mapped(release())], "test")
    assert stats.published == {"active": 1}
    [notice] = published_notices(publisher)
    assert (notice.version, notice.status, notice.received_at) == (1, NoticeStatus.ACTIVE, NOW)
    stats, _ = ingestor.ingest([mapped(release())], "test")
    assert (sum(stats.published.values()), stats.unchanged) == (0, 1)
    assert len(published_notices(publisher)) == 1


def test_a_change_publishes_the_next_version_saying_what_changed(
    ingestor: Ingestor, publisher: InMemoryPublisher
) -> None:
    ingestor.ingest([mapped(release())], "test")
    changed = release(tag=["tenderAmendment"])
    changed["tender"]["tenderPeriod"] = {"endDate": "2026-11-15T12:00:00Z"}
    changed["tender"]["items"][0]["additionalClassifications"] = [{"scheme": "UNSPSC", "id": "72151600"}]
    ingestor.ingest([mapped(changed)], "test")
    first, second = published_notices(publisher)
    assert (second.version, second.status) == (2, NoticeStatus.AMENDED)
    assert "deadline_at: 2026-11-01T12:00:00+00:00 -> 2026-11-15T12:00:00+00:00" in second.changes
    assert "codes added: UNSPSC 72151600" in second.changes
    assert "codes removed: UNSPSC 72151500" in second.changes
    assert first.notice_id == second.notice_id


def test_a_language_no_longer_guessed_publishes_nothing_until_a_real_change(
    ingestor: Ingestor, publisher: InMemoryPublisher
) -> None:
    # A source that never states its language: an earlier, bolder detection said "en"; a stricter one says none.
    ingestor.ingest([mapped(release())], "test")
    unsure = release()
    del unsure["language"]
    ingestor.ingest([mapped(unsure)], "test")
    assert len(published_notices(publisher)) == 1
    unsure["tender"]["title"] = "Weather radar maintenance and repair"
    ingestor.ingest([mapped(unsure)], "test")
    _, second = published_notices(publisher)
    assert (second.version, second.language, second.title) == (2, None, unsure["tender"]["title"])
    # The other way round (a language stated where there was none) is news.
    ingestor.ingest([mapped({**unsure, "language": "en"})], "test")
    assert [n.version for n in published_notices(publisher)] == [1, 2, 3]


def test_a_cancellation_publishes_status_cancelled(ingestor: Ingestor, publisher: InMemoryPublisher) -> None:
    ingestor.ingest([mapped(release())], "test")
    ingestor.ingest([mapped(release(tag=["tenderCancellation"]))], "test")
    cancelled = published_notices(publisher)[-1]
    assert (cancelled.version, cancelled.status) == (2, NoticeStatus.CANCELLED)
    assert cancelled.changes == ["notice cancelled"]
    stats, _ = ingestor.ingest([mapped(release(tag=["tenderCancellation"]))], "test")
    assert stats.unchanged == 1


def test_the_same_notice_twice_in_one_read_is_published_once(ingestor: Ingestor, publisher: InMemoryPublisher) -> None:
    ingestor.ingest([mapped(release()), mapped(release()), mapped(release())], "test")
    assert len(published_notices(publisher)) == 1


def test_rejections_are_dead_lettered_once_with_reason_and_payload(
    ingestor: Ingestor, publisher: InMemoryPublisher
) -> None:
    bad = mapped(release(tag=["award"]))
    assert isinstance(bad, Rejection)
    ingestor.ingest([bad], "file.json")
    stats, _ = ingestor.ingest([bad], "file.json")
    [letter] = publisher.on("notices.dlq")
    assert isinstance(letter, DeadLetter)
    assert (letter.service, letter.origin, letter.reason, letter.key) == (
        "ingest",
        "file.json",
        "not_a_notice",
        "ocds-abc123-0001",
    )
    assert orjson.loads(letter.payload)["tag"] == ["award"]
    assert (stats.rejected["not_a_notice"], stats.rejections_known) == (1, 1)


def test_state_and_checkpoint_move_only_after_the_flush(
    ingestor: Ingestor, publisher: InMemoryPublisher, state: InMemoryStateStore
) -> None:
    docs = [mapped(release(ocid=f"ocds-abc123-{i:04d}")) for i in range(5)]
    ingestor.ingest(docs, "test", checkpoint=("feed", Checkpoint(body_hash="h")))
    # batch_size=2: three commits, each after the flush that made its notices visible.
    assert state.commits == 3
    assert len(published_notices(publisher)) == 5
    assert set(state.notices) == {n.notice_id for n in published_notices(publisher)}
    assert state.checkpoint("feed") == Checkpoint(body_hash="h")
    assert publisher.pending == []


def test_a_stop_between_batches_keeps_the_checkpoint_and_the_rest_is_published_on_restart(
    publisher: InMemoryPublisher, state: InMemoryStateStore
) -> None:
    docs = [mapped(release(ocid=f"ocds-abc123-{i:04d}")) for i in range(6)]
    first = Ingestor(publisher, state, "notices", "notices.dlq", batch_size=2)
    stats, _ = first.ingest(docs, "test", ("feed", Checkpoint(body_hash="h")), should_stop=lambda: True)
    assert stats.stopped
    assert state.checkpoint("feed") is None
    assert len(published_notices(publisher)) == 2
    restarted = Ingestor(publisher, state, "notices", "notices.dlq", batch_size=2)
    restarted.ingest(docs, "test", ("feed", Checkpoint(body_hash="h")))
    ids = [n.notice_id for n in published_notices(publisher)]
    assert len(ids) == len(set(ids)) == 6  # no duplicate, no gap
    assert state.checkpoint("feed") == Checkpoint(body_hash="h")


def test_metrics_count_published_and_rejected(ingestor: Ingestor) -> None:
    ingestor.ingest([mapped(release()), mapped(release(tag=["award"]))], "test")
    registry = ingestor.metrics.registry
    assert (
        registry.get_sample_value("ingest_notices_published_total", {"source": "ocds-abc123", "status": "active"}) == 1
    )
    assert registry.get_sample_value("ingest_records_rejected_total", {"reason": "not_a_notice"}) == 1


def _notice(n: int, description: str = "") -> Outcome:
    doc = release(ocid=f"ocds-abc123-{n:04d}")
    doc["tender"] = {**doc["tender"], "description": description or "Maintenance of radars"}
    return mapped(doc)


def test_a_notice_over_the_size_limit_is_dead_lettered_with_the_limit_and_never_stored(
    publisher: InMemoryPublisher, state: InMemoryStateStore
) -> None:
    ingestor = Ingestor(publisher, state, "notices", "notices.dlq", batch_size=10, max_notice_bytes=4_000)
    big = _notice(2, "x" * 5_000)
    stats, published = ingestor.ingest([_notice(1), big, _notice(3)], "test")
    assert [n.notice_id for n in published] == ["ocds-abc123:ocds-abc123-0001", "ocds-abc123:ocds-abc123-0003"]
    assert stats.rejected == {"too_large": 1}
    assert stats.published == {"active": 2}
    [refusal] = stats.refused
    assert "over the limit of 4,000 bytes" in refusal.detail
    [letter] = publisher.on("notices.dlq")
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "too_large"
    assert state.known("ocds-abc123:ocds-abc123-0002") is None
    assert 'ingest_records_rejected_total{reason="too_large"} 1.0' in _metrics(ingestor)


def test_a_notice_kafka_refuses_at_the_flush_is_dead_lettered_and_the_rest_of_the_batch_committed(
    state: InMemoryStateStore,
) -> None:
    refused_id = "ocds-abc123:ocds-abc123-0002"
    publisher = InMemoryPublisher(refuse={("notices", refused_id): "message_too_large"})
    ingestor = Ingestor(publisher, state, "notices", "notices.dlq", batch_size=10)
    stats, published = ingestor.ingest([_notice(1), _notice(2), _notice(3)], "test")
    assert refused_id not in [n.notice_id for n in published]
    assert stats.published == {"active": 2}
    assert stats.rejected == {"message_too_large": 1}
    assert state.known(refused_id) is None
    assert state.known("ocds-abc123:ocds-abc123-0001") is not None
    assert [x.reason for x in publisher.on("notices.dlq") if isinstance(x, DeadLetter)] == ["message_too_large"]
    assert 'ingest_notices_published_total{source="ocds-abc123",status="active"} 2.0' in _metrics(ingestor)


def test_kafka_away_commits_nothing_and_a_later_run_publishes_it_all(state: InMemoryStateStore) -> None:
    publisher = InMemoryPublisher(unavailable=True)
    ingestor = Ingestor(publisher, state, "notices", "notices.dlq", batch_size=10)
    with pytest.raises(TransientPublishError):
        ingestor.ingest([_notice(1)], "test")
    assert state.known("ocds-abc123:ocds-abc123-0001") is None
    publisher.unavailable = False
    _, published = ingestor.ingest([_notice(1)], "test")
    assert [n.version for n in published] == [1]


def _metrics(ingestor: Ingestor) -> str:
    return generate_latest(ingestor.metrics.registry).decode()


def test_a_notice_stored_before_text_normalization_is_not_republished_for_invisible_characters(
    publisher: InMemoryPublisher, state: InMemoryStateStore
) -> None:
    """A version published with U+200B and NUL in its title (hashed then as written) read again now: the stored
    notice, read through the contract, has them removed, and so has the new reading: nothing to publish."""
    clean = mapped(release())
    assert isinstance(clean, TenderNotice)
    written = {**clean.__dict__, "title": f"\u200b{clean.title}\x00"}
    hashed_as_written = content_hash(TenderNotice.model_construct(**written))
    assert hashed_as_written != clean.content_hash
    state.commit([clean.model_copy(update={"content_hash": hashed_as_written})], [], None)
    ingestor = Ingestor(publisher, state, "notices", "notices.dlq")
    stats, published = ingestor.ingest([mapped(release())], "test")
    assert published == []
    assert stats.unchanged == 1
    changed = mapped(release(tender={**release()["tender"], "title": "Another title"}))
    _, again = ingestor.ingest([changed], "test")
    assert [v.version for v in again] == [2]  # a real change is still published

"""The matcher end to end over the local Kafka and Elasticsearch: profiles registered over HTTP, notices
published to Kafka and matched by the worker, shortlists read back over HTTP; bad messages dead-lettered; no
offset committed while the store does not answer."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts import DeadLetter, NoticeStatus, Shortlist, SupplierProfile
from services.infra.bus import KafkaPublisher, ensure_topics
from services.matcher.adapters.memory import InMemoryNoticeStore
from services.matcher.bootstrap import Container, bootstrap, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.entrypoints.worker import NoticeWorker
from services.matcher.keys import ApiKey, Role, hash_token
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import (
    BUYER,
    RunningWorker,
    committed_total,
    make_settings,
    publish_raw,
    read_topic,
)
from tests.unit.matcher_service.builders import NOW, notice, supplier

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


@pytest.fixture
def container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    c = bootstrap(make_settings(endpoints, unique), clock=lambda: NOW)
    c.keys.put(ApiKey(key_hash=hash_token(BUYER), role=Role.BUYER, agency="UNICEF", created_at=datetime.now(UTC)))
    yield c
    for index in c.es.indices.get(index=f"{c.settings.matcher_index_prefix}-*"):
        c.es.indices.delete(index=index)
    c.close()


def test_register_publish_match_and_read_the_shortlist_over_http(container: Container) -> None:
    settings = container.settings
    http = TestClient(create_app(container))
    for sid in ("S1", "S2"):
        response = http.post("/suppliers", json=supplier(sid).model_dump(mode="json"), headers={"X-API-Key": BUYER})
        assert response.status_code == 201, response.text
    profiles = read_topic(settings.kafka_bootstrap_servers, settings.topic_profiles, 2)
    # Keyed by supplier id; two keys may sit on different partitions, so only each key's content is ordered.
    assert sorted((k, SupplierProfile.model_validate_json(v).supplier_id) for k, v in profiles) == [
        ("S1", "S1"),
        ("S2", "S2"),
    ]

    with RunningWorker(container) as running:
        publish_raw(
            settings,
            [
                ("ungm:1", notice("1").model_dump_json().encode()),
                ("ungm:bad", b"{this is not a notice"),
                ("ungm:1", notice("1", version=2, status=NoticeStatus.AMENDED).model_dump_json().encode()),
                ("ungm:1", notice("1", version=1).model_dump_json().encode()),  # late duplicate: ignored
            ],
        )
        shortlists = read_topic(settings.kafka_bootstrap_servers, settings.topic_shortlists, 2)
        letters = read_topic(settings.kafka_bootstrap_servers, settings.topic_notices_dlq, 1)
        deadline = time.monotonic() + 30
        while running.worker.handled < 4 and time.monotonic() < deadline:
            time.sleep(0.1)

    # The late version 1 produced nothing: exactly two shortlists on the topic.
    shortlists = read_topic(settings.kafka_bootstrap_servers, settings.topic_shortlists, 3, timeout=2)
    parsed = [Shortlist.model_validate_json(v) for _, v in shortlists]
    assert [(s.notice_id, s.notice_version) for s in parsed] == [("ungm:1", 1), ("ungm:1", 2)]
    assert sorted(parsed[1].previously_shortlisted) == ["S1", "S2"]
    [(key, letter)] = letters
    dead = DeadLetter.model_validate_json(letter)
    assert (key, dead.reason, dead.payload) == ("ungm:bad", "invalid_json", "{this is not a notice")
    assert committed_total(settings) == 4  # every message handled, and committed only then

    page = http.get("/notices/ungm:1/shortlist", headers={"Authorization": f"Bearer {BUYER}"})
    assert page.status_code == 200
    body = page.json()
    assert body["notice_version"] == 2
    assert [e["supplier_id"] for e in body["entries"]] == [e.supplier_id for e in parsed[1].entries]
    assert body["entries"][0]["components"][0]["reason"]
    assert "Supplier S1" in http.get("/ui/notices/ungm:1", headers={"X-API-Key": BUYER}).text


def test_no_offset_is_committed_while_the_store_does_not_answer(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    settings = make_settings(endpoints, unique)
    ensure_topics(settings.kafka_bootstrap_servers, list(settings.topic_map().items()))
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, client_id="matcher-test")
    container = bootstrap_in_memory(settings, clock=lambda: NOW, publisher=publisher)
    container.matcher.profiles.put(supplier("S1"))
    store = container.matcher.notices
    assert isinstance(store, InMemoryNoticeStore)
    store.available = False
    try:
        with RunningWorker(container) as running:
            publish_raw(settings, [("ungm:1", notice("1").model_dump_json().encode())])
            # The worker gets the message and keeps failing on the store: no shortlist, no commit, no dead letter.
            deadline = time.monotonic() + 30
            while running.worker.store_failures < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert running.worker.store_failures >= 2
            assert read_topic(settings.kafka_bootstrap_servers, settings.topic_shortlists, 1, timeout=2) == []
            assert committed_total(settings) == 0
            store.available = True
            shortlists = read_topic(settings.kafka_bootstrap_servers, settings.topic_shortlists, 1)
            deadline = time.monotonic() + 30
            while committed_total(settings) < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
        assert [Shortlist.model_validate_json(v).shortlist_id for _, v in shortlists] == ["ungm:1@1"]
        assert committed_total(settings) == 1
        assert running.worker.handled == 1
        assert read_topic(settings.kafka_bootstrap_servers, settings.topic_notices_dlq, 1, timeout=1) == []
    finally:
        publisher.close()


def test_profiles_stored_by_another_process_bring_a_refit(container: Container) -> None:
    """An ``import-suppliers`` run (another process) stores and publishes profiles: the running worker sees the
    profiles topic move on and refits, instead of serving the model it had for up to the refit interval."""
    settings = container.settings
    m = container.matcher
    m.refit_every_changes = 2
    m.refit()
    assert m.model is None  # no profiles yet
    stop = threading.Event()
    worker = NoticeWorker(m, settings, stop, profile_log_every_s=0.2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while m._profile_log is None and time.monotonic() < deadline:  # the worker's first look at the topic
            time.sleep(0.05)
        assert m._profile_log is not None
        other = bootstrap(settings, clock=lambda: NOW)  # the other process: its own stores and publisher
        try:
            other.matcher.import_profiles([supplier("X1"), supplier("X2"), supplier("X3")])
        finally:
            other.close()
        while (m.model is None or m.model.fitted_profiles < 3) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert m.model is not None
        assert m.model.fitted_profiles == 3
        assert {"x1", "x2", "x3"} <= set(m.model.vocabulary)  # each supplier's own word (its id in its name)
    finally:
        stop.set()
        thread.join(timeout=30)

"""Paging over the local Elasticsearch (profiles by id, notices of a period by publication time, both search_after)
and ``python -m services.matcher backfill`` over it: changed shortlists republished, a second run resumes done."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.infra.bus import InMemoryPublisher
from services.matcher.bootstrap import Container
from services.matcher.ports import NoticeCursor
from services.matcher.settings import Settings
from tests.conftest import Endpoints
from tests.integration.matcher.helpers import matcher_cli, stack_container
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.integration

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
#: Open whatever day the test runs on (the CLI ranks on the real clock).
FAR = datetime(2036, 1, 1, tzinfo=UTC)


@pytest.fixture
def es_container(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[Container]:
    settings = Settings(
        elasticsearch_url=endpoints.elasticsearch_url, matcher_index_prefix=unique("bf"), matcher_encoder="none"
    )
    with stack_container(settings, lambda: NOW, InMemoryPublisher()) as c:
        yield c


def test_profiles_page_by_supplier_id_after_a_cursor(es_container: Container) -> None:
    store = es_container.matcher.profiles
    store.put_many([supplier(f"S{i}") for i in (5, 1, 4, 2, 3, 7, 6)])
    pages, after = [], None
    while page := store.page(after, 3):
        pages.append([p.supplier_id for p in page])
        after = page[-1].supplier_id
    assert pages == [["S1", "S2", "S3"], ["S4", "S5", "S6"], ["S7"]]
    assert sorted(p.supplier_id for p in store.all()) == [f"S{i}" for i in range(1, 8)]


def test_notices_of_a_period_page_by_publication_time_then_id(es_container: Container) -> None:
    m = es_container.matcher
    # Two notices in the same second (ids decide), one on the period's last instant, one undated.
    stamps = {
        "a": DAY0 + timedelta(days=1, microseconds=500),
        "b": DAY0 + timedelta(days=1),
        "c": DAY0,
        "d": DAY0 + timedelta(days=2),
        "e": DAY0 + timedelta(days=3),
    }
    for sid, at in stamps.items():
        m.notices.put(notice(sid, published_at=at))
    m.notices.put(notice("undated"))
    until = DAY0 + timedelta(days=3)

    assert m.notices.count_published(DAY0, until) == 4
    seen, after = [], None
    while True:
        page = m.notices.published_between(DAY0, until, after, 2)
        seen += [n.notice_id for n in page]
        if len(page) < 2:
            break
        last = page[-1]
        assert last.published_at is not None
        after = NoticeCursor(last.published_at, last.notice_id)

    assert seen == ["ungm:c", "ungm:a", "ungm:b", "ungm:d"]


def test_backfill_command_republishes_changed_shortlists_then_resumes_a_finished_period(
    es_container: Container,
    endpoints: Endpoints,
    unique: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TB_MATCHER_ENCODER", "none")  # the command ranks as the test's matcher: without meaning
    m = es_container.matcher
    m.profiles.put_many([supplier("S1"), supplier("L1", codes=("43211503",), keywords=("laptops",))])
    m.refit()  # the model the command fits too (same profiles): the gloves notice's shortlist stays the same
    assert m.profiles.delete("L1")
    laptops = [notice(str(i), codes=("43211503",), title="Laptops", deadline=FAR) for i in range(1, 4)]
    for i, n in enumerate([notice("0", deadline=FAR), *laptops]):
        m.handle_notice(n.model_copy(update={"published_at": DAY0 + timedelta(days=i)}))
    # A supplier base loaded behind the matcher's back: only a backfill ranks the stored notices for it.
    m.profiles.put(supplier("L1", codes=("43211503",), keywords=("laptops",)))
    prefix = es_container.settings.matcher_index_prefix
    call = matcher_cli(endpoints, lambda label: prefix if label == "bf" else unique(label), "bf")
    checkpoint = tmp_path / "backfill.json"

    first = call(
        "backfill", "--since", "2026-01-01", "--until", "2026-01-31", "--workers", "2", "--checkpoint", str(checkpoint)
    )

    assert first.returncode == 0, first.stderr
    assert "4 notices in the period" in first.stderr
    assert "3 shortlists changed and republished" in first.stderr, first.stderr
    for n in laptops:
        stored = m.shortlists.get(n.notice_id, 1)
        assert stored is not None
        assert [e.supplier_id for e in stored.entries] == ["L1"]
    state = json.loads(checkpoint.read_text())
    assert state["finished"] is True
    assert state["done"] == 4

    again = call("backfill", "--since", "2026-01-01", "--until", "2026-01-31", "--checkpoint", str(checkpoint))
    assert again.returncode == 0, again.stderr
    assert "4 done by an earlier run" in again.stderr
    assert "0 shortlists changed" in again.stderr


def test_backfill_command_refuses_a_period_that_ends_before_it_starts(
    endpoints: Endpoints, unique: Callable[[str], str]
) -> None:
    call = matcher_cli(endpoints, unique, "bf")
    refused = call("backfill", "--since", "2026-02-01", "--until", "2026-01-01")
    assert refused.returncode == 2
    assert "the period is empty" in refused.stderr

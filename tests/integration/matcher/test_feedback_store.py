"""Buyers' marks in real Elasticsearch: one document per agency, notice and supplier (a later mark replaces the
earlier one), read back at once by notice and agency, latest first, never another agency's; suppliers' own marks
apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback
from services.matcher.adapters.elastic import (
    ElasticFeedbackStore,
    IndexNames,
    ensure_feedback_index,
    feedback_index,
    make_client,
)
from services.notifier.domain.not_relevant import NoticeRef, supplier_mark
from tests.conftest import Endpoints
from tests.unit.matcher_service.builders import feedback_mark

pytestmark = pytest.mark.integration


def mark(agency: str, notice: str, supplier: str, kind: FeedbackMark, minutes: int) -> ShortlistFeedback:
    reason = FeedbackReason.WRONG_PRODUCTS if kind == FeedbackMark.NOT_RELEVANT else None
    stored: ShortlistFeedback = feedback_mark(agency, notice, supplier, kind, reason, minutes)
    return stored


@pytest.fixture
def store(endpoints: Endpoints, unique: Callable[[str], str]) -> Iterator[ElasticFeedbackStore]:
    es: Elasticsearch = make_client(endpoints.elasticsearch_url, 30)
    names = IndexNames(unique("fb"))
    ensure_feedback_index(es, names)
    ensure_feedback_index(es, names)  # a second start finds it there
    try:
        yield ElasticFeedbackStore(es, names)
    finally:
        es.indices.delete(index=feedback_index(names))
        es.close()


def test_marks_are_read_back_at_once_per_agency_latest_first_and_replace_earlier_ones(
    store: ElasticFeedbackStore,
) -> None:
    store.put(mark("unicef", "ungm:1", "S1", FeedbackMark.NOT_RELEVANT, 0))
    store.put(mark("unicef", "ungm:1", "S2", FeedbackMark.RELEVANT, 1))
    store.put(mark("wfp", "ungm:1", "S1", FeedbackMark.INVITE, 2))
    store.put(mark("unicef", "ungm:2", "S1", FeedbackMark.INVITE, 3))
    store.put(mark("unicef", "ungm:1", "S1", FeedbackMark.INVITE, 4))  # replaces its first mark
    assert [(m.supplier_id, m.mark) for m in store.for_notice("ungm:1", "unicef")] == [
        ("S1", FeedbackMark.INVITE),
        ("S2", FeedbackMark.RELEVANT),
    ]
    assert [m.agency for m in store.for_notice("ungm:1", None)] == ["unicef", "wfp", "unicef"]
    assert [(m.notice_id, m.supplier_id) for m in store.for_agency("unicef", 2)] == [("ungm:1", "S1"), ("ungm:2", "S1")]
    # Pooled feedback reads every agency's latest marks.
    assert [m.agency for m in store.for_agency(None, 3)] == ["unicef", "unicef", "wfp"]
    assert store.for_notice("ungm:9", "unicef") == []


def test_suppliers_own_marks_are_read_apart_from_the_buyers(store: ElasticFeedbackStore) -> None:
    buyers = mark("unicef", "ungm:1", "S1", FeedbackMark.RELEVANT, 0)
    own = supplier_mark(NoticeRef("S1", "ungm:1", 1, "UNICEF"), None, buyers.marked_at)
    store.put(buyers)
    store.put(own)
    store.put(own)  # a redelivery: one document still
    assert store.for_notice("ungm:1", "unicef") == [buyers]
    assert store.for_agency(None, 10) == [buyers]
    assert store.from_suppliers(10) == [own]
    assert store.from_suppliers(10, ["S1", "S9"]) == [own]  # a notice's candidates
    assert store.from_suppliers(10, ["S2"]) == []

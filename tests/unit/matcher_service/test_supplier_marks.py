"""Suppliers' own "not relevant for me" marks over the in-memory fakes: the feedback worker stores them (and only
them: buyers' marks on the topic are the matcher's own, stored when made), the refused notice is ranked again at
once, and the supplier ranks lower on notices like it for every agency, saying it was the supplier's word; the
buyer's page never shows the supplier's mark as the agency's."""

from __future__ import annotations

import threading

import pytest

from contracts import DeadLetter, Shortlist
from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback
from services.infra.bus import InMemoryPublisher
from services.matcher.adapters.memory import InMemoryNoticeStore
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.feedback import SUPPLIER_SAID, SUPPLIER_SAID_SIMILAR
from services.matcher.entrypoints.feedback_worker import FeedbackWorker
from services.matcher.keys import Principal, Role
from services.matcher.settings import Settings
from services.notifier.domain.not_relevant import NoticeRef, supplier_mark
from tests.unit.consumer_stub import P0, Message, message
from tests.unit.matcher_service.builders import NOW, feedback_mark, notice, supplier

pytestmark = pytest.mark.unit

UNICEF = Principal(Role.BUYER, agency="UNICEF")


def container() -> Container:
    """Three suppliers alike in all but their ids: without marks they tie and rank by id."""
    c = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    for p in (supplier("S1"), supplier("S2"), supplier("S3")):
        c.matcher.profiles.put(p)
    c.matcher.handle_notice(notice("a1", agency="UNICEF"))
    return c


def worker(c: Container) -> FeedbackWorker:
    return FeedbackWorker(c.matcher, c.settings, threading.Event(), consumer_factory=lambda: None)


def refused(supplier_id: str, notice_id: str = "ungm:a1", reason: FeedbackReason | None = None) -> ShortlistFeedback:
    """The supplier's mark as the notifier publishes it from the alert's link."""
    return supplier_mark(NoticeRef(supplier_id, notice_id, 1, "UNICEF"), reason, NOW)


def as_message(mark: ShortlistFeedback) -> Message:
    return Message("t.feedback", 0, 0, mark.feedback_id.encode(), mark.model_dump_json().encode())


def order(shortlist: Shortlist | None) -> list[str]:
    assert shortlist is not None
    return [e.supplier_id for e in shortlist.entries]


def test_the_worker_stores_suppliers_marks_skips_buyers_and_tombstones_and_dead_letters_garbage() -> None:
    c = container()
    buyers = feedback_mark("unicef", "ungm:a1", "S2", FeedbackMark.NOT_RELEVANT)
    batch = [as_message(buyers), message(P0, 1, None), message(P0, 2, b"{oops"), as_message(refused("S1"))]
    w = worker(c)
    assert w._handle(batch) == 4
    assert w.outcomes == {"stored": 1, "buyers": 1, "tombstone": 1, "dead_lettered": 1}
    assert c.matcher.feedback is not None
    assert [m.supplier_id for m in c.matcher.feedback.from_suppliers(10)] == ["S1"]
    # The buyer's mark was not stored by the worker: the matcher stores its own when the buyer makes it.
    assert c.matcher.feedback.for_agency(None, 10) == []


def test_a_suppliers_mark_moves_it_down_on_the_refused_notice_at_once_saying_so() -> None:
    c = container()
    assert order(c.matcher.shortlists.latest("ungm:a1")) == ["S1", "S2", "S3"]
    worker(c)._handle([as_message(refused("S1", reason=FeedbackReason.WRONG_PRODUCTS))])
    after = c.matcher.shortlists.latest("ungm:a1")
    assert order(after) == ["S2", "S3", "S1"]
    assert after is not None
    [entry] = [e for e in after.entries if e.supplier_id == "S1"]
    assert entry.adjustment < 0
    assert entry.adjustment_reason == f"{SUPPLIER_SAID} (wrong products)"
    # The same, as data for the supplier's email in its language.
    assert (entry.adjustment_code, entry.adjustment_args) == ("supplier_refused", {"notice_id": "ungm:a1"})


def test_a_redelivered_mark_changes_nothing() -> None:
    c = container()
    w = worker(c)
    w._handle([as_message(refused("S1"))])
    before = (c.matcher.shortlists.latest("ungm:a1"), len(c.matcher.publisher.pending))  # type: ignore[attr-defined]
    w._handle([as_message(refused("S1"))])
    assert (c.matcher.shortlists.latest("ungm:a1"), len(c.matcher.publisher.pending)) == before  # type: ignore[attr-defined]
    assert c.matcher.feedback is not None
    assert len(c.matcher.feedback.from_suppliers(10)) == 1


def test_the_supplier_ranks_lower_on_another_agencys_similar_notice_and_not_on_unlike_ones() -> None:
    c = container()
    worker(c)._handle([as_message(refused("S1"))])
    c.matcher.handle_notice(notice("w1", agency="WFP", codes=("42132205",)))  # the same class of gloves
    similar = c.matcher.shortlists.latest("ungm:w1")
    assert order(similar)[-1] == "S1"
    assert similar is not None
    [entry] = [e for e in similar.entries if e.supplier_id == "S1"]
    assert entry.adjustment_reason == f"{SUPPLIER_SAID_SIMILAR}: it refused a similar notice (ungm:a1)"
    assert (entry.adjustment_code, entry.adjustment_args) == ("supplier_refused_similar", {"notice_id": "ungm:a1"})
    c.matcher.handle_notice(notice("w2", agency="WFP", codes=("42000000",)))  # only the segment in common
    assert order(c.matcher.shortlists.latest("ungm:w2"))[0] == "S1"


def test_the_buyers_page_never_shows_a_suppliers_mark_as_the_agencys() -> None:
    c = container()
    worker(c)._handle([as_message(refused("S1"))])
    stored = c.matcher.notices.get("ungm:a1")
    assert stored is not None
    assert c.matcher.marks_on(UNICEF, stored) == {}
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.RELEVANT)
    assert {s: m.mark for s, m in c.matcher.marks_on(UNICEF, stored).items()} == {"S1": FeedbackMark.RELEVANT}


def test_a_buyers_mark_alone_gives_the_entry_no_code_for_the_suppliers_email() -> None:
    c = container()
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.NOT_RELEVANT)
    shortlist = c.matcher.shortlists.latest("ungm:a1")
    assert shortlist is not None
    [entry] = [e for e in shortlist.entries if e.supplier_id == "S1"]
    assert entry.adjustment < 0
    assert (entry.adjustment_code, entry.adjustment_args) == (None, {})


def test_a_store_outage_stores_nothing_and_hands_the_mark_back() -> None:
    c = container()
    store = c.matcher.notices
    assert isinstance(store, InMemoryNoticeStore)
    store.available = False
    w = worker(c)
    assert w._handle([as_message(refused("S1"))]) == 0
    assert c.matcher.feedback is not None
    assert (w.store_failures, c.matcher.feedback.from_suppliers(10)) == (1, [])
    store.available = True
    assert w._handle([as_message(refused("S1"))]) == 1
    assert order(c.matcher.shortlists.latest("ungm:a1"))[-1] == "S1"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{oops", "invalid_json"),
        (b'{"feedback_id": "f1", "mark": "maybe"}', "invalid_feedback"),
    ],
)
def test_a_message_that_is_not_a_mark_goes_to_the_feedback_dead_letter_topic_with_the_reason(
    value: bytes, reason: str
) -> None:
    c = container()
    w = FeedbackWorker(
        c.matcher, Settings(topic_feedback_dlq="t.feedback.dlq"), threading.Event(), consumer_factory=lambda: None
    )
    assert w._handle([Message("t.feedback", 0, 7, b"f1", value)]) == 1
    publisher = c.matcher.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.flush()
    [letter] = publisher.on("t.feedback.dlq")
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.service, letter.origin) == (reason, "matcher", "t.feedback")
    assert (letter.key, letter.payload) == ("f1", value.decode())
    assert c.matcher.feedback is not None
    assert c.matcher.feedback.from_suppliers(10) == []

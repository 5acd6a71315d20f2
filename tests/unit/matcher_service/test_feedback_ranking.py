"""Buyers' marks move the ranking over the in-memory fakes: a mark re-ranks its notice at once, counts on the same
agency's similar notices, never on another agency's unless pooling is on, and every entry it moves says why."""

from __future__ import annotations

import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts import Shortlist
from contracts.feedback import FeedbackMark, FeedbackReason
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.entrypoints.http import create_app
from services.matcher.keys import Principal, Role
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import BUYER_A, NOW, feedback_mark, notice, supplier

pytestmark = pytest.mark.unit

UNICEF = Principal(Role.BUYER, agency="UNICEF")
WFP = Principal(Role.BUYER, agency="WFP")


def container(*, pooling: bool = False) -> Container:
    """Three suppliers alike in all but their ids (S2 in India): without marks they tie and rank by id."""
    c = bootstrap_in_memory(Settings(matcher_feedback_pooling=pooling), clock=lambda: NOW)
    for p in (supplier("S1"), supplier("S2", country="IN"), supplier("S3")):
        c.matcher.profiles.put(p)
    c.matcher.handle_notice(notice("a1", agency="UNICEF"))
    return c


def order(shortlist: Shortlist | None) -> list[str]:
    assert shortlist is not None
    return [e.supplier_id for e in shortlist.entries]


def entry_of(shortlist: Shortlist | None, supplier_id: str) -> tuple[float, str | None, float]:
    assert shortlist is not None
    e = next(e for e in shortlist.entries if e.supplier_id == supplier_id)
    return e.adjustment, e.adjustment_reason, e.total_score - sum(c.contribution for c in e.components)


def current(c: Container, notice_id: str) -> Shortlist | None:
    stored = c.matcher.notices.get(notice_id)
    assert stored is not None
    return c.matcher.shortlist_of(stored)


def test_a_not_relevant_mark_moves_the_supplier_down_on_its_notice_at_once_and_says_why() -> None:
    c = container()
    assert order(current(c, "ungm:a1")) == ["S1", "S2", "S3"]
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.NOT_RELEVANT, FeedbackReason.WRONG_PRODUCTS)
    after = current(c, "ungm:a1")
    assert order(after) == ["S2", "S3", "S1"]
    adjustment, reason, rest = entry_of(after, "S1")
    assert adjustment == pytest.approx(-0.15)
    assert rest == pytest.approx(adjustment, abs=1e-5)  # the total is the explained components plus the marks
    assert reason is not None
    assert "marked not relevant (wrong products) by this agency on this notice" in reason
    # The re-ranked shortlist went out like any other.
    topic = c.settings.topic_shortlists
    sent = [m[2] for m in c.matcher.publisher.published if m[0] == topic]  # type: ignore[attr-defined]
    assert order(sent[-1]) == ["S2", "S3", "S1"]


def test_invited_and_relevant_suppliers_move_up() -> None:
    c = container()
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S3", FeedbackMark.INVITE)
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S2", FeedbackMark.RELEVANT)
    assert order(current(c, "ungm:a1")) == ["S3", "S2", "S1"]


def test_a_mark_counts_on_the_agencys_similar_notices_and_not_on_unlike_ones() -> None:
    c = container()
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.NOT_RELEVANT, FeedbackReason.WRONG_PRODUCTS)
    c.matcher.handle_notice(notice("a2", agency="UNICEF", codes=("42132205",)))  # the same class of gloves
    similar = c.matcher.shortlists.latest("ungm:a2")
    assert order(similar)[-1] == "S1"
    adjustment, reason, _ = entry_of(similar, "S1")
    assert -0.15 < adjustment < 0
    assert reason is not None
    assert "on a similar notice (ungm:a1)" in reason
    c.matcher.handle_notice(notice("a3", agency="UNICEF", codes=("42000000",)))  # the same segment only
    assert entry_of(c.matcher.shortlists.latest("ungm:a3"), "S1")[:2] == (0.0, None)


def test_a_buyers_marks_never_move_another_agencys_shortlists() -> None:
    c = container()
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.NOT_RELEVANT)
    c.matcher.handle_notice(notice("b1", agency="WFP"))  # the very same goods
    wfp = c.matcher.shortlists.latest("ungm:b1")
    assert order(wfp) == ["S1", "S2", "S3"]
    assert all(e.adjustment == 0.0 and e.adjustment_reason is None for e in wfp.entries)  # type: ignore[union-attr]
    # Nor does a rematch (the rematch path reads the marks too).
    assert order(c.matcher.rematch("ungm:b1")) == ["S1", "S2", "S3"]


def test_with_pooling_another_agencys_marks_count_and_say_so() -> None:
    c = container(pooling=True)
    c.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.NOT_RELEVANT)
    c.matcher.handle_notice(notice("b1", agency="WFP"))
    wfp = c.matcher.shortlists.latest("ungm:b1")
    assert order(wfp)[-1] == "S1"
    reason = entry_of(wfp, "S1")[1]
    assert reason is not None
    assert "by another agency on a similar notice (ungm:a1)" in reason


def test_rerank_open_reads_the_marks_too() -> None:
    c = container()
    c.matcher.handle_notice(notice("a2", agency="UNICEF"))
    # A mark stored by another process (no re-rank here): the next rematch of the open notices reads it.
    c.matcher.feedback.put(feedback_mark("unicef", "ungm:a1", "S2", FeedbackMark.INVITE))  # type: ignore[union-attr]
    counts = c.matcher.rerank_open()
    assert counts.changed == 2
    assert order(current(c, "ungm:a2"))[0] == "S2"


def test_the_notice_page_says_why_an_entry_moved(api_container: Container) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    with TestClient(create_app(api_container), follow_redirects=False) as client:
        client.post("/ui/login", data={"api_key": BUYER_A})
        before = client.get("/ui/notices/ungm:a1").text
        api_container.matcher.mark_entry(UNICEF, "ungm:a1", "S1", FeedbackMark.NOT_RELEVANT, FeedbackReason.TOO_SMALL)
        after = client.get("/ui/notices/ungm:a1").text
    line = "<strong>Marks</strong> -0.150: marked not relevant (too small) by this agency on this notice"
    assert line not in before
    assert line in after

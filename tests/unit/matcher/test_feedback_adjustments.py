"""Buyers' marks turned into score adjustments for one notice: a mark counts fully on its own notice, on the
agency's other notices as much as they resemble it, never for another agency unless pooled, and never beyond the
cap. A supplier's own "not relevant for me" counts for every agency, and says it is the supplier's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback
from services.matcher.domain.feedback import (
    MARK_WEIGHTS,
    MAX_ADJUSTMENT,
    REASON_WEIGHTS,
    SUPPLIER_MARK_WEIGHT,
    SUPPLIER_SAID,
    SUPPLIER_SAID_SIMILAR,
    explained_adjustments,
    feedback_adjustments,
)
from services.notifier.domain.not_relevant import NoticeRef, supplier_mark
from tests.unit.matcher_service.builders import NOW, feedback_mark

pytestmark = pytest.mark.unit


def mark(
    supplier: str,
    kind: FeedbackMark,
    notice: str = "ungm:1",
    agency: str = "unicef",
    reason: FeedbackReason | None = None,
) -> ShortlistFeedback:
    stored: ShortlistFeedback = feedback_mark(agency, notice, supplier, kind, reason)
    return stored


def test_marks_on_the_notice_itself_count_fully_up_and_down() -> None:
    marks = [mark("A", FeedbackMark.INVITE), mark("B", FeedbackMark.RELEVANT), mark("C", FeedbackMark.NOT_RELEVANT)]
    got = feedback_adjustments(marks, "ungm:1", "unicef", {})
    assert got == {
        "A": MARK_WEIGHTS[FeedbackMark.INVITE],
        "B": MARK_WEIGHTS[FeedbackMark.RELEVANT],
        "C": MARK_WEIGHTS[FeedbackMark.NOT_RELEVANT],
    }
    assert got["A"] > got["B"] > 0 > got["C"]


def test_marks_on_other_notices_count_as_much_as_those_resemble_this_one() -> None:
    marks = [mark("A", FeedbackMark.NOT_RELEVANT, notice="ungm:old"), mark("B", FeedbackMark.INVITE, notice="ungm:far")]
    got = feedback_adjustments(marks, "ungm:new", "unicef", {"ungm:old": 0.5})
    want = 0.5 * MARK_WEIGHTS[FeedbackMark.NOT_RELEVANT] * REASON_WEIGHTS[None]
    assert got == {"A": pytest.approx(want)}  # "far" resembles it not at all


def test_a_reason_about_the_tender_weighs_less_on_other_notices_than_one_about_the_firm() -> None:
    firm = mark("A", FeedbackMark.NOT_RELEVANT, notice="ungm:old", reason=FeedbackReason.WRONG_PRODUCTS)
    tender = mark("B", FeedbackMark.NOT_RELEVANT, notice="ungm:old", reason=FeedbackReason.TOO_SMALL)
    got = feedback_adjustments([firm, tender], "ungm:new", "unicef", {"ungm:old": 1.0})
    assert got["A"] < got["B"] < 0
    # On the notice they were made on, the reason does not matter.
    same = feedback_adjustments([firm, tender], "ungm:old", "unicef", {})
    assert same["A"] == same["B"]


def test_another_agencys_marks_never_count_unless_pooled() -> None:
    marks = [mark("A", FeedbackMark.NOT_RELEVANT, agency="wfp")]
    assert feedback_adjustments(marks, "ungm:1", "unicef", {}) == {}
    assert feedback_adjustments(marks, "ungm:1", "unicef", {}, pooled=True) == {
        "A": MARK_WEIGHTS[FeedbackMark.NOT_RELEVANT]
    }


@given(
    st.lists(
        st.tuples(st.sampled_from(list(FeedbackMark)), st.sampled_from(["ungm:1", "ungm:2", "ungm:3"])),
        max_size=30,
    ),
    st.floats(min_value=-2, max_value=2),
)
def test_adjustments_stay_within_the_cap_whatever_the_marks(marks: list[tuple[FeedbackMark, str]], s: float) -> None:
    stored = [mark(f"S{i % 3}", kind, notice=n, agency=f"a{i}") for i, (kind, n) in enumerate(marks)]
    got = feedback_adjustments(stored, "ungm:1", "a0", {"ungm:2": s, "ungm:3": 1.0}, pooled=True)
    assert all(-MAX_ADJUSTMENT <= v <= MAX_ADJUSTMENT for v in got.values())


def own(
    supplier: str, notice: str = "ungm:1", buyer: str = "UNICEF", reason: FeedbackReason | None = None
) -> ShortlistFeedback:
    """A supplier's own "not relevant for me", as the notifier makes it from an alert's link."""
    return supplier_mark(NoticeRef(supplier, notice, 1, buyer), reason, NOW)


def test_a_suppliers_own_mark_counts_for_every_agency_without_pooling() -> None:
    got = feedback_adjustments([own("A", buyer="WFP")], "ungm:1", "unicef", {})
    assert got == {"A": SUPPLIER_MARK_WEIGHT}
    assert SUPPLIER_MARK_WEIGHT < 0


def test_a_suppliers_own_mark_counts_on_notices_as_much_as_they_resemble_the_refused_one_whatever_its_reason() -> None:
    marks = [own("A", notice="ungm:old", reason=FeedbackReason.TOO_SMALL), own("B", notice="ungm:old")]
    got = feedback_adjustments(marks, "ungm:new", "wfp", {"ungm:old": 0.6})
    assert got == {"A": pytest.approx(0.6 * SUPPLIER_MARK_WEIGHT), "B": pytest.approx(0.6 * SUPPLIER_MARK_WEIGHT)}
    # A buyer's "not relevant" without a reason is about that tender and counts far less on other notices.
    buyers = feedback_adjustments([mark("C", FeedbackMark.NOT_RELEVANT, notice="ungm:old", agency="wfp")],
                                  "ungm:new", "wfp", {"ungm:old": 0.6})  # fmt: skip
    assert got["A"] < buyers["C"] < 0
    assert feedback_adjustments(marks, "ungm:far", "wfp", {"ungm:old": 0.0}) == {}


def test_a_suppliers_own_mark_is_explained_as_the_suppliers_word_not_an_agencys() -> None:
    same = explained_adjustments([own("A", reason=FeedbackReason.WRONG_PRODUCTS)], "ungm:1", "wfp", {})
    assert same["A"].reason == f"{SUPPLIER_SAID} (wrong products)"
    other = explained_adjustments([own("A", notice="ungm:old")], "ungm:new", "unicef", {"ungm:old": 1.0})
    assert other["A"].reason == f"{SUPPLIER_SAID_SIMILAR}: it refused a similar notice (ungm:old)"
    assert "agency" not in other["A"].reason


def test_a_suppliers_own_mark_and_the_buyers_on_the_same_entry_both_count() -> None:
    buyer = mark("A", FeedbackMark.RELEVANT)
    got = feedback_adjustments([buyer, own("A")], "ungm:1", "unicef", {})
    assert buyer.feedback_id != own("A").feedback_id
    assert got == {"A": pytest.approx(MARK_WEIGHTS[FeedbackMark.RELEVANT] + SUPPLIER_MARK_WEIGHT)}

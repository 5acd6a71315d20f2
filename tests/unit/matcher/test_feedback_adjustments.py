"""Buyers' marks turned into score adjustments for one notice: a mark counts fully on its own notice, on the
agency's other notices as much as they resemble it, never for another agency unless pooled, and never beyond the
cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback
from services.matcher.domain.feedback import MARK_WEIGHTS, MAX_ADJUSTMENT, REASON_WEIGHTS, feedback_adjustments
from tests.unit.matcher_service.builders import feedback_mark

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

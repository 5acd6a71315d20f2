"""Buyers' marks turned into per-supplier score adjustments for one notice (pure: marks in, numbers out).

A mark counts fully on the notice it was made on, and on the same agency's other notices as much as they resemble
it (``similarity``: notice id -> 0..1, computed by the caller, e.g. from shared codes); marks of other agencies
never count unless an operator pools them (``pooled``). The latest mark of an agency on a supplier of a notice is
the only one (the contract's ``feedback_id`` is one per agency, notice and supplier). The sum per supplier is
capped at ``MAX_ADJUSTMENT`` either way, so feedback moves a supplier within a shortlist's range of scores but never
stands in for the match itself. Ranking adds the adjustment to the total score (once the scoring work calls it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback

#: What one mark is worth on the notice it was made on (total scores run from 0 to 1).
MARK_WEIGHTS: Mapping[FeedbackMark, float] = {
    FeedbackMark.INVITE: 0.10,
    FeedbackMark.RELEVANT: 0.05,
    FeedbackMark.NOT_RELEVANT: -0.15,
}
#: A "not relevant" with a reason that says the supplier does not make such things weighs more on similar notices
#: than one that says the lot was too small or the supplier not eligible this time (about this tender, not the firm).
REASON_WEIGHTS: Mapping[FeedbackReason | None, float] = {
    None: 1.0,
    FeedbackReason.WRONG_PRODUCTS: 1.0,
    FeedbackReason.OTHER: 1.0,
    FeedbackReason.TOO_SMALL: 0.5,
    FeedbackReason.NOT_ELIGIBLE: 0.5,
}
#: The largest adjustment a supplier gets, up or down, from all marks together.
MAX_ADJUSTMENT = 0.25


def mark_value(mark: ShortlistFeedback, *, same_notice: bool) -> float:
    """One mark's worth: its ``MARK_WEIGHTS``; on another notice, a not-relevant one scaled by its reason."""
    value = MARK_WEIGHTS[mark.mark]
    if mark.mark == FeedbackMark.NOT_RELEVANT and not same_notice:
        value *= REASON_WEIGHTS[mark.reason]
    return value


def feedback_adjustments(
    marks: Iterable[ShortlistFeedback],
    notice_id: str,
    agency: str,
    similarity: Mapping[str, float],
    *,
    pooled: bool = False,
) -> dict[str, float]:
    """Supplier id -> score adjustment for ``notice_id`` ranked for ``agency`` (normalized as the marks' agency).

    ``marks``: stored marks of any notice; ``similarity``: how much each other notice resembles this one (0..1;
    missing means 0). Marks of another agency count only when ``pooled``. Suppliers without any counting mark are
    absent; adjustments are capped at ±``MAX_ADJUSTMENT``."""
    total: dict[str, float] = {}
    for mark in marks:
        if mark.agency != agency and not pooled:
            continue
        same = mark.notice_id == notice_id
        weight = 1.0 if same else min(max(similarity.get(mark.notice_id, 0.0), 0.0), 1.0)
        if weight <= 0.0:
            continue
        total[mark.supplier_id] = total.get(mark.supplier_id, 0.0) + weight * mark_value(mark, same_notice=same)
    return {s: max(-MAX_ADJUSTMENT, min(MAX_ADJUSTMENT, v)) for s, v in total.items() if v != 0.0}

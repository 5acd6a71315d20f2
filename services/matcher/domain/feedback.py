"""Buyers' marks, and suppliers' own, turned into per-supplier score adjustments for one notice (pure: marks in,
numbers out).

A mark counts fully on the notice it was made on, and on the same agency's other notices as much as they resemble
it (``similarity``: notice id -> 0..1, computed by the caller, e.g. from shared codes); marks of other agencies
never count unless an operator pools them (``pooled``). The latest mark of an agency on a supplier of a notice is
the only one (the contract's ``feedback_id`` is one per agency, notice and supplier). The sum per supplier is
capped at ``MAX_ADJUSTMENT`` either way, so feedback moves a supplier within a shortlist's range of scores but never
stands in for the match itself. ``explained_adjustments`` gives each adjustment with the line a buyer reads;
``ranking.rank`` adds it to the supplier's total and shows it on the entry (``ShortlistEntry.feedback``).

A supplier's own "not relevant for me" (``by_supplier``, from an alert's link) is the firm's statement about itself,
not an agency's judgement: it counts for every agency, without pooling, on the notice it was made on and on notices
as much as they resemble it, whatever its reason (``SUPPLIER_MARK_WEIGHT``), and is explained as the supplier's
("the supplier said this kind of notice is not relevant").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback
from contracts.notice import TenderNotice
from services.matcher.domain.codes import relation, tag_of

#: What one mark is worth on the notice it was made on (total scores run from 0 to 1).
MARK_WEIGHTS: Mapping[FeedbackMark, float] = {
    FeedbackMark.INVITE: 0.10,
    FeedbackMark.RELEVANT: 0.05,
    FeedbackMark.NOT_RELEVANT: -0.15,
}
#: How much a "not relevant" counts on the agency's other notices, by its reason: "wrong products" says the supplier
#: does not make such things and counts fully; the others (too small, not eligible, other, none given) are about
#: this tender more than the firm, and count a little. Measured on the development split (``python -m
#: bench.feedback``, full, share 0.3): a simulated buyer's "not relevant" without a reason on the top-ranked losers
#: (losers of one tender often win the next) spread at 1.0 lowered HR@10 on the first 1,500 notices (0.572 ->
#: 0.543); at 0.2, HR@10 0.5134 -> 0.5092 and MRR@10 0.2925 -> 0.3012 on all 9,265; at 0.05, 0.5184 and 0.3073;
#: at 0, 0.5191 and 0.3076.
REASON_WEIGHTS: Mapping[FeedbackReason | None, float] = {
    None: 0.05,
    FeedbackReason.WRONG_PRODUCTS: 1.0,
    FeedbackReason.OTHER: 0.05,
    FeedbackReason.TOO_SMALL: 0.05,
    FeedbackReason.NOT_ELIGIBLE: 0.05,
}
#: What a supplier's own "not relevant for me" is worth on the notice it refused; on another notice, that times how
#: much the notice resembles it. Not scaled by its reason: whatever the firm gives (wrong products, too small), it
#: speaks of what it wants to be sent, so notices like the refused one are worth less to it.
SUPPLIER_MARK_WEIGHT = MARK_WEIGHTS[FeedbackMark.NOT_RELEVANT]
#: The largest adjustment a supplier gets, up or down, from all marks together.
MAX_ADJUSTMENT = 0.25
#: Two notices whose codes share less than a UNSPSC family / CPV group (depth 2) are not alike: a mark on gloves
#: says nothing about laptops of the same segment.
MIN_SIMILAR_DEPTH = 2


@dataclass(frozen=True)
class Adjustment:
    """What marks add to one supplier's total for one notice (``value``, signed, within ±``MAX_ADJUSTMENT``) and
    why, as one English line a buyer reads on the entry (``reason``); when the supplier's own mark counts, its
    ``contracts.REASON_CODES`` code and args too (``code``, ``args``: the supplier's email says it in its language)."""

    value: float
    reason: str
    code: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)


def notice_similarity(a: TenderNotice, b: TenderNotice) -> float:
    """How much two notices resemble each other, 0..1: the best ``category`` score of one's codes against the
    other's (``codes.relation``: the same code 1.0, one level apart 0.85, a shared class 0.6, family 0.4), 0 below
    ``MIN_SIMILAR_DEPTH`` or without codes."""
    tags_a = [t for t in (tag_of(i.classification) for i in a.items if i.classification) if t]
    tags_b = [t for t in (tag_of(i.classification) for i in b.items if i.classification) if t]
    best = 0.0
    for x in tags_a:
        for y in tags_b:
            level = relation(x, y)
            if level is not None and (level.depth == 0 or level.depth >= MIN_SIMILAR_DEPTH):
                best = max(best, level.match)
    return best


def mark_value(mark: ShortlistFeedback, *, same_notice: bool) -> float:
    """One mark's worth: its ``MARK_WEIGHTS``; on another notice, a buyer's not-relevant one scaled by its reason.
    A supplier's own: ``SUPPLIER_MARK_WEIGHT`` anywhere."""
    if mark.by_supplier:
        return SUPPLIER_MARK_WEIGHT
    value = MARK_WEIGHTS[mark.mark]
    if mark.mark == FeedbackMark.NOT_RELEVANT and not same_notice:
        value *= REASON_WEIGHTS[mark.reason]
    return value


def _counted(
    marks: Iterable[ShortlistFeedback],
    notice_id: str,
    agency: str | frozenset[str],
    similarity: Mapping[str, float],
    pooled: bool,
) -> dict[str, list[tuple[ShortlistFeedback, float]]]:
    """Supplier id -> the marks that count for ``notice_id`` and what each is worth there (weighted)."""
    own = frozenset([agency]) if isinstance(agency, str) else agency
    out: dict[str, list[tuple[ShortlistFeedback, float]]] = {}
    for mark in marks:
        if mark.agency not in own and not pooled and not mark.by_supplier:
            continue
        same = mark.notice_id == notice_id
        weight = 1.0 if same else min(max(similarity.get(mark.notice_id, 0.0), 0.0), 1.0)
        if weight <= 0.0:
            continue
        out.setdefault(mark.supplier_id, []).append((mark, weight * mark_value(mark, same_notice=same)))
    return out


def _capped(value: float) -> float:
    return max(-MAX_ADJUSTMENT, min(MAX_ADJUSTMENT, value))


def feedback_adjustments(
    marks: Iterable[ShortlistFeedback],
    notice_id: str,
    agency: str | frozenset[str],
    similarity: Mapping[str, float],
    *,
    pooled: bool = False,
) -> dict[str, float]:
    """Supplier id -> score adjustment for ``notice_id`` ranked for ``agency`` (normalized as the marks' agency; a
    set when the notice's buyer goes by several: its id and its name).

    ``marks``: stored marks of any notice; ``similarity``: how much each other notice resembles this one (0..1;
    missing means 0). Marks of another agency count only when ``pooled``; a supplier's own always. Suppliers
    without any counting mark are absent; adjustments are capped at ±``MAX_ADJUSTMENT``. The values of
    ``explained_adjustments``."""
    explained = explained_adjustments(marks, notice_id, agency, similarity, pooled=pooled)
    return {supplier: adjustment.value for supplier, adjustment in explained.items()}


#: How a supplier's own mark is explained to the buyer, on the notice it refused and on a notice like it.
SUPPLIER_SAID = "the supplier said this notice is not relevant for it"
SUPPLIER_SAID_SIMILAR = "the supplier said this kind of notice is not relevant"

_MARK_WORDS = {
    FeedbackMark.INVITE: "invited",
    FeedbackMark.RELEVANT: "marked relevant",
    FeedbackMark.NOT_RELEVANT: "marked not relevant",
}


def _why(mark: ShortlistFeedback, notice_id: str, agency: str | frozenset[str]) -> str:
    if mark.by_supplier:
        said = SUPPLIER_SAID if mark.notice_id == notice_id else SUPPLIER_SAID_SIMILAR
        if mark.reason is not None:
            said += f" ({mark.reason.value.replace('_', ' ')})"
        return said if mark.notice_id == notice_id else f"{said}: it refused a similar notice ({mark.notice_id})"
    what = _MARK_WORDS[mark.mark]
    if mark.reason is not None:
        what += f" ({mark.reason.value.replace('_', ' ')})"
    own = mark.agency == agency if isinstance(agency, str) else mark.agency in agency
    who = "by this agency" if own else "by another agency"
    where = "on this notice" if mark.notice_id == notice_id else f"on a similar notice ({mark.notice_id})"
    return f"{what} {who} {where}"


def explained_adjustments(
    marks: Iterable[ShortlistFeedback],
    notice_id: str,
    agency: str | frozenset[str],
    similarity: Mapping[str, float],
    *,
    pooled: bool = False,
) -> dict[str, Adjustment]:
    """``feedback_adjustments`` with the reason of each: the marks behind it, the weightiest first ("marked not
    relevant (wrong products) by this agency on a similar notice (ungm:9); +2 more marks")."""
    out: dict[str, Adjustment] = {}
    for supplier, worth in _counted(marks, notice_id, agency, similarity, pooled).items():
        value = _capped(sum(v for _, v in worth))
        if value == 0.0:
            continue
        worth.sort(key=lambda mv: (-abs(mv[1]), mv[0].notice_id))
        reason = _why(worth[0][0], notice_id, agency)
        if len(worth) > 1:
            reason += f"; {len(worth) - 1} more mark{'s' if len(worth) > 2 else ''}"
        own = next((m for m, _ in worth if m.by_supplier), None)
        if own is None:
            out[supplier] = Adjustment(round(value, 6), reason)
        else:
            code = "supplier_refused" if own.notice_id == notice_id else "supplier_refused_similar"  # ADJUSTMENT_CODES
            out[supplier] = Adjustment(round(value, 6), reason, code, {"notice_id": own.notice_id})
    return out

"""Buyers' marks in ``rank``: an adjustment is added to its supplier's total before the order and the threshold,
shown on the entry with its reason, and the explanation still adds up (components plus adjustment = total, never
below 0); notices are alike by their codes only down to a family."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import SupplierProfile, TenderNotice
from services.matcher.domain import ScoringConfig, rank
from services.matcher.domain.feedback import MAX_ADJUSTMENT, Adjustment, notice_similarity
from tests.unit.matcher.conftest import NOW
from tests.unit.matcher.test_rank_properties import ROUNDING, cases
from tests.unit.matcher_service.builders import notice, supplier

pytestmark = pytest.mark.unit

values = st.floats(min_value=-MAX_ADJUSTMENT, max_value=MAX_ADJUSTMENT, allow_nan=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(values, min_size=14, max_size=14))
def test_marks_keep_the_order_of_the_explained_totals(
    case: tuple[TenderNotice, list[SupplierProfile]], moves: list[float]
) -> None:
    n, suppliers = case[0], case[1]
    adjustments = {p.supplier_id: Adjustment(v, f"moved {v}") for p, v in zip(suppliers, moves, strict=False)}
    config = ScoringConfig(top_k=len(suppliers), threshold=0.0, cold_start_slots=0)
    every = rank(n, suppliers, config, NOW, adjustments=adjustments).entries
    plain = {e.supplier_id: e for e in rank(n, suppliers, config, NOW).entries}
    totals = [e.total_score for e in every]
    for higher, lower in itertools.pairwise(totals):
        assert higher >= lower - ROUNDING, totals
    for e in every:
        explained = sum(c.score * c.weight for c in e.components)
        assert e.total_score == pytest.approx(explained + e.adjustment, abs=ROUNDING)
        assert e.total_score >= 0.0
        # The components are the unmarked ranking's; the marks are their own line.
        assert e.components == plain[e.supplier_id].components
        wanted = adjustments[e.supplier_id].value
        assert e.adjustment == pytest.approx(max(wanted, -explained), abs=ROUNDING)
        assert e.adjustment_reason == f"moved {wanted}"
    top = rank(n, suppliers, ScoringConfig(top_k=3, threshold=0.0, cold_start_slots=0), NOW, adjustments=adjustments)
    assert [e.model_dump() for e in top.entries] == [e.model_dump() for e in every[:3]]


def test_a_mark_lifts_a_supplier_over_the_threshold_and_a_negative_one_drops_it() -> None:
    n = notice("1")
    suppliers = [supplier("S1"), supplier("S2", codes=("43211500",), keywords=("laptops",))]
    plain = {e.supplier_id: e.total_score for e in rank(n, suppliers, ScoringConfig(threshold=0.0), NOW).entries}
    assert plain["S1"] - plain["S2"] > 0.03
    config = ScoringConfig(threshold=plain["S2"] + 0.01, cold_start_slots=0)

    def listed(adjustments: dict[str, Adjustment]) -> list[str]:
        return [e.supplier_id for e in rank(n, suppliers, config, NOW, adjustments=adjustments).entries]

    assert listed({}) == ["S1"]
    assert listed({"S2": Adjustment(0.02, "invited")}) == ["S1", "S2"]
    assert listed({"S2": Adjustment(plain["S1"] - plain["S2"] + 0.01, "invited")}) == ["S2", "S1"]
    assert listed({"S1": Adjustment(plain["S2"] - plain["S1"], "not relevant")}) == []


@pytest.mark.parametrize(
    ("a", "b", "similarity"),
    [
        (("42132203",), ("42132203",), 1.0),  # the same commodity
        (("42132203",), ("42132200",), 0.85),  # one level apart
        (("42132203",), ("42132205",), 0.6),  # the same class
        (("42132203",), ("42131501",), 0.4),  # the same family
        (("42132203",), ("42000000",), 0.0),  # only the segment: not alike
        (("42132203",), ("43211500",), 0.0),
        (("43211500", "42132203"), ("42132203",), 1.0),  # the best pair of codes
        ((), ("42132203",), 0.0),  # no codes, nothing to compare
    ],
)
def test_notices_are_alike_by_their_codes(a: tuple[str, ...], b: tuple[str, ...], similarity: float) -> None:
    assert notice_similarity(notice("1", codes=a), notice("2", codes=b)) == pytest.approx(similarity)

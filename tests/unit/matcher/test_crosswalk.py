"""The CPV <-> UNSPSC lookup over a small table: exact codes, ancestors, refusals; and the shipped table."""

from __future__ import annotations

import pytest

from contracts.common import CodeScheme
from services.matcher.adapters.codebook import crosswalk
from services.matcher.domain.crosswalk import Crosswalk, CrosswalkPair, cross

pytestmark = pytest.mark.unit

U, C = CodeScheme.UNSPSC, CodeScheme.CPV
GLOVES = CrosswalkPair(U, "42132203", "Medical examination gloves", 0.81)
SURGICAL = CrosswalkPair(U, "42132205", "Surgical gloves", 0.74)
TABLE = Crosswalk(
    {
        (C, "33141420"): (GLOVES, SURGICAL),
        (C, "33140000"): (CrosswalkPair(U, "42130000", "Medical apparel and textiles", 0.6),),
        (U, "42132203"): (CrosswalkPair(C, "33141420", "Surgical gloves", 0.81),),
    }
)


def test_a_listed_code_gives_its_pairs_best_first_and_at_most_top() -> None:
    assert cross(TABLE, C, "33141420") == [GLOVES, SURGICAL]
    assert cross(TABLE, C, "33141420", top=1) == [GLOVES]
    assert cross(TABLE, U, "42132203")[0].scheme == C


def test_an_unlisted_code_is_read_as_its_nearest_listed_ancestor() -> None:
    assert cross(TABLE, C, "33141100")[0].code == "42130000"


def test_an_unknown_code_gives_nothing_and_a_malformed_one_is_refused() -> None:
    assert cross(TABLE, U, "10101501") == []
    with pytest.raises(ValueError, match="8 digits"):
        cross(TABLE, U, "4213")
    with pytest.raises(ValueError, match="joins UNSPSC and CPV"):
        cross(TABLE, CodeScheme.OTHER, "12345678")


def test_the_shipped_table_joins_both_ways_with_scores_and_titles() -> None:
    table = crosswalk()
    cpv_side = cross(table, C, "30213100")  # CPV: portable computers
    assert cpv_side
    assert all(p.scheme == U and p.title and 0 < p.score <= 1 for p in cpv_side)
    assert [p.score for p in cpv_side] == sorted((p.score for p in cpv_side), reverse=True)
    assert any(p.code.startswith("4321") for p in cpv_side)  # UNSPSC family 4321: computer equipment
    assert all(p.scheme == C for p in cross(table, U, "43211503"))

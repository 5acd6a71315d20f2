from __future__ import annotations

import pytest

from services.matcher.domain import codes

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("notice_tag", "supplier_tag", "kind", "score"),
    [
        ("U:42132203", "U:42132203", "exact", codes.EXACT),
        ("U:42132203", "U:421322", "one level", codes.ONE_LEVEL),  # supplier one level up (UNGM)
        ("U:421322", "U:42132203", "one level", codes.ONE_LEVEL),  # supplier one level down
        ("U:42132203", "U:42132205", "class", 0.6),
        ("U:42132203", "U:4213", "family", 0.4),
        ("U:42132203", "U:42131501", "family", 0.4),
        ("U:42132203", "U:42", "segment", 0.15),
        ("U:42132203", "U:43211500", None, None),
        ("U:42132203", "C:42132203", None, None),  # schemes never match each other
        ("C:33141", "C:3314", "one level", codes.ONE_LEVEL),
        ("C:33141411", "C:33141", "category", 0.6),
    ],
)
def test_code_match_ladder(notice_tag: str, supplier_tag: str, kind: str | None, score: float | None) -> None:
    pair = codes.match(notice_tag, supplier_tag)
    best = codes.best_match([notice_tag], codes.CodeSet.of({supplier_tag}))
    if kind is None:
        assert pair is None
        assert best is None
        return
    assert pair is not None
    assert best is not None
    assert (pair.kind, pair.score) == (kind, score)
    assert best.score == pair.score


def test_ladder_is_ordered_exact_class_family_segment() -> None:
    supplier_tags = ["U:42132203", "U:42132205", "U:42131501", "U:42000000"[:4]]
    scores = [codes.best_match(["U:42132203"], codes.CodeSet.of({t})) for t in supplier_tags]
    values = [s.score if s else 0.0 for s in scores]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == len(values)

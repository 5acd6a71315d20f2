from __future__ import annotations

import pytest

from services.matcher.domain import codes

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("notice_tag", "supplier_tag", "kind", "score"),
    [
        ("U:42132203", "U:42132203", "exact", codes.EXACT.match),
        ("U:42132203", "U:421322", "one level", codes.ONE_LEVEL.match),  # supplier one level up (UNGM)
        ("U:421322", "U:42132203", "one level", codes.ONE_LEVEL.match),  # supplier one level down
        ("U:42132203", "U:42132205", "class", 0.6),
        ("U:42132203", "U:4213", "family", 0.4),
        ("U:42132203", "U:42131501", "family", 0.4),
        ("U:42132203", "U:42", "segment", 0.15),
        ("U:42132203", "U:43211500", None, None),
        ("U:42132203", "C:42132203", None, None),  # schemes never match each other
        ("C:33141", "C:3314", "one level", codes.ONE_LEVEL.match),
        ("C:33141411", "C:33141", "category", 0.6),
        ("C:33141411", "C:3314", "class", 0.45),  # CPV class: 4 digits
        ("C:33141411", "C:331", "group", 0.3),
        ("C:33141411", "C:33", "division", 0.15),
        ("C:33141411", "C:3314141", "one level", codes.ONE_LEVEL.match),
        ("C:33141411", "C:33141412", "subdivision", 0.7),
        ("C:33141411", "C:34", None, None),
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


@pytest.mark.parametrize(
    ("t", "name", "family"),
    [
        ("U:42", "segment", None),
        ("U:4213", "family", "U:4213"),
        ("U:421322", "class", "U:4213"),
        ("U:42132203", "commodity", "U:4213"),
        # Regulation (EC) 213/2008: division 2 digits, group 3, class 4, category 5, then subdivisions.
        ("C:33", "division", None),
        ("C:331", "group", "C:331"),
        ("C:3314", "class", "C:331"),
        ("C:33141", "category", "C:331"),
        ("C:331414", "subdivision", "C:331"),
        ("C:33141411", "subdivision", "C:331"),
        ("O:X-17", "code", None),
    ],
)
def test_every_level_is_named_from_one_mapping(t: str, name: str, family: str | None) -> None:
    assert codes.level_name(t) == name
    assert codes.family_tag(t) == family


def test_a_cpv_class_is_worth_what_a_unspsc_class_is_in_history_and_retrieval() -> None:
    unspsc_class, cpv_class = codes.level_of("U:421322"), codes.level_of("C:3314")
    assert unspsc_class is not None
    assert cpv_class is not None
    assert (cpv_class.name, cpv_class.depth) == ("class", 3)
    assert (cpv_class.credit, cpv_class.boost) == (unspsc_class.credit, unspsc_class.boost)
    # Deeper shared levels are worth more, for either scheme, in every column of the table.
    for letter in "UC":
        ladder = sorted((lv for (scheme, _), lv in codes.LEVELS.items() if scheme == letter), key=lambda lv: lv.depth)
        for column in ("match", "credit", "boost"):
            values = [getattr(lv, column) for lv in ladder]
            assert values == sorted(values), (letter, column)


def test_a_notice_code_chain_credits_each_ancestor_at_its_level() -> None:
    assert [(t, lv.name) for t, lv in codes.chain("C:33141411")] == [
        ("C:33141411", "exact"),
        ("C:3314141", "subdivision"),
        ("C:331414", "subdivision"),
        ("C:33141", "category"),
        ("C:3314", "class"),
        ("C:331", "group"),
        ("C:33", "division"),
    ]
    assert [(t, lv.name) for t, lv in codes.chain("U:42132203")] == [
        ("U:42132203", "exact"),
        ("U:421322", "class"),
        ("U:4213", "family"),
        ("U:42", "segment"),
    ]

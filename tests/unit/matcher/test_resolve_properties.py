"""Properties of entity resolution that must hold for any names: spelling does not matter, every record lands in
exactly one entity, and an operator's split followed by a merge gives the entities back."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.domain.resolve import Resolver, Winner, name_key

pytestmark = pytest.mark.unit

#: Words of firm names that are no legal form, generic word or abbreviation: the spelling varies, the name does not.
WORDS = ["acme", "north", "harbour", "medical", "supplies", "ningbo", "consulting", "orbital", "kestrel", "data"]
SPELLINGS = st.sampled_from(["{}", "{} Pty Ltd", "{} PTY. LIMITED", "THE {} P/L", "{}, Inc.", "  {}  Ltd  "])

names = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(names, SPELLINGS, st.booleans())
def test_case_spacing_and_legal_forms_do_not_change_a_name_key(name: str, spelling: str, upper: bool) -> None:
    written = spelling.format(name.upper() if upper else name.title())
    assert name_key(written) == name_key(name)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, SPELLINGS, st.sampled_from(["AU", "NZ", None])), min_size=1, max_size=25))
def test_every_record_lands_in_one_entity_and_a_rerun_agrees(rows: list[tuple[str, str, str | None]]) -> None:
    winners = [Winner(f"r{n}", spelling.format(name), (), country) for n, (name, spelling, country) in enumerate(rows)]
    first, second = Resolver(), Resolver()
    ids = [first.resolve(w).entity_id for w in winners]
    assert ids == [second.resolve(w).entity_id for w in winners]
    placed = Counter(r for records in first.clusters().values() for r in records)
    assert placed == Counter(w.record_id for w in winners)
    for winner, entity_id in zip(winners, ids, strict=True):
        assert winner.record_id in first.clusters()[entity_id]


@settings(max_examples=100, deadline=None)
@given(st.lists(names, min_size=2, max_size=12), st.data())
def test_a_split_then_a_merge_gives_the_entities_back(rows: list[str], data: st.DataObject) -> None:
    resolver = Resolver()
    for n, name in enumerate(rows):
        resolver.resolve(Winner(f"r{n}", name, (), "AU"))
    before = {e: sorted(records) for e, records in resolver.clusters().items()}
    entity_id = data.draw(st.sampled_from(sorted(before)))
    records = before[entity_id]
    moving = data.draw(st.lists(st.sampled_from(records), min_size=1, unique=True))
    apart = resolver.split(entity_id, moving, reason="test")  # all of them: the entity is left empty, then refilled
    resolver.merge(entity_id, apart, reason="undo")
    after = {e: sorted(r) for e, r in resolver.clusters().items()}
    assert after == before

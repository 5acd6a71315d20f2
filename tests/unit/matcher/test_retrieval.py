from __future__ import annotations

import pytest

from services.matcher.domain import (
    InMemoryProfileIndex,
    ScoringConfig,
    build_candidate_query,
    candidate_query_to_es,
    profile_document,
)
from services.matcher.domain.text import terms
from tests.unit.matcher.conftest import award, notice, supplier

pytestmark = pytest.mark.unit


def _index(*profiles) -> InMemoryProfileIndex:  # type: ignore[no-untyped-def]
    idx = InMemoryProfileIndex()
    for p in profiles:
        idx.upsert(p)
    return idx


def test_candidates_come_from_codes_at_every_level_and_from_text() -> None:
    idx = _index(
        supplier("exact", codes=("42132203",)),
        supplier("family", codes=("42130000",)),
        supplier("text-only", codes=("99999999",), keywords=("nitrile gloves",)),
        supplier("history", past_awards=[award("42132205", "Latex gloves", agency="WFP")]),
        supplier("unrelated", codes=("43211500",), keywords=("laptops",)),
    )
    found = [p.supplier_id for p in idx.candidates(build_candidate_query(notice(), ScoringConfig()))]
    assert set(found) == {"exact", "family", "text-only", "history"}
    assert found[0] == "exact"


def test_limit_keeps_the_best_boosted_candidates_in_a_stable_order() -> None:
    idx = _index(*(supplier(f"f{i}", codes=("42130000",)) for i in range(5)), supplier("x", codes=("42132203",)))
    found = idx.candidates(build_candidate_query(notice(), ScoringConfig(candidate_limit=3)))
    assert [p.supplier_id for p in found] == ["x", "f0", "f1"]


def test_upsert_replaces_and_remove_forgets() -> None:
    idx = _index(supplier("a", codes=("42132203",)))
    query = build_candidate_query(notice(), ScoringConfig())
    assert [p.supplier_id for p in idx.candidates(query)] == ["a"]
    idx.upsert(supplier("a", codes=("43211500",), keywords=("laptops",)))
    assert idx.candidates(query) == []
    idx.upsert(supplier("a", codes=("42132203",)))
    idx.remove("a")
    assert idx.candidates(query) == []
    assert len(idx) == 0


def test_chinese_text_matches_by_character_bigrams() -> None:
    assert terms("一次性丁腈手套") == ["一次", "次性", "性丁", "丁腈", "腈手", "手套"]
    idx = _index(supplier("zh", codes=("99999999",), description={"zh-Hans": "丁腈手套生产商"}))
    found = idx.candidates(build_candidate_query(notice(title="采购丁腈手套", codes=()), ScoringConfig()))
    assert [p.supplier_id for p in found] == ["zh"]


def test_es_query_uses_the_document_fields_with_the_same_clauses() -> None:
    query = build_candidate_query(notice(), ScoringConfig())
    body = candidate_query_to_es(query)
    should = body["query"]["bool"]["must"][0]["bool"]["should"]
    assert body["size"] == query.limit
    assert len(should) == len(query.code_terms) + len(query.text_terms)
    doc = profile_document(supplier("a", codes=("42132203",), keywords=("nitrile gloves",)))
    # Every clause the in-process index matches for this profile is a value of the indexed document's field.
    terms = [next(iter(c["constant_score"]["filter"]["term"].items())) for c in should]
    matched = {field for field, value in terms if value in doc[field]}
    assert matched == {"code_prefixes", "text_terms"}
    boosts = [c["constant_score"]["boost"] for c in should]
    assert boosts == [b for _, b in query.code_terms] + [b for _, b in query.text_terms]
    assert "U:42132203" in doc["code_prefixes"]
    assert "U:4213" in doc["code_prefixes"]


def test_buyer_history_orders_candidates_but_never_adds_one() -> None:
    idx = _index(
        supplier("a-plain", codes=("42130000",)),
        supplier("b-buyer", codes=("42130000",), past_awards=[award("42131501", "Gowns", agency="UNICEF")]),
        supplier("c-buyer-only", codes=("43211500",), past_awards=[award("43211500", "Laptops", agency="UNICEF")]),
    )
    query = build_candidate_query(notice(), ScoringConfig())
    assert ("agencies", "unicef", ScoringConfig().retrieval_buyer_boost) in query.buyer_terms
    found = [p.supplier_id for p in idx.candidates(query)]
    assert found == ["b-buyer", "a-plain"]
    body = candidate_query_to_es(query)
    assert len(body["query"]["bool"]["should"]) == len(query.buyer_terms)

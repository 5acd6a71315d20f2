"""The compact in-process index (posting lists as int32 arrays) returns what a plain scan of every profile
returns: the sum of the boosts of the clauses each profile matches, best first, ties by supplier id, cut at the
limit, also after profiles were replaced and removed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.supplier import SupplierProfile
from localrun.demodata.data import generate_notices, generate_suppliers
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query, text
from services.matcher.domain.documents import agency_codes, code_prefixes, profile_text
from services.matcher.domain.retrieval import CandidateQuery

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def scan(profiles: list[SupplierProfile], query: CandidateQuery) -> list[str]:
    """Every profile scored one by one, as the index's semantics say."""
    scored: list[tuple[float, str]] = []
    for p in profiles:
        latin, cjk = profile_text(p)
        keys = {
            "code": set(code_prefixes(p)),
            "text": set(text.terms(latin + "\n" + cjk)),
            "agencies": {text.normalize_phrase(a.agency) for a in p.past_awards},
            "agency_codes": set(agency_codes(p)),
        }
        score = sum(b for k, b in query.code_terms if k in keys["code"])
        score += sum(b for k, b in query.text_terms if k in keys["text"])
        if score > 0:
            fields = {"agencies": keys["agencies"], "agency_codes": keys["agency_codes"]}
            score += sum(b for f, k, b in query.buyer_terms if k in fields[f])
            scored.append((score, p.supplier_id))
    scored.sort(key=lambda sc: (-sc[0], sc[1]))
    return [sid for _, sid in scored[: query.limit]]


@pytest.mark.parametrize("limit", [20, 300])
def test_candidates_equal_a_scan_of_every_profile_after_updates_and_removals(limit: int) -> None:
    profiles = generate_suppliers(400, seed=3)
    index = InMemoryProfileIndex()
    for p in profiles:
        index.upsert(p)
    # Some profiles change (another's keywords and codes), some leave, some leave and come back.
    current = {p.supplier_id: p for p in profiles}
    for i in range(0, 397, 7):
        changed = profiles[i].model_copy(update={"keywords": profiles[i + 1].keywords, "codes": profiles[i + 2].codes})
        index.upsert(changed)
        current[changed.supplier_id] = changed
    for i in range(3, 400, 11):
        index.remove(profiles[i].supplier_id)
        current.pop(profiles[i].supplier_id)
    for i in range(3, 400, 33):
        index.upsert(profiles[i])
        current[profiles[i].supplier_id] = profiles[i]
    assert len(index) == len(current)
    config = ScoringConfig(candidate_limit=limit)
    for notice in generate_notices(40, seed=5, now=NOW):
        query = build_candidate_query(notice, config)
        assert [p.supplier_id for p in index.candidates(query)] == scan(list(current.values()), query)

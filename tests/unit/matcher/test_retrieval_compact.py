"""The compact in-process index (posting lists as int32 arrays) returns what a plain scan of every profile
returns: the sum of the boosts of the clauses each profile matches, best first, ties by supplier id, cut at the
limit, also after profiles were replaced and removed."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from contracts.common import CodeScheme
from contracts.supplier import SupplierProfile
from localrun.demodata.data import generate_notices, generate_suppliers
from services.matcher.domain import InMemoryProfileIndex, ScoringConfig, build_candidate_query, text
from services.matcher.domain.documents import agency_codes, code_prefixes, profile_text
from services.matcher.domain.retrieval import _DICTIONARY_SAMPLE, CandidateQuery, _Compressor, suggested_prefixes
from services.matcher.domain.scoring import SupplierStats, supplier_stats
from services.matcher.domain.suggest import SuggestedCode

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


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("limit", [20, 300])
def test_candidates_equal_a_scan_of_every_profile_after_updates_and_removals(limit: int, packed: bool) -> None:
    profiles = generate_suppliers(400, seed=3)
    index = InMemoryProfileIndex(packed=packed)
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


@pytest.mark.parametrize(("packed", "decoded_cached"), [(True, 0), (True, 5), (True, 20_000), (False, 5)])
def test_profiles_come_back_equal_to_those_indexed_whatever_the_decoded_cache(
    packed: bool, decoded_cached: int
) -> None:
    # More profiles than the compression dictionary's sample, so both packings are read back.
    profiles = generate_suppliers(150, seed=4)
    index = InMemoryProfileIndex(packed=packed, decoded_cached=decoded_cached)
    for p in profiles:
        index.upsert(p)
    current = {p.supplier_id: p for p in profiles}
    for i in range(0, 150, 9):  # replaced by another profile's content under the same id
        changed = profiles[i].model_copy(update={"keywords": profiles[i + 1].keywords, "names": profiles[i + 1].names})
        index.get(changed.supplier_id)  # decoded (and kept, with a cache) before it changes
        index.upsert(changed)
        current[changed.supplier_id] = changed
    for i in range(5, 150, 13):
        index.remove(profiles[i].supplier_id)
        current.pop(profiles[i].supplier_id)
    assert len(index) == len(current)
    assert {p.supplier_id: p for p in index.iter_profiles()} == current
    for sid, p in current.items():
        assert index.get(sid) == p
        assert index.get(sid) == p  # twice: from the cache when there is one
    assert index.get(profiles[5].supplier_id) is None
    config = ScoringConfig()
    for notice in generate_notices(10, seed=6, now=NOW):
        query = build_candidate_query(notice, config)
        found = index.candidates(query)
        assert [p.supplier_id for p in found] == index.candidate_ids(query)
        assert all(p == current[p.supplier_id] for p in found)


def test_the_index_holds_profiles_in_a_fraction_of_their_json_size() -> None:
    profiles = generate_suppliers(300, seed=5)
    index = InMemoryProfileIndex(packed=True)
    for p in profiles:
        index.upsert(p)
    as_json = sum(len(p.model_dump_json()) for p in profiles)
    assert 0 < index.packed_bytes < as_json / 3


def test_an_unpacked_index_returns_the_very_objects_indexed() -> None:
    profiles = generate_suppliers(20, seed=5)
    index = InMemoryProfileIndex()
    record = {"n": 1}
    for p in profiles:
        index.upsert(p, stored=record)
    assert all(index.get(p.supplier_id) is p for p in profiles)
    assert index.stored(profiles[0].supplier_id) is record
    assert index.packed_bytes == 0
    assert index.decodes == 0


def test_a_negative_decoded_cache_is_refused() -> None:
    with pytest.raises(ValueError, match="decoded_cached must be >= 0"):
        InMemoryProfileIndex(decoded_cached=-1)


def test_a_profile_whose_suggested_codes_change_is_found_by_the_new_ones_only() -> None:
    """Posting names are not kept per profile: they are computed again from the packed record to unlink it."""
    gloves = SuggestedCode(CodeScheme.UNSPSC, "42132203", "Medical exam or non surgical procedure gloves", 0.6)
    tents = SuggestedCode(CodeScheme.UNSPSC, "56101600", "Outdoor furniture", 0.2)
    profile = generate_suppliers(1, seed=8)[0].model_copy(update={"codes": []})
    index = InMemoryProfileIndex(packed=True)
    index.upsert(profile, suggested=[gloves])

    def found_by(code: SuggestedCode) -> list[str]:
        tag = suggested_prefixes([code])[-1]
        return index.candidate_ids(CandidateQuery(code_terms=(), text_terms=(), limit=10, suggested_terms=((tag, 1),)))

    assert found_by(gloves) == [profile.supplier_id]
    index.upsert(profile, suggested=[tents])
    assert found_by(gloves) == []
    assert found_by(tents) == [profile.supplier_id]
    index.remove(profile.supplier_id)
    assert found_by(tents) == []


def test_what_is_stored_with_a_profile_comes_back_the_same_object_while_decoded_and_goes_with_it() -> None:
    profiles = generate_suppliers(3, seed=9)
    index = InMemoryProfileIndex(packed=True, decoded_cached=1)
    records = [{"n": i} for i in range(3)]
    for p, record in zip(profiles, records, strict=True):
        index.upsert(p, stored=record)
    first = index.stored(profiles[0].supplier_id)
    assert first == records[0]
    assert index.stored(profiles[0].supplier_id) is first  # still the decoded one
    assert index.stored(profiles[1].supplier_id) == records[1]  # evicts the first (a cache of one)
    assert index.stored(profiles[0].supplier_id) is not first
    assert index.stored(profiles[0].supplier_id) == records[0]
    index.upsert(profiles[0])
    assert index.stored(profiles[0].supplier_id) is None
    index.remove(profiles[1].supplier_id)
    assert index.stored(profiles[1].supplier_id) is None
    assert index.stored("sup-none") is None


def test_scoring_records_packed_with_profiles_come_back_equal_with_their_counters() -> None:
    """Counters are packed as plain dict subclasses (a faster decode): they must still come back as Counters."""
    profiles = generate_suppliers(80, seed=4)  # past the compression dictionary's sample
    index = InMemoryProfileIndex(packed=True, decoded_cached=0)
    for p in profiles:
        index.upsert(p, stored=supplier_stats(p))
    for p in (profiles[0], profiles[-1]):
        back = index.stored(p.supplier_id)
        assert isinstance(back, SupplierStats)
        assert back == supplier_stats(p)
        assert type(back.tag_count) is Counter
        assert back.tag_count["x-never"] == 0  # a Counter's missing key
        assert index.get(p.supplier_id) == p


def test_payloads_come_back_as_written_before_and_after_the_dictionary_and_from_other_threads() -> None:
    """``_Compressor``: the first payloads are compressed alone (marked 0), then with the dictionary made of them
    (marked 1), much smaller; every one comes back byte for byte, also when threads compress and decompress at once
    (each with its own Zstandard codecs)."""
    payloads = [p.model_dump_json().encode() for p in generate_suppliers(400, seed=9)]
    compressor = _Compressor()
    packed = [compressor.compress(raw) for raw in payloads]
    first, later = packed[:_DICTIONARY_SAMPLE], packed[_DICTIONARY_SAMPLE:]
    assert {p[0] for p in first} == {0}
    assert {p[0] for p in later} == {1}
    alone = sum(map(len, first)) / len(first)
    assert sum(map(len, later)) / len(later) < 0.7 * alone
    assert [compressor.decompress(p) for p in packed] == payloads

    def work(part: list[bytes]) -> list[bytes]:
        return [compressor.decompress(compressor.compress(raw)) for raw in part for _ in range(3)][::3]

    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(work, [payloads[i::4] for i in range(4)]))
    assert [raw for i in range(4) for raw in parts[i]] == [raw for i in range(4) for raw in payloads[i::4]]

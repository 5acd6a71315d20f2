"""A packed index ranks from compact candidates (``candidates.CompactCandidate``: a few fields, decoded without the
rest of the profile, the scoring record decoded apart when read), and they rank exactly as the whole profiles do,
screened by the hard rules first or not."""

from __future__ import annotations

import dataclasses
import marshal
from collections import Counter
from datetime import UTC, datetime

import pytest

from contracts.supplier import SupplierProfile
from localrun.demodata.data import generate_notices, generate_suppliers
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain import (
    InMemoryProfileIndex,
    ScoringConfig,
    build_candidate_query,
    codes,
    fit_model,
    rank,
    rules,
    screen,
)
from services.matcher.domain import candidates as compact
from services.matcher.domain.documents import code_prefixes
from services.matcher.domain.ranking import RankResult
from services.matcher.domain.retrieval import CandidateQuery
from services.matcher.domain.scoring import SupplierStats, supplier_stats
from services.matcher.domain.semantic import ProfileVectors, SemanticInput, semantic_text
from tests.unit.matcher.conftest import NOW as RULES_NOW
from tests.unit.matcher.conftest import notice, supplier
from tests.unit.matcher.test_rules import CASES

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def compacted(profile: SupplierProfile) -> compact.CompactCandidate:
    """``profile``'s compact candidate as a packed index writes and reads it back."""
    return compact.compact_candidate(marshal.loads(marshal.dumps(compact.compact_facts(profile))))


def as_json(result: RankResult) -> list[str]:
    return [
        result.algorithm,
        *(e.model_dump_json() for e in result.entries),
        *(x.model_dump_json() for x in result.exclusions),
    ]


@pytest.fixture(scope="module")
def profiles() -> list[SupplierProfile]:
    return generate_suppliers(600, seed=12)


def indexes(profiles: list[SupplierProfile]) -> tuple[InMemoryProfileIndex, InMemoryProfileIndex]:
    """The same profiles unpacked and packed (a small decoded cache: most candidates decoded again), two in three
    with a scoring record; the vectors of ``HashingEncoder``."""
    encoder = HashingEncoder(32)
    whole, packed = InMemoryProfileIndex(), InMemoryProfileIndex(packed=True, decoded_cached=50)
    for i, p in enumerate(profiles):
        vector = encoder.encode([semantic_text(p)])[0]
        record = supplier_stats(p) if i % 3 else None
        whole.upsert(p, vector, stored=record)
        packed.upsert(p, vector, stored=record)
    return whole, packed


@pytest.mark.parametrize("meaning", [False, True])
def test_compact_candidates_rank_byte_identically_to_the_whole_profiles(
    profiles: list[SupplierProfile], meaning: bool
) -> None:
    whole, packed = indexes(profiles)
    model = fit_model(whole.iter_profiles(), learn=False)
    model.cache_size = 40  # most candidates without a record computed again
    config = ScoringConfig()
    encoder = HashingEncoder(32)
    ineligible = frozenset(p.supplier_id for p in profiles[::50])
    compared = 0
    for n in generate_notices(60, seed=13, now=NOW):
        vector = encoder.encode([n.title])[0] if meaning else None
        query = build_candidate_query(n, config, vector)
        results = []
        for index in (whole, packed):
            found, records = index.ranking_candidates(query)
            semantic = None
            if vector is not None:
                own = {
                    c.supplier_id: ProfileVectors(encoder.encode([c.display_name])[0], [c.display_name], encoder.encode)
                    for c in found
                }
                semantic = SemanticInput(vector, own)
            for m in (model, None):
                result = rank(n, found, config, NOW, model=m, stored=records, vectors=semantic, ineligible=ineligible)
                results.append(as_json(result))
            # Screened first, as the service and the bench do: the same ranking, exclusions in the same order.
            screened = screen(n, found, NOW, ineligible)
            result = rank(
                n,
                screened.kept,
                config,
                NOW,
                model=model,
                stored=records,
                vectors=semantic,
                ineligible=ineligible,
                exclusions=screened.exclusions,
            )
            results.append(as_json(result))
        assert results[0] == results[3] == results[2] == results[5]  # with the model
        assert results[1] == results[4]  # without
        compared += len(results[0])
    assert compared > 60 * 20  # entries and exclusions were compared, not empty lists


def test_a_packed_index_decodes_whole_only_the_candidates_that_came_without_a_record(
    profiles: list[SupplierProfile],
) -> None:
    packed = InMemoryProfileIndex(packed=True, decoded_cached=0)
    for i, p in enumerate(profiles):
        packed.upsert(p, stored=supplier_stats(p) if i % 3 else None)
    without = {p.supplier_id for i, p in enumerate(profiles) if i % 3 == 0}
    config = ScoringConfig()
    seen = 0
    for n in generate_notices(20, seed=14, now=NOW):
        before, decodes = packed.profile_decodes, packed.decodes
        found, records = packed.ranking_candidates(build_candidate_query(n, config))
        rank(n, found, config, NOW, stored=records)
        bare = [c for c in found if c.supplier_id in without]
        assert all(isinstance(c, SupplierProfile) for c in bare)
        by_id = {p.supplier_id: p for p in profiles}
        assert all(
            isinstance(c, compact.CompactCandidate)
            and compact.with_fingerprint(records[c.supplier_id], by_id[c.supplier_id])
            == supplier_stats(by_id[c.supplier_id])
            and records[c.supplier_id] is records[c.supplier_id]  # decoded once
            for c in found
            if c.supplier_id not in without
        )
        assert packed.profile_decodes - before == len(bare)
        assert packed.decodes - decodes == len(found) + len(bare)
        seen += len(found) - len(bare)
    assert seen > 100
    assert packed.get(profiles[1].supplier_id) == profiles[1]  # asked for: decoded whole


@pytest.mark.parametrize(("rule", "notice_fields", "supplier_fields", "ineligible", "excluded"), CASES)
def test_every_rule_reads_a_compact_candidate_as_its_profile(
    rule: str, notice_fields: dict, supplier_fields: dict, ineligible: frozenset[str], excluded: bool
) -> None:
    fn = dict(rules.RULES)[rule]
    profile = supplier("s1", **supplier_fields)
    n = notice(**notice_fields)
    reason = fn(n, compacted(profile), RULES_NOW, ineligible)
    assert reason == fn(n, profile, RULES_NOW, ineligible)
    assert (reason is not None) is excluded
    assert rules.first_failure(n, compacted(profile), RULES_NOW, ineligible) == rules.first_failure(
        n, profile, RULES_NOW, ineligible
    )


def test_a_compact_candidate_holds_what_ranking_reads_of_its_profile(profiles: list[SupplierProfile]) -> None:
    codeless = [p.model_copy(update={"codes": [], "past_awards": []}) for p in profiles[:30]]
    for p in [*profiles, *codeless]:
        c = compacted(p)
        assert (c.supplier_id, c.display_name, c.country, c.registration_level) == (
            p.supplier_id,
            p.display_name,
            p.country,
            p.registration_level,
        )
        ceiling = p.max_contract_value
        assert c.max_contract_value == (None if ceiling is None else (ceiling.amount, ceiling.currency))
        assert compact.wants_suggestions(c) is codes.wants_suggestions(p) is compact.wants_suggestions(p)
    assert any(compact.wants_suggestions(compacted(p)) for p in codeless)


def test_a_scoring_record_laid_out_flat_comes_back_equal_with_its_counters(profiles: list[SupplierProfile]) -> None:
    for p in profiles:
        record = supplier_stats(p)
        flat = compact.flat_record(record, p)
        assert flat is not None
        back = compact.record_from_flat(marshal.loads(marshal.dumps(flat)))
        assert back.fingerprint == ()  # ranking never reads it; the index gives it back with the profile
        assert compact.with_fingerprint(back, p) == record
        for name in ("tag_count", "agency_count", "agency_tag_count", "desc_count", "agency_desc_count"):
            assert type(getattr(back, name)) is Counter
        assert back.tag_count["x-never"] == 0


def test_a_record_the_flat_layout_would_change_is_kept_whole_and_comes_back_as_stored(
    profiles: list[SupplierProfile],
) -> None:
    p, other = profiles[0], profiles[1]
    stale = supplier_stats(other)  # another profile's: another fingerprint
    attached = dataclasses.replace(supplier_stats(p), suggested=codes.CodeSet.of({"unspsc:42"}))
    own_code = CandidateQuery(code_terms=((code_prefixes(p)[0], 1.0),), text_terms=(), limit=10)
    for record in (stale, attached):
        assert compact.flat_record(record, p) is None
        index = InMemoryProfileIndex(packed=True, decoded_cached=0)
        index.upsert(p, stored=record)
        assert index.stored(p.supplier_id) == record
        found, records = index.ranking_candidates(own_code)
        assert found == [p]  # whole, with the record as it was stored (as an unpacked index gives them)
        assert records == {p.supplier_id: record}
    flat = InMemoryProfileIndex(packed=True, decoded_cached=0)
    flat.upsert(p, stored=supplier_stats(p))
    assert flat.stored(p.supplier_id) == supplier_stats(p)  # the fingerprint given back from the profile


def test_the_flat_layout_covers_every_field_of_the_scoring_record() -> None:
    """A field added to ``SupplierStats`` must be laid out too (else such records are all kept whole: slower)."""
    assert {f.name for f in dataclasses.fields(SupplierStats)} == compact._FLAT_FIELDS


def test_rank_refuses_a_compact_candidate_without_its_record() -> None:
    profile = supplier("s1", codes=("42132203",))
    assert rank(notice(), [profile], ScoringConfig(), RULES_NOW).entries  # it passes the rules and ranks
    with pytest.raises(ValueError, match="compact candidate came without its scoring record: s1"):
        rank(notice(), [compacted(profile)], ScoringConfig(), RULES_NOW)
    ranked = rank(notice(), [compacted(profile)], ScoringConfig(), RULES_NOW, stored={"s1": supplier_stats(profile)})
    assert ranked == rank(notice(), [profile], ScoringConfig(), RULES_NOW)


def test_a_packed_index_decodes_the_records_of_the_candidates_kept_only(profiles: list[SupplierProfile]) -> None:
    """Screened first, a candidate the hard rules exclude is never decoded beyond its compact candidate; a record
    read twice, or again from the LRU, is decoded once."""
    uncached = InMemoryProfileIndex(packed=True, decoded_cached=0)
    cached = InMemoryProfileIndex(packed=True, decoded_cached=len(profiles))
    for p in profiles:
        uncached.upsert(p, stored=supplier_stats(p))
        cached.upsert(p, stored=supplier_stats(p))
    config = ScoringConfig()
    # Every third supplier ineligible, on top of what the notices' own rules exclude.
    ineligible = frozenset(p.supplier_id for p in profiles[::3])
    notices = generate_notices(30, seed=15, now=NOW)
    excluded = kept = 0
    for n in notices:
        for index in (uncached, cached):
            found, records = index.ranking_candidates(build_candidate_query(n, config))
            screened = screen(n, found, NOW, ineligible)
            before = uncached.record_decodes
            rank(n, screened.kept, config, NOW, stored=records, exclusions=screened.exclusions, ineligible=ineligible)
            if index is uncached:
                assert uncached.record_decodes - before == len(screened.kept)
                assert all(records[c.supplier_id] is records[c.supplier_id] for c in screened.kept)
                assert uncached.record_decodes - before == len(screened.kept)  # read again: not decoded again
                excluded += len(screened.exclusions)
                kept += len(screened.kept)
    assert excluded > 100
    assert kept > 100
    assert uncached.record_decodes == kept
    assert cached.record_decodes <= kept
    again = cached.record_decodes
    for n in notices:  # the same notices again: every record kept decoded in the LRU
        found, records = cached.ranking_candidates(build_candidate_query(n, config))
        screened = screen(n, found, NOW, ineligible)
        rank(n, screened.kept, config, NOW, stored=records, exclusions=screened.exclusions, ineligible=ineligible)
    assert cached.record_decodes == again

"""The in-process index's pruned top-k (``InMemoryProfileIndex._matched``: lists taken whole until the rest cannot
bring a new profile past the cut, the rest only searched for the profiles still in the running) returns exactly
what the straightforward sum returns: the same candidates in the same order, ties at the cut included, whatever the
boosts (floats that do not add exactly too), the limit, and after profiles were replaced, removed and added back."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.common import CodeScheme
from contracts.supplier import SupplierProfile
from services.matcher.domain import InMemoryProfileIndex, text
from services.matcher.domain.documents import agency_codes, code_prefixes, profile_text
from services.matcher.domain.retrieval import (
    AGENCY_CODE_FIELD,
    AGENCY_FIELD,
    CandidateQuery,
    suggested_prefixes,
)
from services.matcher.domain.suggest import SuggestedCode
from tests.unit.matcher.conftest import award, supplier

pytestmark = pytest.mark.unit

CODES = ("43211500", "43211501", "43211600", "43212100", "42132203", "42132205", "44121600")
WORDS = ("gloves", "laptop", "paper", "toner", "masks", "tents", "solar")
AGENCIES = ("UNICEF", "WFP", "UNDP")
#: Few distinct boosts, so that many profiles tie; some that do not add exactly in floating point.
BOOSTS = (0.5, 1.0, 2.0, 3.0, 8.0, 0.1, 0.2, 0.3, 0.7, 1e-3)


@st.composite
def profiles(draw: st.DrawFn, sid: str) -> tuple[SupplierProfile, tuple[SuggestedCode, ...]]:
    own = draw(st.lists(st.sampled_from(CODES), max_size=2, unique=True))
    words = draw(st.lists(st.sampled_from(WORDS), max_size=3, unique=True))
    awards = [
        award(code, "supplies", agency=agency)
        for code, agency in draw(
            st.lists(st.tuples(st.sampled_from(CODES), st.sampled_from(AGENCIES)), max_size=2, unique=True)
        )
    ]
    suggested = tuple(
        SuggestedCode(CodeScheme.UNSPSC, code, "suggested", 0.5)
        for code in draw(st.lists(st.sampled_from(CODES), max_size=1))
    )
    # Names without the supplier id, so that text terms are shared.
    return supplier(sid, tuple(own), tuple(words), names={"en": "Acme"}, past_awards=awards), suggested


def keys(profile: SupplierProfile, suggested: tuple[SuggestedCode, ...]) -> dict[str, set[str]]:
    latin, cjk = profile_text(profile)
    return {
        "code": set(code_prefixes(profile)),
        "text": set(text.terms(latin + "\n" + cjk)),
        "suggested": set(suggested_prefixes(suggested)),
        AGENCY_FIELD: {text.normalize_phrase(a.agency) for a in profile.past_awards},
        AGENCY_CODE_FIELD: set(agency_codes(profile)),
    }


def straightforward(live: dict[str, dict[str, set[str]]], query: CandidateQuery) -> list[str]:
    """Each profile's boosts added one by one in the query's order (as one float64 sum per profile), the buyer
    boosts summed apart and added once to a matched profile; best first, ties by supplier id."""
    scored: list[tuple[float, str]] = []
    for sid, k in live.items():
        score = 0.0
        for field, clauses in (
            ("code", query.code_terms),
            ("text", query.text_terms),
            ("suggested", query.suggested_terms),
        ):
            for key, boost in clauses:
                if key in k[field]:
                    score += boost
        if score > 0:
            extra = 0.0
            for field, key, boost in query.buyer_terms:
                if key in k[field]:
                    extra += boost
            scored.append((score + extra, sid))
    scored.sort(key=lambda sc: (-sc[0], sc[1]))
    return [sid for _, sid in scored[: query.limit]]


@st.composite
def queries(draw: st.DrawFn, vocabulary: dict[str, list[str]]) -> CandidateQuery:
    def clauses(field: str, most: int) -> tuple[tuple[str, float], ...]:
        # Keys may repeat (each clause adds its boost) and may be in no profile.
        picked = draw(st.lists(st.sampled_from([*vocabulary[field], "absent"]), max_size=most))
        return tuple((key, draw(st.sampled_from(BOOSTS))) for key in picked)

    buyer = tuple(
        (field, key, draw(st.sampled_from(BOOSTS)))
        for field in (AGENCY_FIELD, AGENCY_CODE_FIELD)
        for key in draw(st.lists(st.sampled_from([*vocabulary[field], "absent"]), max_size=3))
    )
    return CandidateQuery(
        code_terms=clauses("code", 6),
        text_terms=clauses("text", 6),
        suggested_terms=clauses("suggested", 2),
        buyer_terms=buyer,
        limit=draw(st.integers(min_value=1, max_value=40)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), size=st.integers(min_value=1, max_value=60))
def test_pruned_top_k_equals_the_straightforward_sum_after_updates_and_removals(data: st.DataObject, size: int) -> None:
    index = InMemoryProfileIndex(prune_from=0)
    live: dict[str, dict[str, set[str]]] = {}
    for i in range(size):
        profile, suggested = data.draw(profiles(f"s{i:03d}"))
        index.upsert(profile, suggested=suggested)
        live[profile.supplier_id] = keys(profile, suggested)
    # Some profiles replaced by others' codes and words (re-indexed at their old position), some removed, some
    # removed and indexed again.
    for i in data.draw(st.lists(st.integers(0, size - 1), max_size=size)):
        sid = f"s{i:03d}"
        action = data.draw(st.sampled_from(("replace", "remove")))
        if action == "remove":
            index.remove(sid)
            live.pop(sid, None)
        else:
            profile, suggested = data.draw(profiles(sid))
            index.upsert(profile, suggested=suggested)
            live[sid] = keys(profile, suggested)
    assert len(index) == len(live)
    vocabulary = {
        field: sorted({key for k in live.values() for key in k[field]}) for field in next(iter(live.values()), {})
    }
    vocabulary = {
        field: vocabulary.get(field, []) for field in ("code", "text", "suggested", AGENCY_FIELD, AGENCY_CODE_FIELD)
    }
    for _ in range(5):
        query = data.draw(queries(vocabulary))
        expected = straightforward(live, query)
        assert index.candidate_ids(query) == expected
        assert index.candidate_ids(query, exhaustive=True) == expected


def test_a_profile_reached_only_by_lists_not_taken_that_would_tie_at_the_cut_still_enters_by_id() -> None:
    # Limit 5: m0-m2 score 3 (masks 2 + solar 1), m3-m4 score 2 (masks), a00-a29 score 2 (gloves 1 + tents 1),
    # found only in the long lists. The short lists are taken first; after them five profiles score at least 2,
    # exactly what the long lists could still give: the a-profiles may tie and come first by id, so they must be
    # looked at, and they are.
    masks, solar, gloves, tents = text.terms("masks solar gloves tents")
    index = InMemoryProfileIndex(prune_from=0)
    for i in range(30):
        index.upsert(supplier(f"a{29 - i:02d}", keywords=("gloves", "tents"), names={"en": "Acme"}))
    for i in range(5):
        index.upsert(supplier(f"m{i}", keywords=("masks", "solar") if i < 3 else ("masks",), names={"en": "Acme"}))
    query = CandidateQuery(code_terms=(), text_terms=((masks, 2.0), (solar, 1.0), (gloves, 1.0), (tents, 1.0)), limit=5)
    assert index.candidate_ids(query) == ["m0", "m1", "m2", "a00", "a01"]
    assert index.candidate_ids(query, exhaustive=True) == ["m0", "m1", "m2", "a00", "a01"]


def test_long_lists_searched_through_their_bitmaps_give_the_same_candidates_after_they_change() -> None:
    # Long enough for the common words' lists to get bitmaps (made by the first queries), then profiles replaced,
    # removed and added: the bitmaps of the lists they were in must not be read stale.
    rng = random.Random(11)
    index = InMemoryProfileIndex(prune_from=0)

    def make(i: int) -> SupplierProfile:
        words = rng.sample(WORDS, rng.randint(1, 4))
        return supplier(f"b{i:05d}", (rng.choice(CODES),), tuple(words), names={"en": "Acme"})

    for i in range(9000):
        index.upsert(make(i))
    all_terms = text.terms(" ".join(WORDS))

    def some_queries() -> list[CandidateQuery]:
        return [
            CandidateQuery(
                code_terms=tuple(
                    (f"U:{code[:digits]}", rng.choice(BOOSTS)) for code in rng.sample(CODES, 2) for digits in (4, 6)
                ),
                text_terms=tuple((term, rng.choice(BOOSTS)) for term in rng.sample(all_terms, rng.randint(1, 6))),
                limit=rng.choice((1, 30, 300)),
            )
            for _ in range(30)
        ]

    for query in some_queries():
        assert index.candidate_ids(query) == index.candidate_ids(query, exhaustive=True)
    # The case this test is for: some lists were read through bitmaps.
    assert index._bitmaps
    for i in range(0, 9000, 3):
        index.upsert(make(i))
    for i in range(1, 9000, 7):
        index.remove(f"b{i:05d}")
    for i in range(9000, 9500):
        index.upsert(make(i))
    for query in some_queries():
        assert index.candidate_ids(query) == index.candidate_ids(query, exhaustive=True)


def test_profiles_written_while_another_thread_retrieves_wait_for_the_query() -> None:
    # A query reads the posting lists through numpy views for its whole run; an ``array`` that grows while viewed
    # raises ``BufferError``. Writers and readers at once: every query answers, every write lands.
    index = InMemoryProfileIndex(prune_from=0)
    for i in range(2_000):
        index.upsert(supplier(f"S{i:05d}", (CODES[i % len(CODES)],), (WORDS[i % len(WORDS)],), names={"en": "Acme"}))
    query = CandidateQuery(
        code_terms=tuple((c, 2.0) for c in CODES), text_terms=tuple((w, 1.0) for w in WORDS), limit=50
    )
    errors: list[BaseException] = []
    stop = threading.Event()

    def retrieve() -> None:
        try:
            while not stop.is_set():
                index.candidate_ids(query)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=retrieve) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for i in range(3_000):
            sid = f"S{i % 2_500:05d}"
            index.upsert(
                supplier(sid, (CODES[(i * 3) % len(CODES)],), (WORDS[(i * 5) % len(WORDS)],), names={"en": "Acme"})
            )
            if i % 7 == 0:
                index.remove(f"S{(i * 11) % 2_500:05d}")
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert index.candidate_ids(query) == index.candidate_ids(query, exhaustive=True)

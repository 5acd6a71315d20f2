"""The scoring hot path against the straightforward computation it replaces, bit for bit: the components' batched
loops (the keys a notice looks up made once per notice, not once per candidate), the TF-IDF norms of many rows
summed at once, the candidates' counts of the notice's terms read as one table (by lookups for a short notice, by
intersections for a long one), and the words a ``text`` reason names from the notice's text split once."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import SupplierProfile, TenderNotice
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain import ScoringConfig, codes, fit_model, text
from services.matcher.domain.model import LOOKUP_TERMS, shared_counts
from services.matcher.domain.retrieval import notice_text
from services.matcher.domain.scoring import (
    BUYER_CODE_SCALE,
    BUYER_ELSEWHERE_SHARE,
    BUYER_SCALE,
    COMPONENT_LIST,
    HISTORY_SCALE,
    CodeEvidence,
    NoticeView,
    SupplierStats,
    _freshness,
    _saturate,
    category_match,
    supplier_stats,
    with_vectors,
)
from services.matcher.domain.semantic import ProfileVectors, semantic_score, semantic_text
from tests.unit.matcher.conftest import NOW, notice, supplier
from tests.unit.matcher.test_rank_properties import WORDS, cases

pytestmark = pytest.mark.unit

CONFIG = ScoringConfig()
BY_NAME = {c.name: c for c in COMPONENT_LIST}


def _view(notice: TenderNotice, suppliers: list[SupplierProfile]) -> tuple[NoticeView, list[SupplierStats]]:
    encoder = HashingEncoder(64)
    nv = NoticeView.of(notice, NOW, encoder.encode([notice.title])[0])
    rows = encoder.encode([semantic_text(p) for p in suppliers])
    stats = [
        # Every other candidate with vectors: the component reads both kinds.
        with_vectors(supplier_stats(p), ProfileVectors(rows[j], [], np.zeros((0, 64), np.float32)) if j % 2 else None)
        for j, p in enumerate(suppliers)
    ]
    return nv, stats


def _values(name: str, nv: NoticeView, stats: list[SupplierStats]) -> list[tuple[float, Any]]:
    return BY_NAME[name].values(nv, stats, CONFIG, [None] * len(stats))


# The straightforward computations, one candidate at a time, as they were written before the batched loops.


def _category_one(nv: NoticeView, st_: SupplierStats) -> tuple[float, Any]:
    e = category_match(nv, st_)
    return (0.0, None) if e is None else (e.score, e)


def _history_one(nv: NoticeView, st_: SupplierStats) -> tuple[float, Any]:
    best_h, best_t, best_last = 0.0, "", None
    for chain in nv.chains:
        credit, previous, last = 0.0, 0, None
        for anc, weight in chain:
            n = st_.tag_count.get(anc, 0)
            if n > previous:
                credit += weight * (n - previous)
                previous = n
                if last is None:
                    last = st_.tag_last.get(anc)
        if credit:
            h = _saturate(credit, HISTORY_SCALE) * _freshness(last, nv.when, CONFIG.recency_half_life_days)
            if h > best_h:
                best_h, best_t, best_last = h, chain[0][0], last
    return best_h, (best_t, best_last)


def _buyer_one(nv: NoticeView, st_: SupplierStats) -> tuple[float, Any]:
    a_all = st_.agency_count.get(nv.agency, 0)
    if not a_all:
        return 0.0, 0
    a_fam = max((st_.agency_tag_count.get((nv.agency, t), 0) for t in nv.family_tags), default=0)
    fresh = _freshness(st_.agency_last.get(nv.agency), nv.when, CONFIG.recency_half_life_days)
    return _saturate(a_fam + BUYER_ELSEWHERE_SHARE * a_all, BUYER_SCALE) * fresh, a_fam


def _buyer_code_one(nv: NoticeView, st_: SupplierStats) -> tuple[float, Any]:
    atc = st_.agency_tag_count
    a_code = max((atc.get((nv.agency, t), 0) for t in nv.tags), default=0) if nv.agency in st_.agency_count else 0
    return (_saturate(a_code, BUYER_CODE_SCALE) if a_code else 0.0), a_code


def _semantic_one(nv: NoticeView, st_: SupplierStats) -> tuple[float, Any]:
    if st_.vectors is None or nv.vector is None:
        return 0.0, None
    cosine = float(st_.vectors.vector @ nv.vector)
    return semantic_score(cosine), cosine


ONE_AT_A_TIME = {
    "category": _category_one,
    "history": _history_one,
    "buyer": _buyer_one,
    "buyer_code": _buyer_code_one,
    "semantic": _semantic_one,
}


def _evidence(value: tuple[float, Any]) -> tuple[float, Any]:
    """``category``'s evidence as ``category_match`` gives it (the batch gives the bare ``CodeMatch`` when no hint
    is in play)."""
    score, e = value
    return score, CodeEvidence(e) if isinstance(e, codes.CodeMatch) else e


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_each_batched_component_gives_the_one_at_a_time_scores_and_evidence_bit_for_bit(
    case: tuple[TenderNotice, list[SupplierProfile]],
) -> None:
    nv, stats = _view(*case)
    for name, one in ONE_AT_A_TIME.items():
        got = _values(name, nv, stats)
        expected = [one(nv, s) for s in stats]
        if name == "category":
            got, expected = [_evidence(v) for v in got], [_evidence(v) for v in expected]
        assert got == expected, name


def test_a_supplier_no_notice_code_reaches_scores_nothing_on_codes_and_one_sharing_a_level_does() -> None:
    nv, _ = _view(notice("Nitrile gloves", ("42132203", "33141411")), [])
    far, segment, exact = (
        supplier_stats(supplier(sid, (code,)))
        for sid, code in (
            ("far", "72101500"),  # building and construction services: no level in common
            ("segment", "42000000"),  # the notice's UNSPSC segment
            ("exact", "42132203"),
        )
    )
    got = _values("category", nv, [far, segment, exact])
    assert got[0] == (0.0, None) == _category_one(nv, far)
    assert 0 < got[1][0] < got[2][0] == 1.0
    assert [_evidence(v) for v in got[1:]] == [_category_one(nv, segment), _category_one(nv, exact)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*WORDS, "Gloves", "gloves again", "布", "打印机", "医用手套", "tents, tarpaulins", "the", "services", "x"]
        ),
        max_size=12,
    ),
    st.sets(st.sampled_from(["glove", "nitrile", "布", "打印", "印机", "医用", "手套", "tent", "tarpaulin", "mask"])),
    st.integers(min_value=0, max_value=5),
)
def test_the_words_a_reason_names_are_the_same_from_the_text_or_its_tokens(
    parts: list[str], wanted: set[str], limit: int
) -> None:
    body = " ".join(parts)
    assert text.shown_words(text.tokens(body), wanted, limit) == text.shown_words(body, wanted, limit)


def _norm_one(model: Any, counts: dict[str, int]) -> float:
    """The l2 norm ``tfidf_row`` divides one whole row by: its weights' squares summed in double."""
    cols, values = model._known(counts)
    return float(model._l2(model._weighted(values, cols)))


def test_norms_made_together_equal_each_rows_own_bit_for_bit_with_words_outside_the_vocabulary() -> None:
    rng = random.Random(4)
    vocabulary = [f"w{i}" for i in range(400)]
    model, _ = _random_fit(rng, vocabulary, profiles=60, longest=300)
    rows: list[dict[str, int]] = [
        # Long rows (past numpy's 128-element pairwise block), short ones, empty ones, unknown words.
        dict(Counter(rng.choices([*vocabulary, "unknown1", "unknown2"], k=rng.randint(0, 500))))
        for _ in range(80)
    ]
    stats = [SupplierStats((), 0, codes.CodeSet.of(set()), terms=frozenset(r), term_counts=r) for r in rows]
    assert model._norms(stats) == [_norm_one(model, r) for r in rows]
    assert sum(1 for r in rows if len(r) > 128) > 5


def _random_fit(
    rng: random.Random, vocabulary: list[str], profiles: int = 120, longest: int = 60
) -> tuple[Any, list[SupplierProfile]]:
    fitted = [
        SupplierProfile(
            supplier_id=f"F{i}",
            names={"en": f"Fitted {i}"},
            country="CN",
            description={"en": " ".join(rng.choices(vocabulary, k=rng.randint(1, longest)))},
        )
        for i in range(profiles)
    ]
    return fit_model(fitted, learn=False), fitted


def test_both_ways_of_reading_the_candidates_counts_of_the_notice_terms_give_the_same_table() -> None:
    rng = random.Random(8)
    vocabulary = [f"w{i}" for i in range(300)]
    _, fitted = _random_fit(rng, vocabulary)
    stats = [supplier_stats(p) for p in fitted]
    for size in (1, 5, LOOKUP_TERMS, LOOKUP_TERMS + 1, 200):
        ordered = sorted(rng.sample(vocabulary, size))
        lookup = shared_counts(stats, ordered, by_lookup=True)
        assert lookup.shape == (len(stats), size)
        assert np.array_equal(lookup, shared_counts(stats, ordered, by_lookup=False))
        assert lookup.any(), "some candidates share some of the terms"


def test_a_long_notices_cosines_are_the_whole_rows_product_bit_for_bit() -> None:
    # More distinct terms than LOOKUP_TERMS: the candidates' terms are intersected with the notice's.
    rng = random.Random(10)
    vocabulary = [f"w{i}" for i in range(300)]
    model, fitted = _random_fit(rng, vocabulary)
    for _ in range(5):
        n = notice(" ".join(rng.sample(vocabulary, 150)), ())
        qcols, qvalues = model.tfidf_row(Counter(text.terms(notice_text(n))))
        assert len(qcols) > LOOKUP_TERMS
        expected = []
        for p in fitted:
            # The whole row's float32 products with the notice's at the columns both have, summed in column order.
            cols, values = model.tfidf_row(supplier_stats(p).term_counts)
            both = np.isin(cols, qcols)
            expected.append(sum((values[both] * qvalues[np.searchsorted(qcols, cols[both])]).tolist(), 0.0))
        assert model.text_similarities(n, fitted) == expected
        assert sum(1 for x in expected if x > 0) > 50

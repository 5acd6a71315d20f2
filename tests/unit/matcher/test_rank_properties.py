"""The ranking and the explanation a buyer reads come from one computation: on generated notices and profiles, the
order of a ranking is the order of its explained totals, and a short list is the head of the long one (the costly
components skipped below the top k change nothing)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import Buyer, Classification, CodeScheme, Item, Money, PastAward, SupplierProfile, TenderNotice
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain import COMPONENTS, MatchModel, ScoringConfig, fit_model, rank
from services.matcher.domain.semantic import (
    ProfileVectors,
    SemanticInput,
    notice_semantic_text,
    phrases,
    semantic_text,
)
from tests.unit.matcher.conftest import NOW

pytestmark = pytest.mark.unit

#: Codes that share every level with each other somewhere (UNSPSC, and CPV by Regulation (EC) 213/2008).
CODES = [
    (CodeScheme.UNSPSC, "42132203"),
    (CodeScheme.UNSPSC, "42132205"),
    (CodeScheme.UNSPSC, "42131501"),
    (CodeScheme.UNSPSC, "42130000"),
    (CodeScheme.UNSPSC, "42000000"),
    (CodeScheme.UNSPSC, "43211500"),
    (CodeScheme.CPV, "33141411"),
    (CodeScheme.CPV, "33141000"),
    (CodeScheme.CPV, "33140000"),
    (CodeScheme.CPV, "33100000"),
    (CodeScheme.CPV, "33600000"),
]
WORDS = ["nitrile gloves", "latex examination gloves", "surgical masks", "syringes", "laptops", "water tanks"]
AGENCIES = ["UNICEF", "UNDP", "WHO"]
#: Explained totals are sums of contributions rounded to 6 decimals: equal totals may differ by this much.
ROUNDING = 1e-5

classifications = st.sampled_from(CODES).map(lambda c: Classification(scheme=c[0], code=c[1]))
money = st.one_of(
    st.none(),
    st.builds(Money, amount=st.floats(min_value=1e3, max_value=1e7), currency=st.sampled_from(["USD", "EUR"])),
)
awards = st.builds(
    PastAward,
    agency=st.sampled_from(AGENCIES),
    description=st.sampled_from(["", *WORDS]),
    classification=st.one_of(st.none(), classifications),
    date=st.integers(min_value=0, max_value=900).map(lambda d: NOW.date() - timedelta(days=d)),
    value=money,
)


@st.composite
def profiles(draw: st.DrawFn, sid: str) -> SupplierProfile:
    return SupplierProfile(
        supplier_id=sid,
        names={"en": f"Supplier {sid}"},
        country="CN",
        codes=draw(st.lists(classifications, max_size=3)),
        keywords=draw(st.lists(st.sampled_from(WORDS), max_size=2, unique=True)),
        past_awards=draw(st.lists(awards, max_size=6)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[TenderNotice, list[SupplierProfile]]:
    title = draw(st.sampled_from(WORDS))
    notice = TenderNotice(
        notice_id="ungm:1",
        source="ungm",
        source_id="1",
        title=title,
        buyer=Buyer(name=draw(st.sampled_from(AGENCIES))),
        items=[
            Item(description=title, classification=c) for c in draw(st.lists(classifications, min_size=1, max_size=2))
        ],
        estimated_value=draw(money),
    )
    n = draw(st.integers(min_value=4, max_value=14))
    return notice, [draw(profiles(f"S{i:02d}")) for i in range(n)]


def _config(top_k: int, weights: dict[str, float] | None = None) -> ScoringConfig:
    # No threshold and no cold-start places: the order is the totals' alone.
    extra: dict[str, Any] = {"weights": weights} if weights else {}
    return ScoringConfig(top_k=top_k, threshold=0.0, cold_start_slots=0, **extra)


def _check(
    notice: TenderNotice,
    suppliers: list[SupplierProfile],
    weights: dict[str, float] | None = None,
    model: MatchModel | None = None,
    vectors: SemanticInput | None = None,
) -> None:
    every = rank(notice, suppliers, _config(len(suppliers), weights), NOW, model=model, vectors=vectors).entries
    assert len(every) == len(suppliers)
    totals = [e.total_score for e in every]
    for higher, lower in itertools.pairwise(totals):
        assert higher >= lower - ROUNDING, totals
    for e in every:
        assert e.total_score == pytest.approx(sum(c.score * c.weight for c in e.components), abs=ROUNDING)
    # A short list (costly components computed only where they can still matter) is the head of the full one,
    # with the same scores and reasons.
    top = rank(notice, suppliers, _config(3, weights), NOW, model=model, vectors=vectors).entries
    assert [e.model_dump() for e in top] == [e.model_dump() for e in every[:3]]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_rank_order_is_the_order_of_the_explained_totals(case: tuple[TenderNotice, list[SupplierProfile]]) -> None:
    _check(*case, weights=None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=len(COMPONENTS), max_size=len(COMPONENTS)))
def test_the_order_holds_for_any_weights(case: tuple[TenderNotice, list[SupplierProfile]], w: list[float]) -> None:
    weights = dict(zip(COMPONENTS, w, strict=True))
    if not sum(weights.values()):
        weights["category"] = 1.0
    _check(*case, weights=weights)


def _meaning(notice: TenderNotice, suppliers: list[SupplierProfile]) -> SemanticInput:
    """The vectors the matcher service would give ``rank``, from the encoder's fake."""
    encoder = HashingEncoder()
    out: dict[str, ProfileVectors] = {}
    for p in suppliers:
        own = phrases(p)
        rows = encoder.encode([semantic_text(p), *own])
        out[p.supplier_id] = ProfileVectors(rows[0], own, rows[1:])
    return SemanticInput(encoder.encode([notice_semantic_text(notice.title, notice.description)])[0], out)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=len(COMPONENTS), max_size=len(COMPONENTS)))
def test_the_order_holds_with_meaning_scored(case: tuple[TenderNotice, list[SupplierProfile]], w: list[float]) -> None:
    notice, suppliers = case
    weights = dict(zip(COMPONENTS, w, strict=True)) | {"semantic": 1.0}
    _check(notice, suppliers, weights=weights, vectors=_meaning(notice, suppliers))


def test_the_order_holds_with_a_fitted_model() -> None:
    awarded = [
        PastAward(
            agency=AGENCIES[i % 3],
            description=WORDS[i % len(WORDS)],
            classification=Classification(scheme=CODES[i % len(CODES)][0], code=CODES[i % len(CODES)][1]),
            date=date(2025, 1, 1) + timedelta(days=7 * i),
        )
        for i in range(40)
    ]
    suppliers = [
        SupplierProfile(
            supplier_id=f"S{i}",
            names={"en": f"Supplier {i}"},
            country="CN",
            keywords=[WORDS[i % len(WORDS)]],
            past_awards=awarded[i::5],
        )
        for i in range(10)
    ]
    notice = TenderNotice(
        notice_id="ungm:2",
        source="ungm",
        source_id="2",
        title="Nitrile gloves",
        buyer=Buyer(name="UNICEF"),
        items=[
            Item(description="Nitrile gloves", classification=Classification(scheme=CodeScheme.UNSPSC, code="42132203"))
        ],
    )
    _check(notice, suppliers, model=fit_model(suppliers, learn=False))

from __future__ import annotations

import pickle
from datetime import date, timedelta

import pytest

from contracts import AlertPreferences
from services.matcher.domain import COMPONENTS, ScoringConfig, deciding_component, fit_model, rank
from tests.unit.matcher.conftest import NOW, award, notice, supplier

pytestmark = pytest.mark.unit


def test_ranked_entries_are_explained_and_numbered() -> None:
    profiles = [
        supplier("exact", codes=("42132203",), keywords=("nitrile gloves",)),
        supplier("family", codes=("42130000",)),
    ]
    result = rank(notice(), profiles, ScoringConfig(), NOW)
    assert [e.supplier_id for e in result.entries] == ["exact", "family"]
    assert [e.rank for e in result.entries] == [1, 2]
    first = result.entries[0]
    assert {c.name for c in first.components} == set(COMPONENTS)
    for c in first.components:
        assert c.contribution == pytest.approx(c.score * c.weight, abs=1e-5)
    assert first.total_score == pytest.approx(sum(c.contribution for c in first.components), abs=1e-4)
    assert deciding_component(first) == "category"
    assert "UNSPSC 42132203 is one of the supplier's codes" in first.top_reasons()


@pytest.mark.parametrize(
    ("profile", "component"),
    [
        (supplier("c", codes=("42132203",)), "category"),
        (supplier("t", keywords=("nitrile examination gloves powder free",)), "text"),
        (
            supplier(
                "h",
                past_awards=[award("42132205", "Boxes", when=NOW.date() - timedelta(days=5 * i)) for i in range(20)],
            ),
            "history",
        ),
    ],
)
def test_the_explanation_names_the_deciding_component(profile, component: str) -> None:  # type: ignore[no-untyped-def]
    weights = dict.fromkeys(COMPONENTS, 0.1) | {"category": 0.4, "text": 0.4, "history": 0.4}
    entry = rank(notice(), [profile], ScoringConfig(weights=weights), NOW).entries[0]
    assert deciding_component(entry) == component
    assert entry.components[0].name == component


def test_hard_rules_exclude_with_reason_and_keep_the_rest() -> None:
    profiles = [
        supplier("ok", codes=("42132203",)),
        supplier("gone", codes=("42132203",), preferences=AlertPreferences(unsubscribed=True)),
        supplier("banned", codes=("42132203",)),
    ]
    result = rank(notice(), profiles, ScoringConfig(), NOW, ineligible=frozenset({"banned"}))
    assert [e.supplier_id for e in result.entries] == ["ok"]
    assert {(x.supplier_id, x.rule) for x in result.exclusions} == {
        ("gone", "preferences"),
        ("banned", "ineligible_supplier"),
    }
    assert all(x.reason for x in result.exclusions)


def test_threshold_and_top_k() -> None:
    profiles = [supplier(f"s{i}", codes=("42132203",)) for i in range(5)] + [supplier("far", codes=("42000000",))]
    result = rank(notice(), profiles, ScoringConfig(top_k=3, cold_start_slots=0), NOW)
    assert len(result.entries) == 3
    high = rank(notice(), profiles, ScoringConfig(threshold=0.2, cold_start_slots=0), NOW)
    assert "far" not in {e.supplier_id for e in high.entries}
    assert len(high.entries) == 5


def _veterans(n: int) -> list:  # type: ignore[type-arg]
    out = []
    for i in range(n):
        awards = [
            award("42132203", "Nitrile examination gloves", when=date(2025, 1, 1) + timedelta(days=7 * j + i))
            for j in range(30)
        ]
        out.append(supplier(f"vet{i:02d}", past_awards=awards))
    return out


def test_cold_start_supplier_with_exact_code_and_text_makes_the_shortlist() -> None:
    newcomer = supplier("newcomer", codes=("42132203",), keywords=("nitrile examination gloves",))
    profiles = [*_veterans(15), newcomer]
    history_heavy = dict.fromkeys(COMPONENTS, 0.0) | {"history": 1.0, "buyer": 1.0, "activity": 1.0}
    with_slots = rank(notice(), profiles, ScoringConfig(weights=history_heavy), NOW)
    assert "newcomer" in {e.supplier_id for e in with_slots.entries}
    assert len(with_slots.entries) == 10
    # Without the reserved places the history-only weights bury it: the slots are what keeps it.
    without = rank(notice(), profiles, ScoringConfig(weights=history_heavy, cold_start_slots=0), NOW)
    assert "newcomer" not in {e.supplier_id for e in without.entries}


def test_cold_start_survives_a_learned_model() -> None:
    profiles = _veterans(15)
    model = fit_model(profiles)
    newcomer = supplier("newcomer", codes=("42132203",), keywords=("nitrile examination gloves",))
    result = rank(notice(), [*profiles, newcomer], ScoringConfig(), NOW, model=model)
    assert "newcomer" in {e.supplier_id for e in result.entries}


def test_fitted_model_is_picklable_and_ranks_like_the_original() -> None:
    profiles = [
        supplier("a", codes=("42132203",), keywords=("nitrile gloves",)),
        supplier("b", codes=("42130000",), past_awards=[award("42132203", "Nitrile examination gloves")]),
        supplier("c", codes=("43211500",)),
    ]
    model = fit_model(profiles)
    clone = pickle.loads(pickle.dumps(model))
    first = rank(notice(), profiles, ScoringConfig(), NOW, model=model)
    second = rank(notice(), profiles, ScoringConfig(), NOW, model=clone)
    assert [e.supplier_id for e in first.entries] == [e.supplier_id for e in second.entries]
    assert first.algorithm.startswith(ScoringConfig().algorithm + "+model=")


def test_learning_weights_from_history_prefers_the_signal_that_predicts_winners() -> None:
    # Each supplier always wins from "its" buyer in varied codes: buyer history is the signal, codes are noise.
    profiles = []
    for i in range(12):
        awards = [
            award(
                f"{43 + j % 5}211500", f"order {j}", agency=f"Agency {i}", when=date(2024, 1, 1) + timedelta(days=3 * j)
            )
            for j in range(40)
        ]
        profiles.append(supplier(f"s{i:02d}", past_awards=awards))
    model = fit_model(profiles, learn=True)
    assert model.training_report["learned"] is True
    assert model.weights["buyer"] > model.weights["category"]

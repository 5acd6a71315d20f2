"""A refit reads the stored profiles page by page into the fit, which learns its weights from a bounded sample
(the profiles with the most recent awards) while the vocabulary covers every profile; the model it makes holds
nothing per profile, ranking reading what the store kept with each one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pytest

from contracts import SupplierProfile
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.domain import MatchModel, ScoringConfig, fit_model
from services.matcher.domain.model import learning_sample
from services.matcher.service import FIT_PAGE
from services.matcher.settings import Settings
from tests.unit.matcher.conftest import award
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit


def trader(i: int, last_award: date | None) -> SupplierProfile:
    """Supplier ``T<i>`` whose latest award (of 30, a week apart, from its own agency) is ``last_award``."""
    awards = []
    if last_award is not None:
        awards = [
            award(f"{43 + j % 5}211500", f"order {j}", agency=f"Agency {i}", when=last_award - timedelta(days=7 * j))
            for j in range(30)
        ]
    return supplier(f"T{i:03d}", past_awards=awards)


def test_the_sample_is_the_profiles_themselves_when_they_fit_in_it() -> None:
    profiles = [trader(i, date(2025, 1, 1)) for i in range(5)]
    assert learning_sample(profiles, 5) is profiles  # the same input: fits give the same results as before


def test_the_sample_keeps_the_profiles_with_the_most_recent_awards() -> None:
    recent = [trader(i, date(2025, 6, 1) + timedelta(days=i)) for i in range(3)]
    older = [trader(10 + i, date(2023, 1, 1)) for i in range(3)]
    without = [trader(20, None)]
    sample = learning_sample([older[0], recent[2], without[0], recent[0], older[1], recent[1], older[2]], 4)
    # Three at the same older date compete for the last place: ties go by supplier id (the highest), deterministic.
    assert [p.supplier_id for p in sample] == ["T000", "T001", "T002", "T012"]


def test_an_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one profile"):
        learning_sample([trader(1, None)], 0)


def test_weights_are_learned_from_the_sample_and_the_vocabulary_covers_every_profile() -> None:
    profiles = [trader(i, date(2025, 1, 1) - timedelta(days=30 * (i % 4))) for i in range(16)]
    model = fit_model(profiles, learning_limit=10)
    assert model.training_report["learned"] is True
    assert model.training_report["learning_sample"] == 10
    assert model.fitted_profiles == len(profiles)
    # Each supplier's own word (its id in its name), those left out of the sample too.
    assert {p.supplier_id.casefold() for p in profiles} <= set(model.vocabulary)
    whole = fit_model(profiles)
    assert "learning_sample" not in whole.training_report
    assert whole.weights != model.weights  # fewer suppliers to learn from: other weights


def test_a_refit_streams_every_stored_profile_page_by_page_into_the_fit() -> None:
    c = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    c.matcher.profiles.put_many([supplier(f"S{i:05d}") for i in range(FIT_PAGE + 3)])
    fitted: list[str] = []
    lists: list[bool] = []

    def fitter(profiles: Iterable[SupplierProfile], config: ScoringConfig, learn: bool) -> MatchModel:
        lists.append(isinstance(profiles, list))
        streamed = [p.supplier_id for p in profiles]
        fitted.extend(streamed)
        return fit_model(c.matcher.profiles.get_many(streamed[:1]), config=config, learn=learn)  # cheap

    c.matcher.fitter = fitter
    c.matcher.refit()
    assert lists == [False]  # handed a stream, not a list read whole beforehand
    assert fitted == [f"S{i:05d}" for i in range(FIT_PAGE + 3)]


def test_ranking_reads_the_records_the_store_kept_and_computes_none() -> None:
    c = bootstrap_in_memory(Settings(), clock=lambda: NOW)
    m = c.matcher
    m.profiles.put_many([supplier("S1"), supplier("S2", keywords=("nitrile examination gloves",))])
    m.refit()
    assert m.model is not None
    shortlist = m.handle_notice(notice("1"))
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries] == ["S2", "S1"]
    assert m.model.records_computed == 0
    # The store holds the records: the model's cache keeps none of them; what the cosine needs of a row (its norm
    # under this model) is kept on the record itself.
    assert m.model.cached() == 0
    s2 = m.profiles.get("S2")
    assert s2 is not None
    record = m.profiles.stored_scoring(s2)
    assert record is not None
    assert record.tfidf_norm is not None

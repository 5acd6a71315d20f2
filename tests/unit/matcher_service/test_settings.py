"""Scoring settings: weights, learning, top-k, threshold, candidate limit and cold-start places reach the domain's
``ScoringConfig``; a bad value is refused with a message naming it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.domain import DEFAULT_WEIGHTS, ScoringConfig
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit


def test_the_defaults_are_the_domain_defaults() -> None:
    assert Settings().scoring_config() == ScoringConfig()


def test_the_environment_sets_the_scoring_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TB_MATCHER_WEIGHTS", "category=0.5, text=0")
    monkeypatch.setenv("TB_MATCHER_TOP_K", "3")
    monkeypatch.setenv("TB_MATCHER_THRESHOLD", "0.2")
    monkeypatch.setenv("TB_MATCHER_CANDIDATE_LIMIT", "50")
    monkeypatch.setenv("TB_MATCHER_COLD_START_SLOTS", "1")
    monkeypatch.setenv("TB_MATCHER_LEARN_WEIGHTS", "false")
    settings = Settings()
    config = settings.scoring_config()
    assert dict(config.weights) == {**DEFAULT_WEIGHTS, "category": 0.5, "text": 0.0}
    assert (config.top_k, config.threshold, config.candidate_limit, config.cold_start_slots) == (3, 0.2, 50, 1)
    assert settings.matcher_learn_weights is False


def test_the_matcher_ranks_with_the_configured_top_k_and_weights() -> None:
    c = bootstrap_in_memory(
        Settings(matcher_top_k=2, matcher_weights="category=1", matcher_learn_weights=False), clock=lambda: NOW
    )
    for sid in ("S1", "S2", "S3"):
        c.matcher.profiles.put(supplier(sid))
    c.matcher.refit()
    shortlist = c.matcher.handle_notice(notice("1"))
    assert shortlist is not None
    assert len(shortlist.entries) == 2
    assert c.matcher.model is not None
    assert c.matcher.model.weights["category"] == 1.0  # not learned: the configured weights


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"matcher_weights": "txt=1"}, "unknown scoring component 'txt'"),
        ({"matcher_weights": "text=-0.1"}, "weight of text must be a finite non-negative number"),
        ({"matcher_weights": "text=nan"}, "weight of text must be a finite non-negative number"),
        ({"matcher_weights": "text"}, "expected name=weight"),
        ({"matcher_weights": "text=high"}, "weight of text is not a number"),
        ({"matcher_weights": ",".join(f"{n}=0" for n in DEFAULT_WEIGHTS)}, "at least one scoring weight"),
        ({"matcher_top_k": 0}, "greater than or equal to 1"),
        ({"matcher_threshold": 1.5}, "less than or equal to 1"),
        ({"matcher_top_k": 20, "matcher_candidate_limit": 10}, "matcher_candidate_limit must be at least"),
        ({"matcher_cold_start_slots": 11}, "matcher_cold_start_slots must not exceed"),
    ],
)
def test_bad_scoring_settings_are_refused_with_the_reason(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("weights", ["", "text=0.4", " category = 1 , wording=0 ", "history=2,"])
def test_good_weights_are_accepted(weights: str) -> None:
    assert sum(Settings(matcher_weights=weights).scoring_weights().values()) > 0

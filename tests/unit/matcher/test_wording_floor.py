"""The wording component counts a likeness of words, not of letters: below ``wording_floor`` it is 0, unexplained."""

from __future__ import annotations

import dataclasses

import pytest
from rapidfuzz import fuzz, utils

from services.matcher.domain import ScoringConfig, rank
from tests.unit.matcher.conftest import NOW, notice, supplier

pytestmark = pytest.mark.unit

EVERYONE = ScoringConfig(threshold=0.0)
TITLE = "Request for quotation: beehive frames"
UNRELATED = "microbiology or bacteriology reagents or solutions or stains"


def wording(config: ScoringConfig, keyword: str) -> tuple[float, str | None]:
    profile = supplier("s1", keywords=(keyword,))
    [entry] = rank(notice(title=TITLE), [profile], config, NOW).entries
    component = next(c for c in entry.components if c.name == "wording")
    return component.score, component.reason_code


def test_a_wording_that_shares_letters_but_no_word_counts_nothing() -> None:
    ratio = fuzz.token_set_ratio(utils.default_process(TITLE), utils.default_process(UNRELATED))
    assert 0 < ratio < EVERYONE.wording_floor  # the QA case: 47, no word in common
    assert wording(EVERYONE, UNRELATED) == (0.0, None)
    # Without the floor it counted, and was explained as a likeness.
    score, code = wording(dataclasses.replace(EVERYONE, wording_floor=0.0), UNRELATED)
    assert score == pytest.approx(ratio / 100)
    assert code == "wording_close"


def test_a_wording_found_in_the_title_still_counts_whole() -> None:
    assert wording(EVERYONE, "beehive frames") == (1.0, "wording_close")

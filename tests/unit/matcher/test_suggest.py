"""Code suggestion over a small hand-made index, with the fake encoder: the vote, the hierarchy, the diversity."""

from __future__ import annotations

import pytest

from contracts.common import CodeScheme
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain.suggest import CodeIndex, suggest_codes
from tests.unit.matcher.code_indexes import title_index

pytestmark = pytest.mark.unit

TITLES = {
    "42132203": "Medical examination gloves",
    "42132205": "Surgical gloves",
    "42131600": "Medical staff isolation gowns",
    "43211503": "Notebook computers",
    "43211507": "Desktop computers",
    "26111603": "Solar panels",
}


def index(encoder: HashingEncoder, extra: dict[str, str] | None = None, offset: float = 0.0) -> CodeIndex:
    return title_index(encoder, TITLES, extra=extra, extra_offset=offset)


def test_the_code_whose_title_reads_like_the_text_comes_first_with_its_title() -> None:
    encoder = HashingEncoder()
    [suggested] = suggest_codes(encoder.encode(["notebook computers for staff"]), index(encoder), top=3)
    assert suggested[0].code == "43211503"
    assert suggested[0].title == "Notebook computers"
    assert suggested[0].scheme == CodeScheme.UNSPSC
    assert 1 >= suggested[0].score > suggested[-1].score >= 0


def test_one_code_per_family_so_the_list_offers_different_readings() -> None:
    encoder = HashingEncoder()
    [suggested] = suggest_codes(encoder.encode(["examination gloves"]), index(encoder), top=3)
    families = [s.code[:4] for s in suggested]
    assert len(families) == len(set(families)) == 3
    assert suggested[0].code == "42132203"  # of the two glove codes, only the closer one is listed


def test_a_lower_offset_lets_closer_rows_win() -> None:
    encoder = HashingEncoder()
    centroid = {"26111603": "examination gloves nitrile"}  # a labelled text filed under solar panels
    [level] = suggest_codes(encoder.encode(["examination gloves nitrile"]), index(encoder, centroid, 0.0), top=1)
    [penalised] = suggest_codes(encoder.encode(["examination gloves nitrile"]), index(encoder, centroid, -1.0), top=1)
    assert level[0].code == "26111603"
    assert penalised[0].code == "42132203"


def test_one_list_per_text_in_order() -> None:
    encoder = HashingEncoder()
    lists = suggest_codes(encoder.encode(["solar panels", "desktop computers"]), index(encoder), top=1)
    assert [row[0].code for row in lists] == ["26111603", "43211507"]


def test_bad_arguments_are_refused_with_the_reason() -> None:
    encoder = HashingEncoder()
    idx = index(encoder)
    with pytest.raises(ValueError, match="top must be at least 1"):
        suggest_codes(encoder.encode(["gloves"]), idx, top=0)
    with pytest.raises(ValueError, match="takes 256-dimensional vectors"):
        suggest_codes(HashingEncoder(64).encode(["gloves"]), idx)
    with pytest.raises(ValueError, match="one code and one offset per vector"):
        CodeIndex(CodeScheme.UNSPSC, ("42132203",), idx.vectors, idx.offsets, TITLES, "m")

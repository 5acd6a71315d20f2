"""``iter_suppliers`` streams the profiles ``generate_suppliers`` lists, so a million can be indexed without
holding a second copy."""

from __future__ import annotations

import itertools
from types import GeneratorType

import pytest

from localrun.demodata.data import generate_suppliers, iter_suppliers

pytestmark = pytest.mark.unit


def test_the_stream_yields_the_listed_profiles_and_its_head_does_not_depend_on_n() -> None:
    stream = iter_suppliers(1_000_000, seed=11)
    assert isinstance(stream, GeneratorType)  # nothing is generated before it is asked for
    assert list(itertools.islice(stream, 60)) == generate_suppliers(60, seed=11)
    assert list(iter_suppliers(60, seed=11)) == generate_suppliers(60, seed=11)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        iter_suppliers(-1)

"""The code data shipped as package data fits the encoder that queries it and names every code it can suggest."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.common import CodeScheme
from services.matcher.adapters.codebook import code_index, cpv_check_digits, titles
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain.suggest import title_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("scheme", [CodeScheme.UNSPSC, CodeScheme.CPV])
def test_the_shipped_index_takes_the_encoders_vectors_and_titles_every_code(scheme: CodeScheme) -> None:
    index = code_index(scheme)
    encoder = UseEncoder()  # its name and dimension only: the model is not loaded
    assert index.model == encoder.model
    assert index.input_dimension == encoder.dimension
    assert all(title_of(index, code) for code in set(index.codes))
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=0.02)


def test_titles_cover_both_lists_and_cpv_keeps_its_check_digits() -> None:
    assert titles(CodeScheme.UNSPSC)["43211503"] == "Notebook computers"
    assert len(titles(CodeScheme.UNSPSC)) > 13_000
    assert len(titles(CodeScheme.CPV)) > 9_000
    assert cpv_check_digits()["33141411"] == "4"


def test_a_scheme_without_code_data_is_refused() -> None:
    with pytest.raises(ValueError, match="UNSPSC or CPV"):
        code_index(CodeScheme.OTHER)


def test_a_code_missing_from_the_list_reads_as_its_nearest_titled_ancestor() -> None:
    index = code_index(CodeScheme.UNSPSC)
    assert "71123001" not in titles(CodeScheme.UNSPSC)  # an AusTender code of another UNSPSC version
    assert title_of(index, "71123001") == titles(CodeScheme.UNSPSC)["71120000"]

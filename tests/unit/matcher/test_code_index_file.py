"""The code index file: what the build writes is what the matcher reads back, and a missing or incomplete file says
so (no silent fallback to titles alone); labelled description rows carry buyers' wording to their code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contracts.common import CodeScheme
from services.matcher.adapters.codebook import CodeData, read_index, write_index
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain.suggest import suggest_codes

pytestmark = pytest.mark.unit

TITLES = {
    "42132203": "Medical examination gloves",
    "43211503": "Notebook computers",
    "26111603": "Solar panels",
    "25172504": "Automobile tyres",
}
CPV_TITLES = {"33141420": "Surgical gloves", "30213100": "Portable computers"}
#: What buyers wrote under a code, in words its title does not use.
DESCRIPTIONS = [
    ("25172504", "replacement rubber for fleet utes"),
    ("26111603", "photovoltaic array for remote community power"),
]


def write(path: Path, encoder: HashingEncoder) -> None:
    u_codes = [*TITLES, *(code for code, _ in DESCRIPTIONS)]
    u_vectors = encoder.encode([*TITLES.values(), *(text for _, text in DESCRIPTIONS)])
    write_index(
        path,
        CodeData(
            model=encoder.model,
            projection=np.eye(encoder.dimension, dtype=np.float32),
            unspsc_codes=u_codes,
            unspsc_vectors=u_vectors,
            unspsc_offsets=np.array([-0.1] * len(TITLES) + [-0.15] * len(DESCRIPTIONS), np.float32),
            cpv_codes=list(CPV_TITLES),
            cpv_vectors=encoder.encode(list(CPV_TITLES.values())),
            cpv_offsets=np.full(len(CPV_TITLES), -0.1, np.float32),
        ),
    )


def test_what_the_build_writes_reads_back_row_for_row(tmp_path: Path) -> None:
    encoder = HashingEncoder()
    write(tmp_path / "code-index.npz", encoder)
    index = read_index(tmp_path / "code-index.npz", CodeScheme.UNSPSC, TITLES)
    assert index.codes == (*TITLES, "25172504", "26111603")
    assert index.model == encoder.model
    assert np.allclose(index.offsets, [-0.1] * 4 + [-0.15] * 2, atol=1e-3)
    cosines = np.sum(index.vectors * encoder.encode([*TITLES.values(), *(t for _, t in DESCRIPTIONS)]), axis=1)
    assert cosines.min() > 0.99  # int8 with a scale per row keeps the direction
    assert read_index(tmp_path / "code-index.npz", CodeScheme.CPV, CPV_TITLES).codes == tuple(CPV_TITLES)


def test_a_buyers_description_brings_its_code_where_the_title_reads_otherwise(tmp_path: Path) -> None:
    encoder = HashingEncoder()
    write(tmp_path / "code-index.npz", encoder)
    index = read_index(tmp_path / "code-index.npz", CodeScheme.UNSPSC, TITLES)
    [suggested] = suggest_codes(encoder.encode(["rubber for fleet utes"]), index, top=2)
    assert suggested[0].code == "25172504"
    assert suggested[0].title == "Automobile tyres"  # the code's title, never the buyer's text


def test_a_missing_index_file_is_an_error_that_says_how_to_rebuild_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"code-index\.npz is missing: .*bench\.xling\.build_codes"):
        read_index(tmp_path / "code-index.npz", CodeScheme.UNSPSC, TITLES)


def test_an_index_file_without_the_schemes_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "code-index.npz"
    np.savez_compressed(path, model=np.array("m"), projection=np.eye(4, dtype=np.float16))
    with pytest.raises(ValueError, match=r"has no cpv_codes, cpv_offsets, cpv_scale, cpv_vectors: .*build_codes"):
        read_index(path, CodeScheme.CPV, CPV_TITLES)

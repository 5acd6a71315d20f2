"""The encoder port's fake: deterministic, normalised, and close only for texts that share letters."""

from __future__ import annotations

import numpy as np
import pytest

from services.matcher.adapters.memory import HashingEncoder

pytestmark = pytest.mark.unit


def test_vectors_are_unit_length_float32_one_row_per_text() -> None:
    vectors = HashingEncoder(64).encode(["nitrile gloves", "手套", ""])
    assert vectors.shape == (3, 64)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
    assert not vectors[2].any()  # nothing to hash: the zero vector, close to nothing


def test_same_text_same_vector_in_any_instance() -> None:
    a, b = HashingEncoder().encode(["Solar panels"]), HashingEncoder().encode(["Solar panels"])
    assert np.array_equal(a, b)


def test_texts_sharing_words_are_closer_than_unrelated_ones() -> None:
    gloves, nitrile, laptops = HashingEncoder().encode(["nitrile examination gloves", "nitrile gloves", "laptops"])
    assert gloves @ nitrile > gloves @ laptops

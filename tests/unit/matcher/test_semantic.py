"""The pure pieces of meaning across languages: what of a profile is embedded and quoted, the score of a cosine,
the closest phrase, exact nearest neighbours in process and their Elasticsearch twin."""

from __future__ import annotations

import numpy as np
import pytest

from contracts import Classification, CodeScheme, SupplierProfile
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.domain.semantic import (
    FLOOR,
    FULL,
    VectorIndex,
    closest_phrase,
    knn_to_es,
    phrases,
    semantic_score,
    semantic_text,
    vector_mapping,
)

pytestmark = pytest.mark.unit

GLOVES = SupplierProfile(
    supplier_id="zh-1",
    names={"zh-Hans": "宁波手套有限公司"},
    country="CN",
    keywords=["丁腈手套", "检查手套"],
    description={"zh-Hans": "医用丁腈检查手套，无粉，蓝色。年产5亿只；CE/FDA认证"},
    codes=[Classification(scheme=CodeScheme.UNSPSC, code="42132203", description="Medical exam gloves")],
)


def test_the_embedded_text_is_the_profile_whole_and_the_phrases_its_own_clauses() -> None:
    text = semantic_text(GLOVES)
    assert text.splitlines() == [
        "宁波手套有限公司",
        "医用丁腈检查手套，无粉，蓝色。年产5亿只；CE/FDA认证",
        "丁腈手套",
        "检查手套",
        "Medical exam gloves",
    ]
    assert phrases(GLOVES) == ["丁腈手套", "检查手套", "医用丁腈检查手套", "无粉", "蓝色", "年产5亿只", "CE/FDA认证"]


@pytest.mark.parametrize(
    ("cosine", "score"), [(-0.3, 0.0), (FLOOR, 0.0), ((FLOOR + FULL) / 2, 0.5), (FULL, 1.0), (0.9, 1.0)]
)
def test_a_cosine_scores_0_up_to_the_floor_1_from_full_and_linearly_between(cosine: float, score: float) -> None:
    assert semantic_score(cosine) == pytest.approx(score)


def test_the_closest_phrase_is_quoted_and_none_when_nothing_is_close() -> None:
    encoder = HashingEncoder()
    own = ["nitrile gloves", "blue", "ISO 13485"]
    assert closest_phrase(encoder.encode(["nitrile examination gloves"])[0], own, encoder.encode(own)) == (
        "nitrile gloves",
        pytest.approx(float(encoder.encode(["nitrile examination gloves"])[0] @ encoder.encode(own)[0])),
    )
    assert closest_phrase(np.zeros(encoder.dimension, np.float32), own, encoder.encode(own)) is None
    assert closest_phrase(encoder.encode(["x"])[0], [], np.zeros((0, encoder.dimension), np.float32)) is None


def test_the_index_finds_the_nearest_keys_and_forgets_removed_ones() -> None:
    encoder = HashingEncoder()
    index = VectorIndex(encoder.dimension)
    texts = {"a": "nitrile gloves", "b": "laptop computers", "c": "solar panels", "d": "latex gloves"}
    for key, text in texts.items():
        index.upsert(key, encoder.encode([text])[0])
    query = encoder.encode(["nitrile gloves, powder free"])[0]
    assert [key for key, _ in index.nearest(query, 2)] == ["a", "d"]
    index.remove("a")
    index.upsert("e", encoder.encode(["gloves"])[0])  # takes the removed row
    assert len(index) == 4
    assert "a" not in [key for key, _ in index.nearest(query, 4)]
    index.upsert("d", encoder.encode(["solar panels"])[0])  # replaced, not added
    assert len(index) == 4
    assert index.nearest(query, 0) == []
    assert [key for key, _ in index.nearest(query, 4, floor=0.5)] == ["e"]  # the solar and laptop rows fall below


def test_the_index_refuses_vectors_of_another_dimension() -> None:
    with pytest.raises(ValueError, match="holds 8-dimensional vectors"):
        VectorIndex(8).upsert("a", np.zeros(4, np.float32))


def test_the_elasticsearch_twin_asks_for_k_nearest_by_cosine() -> None:
    vector = HashingEncoder(8).encode(["gloves"])[0]
    body = knn_to_es("semantic_vector", vector, 20)
    assert body["k"] == 20
    assert body["num_candidates"] == 40
    assert body["query_vector"] == pytest.approx(vector.tolist())
    assert vector_mapping(512) == {
        "type": "dense_vector",
        "dims": 512,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "flat"},  # exact, as ``VectorIndex``: no quantisation
    }

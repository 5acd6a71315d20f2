"""``VectorIndex``: exact top-k equal to a brute-force sort, upserts and removals, growth, and the partitioned
(IVF) search at scale."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from services.matcher.domain.semantic import _CONVERT_ROWS, Vector, VectorIndex, spherical_kmeans

pytestmark = pytest.mark.unit


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> Vector:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    out: Vector = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def clustered_rows(rng: np.random.Generator, n: int, dim: int, clusters: int) -> Vector:
    """Unit rows around ``clusters`` centres, as texts about a few kinds of goods are."""
    centres = unit_rows(rng, clusters, dim)
    rows = centres[rng.integers(0, clusters, n)] + 0.35 * unit_rows(rng, n, dim)
    out: Vector = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out


def brute_force(keys: list[str], rows: Vector, query: Vector, k: int) -> list[tuple[str, float]]:
    cosines = rows @ query
    return sorted(((key, float(c)) for key, c in zip(keys, cosines, strict=True)), key=lambda kv: (-kv[1], kv[0]))[:k]


def assert_same(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    """Same keys in the same order, same cosines up to float32 rounding (a product over other rows may sum in
    another order)."""
    assert [k for k, _ in found] == [k for k, _ in expected]
    assert [c for _, c in found] == pytest.approx([c for _, c in expected], abs=1e-6)


@pytest.mark.parametrize("k", [1, 7, 50, 400])
def test_top_k_equals_a_brute_force_sort_of_every_row(k: int) -> None:
    rng = np.random.default_rng(1)
    rows = unit_rows(rng, 300, 32)
    keys = [f"s{i:03d}" for i in range(300)]
    index = VectorIndex(32)
    for key, row in zip(keys, rows, strict=True):
        index.upsert(key, row)
    for query in unit_rows(rng, 20, 32):
        assert_same(index.nearest(query, k), brute_force(keys, rows, query, k))


def test_ties_at_the_cut_are_settled_by_key_as_a_full_sort_would() -> None:
    index = VectorIndex(4)
    same = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    for key in ["d", "b", "e", "a", "c"]:
        index.upsert(key, same)
    index.upsert("far", np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32))
    assert [key for key, _ in index.nearest(same, 3)] == ["a", "b", "c"]


def test_upserts_replace_removals_forget_and_freed_rows_are_reused() -> None:
    rng = np.random.default_rng(2)
    rows = unit_rows(rng, 200, 16)
    index = VectorIndex(16)
    for i, row in enumerate(rows):
        index.upsert(f"k{i}", row)
    for i in range(0, 200, 3):
        index.remove(f"k{i}")
    index.remove("never-there")
    moved = {f"k{i}": rows[(i + 1) % 200] for i in range(1, 200, 5)}  # another vector for some keys
    for key, row in moved.items():
        index.upsert(key, row)
    expected = {f"k{i}": rows[i] for i in range(200) if i % 3} | moved
    assert len(index) == len(expected)
    keys = sorted(expected)
    matrix = np.stack([expected[k] for k in keys])
    for query in unit_rows(rng, 10, 16):
        assert_same(index.nearest(query, 25), brute_force(keys, matrix, query, 25))
    for i in range(0, 200, 3):  # back again, in the freed rows
        index.upsert(f"k{i}", rows[i])
    assert len(index) == 200


def test_the_index_grows_past_its_first_block_without_losing_a_row() -> None:
    rng = np.random.default_rng(3)
    rows = unit_rows(rng, 5000, 8)
    index = VectorIndex(8, partition_at=None)
    for i, row in enumerate(rows):
        index.upsert(str(i), row)
        if i == 63:
            first = index.nbytes
    assert len(index) == 5000
    assert index.nbytes > first
    for i in (0, 63, 64, 4999):
        assert index.nearest(rows[i], 1)[0][0] == str(i)


def test_a_floor_keeps_only_closer_rows() -> None:
    rng = np.random.default_rng(4)
    rows = unit_rows(rng, 100, 8)
    index = VectorIndex(8)
    for i, row in enumerate(rows):
        index.upsert(str(i), row)
    hits = index.nearest(rows[0], 100, floor=0.3)
    assert hits
    assert all(c > 0.3 for _, c in hits)
    assert len(hits) == int((rows @ rows[0] > 0.3).sum())


def test_float16_rows_take_half_the_memory_and_find_the_same_neighbours_up_to_rounding() -> None:
    rng = np.random.default_rng(5)
    rows = unit_rows(rng, 1000, 64)
    full, half = VectorIndex(64, partition_at=None), VectorIndex(64, dtype=np.float16, partition_at=None)
    for i, row in enumerate(rows):
        full.upsert(str(i), row)
        half.upsert(str(i), row)
    assert half.nbytes < 0.6 * full.nbytes
    for query in unit_rows(rng, 10, 64):
        exact = {k for k, _ in full.nearest(query, 20)}
        assert len(exact & {k for k, _ in half.nearest(query, 20)}) >= 18
        assert [c for _, c in half.nearest(query, 5)] == pytest.approx([c for _, c in full.nearest(query, 5)], abs=2e-3)


def test_int8_rows_with_a_scale_each_take_a_quarter_and_keep_the_exact_top_50() -> None:
    rng = np.random.default_rng(8)
    rows = clustered_rows(rng, 3000, 512, clusters=30)
    keys = [str(i) for i in range(len(rows))]
    full, small = VectorIndex(512, partition_at=None), VectorIndex(512, dtype=np.int8, partition_at=None)
    for key, row in zip(keys, rows, strict=True):
        full.upsert(key, row)
        small.upsert(key, row)
    assert small.nbytes < 0.3 * full.nbytes
    overlaps = []
    for query in clustered_rows(rng, 30, 512, clusters=30):
        exact = brute_force(keys, rows, query, 50)
        found = small.nearest(query, 50)
        overlaps.append(len({k for k, _ in exact} & {k for k, _ in found}) / 50)
        # Cosines come back scaled to the true ones, within the rounding of 127 steps a row.
        true = dict(zip(keys, (rows @ query).tolist(), strict=True))
        assert [c for _, c in found] == pytest.approx([true[k] for k, _ in found], abs=0.01)
    assert float(np.mean(overlaps)) >= 0.95


@pytest.mark.parametrize("dtype", [np.int8, np.float16])
def test_rows_converted_a_slice_at_a_time_give_every_row_its_product_from_any_thread(dtype: type) -> None:
    """A list longer than the conversion slice (``_CONVERT_ROWS``, not a multiple of it) gives each row the product
    of that very row as stored (int8 or float16 values scaled back), from two threads at once, each converting
    through its own scratch."""
    rng = np.random.default_rng(11)
    rows = clustered_rows(rng, 2 * _CONVERT_ROWS + 77, 64, clusters=5)
    index = VectorIndex(64, dtype=dtype, partition_at=None)
    for i, row in enumerate(rows):
        index.upsert(f"{i:05d}", row)
    block = index._blocks[0]
    stored = block.rows()  # every row as float32, scaled back: what the products must be taken over
    queries = unit_rows(rng, 8, 64)

    def products(query: Vector) -> Vector:
        return block.cosines(query)

    with ThreadPoolExecutor(max_workers=2) as pool:
        found = list(pool.map(products, queries))
    for query, got in zip(queries, found, strict=True):
        assert got.shape == (len(rows),)
        assert got == pytest.approx(stored @ query, abs=1e-5)
        assert [k for k, _ in index.nearest(query, 30)] == [
            k for k, _ in brute_force([f"{i:05d}" for i in range(len(rows))], stored, query, 30)
        ]


def test_a_zero_vector_is_kept_as_int8_without_dividing_by_zero() -> None:
    index = VectorIndex(4, dtype=np.int8, partition_at=None)
    index.upsert("zero", np.zeros(4, dtype=np.float32))
    index.upsert("x", np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32))
    assert index.nearest(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), 2) == [("x", 1.0), ("zero", 0.0)]


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_past_partition_at_the_index_scans_a_few_blocks_and_still_finds_most_true_neighbours(
    dtype: type[np.generic],
) -> None:
    rng = np.random.default_rng(6)
    rows = clustered_rows(rng, 6000, 32, clusters=40)
    keys = [str(i) for i in range(len(rows))]
    index = VectorIndex(32, dtype=dtype, partition_at=1000, probe=12)
    for key, row in zip(keys, rows, strict=True):
        index.upsert(key, row)
    assert index.partitioned
    assert len(index) == 6000
    recalls = []
    for query in clustered_rows(rng, 30, 32, clusters=40):
        exact = {k for k, _ in brute_force(keys, rows, query, 50)}
        found = index.nearest(query, 50)
        assert len(found) == 50
        assert [c for _, c in found] == sorted((c for _, c in found), reverse=True)
        recalls.append(len(exact & {k for k, _ in found}) / 50)
    assert float(np.mean(recalls)) >= 0.9
    # Rows found are real rows with their true cosines, and removal still works once partitioned.
    assert index.nearest(rows[17], 1) == [("17", pytest.approx(1.0, abs=1e-5 if dtype == np.float32 else 5e-3))]
    index.remove("17")
    assert "17" not in {k for k, _ in index.nearest(rows[17], 50)}
    index.upsert("17", rows[17])
    assert index.nearest(rows[17], 1)[0][0] == "17"


def test_spherical_kmeans_finds_well_separated_groups() -> None:
    rng = np.random.default_rng(7)
    centres = np.eye(8, dtype=np.float32)[:4]
    sample = np.repeat(centres, 50, axis=0) + 0.01 * rng.standard_normal((200, 8)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    found = spherical_kmeans(sample, 4, seed=1)
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    assert sorted(np.argmax(found @ centres.T, axis=1).tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dimension": 0}, "dimension must be at least 1"),
        ({"dimension": 4, "dtype": np.int16}, "float32, float16 or int8"),
        ({"dimension": 4, "partition_at": 1}, "partition_at must be at least 2"),
        ({"dimension": 4, "probe": 0}, "probe must be at least 1"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VectorIndex(**kwargs)  # type: ignore[arg-type]

"""Hamming distances, bit cosine, top-k and radius queries: equal to brute force in numpy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics.pairwise import cosine_similarity

from mcgip_fast import _core
from mcgip_fast.similarity.dhash import bit_cosine, hamming, hamming_topk, hamming_within


def brute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int64)


def clustered_codes(n: int, n_bytes: int, seed: int) -> np.ndarray:
    """Codes with many duplicates and near-duplicates, so distances tie often."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, (max(2, n // 8), n_bytes), dtype=np.uint8)
    codes = centres[rng.integers(0, len(centres), n)].copy()
    flips = rng.random((n, n_bytes * 8)) < 0.05
    return codes ^ np.packbits(flips, axis=1)


@settings(max_examples=80, deadline=None)
@given(
    n_bytes=st.sampled_from([1, 3, 8, 16, 32, 33]),
    n=st.integers(1, 40),
    m=st.integers(1, 40),
    seed=st.integers(0, 2**31),
)
def test_matrix_equals_numpy(n_bytes, n, m, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (n, n_bytes), dtype=np.uint8)
    b = rng.integers(0, 256, (m, n_bytes), dtype=np.uint8)
    out = hamming(a, b)
    assert out.dtype == np.uint32 and out.shape == (n, m)
    np.testing.assert_array_equal(out, brute(a, b))


def test_self_matrix_and_threads():
    c = clustered_codes(300, 8, 1)
    full = hamming(c)
    np.testing.assert_array_equal(full, brute(c, c))
    np.testing.assert_array_equal(hamming(c, threads=1), hamming(c, threads=2))


def test_bit_cosine_equals_sklearn_on_bits():
    c = clustered_codes(50, 8, 2)
    c[3] = 0  # an all-zero code: cosine 0 (sklearn's convention)
    bits = np.unpackbits(c, axis=1).astype(float)
    np.testing.assert_allclose(bit_cosine(c), cosine_similarity(bits), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bit_cosine(c[:10], c[5:]), cosine_similarity(bits[:10], bits[5:]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n_bytes", [1, 8, 32])
@pytest.mark.parametrize("k", [1, 5, 30])
def test_topk_equals_brute_force(n_bytes, k):
    c = clustered_codes(200, n_bytes, n_bytes * 100 + k)
    idx, dist = hamming_topk(c, k)
    assert idx.shape == (200, k) and idx.dtype == np.int64 and dist.dtype == np.uint32
    d = brute(c, c)
    np.fill_diagonal(d, np.iinfo(np.int64).max)
    # Stable sort by distance keeps index order within ties: the lower index wins.
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(dist, np.take_along_axis(d, order, axis=1))
    assert not (idx == np.arange(200)[:, None]).any()


def test_topk_with_duplicates_excludes_only_self():
    c = np.zeros((6, 8), np.uint8)  # all identical: every distance 0
    idx, dist = hamming_topk(c, 5)
    for i in range(6):
        assert idx[i].tolist() == [j for j in range(6) if j != i]
    assert (dist == 0).all()


@pytest.mark.parametrize("radius", [0, 3, 10, 64])
def test_within_equals_brute_force(radius):
    c = clustered_codes(250, 8, radius)
    i, j, d = hamming_within(c, radius)
    full = brute(c, c)
    ei, ej = np.nonzero(np.triu(full <= radius, k=1))
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(j, ej)
    np.testing.assert_array_equal(d, full[ei, ej])
    assert (i < j).all()


def test_within_radius_is_inclusive():
    c = np.array([[0b0000_0000], [0b0000_0111]], np.uint8)
    assert len(hamming_within(c, 3)[0]) == 1
    assert len(hamming_within(c, 2)[0]) == 0


def test_tiled_core_calls_compose():
    """The core's query/base form (used for tiles by the miner) agrees with the whole-set calls."""
    c = clustered_codes(120, 8, 7)
    idx, dist = hamming_topk(c, 4)
    ti, td = _core.hamming_topk(c[40:80], c, 4, 40)
    np.testing.assert_array_equal(ti, idx[40:80])
    np.testing.assert_array_equal(td, dist[40:80])
    i, j, d = hamming_within(c, 6)
    wi, wj, wd = _core.hamming_within(c[40:80], c, 6, 40)
    sel = (i >= 40) & (i < 80)
    np.testing.assert_array_equal(wi + 40, i[sel])
    np.testing.assert_array_equal(wj, j[sel])
    # Without self_offset: all base items, self included at distance 0.
    ai, aj, _ = _core.hamming_within(c[:3], c, 0)
    assert {(0, 0), (1, 1), (2, 2)} <= set(zip(ai.tolist(), aj.tolist()))


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: hamming(np.zeros((3, 8), np.int64)), "uint8"),
        (lambda: hamming(np.zeros((3, 8, 1), np.uint8)), "dimensions"),
        (lambda: hamming(np.zeros((0, 8), np.uint8)), "empty"),
        (lambda: hamming(np.zeros((3, 8), np.uint8), np.zeros((3, 4), np.uint8)), "width"),
        (lambda: hamming_topk(np.zeros((3, 8), np.uint8), 3), "k must be"),
        (lambda: hamming_topk(np.zeros((3, 8), np.uint8), 0), "k must be"),
        (lambda: hamming_within(np.zeros((3, 8), np.uint8), -1), "radius"),
        (lambda: bit_cosine(np.zeros((3, 8), np.float32)), "uint8"),
    ],
)
def test_bad_input_raises(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()

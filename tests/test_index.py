"""mcgip_fast.mining.candidates.retrieval: FAISS exact results equal brute force; approximate recall; save/load."""

import numpy as np
import pytest

from mcgip_fast.mining.candidates.retrieval import BinaryIndex, FloatIndex, HuIndex
from mcgip_fast.similarity.dhash import hamming_topk, hamming_within
from mcgip_fast.similarity.hu import hu_moments, match_shapes


def clustered_codes(n: int, n_bytes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, (max(2, n // 8), n_bytes), dtype=np.uint8)
    codes = centres[rng.integers(0, len(centres), n)].copy()
    return codes ^ np.packbits(rng.random((n, n_bytes * 8)) < 0.06, axis=1)


def blob_maps(n: int, seed: int, size: int = 40) -> np.ndarray:
    """Asymmetric Gaussian blobs, so every Hu component is well above matchShapes' 1e-5 cut."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    maps = []
    for _ in range(n):
        m = np.zeros((size, size))
        for _ in range(3):
            cx, cy = rng.uniform(5, size - 5, 2)
            sx, sy = rng.uniform(1.5, 6, 2)
            m += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 / (2 * sx**2) + (yy - cy) ** 2 / (2 * sy**2)))
        maps.append(m / m.max())
    return np.stack(maps)


@pytest.fixture(scope="module")
def codes():
    c = clustered_codes(1500, 8, 0)
    c[10] = c[11] = c[12]  # exact duplicates: ties at distance 0
    return c


def test_flat_knn_equals_brute_force(codes):
    k = 7
    i, j, d = BinaryIndex(exact=True).build(codes).knn(k)
    idx, dist = hamming_topk(codes, k)
    np.testing.assert_array_equal(i, np.repeat(np.arange(len(codes)), k))
    np.testing.assert_array_equal(d.reshape(-1, k), dist)
    # Same distances everywhere; same ids except where FAISS picks among equal distances.
    same = j.reshape(-1, k) == idx
    boundary = dist == dist[:, -1:]
    assert (same | boundary).all()
    assert same.mean() > 0.95


def test_flat_knn_external_queries(codes):
    index = BinaryIndex().build(codes[:1000])
    i, j, d = index.knn(5, queries=codes[1000:1100])
    full = np.bitwise_count(codes[1000:1100, None, :] ^ codes[None, :1000, :]).sum(axis=2)
    np.testing.assert_array_equal(d.reshape(100, 5), np.sort(full, axis=1)[:, :5])
    np.testing.assert_array_equal(full[i, j], d)


@pytest.mark.parametrize("r", [0, 4, 9])
def test_flat_radius_equals_brute_force(codes, r):
    got = BinaryIndex().build(codes).radius(r)
    want = hamming_within(codes, r)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_multihash_radius_is_exact_below_nhash(codes):
    # 8 sub-hashes of 8 bits: pairs closer than 8 bits always share one.
    got = BinaryIndex(exact=False, kind="multihash").build(codes).radius(7)
    want = hamming_within(codes, 7)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("kind", ["multihash", "ivf", "hnsw"])
def test_approximate_knn_recall(codes, kind):
    k = 5
    index = BinaryIndex(exact=False, kind=kind).build(codes)
    i, j, d = index.knn(k)
    _, dist = hamming_topk(codes, k)
    # Recall by distance (robust to ties): fraction of the true k-th distances reached.
    found = np.zeros_like(dist)
    counts = np.bincount(i, minlength=len(codes))
    assert counts.max() <= k
    full = np.full((len(codes), k), np.iinfo(np.uint32).max, dtype=np.uint32)
    pos = np.arange(i.size) - np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    full[i, pos] = d
    found = (full <= dist[:, -1:]).sum(axis=1) / k
    assert found.mean() > 0.3, found.mean()
    if kind == "hnsw":
        with pytest.raises(ValueError, match="no radius search"):
            index.radius(3)


def test_binary_save_load_round_trip(codes, tmp_path):
    for index in (BinaryIndex().build(codes), BinaryIndex(exact=False, kind="ivf", nprobe=4).build(codes)):
        path = tmp_path / f"{index.kind}.idx"
        index.save(path)
        back = BinaryIndex.load(path)
        assert (back.kind, back.exact, back.nprobe) == (index.kind, index.exact, index.nprobe)
        for a, b in zip(index.knn(4), back.knn(4)):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="does not hold a FloatIndex"):
        FloatIndex.load(tmp_path / "flat.idx")


def test_float_index_exact_l1_l2():
    rng = np.random.default_rng(3)
    x = rng.random((400, 7)).astype(np.float32)
    for metric, ord_ in (("l1", 1), ("l2", 2)):
        index = FloatIndex(metric=metric).build(x)
        i, j, d = index.knn(3)
        full = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None, :, :], ord=ord_, axis=2)
        np.fill_diagonal(full, np.inf)
        np.testing.assert_allclose(d.reshape(-1, 3), np.sort(full, axis=1)[:, :3], rtol=1e-4, atol=1e-5)
        ri, rj, rd = index.radius(0.4)
        mask = np.triu(full < 0.4, k=1)
        # float32 distances: ignore pairs within rounding of the radius.
        near = np.abs(full - 0.4) < 1e-4
        got = set(zip(ri.tolist(), rj.tolist()))
        want = set(zip(*np.nonzero(mask)))
        diff = got ^ {(int(a), int(b)) for a, b in want}
        assert all(near[a, b] for a, b in diff)
        assert (ri < rj).all()


def test_hu_index_exact_knn_equals_match_shapes_brute_force(tmp_path):
    maps = blob_maps(150, 1)
    # Sum-normalised maps (m00 = 1) have every Hu component far above 1e-5.
    hu = hu_moments(maps, normalise="sum")
    assert (np.abs(hu) > 1e-5).all()  # every component counts: L1 of log features == I2
    index = HuIndex(method="I2", exact=True, oversample=3).build(hu)
    i, j, s = index.knn(4)
    full = match_shapes(hu, hu, "I2")
    np.fill_diagonal(full, np.inf)
    order = np.argsort(full, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(j.reshape(-1, 4), order)
    np.testing.assert_array_equal(s.reshape(-1, 4), np.take_along_axis(full, order, axis=1))
    # Radius: exact I2 scores, every pair once.
    r = float(np.quantile(full[np.isfinite(full)], 0.02))
    ri, rj, rs = index.radius(r)
    ei, ej = np.nonzero(np.triu(full <= r, k=1))
    np.testing.assert_array_equal(ri, ei)
    np.testing.assert_array_equal(rj, ej)
    np.testing.assert_array_equal(rs, full[ei, ej])
    index.save(tmp_path / "hu.idx")
    back = HuIndex.load(tmp_path / "hu.idx")
    for a, b in zip(index.knn(4), back.knn(4)):
        np.testing.assert_array_equal(a, b)


def test_hu_index_rerank_scores_are_exact_for_i1_and_i3():
    maps = blob_maps(80, 2)
    hu = hu_moments(maps)
    for method in ("I1", "I3"):
        i, j, s = HuIndex(method=method, exact=False).build(hu).knn(3, queries=hu[:10])
        np.testing.assert_array_equal(s, match_shapes(hu, hu, method)[i, j])


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: BinaryIndex().knn(3), "call build"),
        (lambda: BinaryIndex().build(np.zeros((5, 8), np.float32)), "uint8"),
        (lambda: BinaryIndex().build(np.zeros((0, 8), np.uint8)), "empty"),
        (lambda: BinaryIndex().build(np.zeros((5, 8), np.uint8)).knn(5), "k must be"),
        (lambda: BinaryIndex().build(np.zeros((5, 8), np.uint8)).knn(2, np.zeros((2, 4), np.uint8)), "bytes per code"),
        (lambda: BinaryIndex().build(np.zeros((5, 8), np.uint8)).radius(-1), "non-negative"),
        (lambda: BinaryIndex(exact=True, kind="ivf"), "exact=True"),
        (lambda: BinaryIndex(exact=False, kind="lsh"), "kind"),
        (lambda: FloatIndex(metric="cosine"), "metric"),
        (lambda: FloatIndex().build(np.array([[np.nan, 1.0]])), "NaN"),
        (lambda: HuIndex(method="I4"), "method"),
        (lambda: HuIndex(method="I1").build(np.ones((4, 7))).radius(0.1), "l1_radius"),
    ],
)
def test_bad_input_raises(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_hu_index_exact_with_deficient_vectors():
    """Vectors with components at or below 1e-5 (matchShapes drops them) are still found exactly."""
    maps = blob_maps(120, 5)
    hu = hu_moments(maps)  # un-normalised: some high-order invariants fall below 1e-5
    deficient = ~(np.abs(hu) > 1e-5).all(axis=1)
    assert 0 < deficient.sum() < len(hu)
    index = HuIndex(method="I2", exact=True).build(hu)
    assert index.n_deficient == deficient.sum()
    full = match_shapes(hu, hu, "I2")
    np.fill_diagonal(full, np.inf)
    i, j, s = index.knn(5)
    order = np.argsort(full, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(s.reshape(-1, 5), np.take_along_axis(full, order, axis=1))
    np.testing.assert_array_equal(j.reshape(-1, 5), order)
    r = float(np.quantile(full[np.isfinite(full)], 0.03))
    ri, rj, rs = index.radius(r)
    ei, ej = np.nonzero(np.triu(full <= r, k=1))
    np.testing.assert_array_equal(ri, ei)
    np.testing.assert_array_equal(rj, ej)
    # External queries, some deficient themselves.
    q = hu[deficient][:3]
    qi, qj, qs = index.knn(4, queries=np.concatenate([q, hu[:3]]))
    ref = match_shapes(np.concatenate([q, hu[:3]]), hu, "I2")
    np.testing.assert_array_equal(qs.reshape(-1, 4), np.sort(ref, axis=1)[:, :4])

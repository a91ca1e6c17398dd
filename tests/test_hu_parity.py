"""Hu moments and matchShapes: parity with OpenCV (cv2.moments, cv2.HuMoments, cv2.matchShapes).

Tolerance. Hu invariants are differences of products of normalised central moments, which
OpenCV forms from raw moments (``mu20 = m20 − m10·cx`` ...): for a compact blob far from the
origin that cancellation leaves only a few significant digits in the small components, and
OpenCV disagrees *with itself* there (its float32/IPP and float64 paths on the same values differ
by up to ~1e-9 relative on h3 and by O(1) relative on a near-zero h7). So each component must agree
to 1e-9 relative, plus an absolute floor of 1e-9 × the size of the terms it is built from
(``t2 = |nu20|+|nu02|+2|nu11|``, ``t3 = |nu30|+3|nu12|+3|nu21|+|nu03|``: scales
``t2, t2², t3², t3², t3⁴, t2·t3², t3⁴``), plus what rounding noise of 1e-13 of the raw moments
does to those terms (a component that is zero in exact arithmetic, e.g. h3 of a constant map, is
pure rounding noise in both libraries), plus twice OpenCV's own float32-vs-float64 disagreement.
Raw moments (no cancellation) must agree to 1e-12 relative.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mcgip_fast.similarity import hu as H

RAW_KEYS = ["m00", "m10", "m01", "m20", "m11", "m02", "m30", "m21", "m12", "m03"]


def render_heatmaps(folder: Path, shape=(72, 128), screen=(1280, 720), sigma=2.5) -> np.ndarray:
    """Duration-weighted fixation maps of the real scanpaths, blurred: (N, H, W) float32, peak 1."""
    h, w = shape
    maps = []
    for f in sorted(folder.glob("*.tsv")):
        fix = np.loadtxt(f, skiprows=1, ndmin=2)
        m = np.zeros(shape, np.float64)
        xs = np.clip((fix[:, 0] / screen[0] * w).astype(int), 0, w - 1)
        ys = np.clip((fix[:, 1] / screen[1] * h).astype(int), 0, h - 1)
        np.add.at(m, (ys, xs), fix[:, 2])
        m = cv2.GaussianBlur(m, (0, 0), sigma)
        maps.append((m / m.max()).astype(np.float32))
    return np.stack(maps)


@pytest.fixture(scope="module")
def real_maps(studyforrest_dir):
    maps = render_heatmaps(studyforrest_dir / "fixvectors")
    assert maps.shape[0] == 60
    return maps


def cv2_moments(img: np.ndarray) -> dict:
    """cv2.moments of an image. A float32 (N, 2) array would be read as a contour (OpenCV's
    overload), so such maps go through the float64 path, which has the same values exactly."""
    if img.dtype == np.float32 and img.shape[1] == 2:
        img = img.astype(np.float64)
    return cv2.moments(img)


def cv2_hu(img: np.ndarray) -> np.ndarray:
    return cv2.HuMoments(cv2_moments(img)).ravel()


def _term_scales(t2: float, t3: float) -> np.ndarray:
    t2, t3 = np.float64(t2), np.float64(t3)
    return np.array([t2, t2**2, t3**2, t3**2, t3**4, t2 * t3**2, t3**4])


def hu_tolerance(img: np.ndarray) -> np.ndarray:
    """Per-component absolute tolerance (see the module docstring)."""
    ref = cv2_hu(img)
    m = cv2_moments(img.astype(np.float64))
    t2 = abs(m["nu20"]) + abs(m["nu02"]) + 2 * abs(m["nu11"])
    t3 = abs(m["nu30"]) + 3 * abs(m["nu12"]) + 3 * abs(m["nu21"]) + abs(m["nu03"])
    # Rounding noise of the normalised moments: what is left of mu_pq after the cancellation is
    # only known to ~1e-13 of the raw moments it came from.
    m00 = np.float64(abs(m["m00"]))
    if m00 <= np.finfo(float).eps:
        return np.zeros(7)  # OpenCV then sets every nu to 0: Hu must be exactly 0
    e2 = 1e-13 * (abs(m["m20"]) + abs(m["m02"]) + abs(m["m11"])) / m00**2
    e3 = 1e-13 * (abs(m["m30"]) + abs(m["m21"]) + abs(m["m12"]) + abs(m["m03"])) / m00**2.5
    with np.errstate(over="ignore", invalid="ignore"):
        noise = np.nan_to_num(_term_scales(t2 + e2, t3 + e3) - _term_scales(t2, t3), nan=np.inf)
    self_gap = np.abs(cv2_hu(img.astype(np.float32)) - cv2_hu(img.astype(np.float64)))
    return 1e-9 * np.abs(ref) + 1e-9 * _term_scales(t2, t3) + noise + 2 * self_gap


def assert_hu_matches_cv2(maps: np.ndarray) -> None:
    ours = H.hu_moments(maps)
    raw = H.raw_moments(maps)
    for k, img in enumerate(maps):
        ref_m = cv2_moments(img)
        ref_raw = np.array([ref_m[key] for key in RAW_KEYS])
        np.testing.assert_allclose(raw[k], ref_raw, rtol=1e-12, atol=1e-300, err_msg=f"raw moments, map {k}")
        ref = cv2_hu(img)
        err = np.abs(ours[k] - ref)
        tol = hu_tolerance(img)
        assert (err <= tol).all(), f"map {k} ({img.dtype}): err {err} > tol {tol}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_hu_real_heatmaps(real_maps, dtype):
    maps = real_maps if dtype == np.float32 else (real_maps.astype(np.float64) if dtype == np.float64 else np.rint(real_maps * 255).astype(np.uint8))
    assert_hu_matches_cv2(maps)


def test_hu_single_map_and_batch_agree(real_maps):
    one = H.hu_moments(real_maps[3])
    assert one.shape == (1, 7)
    np.testing.assert_array_equal(one[0], H.hu_moments(real_maps)[3])


def test_hu_independent_of_threads(real_maps):
    np.testing.assert_array_equal(H.hu_moments(real_maps, threads=1), H.hu_moments(real_maps, threads=2))


map_shapes = st.tuples(st.integers(1, 4), st.integers(1, 40), st.integers(1, 40))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.uint8]), shape=map_shapes)
def test_hu_random_maps(data, dtype, shape):
    if dtype == np.uint8:
        elements = st.integers(0, 255)
    else:
        elements = st.floats(0, 1000, width=32 if dtype == np.float32 else 64)
    maps = data.draw(hnp.arrays(dtype, shape, elements=elements))
    assert_hu_matches_cv2(maps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_edge_cases_match_cv2(dtype):
    zero = np.zeros((20, 30), dtype)
    hot = np.zeros((20, 30), dtype)
    hot[7, 11] = 200
    const = np.full((20, 30), 9, dtype)
    tiny = np.full((1, 1), 5, dtype)
    for img in (zero, hot, const, tiny):
        ours = H.hu_moments(img)[0]
        np.testing.assert_allclose(ours, cv2_hu(img), rtol=1e-9, atol=1e-15)
    assert (H.hu_moments(zero)[0] == 0).all()
    assert (H.hu_moments(hot)[0] == 0).all()  # a point has no spread: all invariants 0


def test_normalisation_is_explicit_and_changes_hu(real_maps):
    m = real_maps[:5].astype(np.float64)
    scaled = m * 255.0
    # Intensity scale changes Hu moments (h1 ∝ 1/c) ...
    h1, h255 = H.hu_moments(m)[:, 0], H.hu_moments(scaled)[:, 0]
    np.testing.assert_allclose(h1 / h255, 255.0, rtol=1e-9)
    # ... and normalise="max" / "sum" remove it.
    np.testing.assert_allclose(H.hu_moments(m, normalise="max"), H.hu_moments(scaled, normalise="max"), rtol=1e-9, atol=1e-30)
    np.testing.assert_allclose(H.hu_moments(m, normalise="sum"), H.hu_moments(scaled, normalise="sum"), rtol=1e-9, atol=1e-30)
    by_sum = m / m.sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(H.hu_moments(m, normalise="sum"), [cv2_hu(x) for x in by_sum], rtol=1e-8, atol=1e-25)
    assert H.raw_moments(m, normalise="sum")[:, 0] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ matchShapes
def match_tol(ref: float) -> float:
    return 1e-7 * abs(ref) + 1e-9


@pytest.mark.parametrize("method,cv_method", [("I1", cv2.CONTOURS_MATCH_I1), ("I2", cv2.CONTOURS_MATCH_I2), ("I3", cv2.CONTOURS_MATCH_I3)])
def test_match_shapes_real_heatmaps(real_maps, method, cv_method):
    maps = real_maps[:20]
    hu = H.hu_moments(maps)
    ours = H.match_shapes(hu, hu, method)
    assert ours.shape == (20, 20)
    for a in range(20):
        for b in range(20):
            ref = cv2.matchShapes(maps[a], maps[b], cv_method, 0)
            assert abs(ours[a, b] - ref) <= match_tol(ref), (a, b, ours[a, b], ref)
    if method == "I3":
        assert not np.allclose(ours, ours.T)  # asymmetric, as OpenCV
    else:
        np.testing.assert_allclose(ours, ours.T, rtol=1e-12)


def test_match_shapes_from_cv2_hu_is_bit_exact(real_maps):
    """Given OpenCV's own Hu vectors, the comparison arithmetic is OpenCV's, bit for bit."""
    maps = real_maps[:8].astype(np.float64)
    hu = np.array([cv2_hu(m) for m in maps])
    for method, cvm in (("I1", 1), ("I2", 2), ("I3", 3)):
        ours = H.match_shapes(hu, hu, method)
        ref = np.array([[cv2.matchShapes(a, b, cvm, 0) for b in maps] for a in maps])
        np.testing.assert_array_equal(ours, ref)


def test_match_shapes_zero_vector_gives_dbl_max():
    zero = np.zeros((10, 10), np.float32)
    blob = np.zeros((10, 10), np.float32)
    blob[2:6, 3:8] = 1
    blob[5, 1] = 3
    hu = H.hu_moments(np.stack([zero, blob]))
    for method, cvm in (("I1", 1), ("I2", 2), ("I3", 3)):
        ours = H.match_shapes(hu, hu, method)
        ref = np.array([[cv2.matchShapes(a, b, cvm, 0) for b in (zero, blob)] for a in (zero, blob)])
        assert ref[0, 1] == np.finfo(float).max
        np.testing.assert_array_equal(ours[0], ref[0])
        assert ours[1, 0] == np.finfo(float).max and ours[0, 0] == 0.0


@settings(max_examples=40, deadline=None)
@given(maps=hnp.arrays(np.float32, (3, 12, 15), elements=st.floats(0, 50, width=32)))
def test_match_shapes_random(maps):
    hu = H.hu_moments(maps)
    for method, cvm in (("I1", 1), ("I2", 2), ("I3", 3)):
        ours = H.match_shapes(hu, None, method)
        for a in range(3):
            for b in range(3):
                ref = cv2.matchShapes(maps[a], maps[b], cvm, 0)
                # Near-threshold components (|h| ≈ 1e-5) can flip in or out between two
                # computations that differ in the last digits; skip those rare pairs.
                near = np.any(np.abs(np.abs(hu[[a, b]]) - 1e-5) < 1e-12)
                if not near and np.isfinite(ref):
                    assert abs(ours[a, b] - ref) <= 1e-6 * abs(ref) + 1e-9, (method, a, b, ours[a, b], ref)


def test_match_shapes_pairs_equals_matrix(real_maps):
    hu = H.hu_moments(real_maps[:10])
    full = H.match_shapes(hu, hu, "I3")
    ia = np.array([0, 3, 9, 9])
    ib = np.array([1, 3, 0, 8])
    np.testing.assert_array_equal(H.match_shapes_pairs(hu, hu, ia, ib, "I3"), full[ia, ib])


# ------------------------------------------------------------------------------ McGIP variant
def official_calc_diff(x, y):
    """McGIP's calc_diff (GazeMoment.py), for reference."""
    if np.isnan(x) or np.isnan(y):
        return 1
    if x == y:
        return 0
    if max(x, y) == 0:
        return 1
    return abs(x - y) / abs(max(x, y))


def test_mcgip_features_match_official_recipe(real_maps):
    maps8 = np.rint(real_maps * 255).astype(np.uint8)
    feats = H.mcgip_hu_features(maps8)
    for k in range(0, 60, 7):
        small = cv2.resize(maps8[k], (32, 32))
        m = cv2.moments(small)
        assert feats[k, 0] == pytest.approx(m["m00"], rel=1e-12)
        assert feats[k, 1] == pytest.approx(m["nu20"] + m["nu02"], rel=1e-9)


@pytest.mark.parametrize("w", [0.5, 0.8])
def test_mcgip_similarity_matches_official_formula(real_maps, w):
    feats = H.mcgip_hu_features(np.rint(real_maps * 255).astype(np.uint8))
    sim = H.mcgip_hu_similarity(feats, feats, w=w)
    for a in range(0, 60, 9):
        for b in range(0, 60, 11):
            ref = 1 - (w * official_calc_diff(feats[a, 1], feats[b, 1]) + (1 - w) * official_calc_diff(feats[a, 0], feats[b, 0]))
            assert sim[a, b] == pytest.approx(ref, abs=1e-15)
    np.testing.assert_array_equal(np.diag(sim), 1.0)


def test_mcgip_similarity_undefined_is_one_difference():
    # Two empty maps: d = 1 for both features (documented deviation: the official code says 0).
    f = np.array([[0.0, 0.0], [10.0, 0.5]])
    sim = H.mcgip_hu_similarity(f, f, w=0.8)
    assert sim[0, 0] == 0.0
    assert sim[0, 1] == 0.0
    assert sim[1, 1] == 1.0


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "bad, needle",
    [
        (np.zeros((2, 4, 4), np.int32), "uint8, float32 or float64"),
        (np.zeros((2, 2, 4, 4), np.float32), "dimensions"),
        (np.zeros(5, np.float32), "dimensions"),
        (np.zeros((0, 4, 4), np.float32), "empty"),
        (np.zeros((3, 0, 4), np.float64), "empty"),
        (np.array([[[0.0, np.nan]]]), "NaN"),
        (np.array([[[0.0, np.inf]]], np.float32), "NaN or infinity"),
    ],
)
def test_bad_maps_raise(bad, needle):
    with pytest.raises(ValueError, match=needle):
        H.hu_moments(bad)


def test_bad_match_shapes_input_raises():
    hu = np.ones((3, 7))
    with pytest.raises(ValueError, match="7"):
        H.match_shapes(np.ones((3, 6)), hu)
    with pytest.raises(ValueError, match="method"):
        H.match_shapes(hu, hu, "I4")
    with pytest.raises(ValueError, match="empty"):
        H.match_shapes(np.ones((0, 7)), hu)
    with pytest.raises(ValueError, match="NaN"):
        H.match_shapes(np.full((1, 7), np.nan), hu)
    with pytest.raises(ValueError, match="normalise"):
        H.hu_moments(np.ones((2, 2)), normalise="peak")
    with pytest.raises(ValueError, match="w must be"):
        H.mcgip_hu_similarity(np.ones((2, 2)), w=1.5)
    with pytest.raises(ValueError, match="out of range"):
        H.match_shapes_pairs(hu, hu, np.array([0]), np.array([3]))


def test_match_shapes_into_reused_buffer(real_maps):
    hu = H.hu_moments(real_maps[:12])
    out = np.full((5, 7), np.nan)
    got = H.match_shapes(hu[:5], hu[5:], "I2", out=out)
    assert got is out
    np.testing.assert_array_equal(out, H.match_shapes(hu[:5], hu[5:], "I2"))
    with pytest.raises(ValueError, match="shape"):
        H.match_shapes(hu[:5], hu[5:], "I2", out=np.empty((7, 5)))
    with pytest.raises(ValueError, match="float64"):
        H.match_shapes(hu[:5], hu[5:], "I2", out=np.empty((5, 7), np.float32))

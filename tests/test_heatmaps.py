"""Heatmaps: parity with OpenCV's GaussianBlur (the stated calls), on real data and generated data.

Reference calls (OpenCV, imported here):
  render_heatmaps:  cv2.GaussianBlur(impulses_float32, (k, k) or (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
                    then / max (or / sum).
  mcgip_heatmaps:   cv2.GaussianBlur(canvas_float64_800x800, (199, 199), 0) then / max (McGIP's createSaveHeat).
Tolerance: 1e-5 absolute on max-normalised maps.
"""

import warnings

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcgip_fast import GazeArchive, mcgip_heatmaps, render_heatmaps
from mcgip_fast.data import load_studyforrest
from mcgip_fast.gaze import gaussian_kernel
from mcgip_fast.gaze.readers import read_fixation_files

TOL = 1e-5


def _pixels(x, y, scale_x, scale_y, h, w):
    """The documented coordinate -> pixel rule: floor(coordinate * scale), far edge to the last pixel."""
    cols = np.minimum(np.floor(x * scale_x), w - 1).astype(int)
    rows = np.minimum(np.floor(y * scale_y), h - 1).astype(int)
    return rows, cols


def cv2_render(sp, shape, sigma, scale, ksize=None, weight="duration", normalise="max", dtype=np.float32):
    h, w = shape
    rows, cols = _pixels(sp.x, sp.y, scale[0], scale[1], h, w)
    imp = np.zeros((h, w), dtype)
    np.add.at(imp, (rows, cols), sp.duration if weight == "duration" else 1.0)
    k = (ksize, ksize) if ksize else (0, 0)
    out = cv2.GaussianBlur(imp, k, sigma, borderType=cv2.BORDER_REFLECT_101)
    if normalise == "max":
        out = out / out.max()
    elif normalise == "sum":
        out = out / out.sum()
    return out


@pytest.fixture(scope="module")
def forrest(studyforrest_dir):
    return read_fixation_files(studyforrest_dir / "fixvectors", screen=(1280, 720))


@pytest.mark.parametrize("shape, sigma", [((224, 224), 7.0), ((90, 160), 3.3), ((720, 1280), 25.0), ((32, 32), 0.8)])
def test_matches_cv2_on_real_data(forrest, shape, sigma):
    if shape[0] * shape[1] > 200_000:
        forrest = forrest.subset(range(0, len(forrest), 4))  # full-screen maps: OpenCV is slow, keep 15
    maps = render_heatmaps(forrest, shape, sigma)
    assert maps.shape == (len(forrest),) + shape and maps.dtype == np.float32
    scale = (shape[1] / 1280, shape[0] / 720)
    for i, sp in enumerate(forrest):
        ref = cv2_render(sp, shape, sigma, scale)
        np.testing.assert_allclose(maps[i], ref, atol=TOL, rtol=0, err_msg=f"scanpath {sp.image_id}")


@pytest.mark.parametrize("weight, normalise", [("uniform", "max"), ("duration", "sum"), ("duration", "none")])
def test_weight_and_normalise_match_cv2(forrest, weight, normalise):
    shape, sigma = (72, 128), 4.0
    maps = render_heatmaps(forrest.subset(range(10)), shape, sigma, weight=weight, normalise=normalise)
    for i in range(10):
        ref = cv2_render(forrest[i], shape, sigma, (0.1, 0.1), weight=weight, normalise=normalise)
        # Compare relative to the map's peak so "sum" and "none" scales test the same thing.
        np.testing.assert_allclose(maps[i] / ref.max(), ref / ref.max(), atol=TOL, rtol=0)
    if normalise == "sum":
        np.testing.assert_allclose(maps.sum(axis=(1, 2)), 1.0, atol=1e-4)


def test_explicit_ksize_and_float64_precision(forrest):
    sub = forrest.subset(range(6))
    for ksize, sigma in [(9, 0.0), (5, 0.0), (31, 0.0), (41, 6.0)]:
        for precision, dtype in [("float32", np.float32), ("float64", np.float64)]:
            maps = render_heatmaps(sub, (120, 200), sigma, ksize=ksize, precision=precision)
            for i in range(len(sub)):
                ref = cv2_render(sub[i], (120, 200), sigma, (200 / 1280, 120 / 720), ksize=ksize, dtype=dtype)
                np.testing.assert_allclose(maps[i], ref, atol=TOL, rtol=0, err_msg=f"ksize {ksize} {precision}")


def test_mcgip_recipe_matches_cv2_on_real_data(forrest):
    # 5 and 47 hold fixations whose row depends on computing y * (800 / 720), not y * 800 / 720.
    sub = forrest.subset([0, 5, 20, 47])
    maps = mcgip_heatmaps(sub)
    assert maps.shape == (4, 800, 800)
    for i, sp in enumerate(sub):
        canvas = np.zeros((800, 800))  # float64, as McGIP's np.float
        cols = np.minimum(np.floor(sp.x * (800 / 1280)), 799).astype(int)
        rows = np.minimum(np.floor(sp.y * (800 / 720)), 799).astype(int)
        canvas[rows, cols] = 1.0
        ref = cv2.GaussianBlur(canvas, (199, 199), 0)
        ref /= ref.max()
        np.testing.assert_allclose(maps[i], ref, atol=TOL, rtol=0)


def test_mcgip_raw_samples_mark_once_and_clamp():
    rng = np.random.default_rng(5)
    samples = rng.uniform(-20, 820, size=(400, 2))
    samples[:50] = samples[0]  # repeats set the pixel once, they do not add
    maps = mcgip_heatmaps([samples, samples[:10]])
    for m, s in zip(maps, [samples, samples[:10]]):
        canvas = np.zeros((800, 800))
        c = np.clip(np.floor(s), 0, 799).astype(int)
        canvas[c[:, 1], c[:, 0]] = 1.0
        ref = cv2.GaussianBlur(canvas, (199, 199), 0)
        np.testing.assert_allclose(m, ref / ref.max(), atol=TOL, rtol=0)
    one = mcgip_heatmaps(samples[:10])
    np.testing.assert_array_equal(one[0], maps[1])


def test_mcgip_rejects_or_drops_nan_samples():
    s = np.array([[10.0, 10.0], [np.nan, 3.0], [400.0, 300.0]])
    with pytest.raises(ValueError, match=r"samples 0 row 1: non-finite"):
        mcgip_heatmaps([s])
    np.testing.assert_array_equal(mcgip_heatmaps([s], on_invalid="drop"), mcgip_heatmaps([s[[0, 2]]]))


def test_opencv_default_border_is_reflect_101():
    """McGIP calls GaussianBlur without a border: check that OpenCV's default is the REFLECT_101 we implement."""
    img = np.zeros((300, 300))
    img[3, 290] = 1.0
    img[150, 1] = 1.0
    default = cv2.GaussianBlur(img, (199, 199), 0)
    np.testing.assert_array_equal(default, cv2.GaussianBlur(img, (199, 199), 0, borderType=cv2.BORDER_REFLECT_101))
    assert np.abs(default - cv2.GaussianBlur(img, (199, 199), 0, borderType=cv2.BORDER_REFLECT)).max() > 1e-2 * default.max()
    ours = mcgip_heatmaps([np.array([[290.0, 3.0], [1.0, 150.0]])], canvas=300)[0]
    np.testing.assert_allclose(ours, default / default.max(), atol=TOL, rtol=0)


def test_kernel_matches_get_gaussian_kernel():
    for ksize, sigma in [(1, 0), (3, 0), (5, 0), (7, 0), (9, 0), (11, 0), (199, 0), (57, 7.0), (7, 1.5), (5, 0.3)]:
        ours = gaussian_kernel(ksize, sigma)
        ref64 = cv2.getGaussianKernel(ksize, sigma, cv2.CV_64F).ravel()
        ref32 = cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F).ravel()
        np.testing.assert_allclose(ours, ref64, atol=1e-15, rtol=0)
        # OpenCV's float32 kernel is its float64 kernel rounded; ours rounds the same way.
        np.testing.assert_array_equal(ours.astype(np.float32), ref32)


@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(1, 48),
    w=st.integers(1, 48),
    sigma=st.floats(0.3, 12.0),
    n=st.integers(1, 12),
    seed=st.integers(0, 2**31),
)
def test_generated_maps_match_cv2_including_kernels_wider_than_the_map(h, w, sigma, n, seed):
    rng = np.random.default_rng(seed)
    pts = np.column_stack([rng.uniform(0, w, n), rng.uniform(0, h, n), rng.uniform(0.01, 1.0, n)])
    arch = GazeArchive.from_scanpaths([pts], ["g"], screen=(w, h), short="keep")
    maps = render_heatmaps(arch, (h, w), sigma)
    ref = cv2_render(arch[0], (h, w), sigma, (1.0, 1.0))
    np.testing.assert_allclose(maps[0], ref, atol=TOL, rtol=0)


def test_thread_count_does_not_change_result(forrest):
    a = render_heatmaps(forrest, (64, 64), 3.0, threads=1)
    b = render_heatmaps(forrest, (64, 64), 3.0, threads=2)
    np.testing.assert_array_equal(a, b)


def test_off_map_fixations_are_left_out_with_a_warning(studyforrest_dir):
    # sp-46.csv has a real fixation at y = 747 on the 720-pixel screen.
    arch = read_fixation_files([studyforrest_dir / "testdata" / "sp-46.csv"], screen=(1280, 720), off_screen="keep")
    with pytest.warns(UserWarning, match="1 fixations fall outside"):
        maps = render_heatmaps(arch, (72, 128), 3.0)
    sp = arch[0]
    on = sp.y <= 720
    kept = GazeArchive.from_scanpaths([sp.to_array()[on]], ["s"], screen=(1280, 720))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(maps, render_heatmaps(kept, (72, 128), 3.0))


def test_scale_and_unknown_screen():
    pts = np.array([[10.0, 5.0, 1.0], [30.0, 20.0, 1.0], [2.0, 2.0, 1.0]])
    no_screen = GazeArchive.from_scanpaths([pts], ["a"])
    with_screen = GazeArchive.from_scanpaths([pts * [2, 2, 1]], ["a"], screen=(80, 60))
    # Unknown screen: coordinates are map pixels. Known screen: scaled by shape / screen.
    np.testing.assert_array_equal(render_heatmaps(no_screen, (30, 40), 2.0), render_heatmaps(with_screen, (30, 40), 2.0))
    np.testing.assert_array_equal(render_heatmaps(no_screen, (30, 40), 2.0), render_heatmaps(with_screen, (30, 40), 2.0, scale=0.5))


def test_out_buffer_is_reused_and_checked(forrest):
    want = render_heatmaps(forrest, (40, 60), 2.0)
    buf = np.full((len(forrest), 40, 60), 9.0, np.float32)
    got = render_heatmaps(forrest, (40, 60), 2.0, out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, want)
    # Batches into slices of one buffer.
    half = len(forrest) // 2
    buf[:] = -1
    render_heatmaps(forrest.subset(range(half)), (40, 60), 2.0, out=buf[:half])
    render_heatmaps(forrest.subset(range(half, len(forrest))), (40, 60), 2.0, out=buf[half:])
    np.testing.assert_array_equal(buf, want)
    with pytest.raises(ValueError, match=r"out must have shape \(60, 40, 60\)"):
        render_heatmaps(forrest, (40, 60), 2.0, out=buf[:3])
    with pytest.raises(ValueError, match="C-contiguous float32"):
        render_heatmaps(forrest, (40, 60), 2.0, out=buf.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        render_heatmaps(forrest, (40, 60), 2.0, out=np.zeros((60, 60, 40), np.float32).transpose(0, 2, 1))
    frozen = np.zeros((60, 40, 60), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="not writable"):
        render_heatmaps(forrest, (40, 60), 2.0, out=frozen)


def test_empty_archive_and_default_sigma(forrest):
    empty = forrest.subset([])
    assert render_heatmaps(empty, (10, 12), 2.0).shape == (0, 10, 12)
    default = render_heatmaps(forrest.subset([0]), (64, 64))
    np.testing.assert_array_equal(default, render_heatmaps(forrest.subset([0]), (64, 64), 2.0))


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(shape=(0, 10)), "shape must be positive"),
        (dict(shape=(10,)), r"shape must be \(height, width\)"),
        (dict(sigma=-1.0), "sigma must be positive"),
        (dict(ksize=4), "kernel size must be odd"),
        (dict(weight="area"), "weight must be"),
        (dict(normalise="l2"), "normalise must be"),
        (dict(precision="half"), "precision must be"),
        (dict(threads=0), "threads must be"),
        (dict(scale=-2.0), "scale_x must be positive"),
    ],
)
def test_bad_arguments_raise(forrest, kwargs, needle):
    args = dict(shape=(20, 20), sigma=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=needle):
        render_heatmaps(forrest.subset([0]), **args)


def test_mcgip_bad_arguments_raise():
    with pytest.raises(ValueError, match="canvas must be positive"):
        mcgip_heatmaps([np.zeros((3, 2))], canvas=0)
    with pytest.raises(ValueError, match=r"expected an \(n, 2\) array"):
        mcgip_heatmaps([np.zeros(3)])
    with pytest.raises(ValueError, match="kernel size must be odd"):
        mcgip_heatmaps([np.zeros((3, 2))], ksize=200)

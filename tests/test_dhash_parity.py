"""dHash: bit-exact parity with imagehash.dhash (imagehash 4.3.2 on Pillow 13.0.0).

The parity depends on Pillow's LANCZOS reduction, including the pass order that Pillow 13
changed for tall images, so the versions are pinned here (pyproject's dev extra pins them too).
"""

from pathlib import Path

import cv2
import imagehash
import numpy as np
import PIL
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from mcgip_fast import _core
from mcgip_fast.similarity.dhash import dhash, to_uint8

pytestmark = pytest.mark.skipif(
    PIL.__version__ != "13.0.0" or imagehash.__version__ != "4.3.2",
    reason=f"dHash parity is pinned to Pillow 13.0.0 + imagehash 4.3.2 (found {PIL.__version__}, {imagehash.__version__})",
)


def render_heatmaps(folder: Path, shape=(72, 128), screen=(1280, 720), sigma=2.5, limit=None) -> np.ndarray:
    """Duration-weighted fixation maps of the real scanpaths, blurred: (N, H, W) float32, peak 1."""
    h, w = shape
    maps = []
    for f in sorted(folder.glob("*.tsv"))[:limit]:
        fix = np.loadtxt(f, skiprows=1, ndmin=2)
        m = np.zeros(shape, np.float32)
        xs = np.clip((fix[:, 0] / screen[0] * w).astype(int), 0, w - 1)
        ys = np.clip((fix[:, 1] / screen[1] * h).astype(int), 0, h - 1)
        np.add.at(m, (ys, xs), fix[:, 2])
        m = cv2.GaussianBlur(m, (0, 0), sigma)
        maps.append((m / m.max()).astype(np.float32))
    return np.stack(maps)


def ref_codes(images: np.ndarray, hash_size: int = 8) -> np.ndarray:
    return np.stack([np.packbits(imagehash.dhash(Image.fromarray(img), hash_size).hash.ravel()) for img in images])


@pytest.fixture(scope="module")
def real_maps_u8(studyforrest_dir):
    return np.rint(render_heatmaps(studyforrest_dir / "fixvectors") * 255).astype(np.uint8)


@pytest.mark.parametrize("hash_size", [8, 16])
def test_real_heatmaps_bit_exact(real_maps_u8, hash_size):
    ours = dhash(real_maps_u8, hash_size)
    assert ours.shape == (60, hash_size * hash_size // 8) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, ref_codes(real_maps_u8, hash_size))


@pytest.mark.parametrize("shape", [(224, 224), (720, 1280), (1280, 720), (40, 900), (900, 40)])
def test_real_heatmaps_other_sizes(studyforrest_dir, shape):
    maps = np.rint(render_heatmaps(studyforrest_dir / "fixvectors", shape=shape, sigma=min(shape) / 30, limit=12) * 255).astype(np.uint8)
    np.testing.assert_array_equal(dhash(maps), ref_codes(maps))


def test_float_maps_use_explicit_scaling(studyforrest_dir, real_maps_u8):
    maps = render_heatmaps(studyforrest_dir / "fixvectors")
    # Peak is 1 in these maps, so "max" and "unit" both scale by 255, like real_maps_u8.
    np.testing.assert_array_equal(dhash(maps), dhash(real_maps_u8))
    np.testing.assert_array_equal(dhash(maps, float_scaling="unit"), ref_codes(real_maps_u8))
    np.testing.assert_array_equal(dhash(maps.astype(np.float64) * 7.5), ref_codes(to_uint8(maps * 7.5)))
    with pytest.raises(ValueError, match="float_scaling='raise'"):
        dhash(maps, float_scaling="raise")


def test_float_trap_is_avoided():
    """imagehash on a float map goes through mode F and clips to {0, 1}; ours does not."""
    rng = np.random.default_rng(5)
    m = cv2.GaussianBlur(rng.random((64, 64)), (0, 0), 3)
    m = m / m.max()
    trap = np.packbits(imagehash.dhash(Image.fromarray(m.astype(np.float32))).hash.ravel())
    ours = dhash(m)
    assert not np.array_equal(ours[0], trap)
    np.testing.assert_array_equal(ours, ref_codes(to_uint8(m)[None]))


@pytest.mark.parametrize("hash_size", [2, 3, 5, 8, 16])
@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 50), (50, 1), (2, 300), (300, 2), (8, 9), (16, 17), (9, 8), (7, 10), (13, 5), (400, 30), (30, 400), (224, 224), (31, 97)],
)
def test_varied_shapes(shape, hash_size):
    rng = np.random.default_rng(hash(shape) % 2**32 + hash_size)
    imgs = rng.integers(0, 256, (3, *shape), dtype=np.uint8)
    imgs[1] = np.sort(imgs[1], axis=1)  # smooth-ish ramps make near-ties, where rounding matters
    imgs[2] = cv2.GaussianBlur(imgs[2], (0, 0), 1.5) if min(shape) > 1 else imgs[2]
    np.testing.assert_array_equal(dhash(imgs, hash_size), ref_codes(imgs, hash_size))


@settings(max_examples=150, deadline=None)
@given(
    img=hnp.arrays(np.uint8, st.tuples(st.integers(1, 120), st.integers(1, 120)), elements=st.integers(0, 255)),
    hash_size=st.sampled_from([8, 16, 4]),
)
def test_random_images(img, hash_size):
    np.testing.assert_array_equal(dhash(img, hash_size), ref_codes(img[None], hash_size))


@settings(max_examples=150, deadline=None)
@given(h=st.integers(1, 200), w=st.integers(1, 200), seed=st.integers(0, 2**31))
def test_lanczos_equals_pillow_resize(h, w, seed):
    """The resize itself, pixel for pixel, both pass orders included (tall and wide shapes)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w), dtype=np.uint8)
    for out_h, out_w in ((8, 9), (16, 17), (5, 3)):
        ref = np.asarray(Image.fromarray(img).resize((out_w, out_h), Image.LANCZOS))
        np.testing.assert_array_equal(_core.lanczos_resize(img, out_h, out_w), ref)


def test_rgb_greyscaled_like_pillow():
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (5, 37, 61, 3), dtype=np.uint8)
    rgb[2] = cv2.GaussianBlur(rgb[2], (0, 0), 2)
    np.testing.assert_array_equal(dhash(rgb), ref_codes(rgb))
    np.testing.assert_array_equal(dhash(rgb, 16), ref_codes(rgb, 16))


def test_independent_of_threads(real_maps_u8):
    np.testing.assert_array_equal(dhash(real_maps_u8, threads=1), dhash(real_maps_u8, threads=2))


@pytest.mark.parametrize(
    "bad, kwargs, needle",
    [
        (np.zeros((2, 8, 8), np.int16), {}, "uint8 or float"),
        (np.zeros((2, 8, 8, 4), np.uint8), {}, "RGB"),
        (np.zeros((2, 8, 8, 3), np.float32), {}, "RGB images must be uint8"),
        (np.zeros(8, np.uint8), {}, "dimensions"),
        (np.zeros((1, 2, 3, 4, 5), np.uint8), {}, "dimensions"),
        (np.zeros((0, 8, 8), np.uint8), {}, "empty"),
        (np.zeros((3, 0, 8), np.uint8), {}, "empty"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), {}, "NaN"),
        (np.zeros((8, 8), np.uint8), {"hash_size": 1}, "hash_size"),
        (np.zeros((8, 8), np.uint8), {"hash_size": 8.0}, "hash_size"),
        (np.zeros((8, 8), np.float32), {"float_scaling": "peak"}, "float_scaling"),
    ],
)
def test_bad_input_raises(bad, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        dhash(bad, **kwargs)

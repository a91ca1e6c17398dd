"""Heatmaps stored as images (PNG/JPEG, one per image id): loading, saving, and clear errors."""

import numpy as np
import pytest
from PIL import Image

from mcgip_fast import load_heatmap_images, render_heatmaps
from mcgip_fast.data import load_studyforrest
from mcgip_fast.gaze import save_heatmap_images


@pytest.fixture(scope="module")
def maps():
    arch = load_studyforrest(segments=[0, 1, 2], by_reader=False)
    return arch.image_ids.tolist(), render_heatmaps(arch, (45, 80), 2.5)


def test_png_round_trip_within_one_grey_level(tmp_path, maps):
    ids, m = maps
    paths = save_heatmap_images(m, ids, tmp_path)
    assert [p.name for p in paths] == [f"{i}.png" for i in ids]
    got_ids, got = load_heatmap_images(tmp_path)
    assert got_ids == sorted(ids)
    order = [ids.index(i) for i in got_ids]
    assert got.shape == (len(ids), 45, 80) and got.dtype == np.float32
    np.testing.assert_allclose(got, m[order], atol=0.5 / 255 + 1e-7)
    # Pillow reads what we wrote as 8-bit grey, the way McGIP stored its maps.
    assert Image.open(paths[0]).mode == "L"


def test_ids_select_files_and_jpeg_is_read(tmp_path, maps):
    ids, m = maps
    save_heatmap_images(m[:2], ids[:2], tmp_path, suffix=".jpg")
    got_ids, got = load_heatmap_images(tmp_path, ids=[ids[1], ids[0]])
    assert got_ids == [ids[1], ids[0]]
    np.testing.assert_allclose(got[0], m[1], atol=0.05)  # JPEG is lossy
    listed_ids, _ = load_heatmap_images([tmp_path / f"{ids[0]}.jpg"], ids=["custom"])
    assert listed_ids == ["custom"]


def test_sixteen_bit_and_colour_images(tmp_path):
    deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: luminance 150/255 by Pillow's ITU-R 601 weights
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    ids, got = load_heatmap_images(tmp_path)
    assert ids == ["deep", "rgb"]
    np.testing.assert_allclose(got[0], deep / 65535.0, atol=1e-6)
    np.testing.assert_allclose(got[1], 150 / 255, atol=1e-6)


def test_mismatched_size_names_the_file(tmp_path):
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((10, 21), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"b.png: size 21x10 differs from a.png's 20x10"):
        load_heatmap_images(tmp_path)


def test_unreadable_and_missing_files(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=r"bad.jpg: cannot read as an image"):
        load_heatmap_images(tmp_path)
    with pytest.raises(ValueError, match=r"no image for id 'absent'"):
        load_heatmap_images(tmp_path, ids=["ok", "absent"])
    with pytest.raises(ValueError, match=r"gone.png: no such file"):
        load_heatmap_images([tmp_path / "ok.png", tmp_path / "gone.png"])
    with pytest.raises(ValueError, match=r"not a folder"):
        load_heatmap_images(tmp_path / "ok.png")
    with pytest.raises(ValueError, match=r"2 ids for 1 image files"):
        load_heatmap_images([tmp_path / "ok.png"], ids=["a", "b"])
    with pytest.raises(ValueError, match=r"duplicate image id 'ok'"):
        load_heatmap_images([tmp_path / "ok.png", tmp_path / "ok.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no .png/.jpg/.jpeg files"):
        load_heatmap_images(tmp_path / "empty")


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"maps must be \(N, H, W\)"):
        save_heatmap_images(np.zeros((4, 4)), ["a"], tmp_path)
    with pytest.raises(ValueError, match="2 ids for 1 maps"):
        save_heatmap_images(np.zeros((1, 4, 4)), ["a", "b"], tmp_path)
    with pytest.raises(ValueError, match="suffix must be one of"):
        save_heatmap_images(np.zeros((1, 4, 4)), ["a"], tmp_path, suffix=".bmp")
    # An all-zero map is written as black, not divided by zero.
    save_heatmap_images(np.zeros((1, 4, 4)), ["z"], tmp_path)
    _, got = load_heatmap_images(tmp_path, ids=["z"])
    assert got.max() == 0

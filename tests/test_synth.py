"""Synthetic archive: determinism, layout, and gaze that is as informative as configured."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcgip_fast.synth import CLASS_NAMES, SynthArchive, SynthConfig, generate
from mcgip_fast.synth.checks import gaze_feature_probe, global_stats_probe, raw_pixel_probe

SMALL = SynthConfig(n_images=24, size=64, seed=3)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def probe_archives(tmp_path_factory) -> dict[float, SynthArchive]:
    """The same 240 images with fully informative and with uninformative gaze."""
    base = SynthConfig(n_images=240, size=64, seed=11)
    return {
        p: generate(tmp_path_factory.mktemp(f"inf{p}"), replace(base, informativeness=p)) for p in (1.0, 0.0)
    }


def test_same_seed_same_bytes(tmp_path):
    a = generate(tmp_path / "a", SMALL)
    b = generate(tmp_path / "b", SMALL)
    assert _digest(a.root) == _digest(b.root)


def test_other_seed_other_archive(tmp_path):
    a = generate(tmp_path / "a", SMALL)
    b = generate(tmp_path / "b", replace(SMALL, seed=4))
    da, db = _digest(a.root), _digest(b.root)
    assert da["fixations.csv"] != db["fixations.csv"]
    assert sum(da[k] != db[k] for k in da if k.startswith("images")) == SMALL.n_images


def test_image_i_does_not_depend_on_archive_size(tmp_path):
    a = generate(tmp_path / "a", SMALL)
    b = generate(tmp_path / "b", replace(SMALL, n_images=40))
    # Labels are a balanced shuffle of all n, so compare the images whose class agrees.
    la, lb = a.labels()["label"].to_numpy(), b.labels()["label"].to_numpy()[: SMALL.n_images]
    same = np.flatnonzero(la == lb)
    assert len(same) > 0
    for i in same:
        assert (a.root / f"images/img_{i:05d}.png").read_bytes() == (b.root / f"images/img_{i:05d}.png").read_bytes()


def test_informativeness_leaves_images_alone(tmp_path):
    a = generate(tmp_path / "a", replace(SMALL, informativeness=1.0))
    b = generate(tmp_path / "b", replace(SMALL, informativeness=0.0))
    da, db = _digest(a.root), _digest(b.root)
    assert all(da[k] == db[k] for k in da if k.startswith("images") or k in ("manifest.csv", "labels.csv"))
    assert da["fixations.csv"] != db["fixations.csv"]


def test_layout_like_a_real_dataset(tmp_path):
    cfg = replace(SMALL, size=96)
    arch = generate(tmp_path / "arch", cfg)
    root = arch.root
    for name in ("manifest.csv", "fixations.csv", "labels.csv", "truth.csv", "meta.json"):
        assert (root / name).is_file(), name

    manifest = pd.read_csv(root / "manifest.csv", dtype={"image_id": str})
    assert list(manifest.columns) == ["image_id", "path", "width", "height"]
    assert manifest["image_id"].is_unique and len(manifest) == cfg.n_images
    assert "label" not in manifest.columns  # labels live in their own file
    import cv2

    for rel in manifest["path"]:
        img = cv2.imread(str(root / rel), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.dtype == np.uint8 and img.shape == (96, 96)

    labels = pd.read_csv(root / "labels.csv", dtype={"image_id": str})
    assert list(labels.columns) == ["image_id", "label", "class_name"]
    assert list(labels["image_id"]) == list(manifest["image_id"])
    assert set(labels["class_name"]) == set(CLASS_NAMES)
    counts = labels["label"].value_counts()
    assert counts.max() - counts.min() <= 1  # balanced
    assert all(CLASS_NAMES[k] == n for k, n in zip(labels["label"], labels["class_name"]))

    fx = pd.read_csv(root / "fixations.csv", dtype={"image_id": str, "reader": str})
    assert list(fx.columns) == ["image_id", "reader", "fixation", "x", "y", "duration", "onset"]
    assert set(fx["image_id"]) == set(manifest["image_id"])
    display = cfg.size * cfg.display_scale
    assert fx["x"].between(0, display).all() and fx["y"].between(0, display).all()
    assert (fx["duration"] > 0).all()
    for _, g in fx.groupby(["image_id", "reader"]):
        assert list(g["fixation"]) == list(range(len(g)))
        assert np.all(np.diff(g["onset"]) > 0)  # time moves forward

    again = SynthArchive.open(root)
    assert again.config == cfg
    gaze = again.gaze()
    assert len(gaze) == cfg.n_images and list(gaze.image_ids) == list(manifest["image_id"])
    assert gaze.screen == (display, display)
    assert gaze.lengths.min() >= 3  # every scanpath is long enough for MultiMatch


def test_several_readers_per_image(tmp_path):
    arch = generate(tmp_path / "a", replace(SMALL, readers_per_image=3, n_readers=4))
    fx = arch.fixations()
    per_image = fx.groupby("image_id")["reader"].nunique()
    assert (per_image == 3).all()
    gaze = arch.gaze()
    assert len(gaze) == 3 * SMALL.n_images and gaze.readers is not None
    assert len(arch.truth()) == 3 * SMALL.n_images


def test_gaze_informative_when_configured(probe_archives):
    informative = gaze_feature_probe(probe_archives[1.0])
    assert informative.accuracy > 0.6, informative
    truth = probe_archives[1.0].truth()
    labels = probe_archives[1.0].labels()
    assert (truth["gaze_behaviour"].to_numpy() == labels["class_name"].to_numpy()).all()


def test_gaze_uninformative_at_zero(probe_archives):
    result = gaze_feature_probe(probe_archives[0.0])
    # 240 images, 5 folds: chance 0.25 with a standard error of about 0.03.
    assert result.accuracy < result.chance + 0.12, result
    truth, labels = probe_archives[0.0].truth(), probe_archives[0.0].labels()
    table = pd.crosstab(labels["class_name"], truth["gaze_behaviour"]).to_numpy()
    from scipy.stats import chi2_contingency

    assert chi2_contingency(table).pvalue > 0.001  # behaviour independent of class


def test_classes_not_linearly_separable_from_pixels_or_global_statistics(probe_archives):
    arch = probe_archives[1.0]
    for result in (raw_pixel_probe(arch), global_stats_probe(arch)):
        assert result.accuracy < result.chance + 0.15, result


def test_findings_are_in_the_images(probe_archives):
    """The abnormal classes really differ from normal where the finding is (not just in labels)."""
    arch = probe_archives[1.0]
    from mcgip_fast.synth.checks import load_images

    imgs = load_images(arch)
    truth = arch.truth()
    labels = arch.labels()["label"].to_numpy()
    scale = arch.config.display_scale
    contrast = []
    for k in range(len(imgs)):
        if labels[k] == 0:
            continue
        x, y = truth["finding_x"][k] / scale, truth["finding_y"][k] / scale
        yy, xx = np.mgrid[0 : imgs.shape[1], 0 : imgs.shape[2]]
        near = np.hypot(xx - x, yy - y) < 3
        contrast.append(imgs[k][near].mean() - imgs[k].mean())
    assert np.mean(contrast) > 0.05
    assert truth.loc[labels == 0, "finding_x"].isna().all()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(n_images=2), "n_images must be at least 4"),
        (dict(size=8), "size must be between 16 and 1024"),
        (dict(informativeness=1.5), r"informativeness must be in \[0, 1\]"),
        (dict(n_readers=0), "n_readers must be at least 1"),
        (dict(readers_per_image=5, n_readers=4), "readers_per_image must be between 1 and n_readers=4"),
        (dict(display_scale=0.0), "display_scale must be positive"),
        (dict(contrast_range=(2.0, 1.0)), "contrast_range must be"),
        (dict(noise=-1.0), "noise must be non-negative"),
    ],
)
def test_bad_config(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "x", replace(SMALL, **change))


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(tmp_path, SMALL)
    generate(tmp_path, SMALL, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_open_rejects_other_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        SynthArchive.open(tmp_path)
    (tmp_path / "meta.json").write_text('{"layout_version": 99}')
    with pytest.raises(ValueError, match="layout version 99"):
        SynthArchive.open(tmp_path)

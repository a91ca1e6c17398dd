"""The second synthetic archive (chest): determinism, the shared layout, readers with habits, and a
class signal in gaze geometry (not in durations) that is as informative as configured."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcgip_fast.synth import SynthArchive
from mcgip_fast.synth.checks import _cv_accuracy, gaze_feature_probe, global_stats_probe, load_images, raw_pixel_probe
from mcgip_fast.synth.chest import CHEST_CLASS_NAMES, EPISODE_FIXATIONS, ChestConfig, generate_chest

SMALL = ChestConfig(n_images=24, size=64, seed=3)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def probe_archives(tmp_path_factory) -> dict[float, SynthArchive]:
    base = ChestConfig(n_images=240, size=64, seed=11)
    return {p: generate_chest(tmp_path_factory.mktemp(f"chest{p}"), replace(base, informativeness=p)) for p in (1.0, 0.0)}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b = generate_chest(tmp_path / "a", SMALL), generate_chest(tmp_path / "b", SMALL)
    assert _digest(a.root) == _digest(b.root)
    c = generate_chest(tmp_path / "c", replace(SMALL, seed=4))
    assert _digest(c.root)["fixations.csv"] != _digest(a.root)["fixations.csv"]


def test_informativeness_leaves_images_alone(tmp_path):
    a = generate_chest(tmp_path / "a", replace(SMALL, informativeness=1.0))
    b = generate_chest(tmp_path / "b", replace(SMALL, informativeness=0.0))
    da, db = _digest(a.root), _digest(b.root)
    assert all(da[k] == db[k] for k in da if k.startswith("images") or k in ("manifest.csv", "labels.csv"))
    assert da["fixations.csv"] != db["fixations.csv"]


def test_shared_layout_and_reading_back(tmp_path):
    arch = generate_chest(tmp_path / "arch", SMALL)
    again = SynthArchive.open(arch.root)
    assert again.config == SMALL and type(again.config) is ChestConfig
    assert again.class_names == CHEST_CLASS_NAMES
    assert list(again.manifest().columns) == ["image_id", "path", "width", "height"]
    labels = again.labels()
    assert set(labels["class_name"]) == set(CHEST_CLASS_NAMES)
    assert labels["label"].value_counts().max() - labels["label"].value_counts().min() <= 1
    fx = again.fixations()
    display = SMALL.size * SMALL.display_scale
    assert fx["x"].between(0, display).all() and fx["y"].between(0, display).all() and (fx["duration"] > 0).all()
    gaze = again.gaze()
    assert len(gaze) == SMALL.n_images and list(gaze.image_ids) == list(again.manifest()["image_id"])
    assert gaze.lengths.min() >= 3 + EPISODE_FIXATIONS
    # several readings per image keep their readers
    multi = generate_chest(tmp_path / "multi", replace(SMALL, readers_per_image=3))
    assert (multi.fixations().groupby("image_id")["reader"].nunique() == 3).all()


def test_readers_have_personal_habits(tmp_path):
    arch = generate_chest(tmp_path / "a", replace(SMALL, n_images=60, n_readers=3))
    fx = arch.fixations()
    first = fx[fx["fixation"] == 0].set_index("reader")["x"]
    mid = arch.config.display / 2
    import json

    readers = {r["name"]: r for r in json.loads((arch.root / "meta.json").read_text())["readers"]}
    assert {r["order"] for r in readers.values()} == {"left-right", "right-left", "alternate"}
    for name, r in readers.items():
        xs = first.loc[[name]].to_numpy()
        # the checklist starts in the reader's own first lung
        assert (xs < mid).mean() > 0.9 if r["order"] in ("left-right", "alternate") else (xs > mid).mean() > 0.9
    pace = fx.groupby("reader")["duration"].median()
    assert pace.max() / pace.min() > 1.1  # readers keep their own pace


def test_gaze_informative_in_geometry_not_in_durations(probe_archives):
    arch = probe_archives[1.0]
    assert (arch.truth()["gaze_behaviour"].to_numpy() == arch.labels()["class_name"].to_numpy()).all()
    informative = gaze_feature_probe(arch)
    assert informative.accuracy > informative.chance + 0.15, informative
    # durations alone: count, total, mean, max, spread, long-fixation share (no saccade amplitudes)
    from mcgip_fast.synth.checks import gaze_features

    labels = arch.labels()["label"].to_numpy()
    durations_only = _cv_accuracy("durations", gaze_features(arch)[:, :6], labels, 5, 0)
    assert durations_only.accuracy < durations_only.chance + 0.12, durations_only


def test_gaze_uninformative_at_zero(probe_archives):
    result = gaze_feature_probe(probe_archives[0.0])
    assert result.accuracy < result.chance + 0.12, result
    truth, labels = probe_archives[0.0].truth(), probe_archives[0.0].labels()
    from scipy.stats import chi2_contingency

    assert chi2_contingency(pd.crosstab(labels["class_name"], truth["gaze_behaviour"]).to_numpy()).pvalue > 0.001


def test_no_linear_shortcut_and_findings_are_in_the_images(probe_archives):
    arch = probe_archives[1.0]
    for result in (raw_pixel_probe(arch), global_stats_probe(arch)):
        assert result.accuracy < result.chance + 0.15, result
    imgs, truth = load_images(arch), arch.truth()
    labels = arch.labels()["label"].to_numpy()
    scale = arch.config.display_scale
    yy, xx = np.mgrid[0:imgs.shape[1], 0:imgs.shape[2]]
    # nodules are bright discs; a cavity's lumen is darker than its wall
    nodule, lumen, wall = [], [], []
    for k in np.flatnonzero(labels > 0):
        x, y, r = truth["finding_x"][k] / scale, truth["finding_y"][k] / scale, truth["finding_radius"][k] / scale
        d = np.hypot(xx - x, yy - y)
        ring = imgs[k][(d > r - 1) & (d < r + 1)].mean()
        if labels[k] == 1:
            nodule.append(imgs[k][d < r * 0.7].mean() - imgs[k][(d > r + 2) & (d < r + 5)].mean())
        elif labels[k] == 2:
            lumen.append(imgs[k][d < 0.4 * r].mean())
            wall.append(ring)
    assert np.mean(nodule) > 0.03 and np.mean(wall) - np.mean(lumen) > 0.03
    assert truth.loc[labels == 0, "finding_x"].isna().all()


@pytest.mark.parametrize("change, message", [(dict(n_images=2), "n_images must be at least 4"),
                                             (dict(informativeness=-0.1), r"informativeness must be in \[0, 1\]"),
                                             (dict(readers_per_image=7), "readers_per_image must be between 1 and n_readers=6"),
                                             (dict(episode_fixations=2), "episode_fixations must be an integer >= 3")])
def test_bad_config(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        generate_chest(tmp_path / "x", replace(SMALL, **change))


def test_episode_length_sets_how_much_of_a_reading_carries_the_class(tmp_path):
    short = generate_chest(tmp_path / "short", replace(SMALL, episode_fixations=6))
    long = generate_chest(tmp_path / "long", SMALL)
    assert SMALL.episode_fixations == EPISODE_FIXATIONS
    # same images and readers: only the episode grows (the jitter of the simplified scanpaths aside)
    assert _digest(short.root)["labels.csv"] == _digest(long.root)["labels.csv"]
    grow = long.fixations().groupby("image_id").size() - short.fixations().groupby("image_id").size()
    assert (grow == EPISODE_FIXATIONS - 6).all()


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_chest(tmp_path, SMALL)

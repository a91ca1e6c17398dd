"""Sanity probes on a synthetic archive: what trivial features and gaze reveal about the class.

* `raw_pixel_probe`: a linear classifier on raw pixels. The classes should not be linearly
  separable from pixels alone (findings move around), or pre-training would be pointless.
* `global_stats_probe`: a classifier on global intensity statistics (mean, spread,
  percentiles). Near chance means no trivial shortcut.
* `gaze_feature_probe`: a classifier on simple scanpath statistics (fixation count, duration
  statistics, saccade amplitudes). Well above chance when gaze is informative, at chance when
  `informativeness=0`.

All three are linear (ridge) classifiers under stratified k-fold cross-validation and need scikit-learn (the ``train`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcgip_fast.synth.archive import SynthArchive


@dataclass(frozen=True)
class ProbeResult:
    """Cross-validated accuracy of one probe, next to the majority-class rate."""

    name: str
    accuracy: float
    accuracy_std: float
    chance: float
    n: int
    folds: int

    def __str__(self) -> str:
        return f"{self.name}: {self.accuracy:.3f} ± {self.accuracy_std:.3f} (chance {self.chance:.3f}, n={self.n})"


def load_images(archive: SynthArchive) -> np.ndarray:
    """All images as a float32 array (n, H, W) in [0, 1], in manifest order."""
    import cv2

    imgs = []
    for p in archive.image_paths():
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise FileNotFoundError(f"{p}: cannot read image")
        imgs.append(img)
    return np.stack(imgs).astype(np.float32) / 255.0


def _cv_accuracy(name: str, features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> ProbeResult:
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # A ridge classifier is linear and solves in closed form; its penalty is chosen by inner
    # leave-one-out CV over a wide grid, which gives the probe its best chance.
    model = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-2, 5, 15)))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, features, labels, cv=cv)
    chance = float(np.bincount(labels).max() / len(labels))
    return ProbeResult(name, float(scores.mean()), float(scores.std()), chance, len(labels), folds)


def raw_pixel_probe(archive: SynthArchive, folds: int = 5, seed: int = 0) -> ProbeResult:
    """Linear classifier on raw pixels (standardised per pixel), cross-validated."""
    imgs = load_images(archive)
    labels = archive.labels()["label"].to_numpy()
    return _cv_accuracy("raw-pixel linear probe", imgs.reshape(len(imgs), -1), labels, folds, seed)


def global_stats(images: np.ndarray) -> np.ndarray:
    """Per image: mean, standard deviation, and the 1, 5, 25, 50, 75, 95, 99th intensity percentiles."""
    flat = images.reshape(len(images), -1)
    pct = np.percentile(flat, [1, 5, 25, 50, 75, 95, 99], axis=1).T
    return np.column_stack([flat.mean(1), flat.std(1), pct])


def global_stats_probe(archive: SynthArchive, folds: int = 5, seed: int = 0) -> ProbeResult:
    """Linear classifier on global intensity statistics, cross-validated."""
    labels = archive.labels()["label"].to_numpy()
    return _cv_accuracy("global-statistics probe", global_stats(load_images(archive)), labels, folds, seed)


def gaze_features(archive: SynthArchive) -> np.ndarray:
    """Per image (first reading): fixation count, total, mean, max and spread of durations,
    share of fixations over 0.5 s, mean and median saccade amplitude (fraction of the display)."""
    g = archive.gaze(with_readers=False) if archive.config.readers_per_image == 1 else archive.gaze()
    seen: dict[str, np.ndarray] = {}
    display = archive.config.display
    for sp in g:
        if sp.image_id in seen:
            continue
        amp = np.hypot(np.diff(sp.x), np.diff(sp.y)) / display
        d = sp.duration
        seen[sp.image_id] = np.array(
            [len(d), d.sum(), d.mean(), d.max(), d.std(), (d > 0.5).mean(), amp.mean(), np.median(amp)]
        )
    ids = archive.manifest()["image_id"]
    return np.stack([seen[i] for i in ids])


def gaze_feature_probe(archive: SynthArchive, folds: int = 5, seed: int = 0) -> ProbeResult:
    """Linear classifier on simple scanpath statistics, cross-validated."""
    labels = archive.labels()["label"].to_numpy()
    return _cv_accuracy("gaze-statistics probe", gaze_features(archive), labels, folds, seed)

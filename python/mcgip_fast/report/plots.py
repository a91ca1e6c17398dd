"""PNG figures for the demo report (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_examples(
    images: Sequence[np.ndarray],
    heatmaps: Sequence[np.ndarray],
    scanpaths: Sequence[np.ndarray],
    titles: Sequence[str],
    path: Path,
    display: float,
) -> Path:
    """Each example as two panels: the image with its scanpath, and the image under its gaze map.

    `scanpaths` are (n, 3) arrays of x, y (display pixels) and duration (s); `display` is the
    display side the coordinates refer to.
    """
    plt = _plt()
    n = len(images)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(2 * rows, cols, figsize=(2.4 * cols, 4.9 * rows), squeeze=False)
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        top, bottom = axes[2 * r, c], axes[2 * r + 1, c]
        top.axis("off")
        bottom.axis("off")
        if k >= n:
            continue
        img = images[k]
        size = img.shape[0]
        s = size / display
        sp = scanpaths[k]
        top.imshow(img, cmap="gray", vmin=0, vmax=255)
        top.plot(sp[:, 0] * s - 0.5, sp[:, 1] * s - 0.5, "-", color="#ffd400", lw=0.8, alpha=0.8)
        top.scatter(sp[:, 0] * s - 0.5, sp[:, 1] * s - 0.5, s=20 + 120 * sp[:, 2], facecolors="none",
                    edgecolors="#ff3b30", linewidths=0.9)
        top.set_title(titles[k], fontsize=8)
        bottom.imshow(img, cmap="gray", vmin=0, vmax=255)
        bottom.imshow(heatmaps[k], cmap="inferno", alpha=0.55, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
        bottom.set_title("gaze map", fontsize=7)
    fig.suptitle("Synthetic images with simulated reader gaze (circle size = fixation duration)", fontsize=9)
    return _save(fig, path)


def plot_score_distributions(samples: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Histogram per scheme of pair scores, same-class pairs against different-class pairs.

    `samples` maps a scheme name to (scores, same_class) for randomly drawn pairs.
    """
    plt = _plt()
    n = max(1, len(samples))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.8), squeeze=False)
    for ax, (name, (scores, same)) in zip(axes[0], samples.items()):
        scores = np.asarray(scores, dtype=np.float64)
        same = np.asarray(same, dtype=bool)
        ok = np.isfinite(scores)
        if ok.sum() == 0:
            ax.set_title(f"{name}: no finite scores", fontsize=8)
            continue
        bins = np.linspace(np.quantile(scores[ok], 0.005), np.quantile(scores[ok], 0.995) + 1e-12, 40)
        ax.hist(scores[ok & ~same], bins=bins, density=True, alpha=0.55, label="different class", color="#8e8e93")
        ax.hist(scores[ok & same], bins=bins, density=True, alpha=0.65, label="same class", color="#0a84ff")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("gaze similarity", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Gaze similarity of random image pairs (hidden labels used only for this plot)", fontsize=9)
    return _save(fig, path)


def plot_losses(curves: Mapping[str, Sequence[float]], path: Path, smooth: int = 5) -> Path:
    """Training loss per step for every run (moving average over `smooth` steps), one panel per method."""
    plt = _plt()
    methods = sorted({name.split(" ")[0] for name in curves})
    fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(4.2 * max(1, len(methods)), 3.0), squeeze=False)
    for ax, method in zip(axes[0], methods):
        for name, loss in curves.items():
            if name.split(" ")[0] != method or len(loss) == 0:
                continue
            y = np.asarray(loss, dtype=np.float64)
            if smooth > 1 and len(y) >= smooth:
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            ax.plot(np.arange(len(y)) + 1, y, label=name, lw=1.2)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle("Pre-training loss (the losses of baseline and +McGIP are not on the same scale: +McGIP has more positives)", fontsize=8)
    return _save(fig, path)


def plot_probe_bars(summary: pd.DataFrame, path: Path, chance: float | None = None) -> Path:
    """Bar chart of probe accuracy (mean ± std) per run, one group per probe.

    `summary` has columns run, probe, accuracy_mean, accuracy_std.
    """
    plt = _plt()
    probes = list(dict.fromkeys(summary["probe"]))
    runs = list(dict.fromkeys(summary["run"]))
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(probes) * max(1, len(runs)) * 0.45, 3.2))
    colours = plt.get_cmap("tab10")
    for k, run in enumerate(runs):
        sub = summary[summary["run"] == run].set_index("probe").reindex(probes)
        x = np.arange(len(probes)) + (k - (len(runs) - 1) / 2) * width
        ax.bar(x, sub["accuracy_mean"], width, yerr=sub["accuracy_std"].fillna(0), capsize=2, label=run, color=colours(k % 10))
    if chance is not None:
        ax.axhline(chance, color="k", ls=":", lw=1, label="chance")
    ax.set_xticks(np.arange(len(probes)), probes, fontsize=8)
    ax.set_ylabel("test accuracy", fontsize=8)
    lo = np.nanmin(summary["accuracy_mean"] - summary["accuracy_std"].fillna(0))
    ax.set_ylim(max(0.0, min(lo, chance or lo) - 0.05), min(1.0, np.nanmax(summary["accuracy_mean"]) + 0.08))
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Frozen-encoder probes (mean ± std over pre-training x evaluation seeds)", fontsize=9)
    return _save(fig, path)


def plot_study(full: pd.DataFrame, path: Path, chance_top1: float) -> Path:
    """Real-data study: retrieval top-1 and ROC-AUC per measure."""
    plt = _plt()
    d = full.sort_values("auc")
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 0.28 * len(d) + 1.2), sharey=True)
    axes[0].barh(d["measure"], d["top1"], color="#0a84ff")
    axes[0].axvline(chance_top1, color="k", ls=":", lw=1)
    axes[0].set_xlabel("retrieval top-1 (dotted: chance)", fontsize=8)
    axes[1].barh(d["measure"], d["auc"], color="#34c759")
    axes[1].axvline(0.5, color="k", ls=":", lw=1)
    axes[1].set_xlim(0.4, 1.0)
    axes[1].set_xlabel("ROC-AUC, same segment", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
    fig.suptitle("studyforrest: is the other viewer's scanpath on the same segment the most similar?", fontsize=9)
    return _save(fig, path)

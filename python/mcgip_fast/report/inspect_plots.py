"""PNG figures for `mcgip inspect` (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcgip_fast.report.plots import _plt, _save


def plot_summary(result, path: Path) -> Path:
    """Histograms of fixations per scanpath, fixation durations and scanpaths per image."""
    plt = _plt()
    hists = result.summary["histograms"]
    fig, axes = plt.subplots(1, len(hists), figsize=(4 * len(hists), 3))
    for ax, (name, h) in zip(np.atleast_1d(axes), hists.items()):
        edges = np.asarray(h["edges"])
        ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color="#4477aa")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("count")
    fig.suptitle(f"{result.source}: {result.summary['scanpaths']:,} scanpaths, {result.summary['images']:,} images", fontsize=10)
    return _save(fig, path)


def plot_agreement(rows: list[dict], path: Path, title: str, top1: bool) -> Path:
    """AUC per scheme / measure (chance 0.5); with `top1`, top-1 against its chance too."""
    plt = _plt()
    names = [r["measure"] for r in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2 if top1 else 1, figsize=(10 if top1 else 5.5, 0.35 * len(rows) + 1.2), squeeze=False)
    ax = axes[0, 0]
    ax.barh(y, [r["auc"] for r in rows], color="#4477aa")
    ax.axvline(0.5, color="k", lw=0.8, ls="--", label="chance")
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("ROC-AUC")
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    if top1:
        ax = axes[0, 1]
        ax.barh(y, [r["top1"] for r in rows], color="#228833", label="top-1")
        ax.scatter([r["top1_chance"] for r in rows], y, color="k", marker="|", s=200, label="chance")
        ax.set_yticks(y, [])
        ax.set_xlim(0, 1)
        ax.set_xlabel("top-1 retrieval")
        ax.invert_yaxis()
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_mined(mined: dict, path: Path) -> Path:
    """Mined-positive precision per scheme against chance and the verdict thresholds."""
    from mcgip_fast.report.inspect import LIFT_INFORMATIVE, LIFT_WEAK

    plt = _plt()
    schemes = list(mined)
    x = np.arange(len(schemes))
    fig, ax = plt.subplots(figsize=(1.6 * len(schemes) + 2.5, 3.2))
    ax.bar(x, [mined[s]["precision"] for s in schemes], color="#4477aa", label="mined precision")
    chance = np.mean([mined[s]["chance"] for s in schemes])
    ax.axhline(chance, color="k", ls="--", lw=0.8, label=f"chance {chance:.3f}")
    ax.axhline(min(1, LIFT_WEAK * chance), color="#ccbb44", lw=0.8, label=f"{LIFT_WEAK}x chance (weak)")
    ax.axhline(min(1, LIFT_INFORMATIVE * chance), color="#228833", lw=0.8, label=f"{LIFT_INFORMATIVE}x chance (informative)")
    ax.set_xticks(x, schemes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("precision (same label)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("Positives mined between different images", fontsize=10)
    return _save(fig, path)

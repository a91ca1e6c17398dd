"""The score-distribution plot `mcgip mine` writes next to the pair file."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_scores(pairs, report, path: str | Path) -> Path:
    """PNG: histogram of sampled pair scores (all pairs) and of selected pairs, threshold marked.

    For threshold and percentile rules the line is the threshold; for top-k rules it is the
    lowest selected score (the effective cut).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    sample = None if report is None or report.sample_scores is None else np.asarray(report.sample_scores)
    if sample is not None:
        sample = sample[~np.isnan(sample)]
    bins = 50
    if sample is not None and len(sample):
        ax.hist(sample, bins=bins, density=True, alpha=0.5, label=f"random pairs (n={len(sample)})")
    if pairs.n_edges:
        ax.hist(pairs.scores, bins=bins, density=True, alpha=0.5, label=f"selected pairs (n={pairs.n_pairs})")
    cut = None if report is None else report.threshold
    label = "threshold"
    if cut is None and pairs.n_edges:
        cut, label = float(pairs.scores.min()), "lowest selected score"
    if cut is not None:
        ax.axvline(cut, color="k", linestyle="--", label=f"{label} {cut:.4g}")
    scheme = pairs.params.get("scheme", "?")
    rule = pairs.params.get("rule", {})
    ax.set_xlabel(f"{scheme} similarity (higher = more similar)")
    ax.set_ylabel("density")
    ax.set_title(f"{scheme}, rule {rule.get('name', '?')}: {pairs.n_pairs} pairs among {len(pairs)} items")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return path

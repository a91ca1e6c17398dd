"""Stage 5, write: the selected edges become a `PositivePairs` graph, and the run its summary.

The pair file format itself lives in `pairs` (the trainer reads it too); `summary` is what the
CLI writes next to it as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .pairs import PositivePairs
from .plan import MiningReport


def to_pairs(plan, row: np.ndarray, col: np.ndarray, score: np.ndarray) -> PositivePairs:
    archive = plan.archive
    return PositivePairs.from_edges(
        archive.keys, row, col, score, symmetric=plan.scheme.symmetric, params=plan.params, archive_hash=archive.content_hash()
    )


def summary(pairs: PositivePairs, report: MiningReport | None = None, bins: int = 20) -> dict[str, Any]:
    """Pairs found, degree distribution, score histogram, time and (with candidates) recall: the CLI's summary."""
    deg = pairs.degrees()
    out: dict[str, Any] = {
        "items": len(pairs),
        "pairs": pairs.n_pairs,
        "symmetric": pairs.symmetric,
        "degree": {
            "min": int(deg.min()) if len(deg) else 0,
            "median": float(np.median(deg)) if len(deg) else 0.0,
            "mean": float(deg.mean()) if len(deg) else 0.0,
            "max": int(deg.max()) if len(deg) else 0,
            "isolated_items": int((deg == 0).sum()),
            "histogram": {str(d): int(c) for d, c in zip(*np.unique(deg, return_counts=True))},
        },
        "params": pairs.params,
    }
    if pairs.n_edges:
        counts, edges = np.histogram(pairs.scores, bins=bins)
        out["score_histogram"] = {"bin_edges": edges.tolist(), "counts": counts.tolist()}
    if report is not None:
        out["report"] = {
            "n_items": report.n_items,
            "n_scorable": report.n_scorable,
            "skipped": report.skipped,
            "scored_pairs": report.scored_pairs,
            "nan_pairs": report.nan_pairs,
            "threshold": report.threshold,
            "tiles_total": report.tiles_total,
            "tiles_reused": report.tiles_reused,
            "engine": report.engine,
            "seconds": round(report.seconds, 3),
        }
        if report.candidates is not None:
            out["report"]["candidates"] = report.candidates
    return out


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def summary_json(pairs: PositivePairs, report: MiningReport | None = None) -> str:
    return json.dumps(summary(pairs, report), indent=1, default=_json_default)

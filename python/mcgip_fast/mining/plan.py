"""Stage 1, plan: check the request and fix what a run will do before any tile is scored.

`make_plan` builds the scheme and the rule, prepares the scheme's state (packed archive,
skipped items), turns the rule into a tile selection (``("topk", k)`` or ``("above", θ)``,
the percentile rule's θ estimated from a deterministic sample of pairs) and describes the run
in `params` (recorded in the pairs file and in the work directory's manifest).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .aggregate import aggregate_readers
from .rules import Percentile, Threshold, make_rule, rule_params
from .schemes import make_scheme

#: Upper bound on one tile's score buffer (rows x half the items x 8 bytes).
TILE_BUFFER_BYTES = 64 << 20


@dataclass
class MiningReport:
    """What a run did: counts, skipped items, the threshold used, time. Not saved in the pairs file."""

    n_items: int = 0
    n_scorable: int = 0
    skipped: list[str] = field(default_factory=list)
    scored_pairs: int = 0
    nan_pairs: int = 0
    threshold: float | None = None
    sample_scores: np.ndarray | None = None
    tiles_total: int = 0
    tiles_reused: int = 0
    engine: str = "local"
    seconds: float = 0.0
    #: What the candidate stage did and the recall it measured (None for exhaustive mining).
    candidates: dict[str, Any] | None = None

    def summary_lines(self) -> list[str]:
        lines = [
            f"items: {self.n_items} ({self.n_scorable} scorable, {len(self.skipped)} skipped)",
            f"pairs scored: {self.scored_pairs}" + (f", {self.nan_pairs} gave NaN (not selected)" if self.nan_pairs else ""),
            f"tiles: {self.tiles_total} ({self.tiles_reused} reused from the work directory)",
        ]
        if self.threshold is not None:
            lines.append(f"threshold: score > {self.threshold:.6g}")
        if self.candidates is not None:
            lines.extend(candidate_lines(self.candidates))
        for s in self.skipped[:10]:
            lines.append(f"  skipped {s}")
        if len(self.skipped) > 10:
            lines.append(f"  ... and {len(self.skipped) - 10} more skipped")
        return lines


def candidate_lines(c: dict[str, Any]) -> list[str]:
    if c.get("method") != "ann":
        return [f"candidates: {c.get('method')} ({c.get('chosen_by', '')})"]
    lines = [f"candidates: {c.get('method')}, {c.get('per_item')} per item, "
             f"{c.get('exact_fraction', float('nan')):.3%} of all pairs scored exactly "
             f"({c.get('exact_fraction_with_recall_queries', float('nan')):.3%} with the fit and recall queries)"]
    rec = c.get("recall")
    if rec:
        lines.append(
            f"recall ({rec['what']}): {rec['value']:.4f} on {rec['queries']} random queries scored exactly one-vs-all"
            + (f" (95% interval {rec['ci95'][0]:.4f}-{rec['ci95'][1]:.4f})" if rec.get("ci95") else "")
        )
    return lines


@dataclass
class MiningPlan:
    """Everything later stages need: what to score, how to select, how the run is described."""

    archive: Any
    scheme: Any
    rule: Any
    state: Any
    select: tuple[str, float]
    report: MiningReport
    params: dict[str, Any]
    seed: int = 0

    @property
    def n(self) -> int:
        return len(self.archive)

    def manifest(self, tiles: list[tuple[int, int, int]]) -> dict[str, Any]:
        """What the work directory records to recognise this very run on resume."""
        return {
            "params": self.params,
            "n_items": self.n,
            "ids_sha256": ids_digest(self.archive.keys),
            "archive_hash": self.archive.content_hash(),
            "tiles": [[a, b] for _, a, b in tiles],
        }


def plan_tiles(n: int, tile_rows: int | None) -> list[tuple[int, int, int]]:
    """Split rows 0..n into tiles (tile_id, start, end)."""
    if tile_rows is None:
        by_memory = max(1, TILE_BUFFER_BYTES // max(1, 8 * (n // 2 + 1)))
        tile_rows = int(min(by_memory, max(16, math.ceil(n / 32))))
    if isinstance(tile_rows, bool) or not isinstance(tile_rows, int) or tile_rows < 1:
        raise ValueError(f"tile_rows must be a positive integer, got {tile_rows!r}")
    return [(t, a, min(a + tile_rows, n)) for t, a in enumerate(range(0, n, tile_rows))]


def sample_pairs(active: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`size` random unordered pairs of distinct active items, deterministic in `seed`.

    When the archive has no more pairs than `size`, every pair is returned once (exact percentile).
    """
    idx = np.flatnonzero(active).astype(np.int64)
    m = len(idx)
    total = m * (m - 1) // 2
    if total <= size:
        a, b = np.triu_indices(m, 1)
        return idx[a], idx[b]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, size)
    b = rng.integers(0, m - 1, size)
    b += b >= a
    return idx[np.minimum(a, b)], idx[np.maximum(a, b)]


def ids_digest(keys) -> str:
    h = hashlib.sha256()
    for s in keys:
        h.update(str(s).encode() + b"\0")
    return h.hexdigest()


def make_plan(
    archive,
    scheme,
    rule,
    *,
    k: int | None,
    threshold: float | None,
    percentile: float | None,
    sample_size: int,
    seed: int,
    scheme_options: dict[str, Any] | None,
    engine: str,
    threads: int | None,
    score_sample: int,
    aggregate: str | None = "auto",
) -> MiningPlan:
    scheme = make_scheme(scheme, **(scheme_options or {}))
    # several readers per image: images become the items, scored as a reduction over readers
    archive, scheme = aggregate_readers(archive, scheme, aggregate)
    rule = make_rule(rule, k=k, threshold=threshold, percentile=percentile, sample_size=sample_size, seed=seed)
    n = len(archive)
    if n == 0:
        raise ValueError("the archive is empty: nothing to mine")
    scheme.bind(archive)
    low, high = scheme.score_range()
    rule.validate(low, high, scheme.name)
    state = scheme.prepare(archive)
    report = MiningReport(n_items=n, n_scorable=int(state.active.sum()), skipped=list(state.skipped), engine=engine)
    if report.n_scorable < 2:
        raise ValueError(
            f"only {report.n_scorable} of {n} items can be scored by {scheme.name}; need at least 2 "
            f"(skipped: {'; '.join(report.skipped[:5])})"
        )
    select = _selection(scheme, rule, state, report, seed, threads, score_sample)
    if hasattr(scheme, "check_select"):
        scheme.check_select(select[0])
    params = {
        **scheme.params(),
        "rule": rule_params(rule),
        "threshold_used": report.threshold,
        "candidates": getattr(scheme, "candidates", "exhaustive"),
        "self_pairs": "excluded",
        "skipped_items": len(report.skipped),
    }
    return MiningPlan(archive, scheme, rule, state, select, report, params, seed)


def _selection(scheme, rule, state, report: MiningReport, seed: int, threads, score_sample: int) -> tuple[str, float]:
    """The rule as a tile selection; a percentile becomes a threshold estimated from sampled pairs."""
    if isinstance(rule, Percentile) or score_sample > 0:
        size = rule.sample_size if isinstance(rule, Percentile) else score_sample
        sample_seed = rule.seed if isinstance(rule, Percentile) else seed
        si, sj = sample_pairs(state.active, size, sample_seed)
        report.sample_scores = scheme.score_pairs(state, si, sj, threads)
    if isinstance(rule, Percentile):
        finite = report.sample_scores[~np.isnan(report.sample_scores)]
        if len(finite) == 0:
            raise ValueError("every sampled pair scored NaN: cannot estimate a percentile threshold")
        report.threshold = float(np.percentile(finite, rule.q))
        return ("above", report.threshold)
    if isinstance(rule, Threshold):
        report.threshold = float(rule.theta)
        return ("above", report.threshold)
    return ("topk", int(rule.k))

"""`mine()`: gaze similarities to a sparse `PositivePairs` graph, in tiles, resumable, local or on Dask.

The work is split into tiles of rows. Each tile returns sparse candidate edges (never a dense
block of scores); finished tiles can be written atomically to a work directory, so a killed run
resumes where it stopped and produces byte-identical output. Results never depend on the tile
order, the thread count or the engine.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from . import engines
from .aggregate import aggregate_readers
from .pairs import PositivePairs
from .rules import MutualTopK, Percentile, Threshold, TopK, make_rule, rule_params
from .schemes import TileResult, make_scheme
from .workdir import Workdir

#: Test hook: SIGKILL this process after writing this many tiles (used to test resume).
KILL_AFTER_ENV = "MCGIP_MINE_KILL_AFTER_TILES"

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

    def summary_lines(self) -> list[str]:
        lines = [
            f"items: {self.n_items} ({self.n_scorable} scorable, {len(self.skipped)} skipped)",
            f"pairs scored: {self.scored_pairs}" + (f", {self.nan_pairs} gave NaN (not selected)" if self.nan_pairs else ""),
            f"tiles: {self.tiles_total} ({self.tiles_reused} reused from the work directory)",
        ]
        if self.threshold is not None:
            lines.append(f"threshold: score > {self.threshold:.6g}")
        for s in self.skipped[:10]:
            lines.append(f"  skipped {s}")
        if len(self.skipped) > 10:
            lines.append(f"  ... and {len(self.skipped) - 10} more skipped")
        return lines


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


def _ids_digest(keys) -> str:
    h = hashlib.sha256()
    for s in keys:
        h.update(str(s).encode() + b"\0")
    return h.hexdigest()


class _TopKAccumulator:
    """Running per-row top-k over candidate edges: memory O(n k) plus what is pending."""

    def __init__(self, n: int, k: int, threads: int | None) -> None:
        self.n, self.k, self.threads = n, k, threads
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending = 0

    def add(self, r: TileResult) -> None:
        self.parts.append((r.row, r.col, r.score))
        self.pending += len(r.row)
        if self.pending > 4 * self.n * self.k + 1_000_000:
            self._fold()

    def _fold(self) -> None:
        if not self.parts:
            return
        row, col, score = (np.concatenate([p[q] for p in self.parts]) for q in range(3))
        merged = _core.mining_merge_topk(self.n, self.k, row, col, score, threads=self.threads)
        self.parts = [merged]
        self.pending = len(merged[0])

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._fold()
        if not self.parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        return self.parts[0]


class _HitsAccumulator:
    """Edges of every tile, concatenated at the end (one column at a time, to keep the peak low)."""

    def __init__(self) -> None:
        self.columns: tuple[list, list, list] = ([], [], [])

    def add(self, r: TileResult) -> None:
        for column, values in zip(self.columns, (r.row, r.col, r.score)):
            column.append(values)

    def result(self):
        out = []
        for column, dtype in zip(self.columns, (np.int64, np.int64, np.float64)):
            out.append(np.concatenate(column) if column else np.zeros(0, dtype))
            column.clear()
        return tuple(out)


def _progress_bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="pair", unit_scale=True, smoothing=0.1, dynamic_ncols=True)


def mine(
    archive,
    scheme: str | Any = "multimatch",
    rule: str | Any = "topk",
    *,
    k: int | None = None,
    threshold: float | None = None,
    percentile: float | None = None,
    sample_size: int = 100_000,
    seed: int = 0,
    scheme_options: dict[str, Any] | None = None,
    tile_rows: int | None = None,
    workdir: str | os.PathLike | None = None,
    resume: bool = False,
    engine: str = "local",
    scheduler: Any = None,
    threads: int | None = None,
    progress: bool = False,
    score_sample: int = 0,
    aggregate: str | None = "auto",
) -> PositivePairs:
    """Mine gaze-positive pairs from an archive.

    Args:
        archive: a `GazeArchive` (scanpaths), or `ItemArrays` of heatmaps / dHash codes for ``hu`` and ``dhash``.
        scheme: ``"multimatch"``, ``"hu"`` or ``"dhash"`` (or a scheme object). Its options go in
            `scheme_options` (see `MultiMatchScheme`, `HuScheme`, `DHashScheme`), e.g.
            ``{"weights": (0.1, 0.1, 0.1, 0.1, 0.6), "screen": (1920, 1080), "grouping": True,
            "tdir": 45, "tdur": 0.1, "tamp": 160, "prefilter": None}`` for MultiMatch,
            ``{"method": "I2" | "official", "weight": 0.5, "candidates": "exact" | "faiss"}`` for Hu,
            ``{"method": "hamming" | "cosine", "hash_size": 8, "candidates": ...}`` for dHash.
            Scores are always similarities (higher = more similar); see `mcgip_fast.mining.schemes`.
        rule: ``"threshold"`` (needs `threshold`; pairs with score > threshold), ``"topk"`` (needs `k`;
            union of each item's top-k), ``"mutual"`` (needs `k`; mutual top-k) or ``"percentile"``
            (needs `percentile` in (0, 100); threshold estimated from `sample_size` random pairs drawn with `seed`).
        tile_rows: rows per tile (default: chosen from the archive size so a tile's buffer stays under 64 MB).
        workdir: directory to write each finished tile into (atomically); with `resume`, finished
            tiles are reused after checking that the directory belongs to this very run.
        engine: ``"local"`` or ``"dask"`` (then `scheduler` is a ``tcp://`` address or a `distributed.Client`).
        threads: rayon threads per tile (None: all cores). Results never depend on it.
        progress: show a progress bar with an ETA on stderr.
        score_sample: also score this many random pairs for the report's score distribution.
        aggregate: several readers per image (see `mcgip_fast.mining.aggregate`): ``"same-reader"``
            (image pairs scored by the mean over their common readers), ``"all-pairs"`` (mean over
            every pair of readings), ``"pooled"`` (hu/dhash: one heatmap per image) or ``"none"``
            (items are readings, keyed ``"image|reader"``). ``"auto"`` (default): "same-reader" when
            the archive has readers and they overlap, "all-pairs" when they do not, "none" without
            readers. Aggregated pairs are keyed by image id, as `mcgip train` needs.

    Returns:
        `PositivePairs` (symmetric for symmetric schemes), with ``.report`` (a `MiningReport`) attached.

    Raises:
        ValueError: unknown scheme, rule or engine; k <= 0; threshold outside the score range;
            an empty archive or one with fewer than 2 scorable items; a work directory from a
            different run; a corrupt tile file.

    Example:
        >>> import mcgip_fast as mf
        >>> archive = mf.data.load_studyforrest(segments=range(5))     # 5 segments x 2 viewers
        >>> pairs = mine(archive, scheme="multimatch", rule="topk", k=2)  # viewers overlap: same-reader
        >>> pairs.n_pairs, list(pairs.ids[:2])                         # union of each segment's 2 best
        (7, ['segment_0', 'segment_1'])
        >>> readings = mine(archive, scheme="multimatch", rule="topk", k=2, aggregate="none")
        >>> readings.n_pairs, list(readings.ids[:2])                   # one item per (segment, viewer)
        (15, ['segment_0|sub-01', 'segment_0|sub-19'])
    """
    t0 = time.perf_counter()
    if engine not in engines.ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(engines.ENGINES)}")
    scheme = make_scheme(scheme, **(scheme_options or {}))
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

    # Percentile: a threshold estimated from a deterministic sample of pairs.
    sample_scores = None
    if isinstance(rule, Percentile) or score_sample > 0:
        size = rule.sample_size if isinstance(rule, Percentile) else score_sample
        sample_seed = rule.seed if isinstance(rule, Percentile) else seed
        si, sj = sample_pairs(state.active, size, sample_seed)
        sample_scores = scheme.score_pairs(state, si, sj, threads)
        report.sample_scores = sample_scores
    if isinstance(rule, Percentile):
        finite = sample_scores[~np.isnan(sample_scores)]
        if len(finite) == 0:
            raise ValueError("every sampled pair scored NaN: cannot estimate a percentile threshold")
        theta = float(np.percentile(finite, rule.q))
        select = ("above", theta)
    elif isinstance(rule, Threshold):
        theta = float(rule.theta)
        select = ("above", theta)
    else:
        theta = None
        select = ("topk", int(rule.k))
    report.threshold = theta
    if hasattr(scheme, "check_select"):
        scheme.check_select(select[0])

    params = {
        **scheme.params(),
        "rule": rule_params(rule),
        "threshold_used": theta,
        "candidates": getattr(scheme, "candidates", "exhaustive"),
        "self_pairs": "excluded",
        "skipped_items": len(report.skipped),
    }
    if tile_rows is None and hasattr(scheme, "tile_rows_hint"):
        tile_rows = scheme.tile_rows_hint(n)
    tiles = plan_tiles(n, tile_rows)
    report.tiles_total = len(tiles)
    wd = None
    done: set[int] = set()
    if workdir is not None:
        wd = Workdir(workdir)
        wd.start(
            {
                "params": params,
                "n_items": n,
                "ids_sha256": _ids_digest(archive.keys),
                "archive_hash": archive.content_hash(),
                "tiles": [[a, b] for _, a, b in tiles],
            },
            resume,
        )
        if resume:
            done = set(wd.finished(len(tiles)))
    elif resume:
        raise ValueError("resume needs a work directory (workdir=...)")

    # Schemes whose tiles return each of their rows' final top-k need no merge across tiles.
    complete_rows = getattr(scheme, "complete_rows", False)
    acc = _HitsAccumulator() if select[0] == "above" or complete_rows else _TopKAccumulator(n, select[1], threads)
    total_work = sum(scheme.tile_work(state, a, b) for _, a, b in tiles)
    bar = _progress_bar(progress, total_work, f"{scheme.name} {rule.name}")
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    written = 0

    def on_done(tile_id: int, start: int, end: int, result: TileResult, fresh: bool = True) -> None:
        nonlocal written
        if fresh and wd is not None:
            wd.write_tile(tile_id, start, end, result)
            # Round-trip through the file so a fresh run and a resumed run merge identical data.
            result = wd.read_tile(tile_id, start, end)
            written += 1
            if kill_after and written >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
        report.scored_pairs += result.scored_pairs
        report.nan_pairs += result.nan_pairs
        acc.add(result)
        if bar is not None:
            bar.update(scheme.tile_work(state, start, end))

    for tile_id, start, end in tiles:
        if tile_id in done:
            on_done(tile_id, start, end, wd.read_tile(tile_id, start, end), fresh=False)
            report.tiles_reused += 1
    todo = [t for t in tiles if t[0] not in done]
    try:
        if engine == "local":
            engines.run_local(scheme, state, todo, select, threads, on_done)
        else:
            engines.run_dask(scheme, state, todo, select, threads, on_done, scheduler)
    finally:
        if bar is not None:
            bar.close()

    row, col, score = acc.result()
    del acc
    if isinstance(rule, MutualTopK):
        keys = row * n + col
        reverse = col * n + row
        keep = np.isin(reverse, keys)
        row, col, score = row[keep], col[keep], score[keep]
    pairs = PositivePairs.from_edges(
        archive.keys, row, col, score, symmetric=scheme.symmetric, params=params, archive_hash=archive.content_hash()
    )
    report.seconds = time.perf_counter() - t0
    pairs.report = report
    return pairs


def summary(pairs: PositivePairs, report: MiningReport | None = None, bins: int = 20) -> dict[str, Any]:
    """Pairs found, degree distribution, score histogram and time: the CLI's summary (JSON-ready)."""
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
    return out


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def summary_json(pairs: PositivePairs, report: MiningReport | None = None) -> str:
    return json.dumps(summary(pairs, report), indent=1, default=_json_default)

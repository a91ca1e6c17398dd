"""Stage 4, select: scored edges become the rule's positives.

Within a tile, `select_scored` keeps a listed tile's hits above θ or each row's top-k. Across
tiles, an accumulator merges what the tiles return (order-independent, so the result never
depends on tile order, engine or threads) and `finish` applies the rule's last step (mutual).
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .rules import MutualTopK
from .schemes import TileResult


def select_scored(n: int, row: np.ndarray, col: np.ndarray, score: np.ndarray, select, threads, scored: int) -> TileResult:
    """A tile's explicitly scored pairs: NaNs counted and dropped, then hits above θ or rows' top-k."""
    nan = np.isnan(score)
    row, col, score = row[~nan], col[~nan], score[~nan]
    kind, value = select
    if kind == "above":
        hit = score > value
        return TileResult(row[hit], col[hit], score[hit], scored, int(nan.sum()))
    row, col, score = _core.mining_merge_topk(n, int(value), row, col, score, threads=threads)
    return TileResult(row, col, score, scored, int(nan.sum()))


class TopKAccumulator:
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


class HitsAccumulator:
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


def accumulator(n: int, select, complete_rows: bool, threads):
    """Hits are concatenated; top-k is merged across tiles unless every tile returns its rows' final top-k."""
    return HitsAccumulator() if select[0] == "above" or complete_rows else TopKAccumulator(n, int(select[1]), threads)


def finish(rule, n: int, row: np.ndarray, col: np.ndarray, score: np.ndarray):
    """The rule's last step on the merged edges: a mutual top-k keeps (i, j) only when (j, i) is there too."""
    if isinstance(rule, MutualTopK):
        keys = row * n + col
        reverse = col * n + row
        keep = np.isin(reverse, keys)
        row, col, score = row[keep], col[keep], score[keep]
    return row, col, score

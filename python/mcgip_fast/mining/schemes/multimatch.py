"""The ``multimatch`` scheme: weighted MultiMatch (multimatch-gaze `docomparison` in Rust)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _core
from ...gaze.hints import option
from .base import TileResult, _aligned, register
from .reader_weights import READER_INVARIANT, ReaderWeightFit, fit_reader_invariant_weights

#: McGIP's weights for (vector, direction, length, position, duration).
MCGIP_WEIGHTS = (0.1, 0.1, 0.1, 0.1, 0.6)


@dataclass
class MultiMatchState:
    offsets: np.ndarray
    x: np.ndarray
    y: np.ndarray
    duration: np.ndarray
    active: np.ndarray
    skipped: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.offsets) - 1


@register
class MultiMatchScheme:
    """Weighted MultiMatch, all pairs exhaustively in tiles (or the candidate stage's pairs).

    Scanpaths with fewer than 3 fixations (MultiMatch is undefined for them) are skipped and
    listed in the report; pairs that still score NaN are counted.

    ``prefilter=C`` is the older candidate generator (each item's C nearest heatmap feature
    vectors, see `mcgip_fast.mining.candidates.HeatmapPrefilter`); it stays a scheme option so
    that its pair files and work directories keep their parameters. ``mine(candidates="ann")``
    is the one that keeps the exact top-k.

    ``weights="reader-invariant"`` fits the five weights on the archive when it is bound, from its
    reader ids and no labels (`mcgip_fast.mining.schemes.reader_weights`): dimensions on which
    scanpaths by the same reader are alike whatever the image get little weight. The fitted weights
    and the fit's numbers are in the pairs' params.
    """

    name = "multimatch"
    symmetric = True

    def __init__(
        self,
        weights: tuple[float, ...] = MCGIP_WEIGHTS,
        screen: tuple[float, float] | None = None,
        grouping: bool = False,
        tdir: float = 0.0,
        tdur: float = 0.0,
        tamp: float = 0.0,
        prefilter: int | None = None,
        heatmap_size: int = 32,
        weight_fit_pairs: int = 4000,
        weight_fit_seed: int = 0,
    ) -> None:
        if prefilter is not None and (isinstance(prefilter, bool) or not isinstance(prefilter, int) or prefilter < 1):
            raise ValueError(f"prefilter must be a positive number of candidates per item, got {prefilter!r}")
        if isinstance(heatmap_size, bool) or not isinstance(heatmap_size, int) or heatmap_size < 4:
            raise ValueError(f"heatmap_size must be an integer >= 4, got {heatmap_size!r}")
        self.prefilter = prefilter
        self.heatmap_size = heatmap_size
        self.candidates = "exhaustive" if prefilter is None else f"faiss heatmap prefilter, {prefilter} per item, exact multimatch re-rank"
        self.weight_fit: ReaderWeightFit | None = None
        self.weight_fit_pairs, self.weight_fit_seed = weight_fit_pairs, int(weight_fit_seed)
        if isinstance(weights, str):
            if weights != READER_INVARIANT:
                raise ValueError(f"weights must be 5 numbers or {READER_INVARIANT!r}, got {weights!r}")
            self.weights_rule = READER_INVARIANT
            self.weights: tuple[float, ...] | None = None  # fitted in `bind`
        else:
            w = tuple(float(v) for v in weights)
            if len(w) != 5 or any(not np.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
                raise ValueError(f"weights must be 5 non-negative numbers with a positive sum (or {READER_INVARIANT!r}), "
                                 f"got {weights!r}")
            self.weights_rule = "given"
            self.weights = w
        self.screen = None if screen is None else (float(screen[0]), float(screen[1]))
        self.grouping = bool(grouping)
        self.tdir, self.tdur, self.tamp = float(tdir), float(tdur), float(tamp)

    def _fitted(self) -> tuple[float, ...]:
        if self.weights is None:
            raise RuntimeError("weights='reader-invariant' are fitted when the scheme is bound to an archive (bind)")
        return self.weights

    def score_range(self) -> tuple[float, float]:
        return 0.0, float(sum(self._fitted()))

    def params(self) -> dict[str, Any]:
        extra = {} if self.prefilter is None else {
            "prefilter": self.prefilter,
            "prefilter_features": f"{self.heatmap_size}x{self.heatmap_size} duration-weighted gaze maps (sigma {self.heatmap_size / 16:g} px), unit length, weighted by the spatial weights, next to 9 log-duration quantiles weighted by the duration weight; L2 distance",
        }
        return {
            "scheme": self.name,
            "score": "sum(weights * [vector, direction, length, position, duration]), higher = more similar",
            **extra,
            "weights": list(self._fitted()),
            **({} if self.weight_fit is None else {"weights_from": READER_INVARIANT, "weight_fit": self.weight_fit.params()}),
            "screen": None if self.screen is None else list(self.screen),
            "grouping": self.grouping,
            "tdir": self.tdir,
            "tdur": self.tdur,
            "tamp": self.tamp,
        }

    def bind(self, archive) -> None:
        """Take the screen from the archive when none was given."""
        if not hasattr(archive, "packed"):
            raise ValueError("the multimatch scheme needs a GazeArchive of scanpaths")
        if self.screen is None:
            if archive.screen is None:
                raise ValueError(f"multimatch needs the screen size: pass {option('screen')} (width, height) or use an archive that has one")
            self.screen = (float(archive.screen[0]), float(archive.screen[1]))
        if self.weights_rule == READER_INVARIANT and self.weight_fit is None:
            self.weight_fit = fit_reader_invariant_weights(self, archive, pairs=self.weight_fit_pairs, seed=self.weight_fit_seed)
            self.weights = self.weight_fit.weights

    def prepare(self, archive) -> MultiMatchState:
        offsets, x, y, d = (np.ascontiguousarray(a) for a in archive.packed())
        lengths = np.diff(offsets)
        active = lengths >= 3
        keys = archive.keys
        skipped = [f"{keys[i]!r}: {lengths[i]} fixations (MultiMatch needs at least 3)" for i in np.flatnonzero(~active)]
        return MultiMatchState(offsets, x, y, d, np.ascontiguousarray(active), skipped)

    def multimatch_params(self) -> tuple:
        """(screen, grouping, tdir, tdur, tamp), as the `_core` multimatch functions take them."""
        return (self.screen, self.grouping, self.tdir, self.tdur, self.tamp)

    def tile(self, state: MultiMatchState, start: int, end: int, select: tuple[str, float], threads: int | None = None) -> TileResult:
        kind, value = select
        state = _aligned(state)
        (row, col, score), scored, nan = _core.mining_multimatch_tile(
            state, state.active, start, end, self.multimatch_params(), list(self._fitted()),
            k=int(value) if kind == "topk" else None,
            threshold=float(value) if kind == "above" else None,
            threads=threads,
        )
        return TileResult(row, col, score, int(scored), int(nan))

    def tile_work(self, state: MultiMatchState, start: int, end: int) -> int:
        return int(_core.mining_tile_pairs(state.n, start, end))

    def score_pairs(self, state: MultiMatchState, i: np.ndarray, j: np.ndarray, threads: int | None = None) -> np.ndarray:
        i = np.ascontiguousarray(i, dtype=np.int64)
        j = np.ascontiguousarray(j, dtype=np.int64)
        state = _aligned(state)
        return _core.mining_multimatch_pairs(state, i, j, self.multimatch_params(), list(self._fitted()), threads=threads)

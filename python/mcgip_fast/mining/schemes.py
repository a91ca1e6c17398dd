"""Similarity schemes for mining: what a score means and how a tile of rows is scored.

A scheme turns the input (a `GazeArchive`, or `ItemArrays` of heatmaps / dHash codes) into a
picklable *state* once (`prepare`), then scores tiles of rows against all items (`tile`) and
explicit pairs (`score_pairs`). Engines ship the state to workers once and call `tile` per tile.

Every scheme reports **similarities, higher = more similar**:

| scheme | score | range |
| --- | --- | --- |
| ``multimatch`` | ``sum(w[d] * dim[d])`` over (vector, direction, length, position, duration) | [0, sum(w)] |
| ``dhash`` hamming | ``1 - hamming / bits`` | [0, 1] |
| ``dhash`` cosine (official) | ``popcount(a & b) / sqrt(popcount(a) popcount(b))`` (0 if a code is all zero) | [0, 1] |
| ``hu`` I1 / I2 / I3 | ``1 / (1 + matchShapes distance)`` | [0, 1] |
| ``hu`` official | ``1 - (w d(Hu1) + (1 - w) d(M00))``, ``d(a, b) = |a - b| / max(|a|, |b|)`` | [0, 1] |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from ..gaze.hints import option

SCHEMES = ("multimatch", "hu", "dhash")

#: McGIP's weights for (vector, direction, length, position, duration).
MCGIP_WEIGHTS = (0.1, 0.1, 0.1, 0.1, 0.6)


@dataclass
class TileResult:
    """Candidate edges of one tile (see `mcgip_core::tiles`) and its counters."""

    row: np.ndarray
    col: np.ndarray
    score: np.ndarray
    scored_pairs: int = 0
    nan_pairs: int = 0


@dataclass
class ItemArrays:
    """Items given as arrays instead of scanpaths: heatmaps (N, H, W) or dHash codes (N, bytes) uint8."""

    ids: np.ndarray
    data: np.ndarray
    kind: str = "heatmaps"

    def __post_init__(self) -> None:
        self.ids = np.asarray([str(i) for i in self.ids], dtype=object)
        self.data = np.ascontiguousarray(self.data)
        if self.kind not in ("heatmaps", "codes"):
            raise ValueError(f"kind must be 'heatmaps' or 'codes', got {self.kind!r}")
        if len(self.ids) != len(self.data):
            raise ValueError(f"{len(self.ids)} ids for {len(self.data)} {self.kind}")
        if len(set(self.ids.tolist())) != len(self.ids):
            raise ValueError("item ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def keys(self) -> np.ndarray:
        return self.ids

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for s in self.ids:
            h.update(str(s).encode() + b"\0")
        h.update(f"{self.kind}{self.data.dtype}{self.data.shape}".encode())
        h.update(self.data.tobytes())
        return h.hexdigest()


@dataclass
class MultiMatchState:
    offsets: np.ndarray
    x: np.ndarray
    y: np.ndarray
    duration: np.ndarray
    active: np.ndarray
    skipped: list[str] = field(default_factory=list)
    #: Heatmap feature vectors (N, D) float32 for the FAISS prefilter, else None.
    features: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    def __getstate__(self):
        # The FAISS index is rebuilt where it is needed (it does not pickle); everything else ships.
        return {k: v for k, v in vars(self).items() if k != "_index"}


class MultiMatchScheme:
    """Weighted MultiMatch (multimatch-gaze `docomparison` in Rust), all pairs exhaustively in tiles.

    Scanpaths with fewer than 3 fixations (MultiMatch is undefined for them) are skipped and
    listed in the report; pairs that still score NaN are counted.
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
    ) -> None:
        if prefilter is not None and (isinstance(prefilter, bool) or not isinstance(prefilter, int) or prefilter < 1):
            raise ValueError(f"prefilter must be a positive number of candidates per item, got {prefilter!r}")
        if isinstance(heatmap_size, bool) or not isinstance(heatmap_size, int) or heatmap_size < 4:
            raise ValueError(f"heatmap_size must be an integer >= 4, got {heatmap_size!r}")
        self.prefilter = prefilter
        self.heatmap_size = heatmap_size
        self.candidates = "exhaustive" if prefilter is None else f"faiss heatmap prefilter, {prefilter} per item, exact multimatch re-rank"
        w = tuple(float(v) for v in weights)
        if len(w) != 5 or any(not np.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
            raise ValueError(f"weights must be 5 non-negative numbers with a positive sum, got {weights!r}")
        self.weights = w
        self.screen = None if screen is None else (float(screen[0]), float(screen[1]))
        self.grouping = bool(grouping)
        self.tdir, self.tdur, self.tamp = float(tdir), float(tdur), float(tamp)

    def score_range(self) -> tuple[float, float]:
        return 0.0, float(sum(self.weights))

    def params(self) -> dict[str, Any]:
        extra = {} if self.prefilter is None else {
            "prefilter": self.prefilter,
            "prefilter_features": f"{self.heatmap_size}x{self.heatmap_size} duration-weighted gaze maps (sigma {self.heatmap_size / 16:g} px), unit length, weighted by the spatial weights, next to 9 log-duration quantiles weighted by the duration weight; L2 distance",
        }
        return {
            "scheme": self.name,
            "score": "sum(weights * [vector, direction, length, position, duration]), higher = more similar",
            **extra,
            "weights": list(self.weights),
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

    def prepare(self, archive) -> MultiMatchState:
        offsets, x, y, d = (np.ascontiguousarray(a) for a in archive.packed())
        lengths = np.diff(offsets)
        active = lengths >= 3
        keys = archive.keys
        skipped = [f"{keys[i]!r}: {lengths[i]} fixations (MultiMatch needs at least 3)" for i in np.flatnonzero(~active)]
        features = None
        if self.prefilter is not None:
            from mcgip_fast.gaze.heatmaps import render_heatmaps

            size = self.heatmap_size
            maps = render_heatmaps(archive, (size, size), sigma=size / 16, normalise="none")
            spatial = maps.reshape(len(maps), -1).astype(np.float64)
            spatial /= np.maximum(np.linalg.norm(spatial, axis=1, keepdims=True), 1e-300)
            # Duration quantiles stand in for the duration dimension (McGIP weighs it 0.6).
            q = np.linspace(0.1, 0.9, 9)
            durs = np.zeros((len(lengths), len(q)))
            for i in np.flatnonzero(lengths > 0):
                durs[i] = np.quantile(np.log(d[offsets[i]:offsets[i + 1]]), q)
            durs -= durs.mean(axis=0)
            durs /= max(float(np.sqrt((durs**2).sum(axis=1).mean())), 1e-12)
            w = np.asarray(self.weights) / sum(self.weights)
            features = np.hstack([np.sqrt(w[:4].sum()) * spatial, np.sqrt(w[4]) * durs]).astype(np.float32)
        return MultiMatchState(offsets, x, y, d, np.ascontiguousarray(active), skipped, features)

    def _multimatch_params(self) -> tuple:
        """(screen, grouping, tdir, tdur, tamp), as the `_core` multimatch functions take them."""
        return (self.screen, self.grouping, self.tdir, self.tdur, self.tamp)

    def tile(self, state: MultiMatchState, start: int, end: int, select: tuple[str, float], threads: int | None = None) -> TileResult:
        kind, value = select
        state = _aligned(state)
        if self.prefilter is not None:
            return self._prefilter_tile(state, start, end, select, threads)
        (row, col, score), scored, nan = _core.mining_multimatch_tile(
            state, state.active, start, end, self._multimatch_params(), list(self.weights),
            k=int(value) if kind == "topk" else None,
            threshold=float(value) if kind == "above" else None,
            threads=threads,
        )
        return TileResult(row, col, score, int(scored), int(nan))

    def tile_work(self, state: MultiMatchState, start: int, end: int) -> int:
        if self.prefilter is not None:
            return (end - start) * min(self.prefilter, state.n - 1)
        return int(_core.mining_tile_pairs(state.n, start, end))

    def _prefilter_tile(self, state: MultiMatchState, start: int, end: int, select, threads) -> TileResult:
        """Candidates: each row's nearest feature vectors (FAISS, exact L2); then exact MultiMatch."""
        import faiss

        index = getattr(state, "_index", None)
        if index is None:
            index = faiss.IndexFlatL2(state.features.shape[1])
            index.add(state.features)
            state._index = index
        c = min(self.prefilter, state.n - 1)
        _, nbr = index.search(state.features[start:end], c + 1)
        rows = np.repeat(np.arange(start, end, dtype=np.int64), c + 1)
        cols = nbr.reshape(-1).astype(np.int64)
        keep = (cols >= 0) & (cols != rows) & state.active[rows] & state.active[np.maximum(cols, 0)]
        rows, cols = rows[keep], cols[keep]
        # Each unordered candidate pair once, in a fixed order.
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
        key = np.unique(lo * state.n + hi)
        lo, hi = key // state.n, key % state.n
        s = self.score_pairs(state, lo, hi, threads)
        nan = np.isnan(s)
        lo, hi, s = lo[~nan], hi[~nan], s[~nan]
        kind, value = select
        if kind == "above":
            hit = s > value
            return TileResult(lo[hit], hi[hit], s[hit], len(key), int(nan.sum()))
        # Both directions are candidates for the rows' top-k (the score is symmetric).
        row, col, score = _core.mining_merge_topk(
            state.n, int(value), np.concatenate([lo, hi]), np.concatenate([hi, lo]), np.concatenate([s, s]), threads=threads
        )
        return TileResult(row, col, score, len(key), int(nan.sum()))

    def score_pairs(self, state: MultiMatchState, i: np.ndarray, j: np.ndarray, threads: int | None = None) -> np.ndarray:
        i = np.ascontiguousarray(i, dtype=np.int64)
        j = np.ascontiguousarray(j, dtype=np.int64)
        state = _aligned(state)
        return _core.mining_multimatch_pairs(state, i, j, self._multimatch_params(), list(self.weights), threads=threads)


def _aligned(state):
    """Arrays unpickled by Dask can be unaligned views of a network buffer; Rust needs aligned, contiguous ones."""
    for name, value in vars(state).items():
        if isinstance(value, np.ndarray) and not (value.flags.c_contiguous and value.flags.aligned):
            setattr(state, name, np.require(value, requirements=["C", "A"]).copy())
    return state


def make_scheme(scheme: str | Any, **options: Any):
    """Build a scheme from its name; options not meant for it raise a clear error."""
    if not isinstance(scheme, str):
        return scheme
    if scheme == "multimatch":
        cls = MultiMatchScheme
    elif scheme in ("hu", "dhash"):
        from . import feature_schemes

        cls = feature_schemes.HuScheme if scheme == "hu" else feature_schemes.DHashScheme
    else:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    import inspect

    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    extra = {k for k, v in options.items() if v is not None} - allowed
    if extra:
        raise ValueError(f"scheme {scheme!r} takes no option(s) {sorted(extra)}; it takes {sorted(allowed)}")
    return cls(**{k: v for k, v in options.items() if v is not None})

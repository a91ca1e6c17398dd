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

    @property
    def n(self) -> int:
        return len(self.offsets) - 1


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
    ) -> None:
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
        return {
            "scheme": self.name,
            "score": "sum(weights * [vector, direction, length, position, duration]), higher = more similar",
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
                raise ValueError("multimatch needs the screen size: pass screen=(width, height) or use an archive that has one")
            self.screen = (float(archive.screen[0]), float(archive.screen[1]))

    def prepare(self, archive) -> MultiMatchState:
        offsets, x, y, d = (np.ascontiguousarray(a) for a in archive.packed())
        lengths = np.diff(offsets)
        active = lengths >= 3
        keys = archive.keys
        skipped = [f"{keys[i]!r}: {lengths[i]} fixations (MultiMatch needs at least 3)" for i in np.flatnonzero(~active)]
        return MultiMatchState(offsets, x, y, d, np.ascontiguousarray(active), skipped)

    def _kw(self) -> dict[str, Any]:
        return dict(screen=self.screen, grouping=self.grouping, tdir=self.tdir, tdur=self.tdur, tamp=self.tamp, weights=list(self.weights))

    def tile(self, state: MultiMatchState, start: int, end: int, select: tuple[str, float], threads: int | None = None) -> TileResult:
        kind, value = select
        (row, col, score), scored, nan = _core.mining_multimatch_tile(
            state.offsets, state.x, state.y, state.duration, state.active, start, end,
            k=int(value) if kind == "topk" else None,
            threshold=float(value) if kind == "above" else None,
            threads=threads,
            **self._kw(),
        )
        return TileResult(row, col, score, int(scored), int(nan))

    def tile_work(self, state: MultiMatchState, start: int, end: int) -> int:
        return int(_core.mining_tile_pairs(state.n, start, end))

    def score_pairs(self, state: MultiMatchState, i: np.ndarray, j: np.ndarray, threads: int | None = None) -> np.ndarray:
        i = np.ascontiguousarray(i, dtype=np.int64)
        j = np.ascontiguousarray(j, dtype=np.int64)
        return _core.mining_multimatch_pairs(state.offsets, state.x, state.y, state.duration, i, j, threads=threads, **self._kw())


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

"""Heatmap schemes for mining: Hu moments (`hu`) and difference hashes (`dhash`).

Input is a `GazeArchive` (heatmaps are rendered with `render_heatmaps`, ``heatmap_size`` square,
duration-weighted) or `ItemArrays` of heatmaps (or, for dHash, ready codes). Items whose heatmap
is empty (no fixation on the map) are skipped and reported: their codes / moments are all zero
and would otherwise pair with each other as "identical".

Candidates:
- ``candidates="exact"`` (default): every pair. dHash Hamming top-k uses exact multi-index hashing
  in Rust (`mcgip_core::tiles::MultiIndex`: equal to a full scan, ties included), the threshold
  rule scans codes in Rust (`hamming_within` per tile of rows); cosine and Hu score a block of
  (tile rows x N), bounded to 64 MB, and select in Rust.
- ``candidates="faiss"``: FAISS retrieval (`mcgip_fast.mining.candidates.retrieval`): `BinaryIndex` (multi-hash,
  approximate) for dHash Hamming, `HuIndex` (flat L1 on log-Hu features, exact matchShapes re-rank of
  the candidates) for Hu I1/I2/I3. Approximate: may miss pairs, since L1 on log-Hu features only
  approximates matchShapes (recall is measured in the benchmarks). Both indexes are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _core
from .base import ItemArrays, TileResult, _aligned, register

HU_METHODS = ("I1", "I2", "I3", "official")
DHASH_METRICS = ("hamming", "cosine")
BLOCK_BYTES = 64 << 20


@dataclass
class FeatureState:
    data: np.ndarray  # codes (N, bytes) uint8, Hu (N, 7) or McGIP (M00, Hu1) (N, 2) float64
    active: np.ndarray
    skipped: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.data)

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k != "_index"}


def _pairwise_via_blocks(fn, data: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Scores of explicit pairs from a dense all-pairs function, via small diagonal blocks."""
    out = np.empty(len(i), dtype=np.float64)
    for s in range(0, len(i), chunk):
        a, b = i[s : s + chunk], j[s : s + chunk]
        out[s : s + chunk] = np.diagonal(np.asarray(fn(data[a], data[b]), dtype=np.float64))
    return out


class _HeatmapScheme:
    symmetric = True
    candidates = "exact"
    #: A top-k tile returns the final top-k of each of its rows (rows are scored against all items).
    complete_rows = True

    def __init__(self, candidates: str = "exact", heatmap_size: int = 64) -> None:
        if candidates not in ("exact", "faiss"):
            raise ValueError(f"candidates must be 'exact' or 'faiss', got {candidates!r}")
        if isinstance(heatmap_size, bool) or not isinstance(heatmap_size, int) or heatmap_size < 4:
            raise ValueError(f"heatmap_size must be an integer >= 4, got {heatmap_size!r}")
        self.candidates = candidates
        self.heatmap_size = heatmap_size

    def score_range(self) -> tuple[float, float]:
        return 0.0, 1.0

    def bind(self, items) -> None:
        if not (hasattr(items, "packed") or isinstance(items, ItemArrays)):
            raise ValueError(f"the {self.name} scheme needs a GazeArchive or ItemArrays of heatmaps")

    def _heatmaps(self, items) -> tuple[np.ndarray | None, np.ndarray]:
        """(maps or None for codes, active mask) with empty maps marked inactive."""
        if isinstance(items, ItemArrays):
            if items.kind == "codes":
                return None, np.ones(len(items), dtype=bool)
            maps = np.asarray(items.data)
            if maps.ndim != 3:
                raise ValueError(f"heatmaps must be (N, H, W), got shape {maps.shape}")
        else:
            from mcgip_fast.gaze.heatmaps import render_heatmaps

            size = self.heatmap_size
            maps = render_heatmaps(items, (size, size), normalise="max")
        active = maps.reshape(len(maps), -1).max(axis=1) > 0
        return maps, active

    def _skipped(self, items, active: np.ndarray) -> list[str]:
        return [f"{items.keys[i]!r}: empty heatmap (no fixation on the map)" for i in np.flatnonzero(~active)]

    def tile_work(self, state: FeatureState, start: int, end: int) -> int:
        return (end - start) * state.n

    def tile_rows_hint(self, n: int) -> int:
        return int(max(1, min(BLOCK_BYTES // max(1, 8 * n), max(16, math.ceil(n / 32)))))

    def _block_tile(self, state, start, end, select, threads, block_fn, upper_only: bool) -> TileResult:
        block = np.ascontiguousarray(block_fn(state.data[start:end], state.data), dtype=np.float64)
        kind, value = select
        (row, col, score), scored, nan = _core.mining_select_block(
            block, start, state.active,
            k=int(value) if kind == "topk" else None, threshold=float(value) if kind == "above" else None,
            upper_only=upper_only, threads=threads,
        )
        return TileResult(row, col, score, int(scored), int(nan))


class DHashScheme(_HeatmapScheme):
    """dHash of gaze heatmaps (bit-exact with imagehash). Scores:

    - ``metric="hamming"``: ``1 - hamming / bits`` (so ``sim > θ`` is ``hamming < bits (1 - θ)``);
    - ``metric="cosine"`` (McGIP's): ``popcount(a & b) / sqrt(popcount(a) popcount(b))``.
    """

    name = "dhash"

    def __init__(self, method: str = "hamming", hash_size: int = 8, candidates: str = "exact", heatmap_size: int = 64) -> None:
        super().__init__(candidates, heatmap_size)
        if method not in DHASH_METRICS:
            raise ValueError(f"dhash method must be one of {', '.join(DHASH_METRICS)}, got {method!r}")
        if isinstance(hash_size, bool) or not isinstance(hash_size, int) or hash_size < 2:
            raise ValueError(f"hash_size must be an integer >= 2, got {hash_size!r}")
        if candidates == "faiss" and method != "hamming":
            raise ValueError("candidates='faiss' is available for dhash method 'hamming' only")
        self.method, self.hash_size = method, hash_size

    def params(self) -> dict[str, Any]:
        score = "1 - hamming/bits" if self.method == "hamming" else "popcount(a&b)/sqrt(popcount(a)*popcount(b))"
        return {"scheme": self.name, "method": self.method, "score": f"{score}, higher = more similar", "hash_size": self.hash_size,
                "heatmap_size": self.heatmap_size, "candidates": self.candidates}

    def prepare(self, items) -> FeatureState:
        maps, active = self._heatmaps(items)
        if maps is None:
            codes = np.ascontiguousarray(items.data)
            if codes.dtype != np.uint8 or codes.ndim != 2:
                raise ValueError(f"dHash codes must be (N, bytes) uint8, got {codes.dtype} {codes.shape}")
        else:
            from mcgip_fast.similarity.dhash import dhash

            codes = dhash(maps, self.hash_size)
        return FeatureState(codes, np.ascontiguousarray(active), self._skipped(items, active))

    def _bits(self, state) -> int:
        return state.data.shape[1] * 8

    def tile_rows_hint(self, n: int) -> int:
        if self.method == "hamming":  # no dense block; each tile rebuilds the hash tables (~N x 16 bytes)
            return int(max(256, math.ceil(n / 16)))
        return super().tile_rows_hint(n)

    def tile(self, state: FeatureState, start: int, end: int, select, threads=None) -> TileResult:
        state = _aligned(state)
        kind, value = select
        if self.method == "cosine":
            from mcgip_fast.similarity.dhash import bit_cosine

            return self._block_tile(state, start, end, select, threads, lambda a, b: bit_cosine(a, b, threads), upper_only=kind == "above")
        bits = self._bits(state)
        q = state.data[start:end]
        if kind == "topk":
            k = int(value)
            if self.candidates == "faiss":
                i, j, d = self._faiss_knn(state, q, min(k + 1, state.n))
                i = i + start
                scored = len(i)
            else:
                # Exact, by multi-index hashing (equal to a full scan, ties to the lower index).
                i, j, d = _core.mining_hamming_topk(state.data, start, end, k, state.active, threads)
                scored = int(state.active[start:end].sum()) * int(state.active.sum() - 1)
            keep = (i != j) & state.active[i] & state.active[j]
            i, j, s = i[keep], j[keep], 1.0 - d[keep].astype(np.float64) / bits
            row, col, score = _core.mining_merge_topk(state.n, k, i, j, s, threads=threads)
            return TileResult(row, col, score, scored, 0)
        # sim > θ  <=>  d < bits (1 - θ)  <=>  d <= radius
        radius = math.ceil(bits * (1.0 - float(value)) - 1e-9) - 1
        if radius < 0:
            return TileResult(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0, 0)
        if self.candidates == "faiss":
            i, j, d = self._faiss_index(state).radius(int(radius), q)
            i = i + start
            keep = j > i
            i, j, d = i[keep], j[keep], d[keep]
        else:
            i, j, d = _core.hamming_within(q, state.data, int(radius), start, threads)
            i = i + start
        keep = state.active[i] & state.active[j]
        i, j, s = i[keep], j[keep], 1.0 - d[keep].astype(np.float64) / bits
        hit = s > float(value)
        active_rows = np.flatnonzero(state.active[start:end]) + start
        scored = int(sum(int(state.active[r + 1 :].sum()) for r in active_rows))
        return TileResult(i[hit], j[hit], s[hit], scored, 0)

    def _faiss_index(self, state):
        index = getattr(state, "_index", None)
        if index is None:
            from ..candidates.retrieval import BinaryIndex

            index = BinaryIndex(exact=False, kind="multihash").build(state.data)
            state._index = index
        return index

    def _faiss_knn(self, state, q, k):
        return self._faiss_index(state).knn(k, q)

    def score_pairs(self, state: FeatureState, i: np.ndarray, j: np.ndarray, threads=None) -> np.ndarray:
        from mcgip_fast.similarity.dhash import bit_cosine, hamming

        state = _aligned(state)
        if self.method == "cosine":
            return _pairwise_via_blocks(lambda a, b: bit_cosine(a, b, threads), state.data, i, j)
        d = _pairwise_via_blocks(lambda a, b: hamming(a, b, threads), state.data, i, j)
        return 1.0 - d / self._bits(state)


class HuScheme(_HeatmapScheme):
    """Hu moments of gaze heatmaps. Scores:

    - ``method="I1" | "I2" | "I3"``: ``1 / (1 + cv2.matchShapes distance)``; I3 is asymmetric
      (the row item is OpenCV's first shape), so its pair graph is directed;
    - ``method="official"``: McGIP's ``1 - (w d(Hu1) + (1 - w) d(M00))`` on maps resized to 32x32.
    """

    name = "hu"

    def __init__(self, method: str = "I2", weight: float = 0.5, candidates: str = "exact", heatmap_size: int = 64) -> None:
        super().__init__(candidates, heatmap_size)
        if method not in HU_METHODS:
            raise ValueError(f"hu method must be one of {', '.join(HU_METHODS)}, got {method!r}")
        if not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight!r}")
        if candidates == "faiss" and method == "official":
            raise ValueError("candidates='faiss' is available for hu methods I1, I2 and I3 only")
        self.method, self.weight = method, float(weight)
        self.symmetric = method != "I3"

    def params(self) -> dict[str, Any]:
        if self.method == "official":
            score, extra = "1 - (w*d(Hu1) + (1-w)*d(M00)), d(a,b) = |a-b|/max(|a|,|b|), maps resized to 32x32", {"weight": self.weight}
        else:
            score, extra = f"1/(1 + cv2.matchShapes {self.method} distance)", {}
        return {"scheme": self.name, "method": self.method, "score": f"{score}, higher = more similar", **extra,
                "heatmap_size": self.heatmap_size, "candidates": self.candidates}

    def prepare(self, items) -> FeatureState:
        from mcgip_fast.similarity.hu import hu_moments, mcgip_hu_features

        maps, active = self._heatmaps(items)
        if maps is None:
            raise ValueError("the hu scheme needs heatmaps, not codes")
        data = mcgip_hu_features(maps) if self.method == "official" else hu_moments(maps)
        return FeatureState(np.ascontiguousarray(data, dtype=np.float64), np.ascontiguousarray(active), self._skipped(items, active))

    def _block_fn(self, threads):
        from mcgip_fast.similarity.hu import match_shapes, mcgip_hu_similarity

        if self.method == "official":
            return lambda a, b: mcgip_hu_similarity(a, b, self.weight, threads)
        return lambda a, b: 1.0 / (1.0 + match_shapes(a, b, self.method, threads))

    def tile(self, state: FeatureState, start: int, end: int, select, threads=None) -> TileResult:
        state = _aligned(state)
        kind, value = select
        if self.candidates == "faiss":
            return self._faiss_tile(state, start, end, select, threads)
        return self._block_tile(state, start, end, select, threads, self._block_fn(threads), upper_only=self.symmetric and kind == "above")

    def check_select(self, kind: str) -> None:
        if self.candidates == "faiss" and kind == "above" and self.method != "I2":
            raise ValueError("hu with candidates='faiss' supports threshold rules for method I2 only (an L1 radius); use topk or candidates='exact'")

    def _faiss_tile(self, state, start, end, select, threads) -> TileResult:
        from ..candidates.retrieval import HuIndex
        from mcgip_fast.similarity.hu import match_shapes_pairs

        index = getattr(state, "_index", None)
        if index is None:
            index = HuIndex(self.method, exact=True).build(state.data)  # flat L1: deterministic, unlike threaded HNSW builds
            state._index = index
        kind, value = select
        if kind == "topk":
            k = int(value)
            i, j, _ = index.knn(min(k + 1, state.n), state.data[start:end])
        else:
            # s > θ  <=>  matchShapes distance < 1/θ - 1 (I2: an L1 radius on log-Hu features).
            r = 1.0 / float(value) - 1.0 if float(value) > 0 else 1e300
            i, j, _ = index.radius(r, state.data[start:end])
        i = i + start
        keep = (i != j) & state.active[i] & state.active[j]
        i, j = i[keep], j[keep]
        s = 1.0 / (1.0 + match_shapes_pairs(state.data, state.data, i, j, self.method, threads))
        if kind == "above":
            hit = s > float(value)
            if self.symmetric:
                i, j = np.minimum(i, j), np.maximum(i, j)
            return TileResult(i[hit], j[hit], s[hit], len(s), 0)
        row, col, score = _core.mining_merge_topk(state.n, k, i, j, s, threads=threads)
        return TileResult(row, col, score, len(s), 0)

    def score_pairs(self, state: FeatureState, i: np.ndarray, j: np.ndarray, threads=None) -> np.ndarray:
        state = _aligned(state)
        if self.method == "official":
            return _pairwise_via_blocks(self._block_fn(threads), state.data, i, j)
        from mcgip_fast.similarity.hu import match_shapes_pairs

        return 1.0 / (1.0 + match_shapes_pairs(state.data, state.data, np.asarray(i), np.asarray(j), self.method, threads))


# Registered in the order the CLI lists them.
register(HuScheme)
register(DHashScheme)

"""Type stubs for the Rust extension `mcgip_fast._core` (hand-written; keep in step with rust/python/src)."""

from typing import Protocol

import numpy as np
import numpy.typing as npt

__version__: str

class _PackedColumns(Protocol):
    """Anything with a packed archive's columns, e.g. a `GazeArchive`."""

    offsets: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]

#: A packed archive: `GazeArchive.packed()`'s (offsets int64, x, y, duration float64), or an object
#: with those four attributes; C-contiguous.
Packed = (
    tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]
    | _PackedColumns
)

#: MultiMatch parameters: (screen (width, height), grouping, tdir, tdur, tamp).
MultiMatchParams = tuple[tuple[float, float], bool, float, float, float]

def default_threads() -> int:
    """Threads rayon uses when a call passes `threads=None` (all cores)."""

def _panic_for_tests() -> None: ...

# ---------------------------------------------------------------- heatmap family (rust/python/src/heatmap.rs)

def render_heatmaps(
    archive: Packed,
    height: int,
    width: int,
    ksize: int,
    sigma: float,
    weighting: str,
    normalise: str,
    outside: str,
    scale_x: float,
    scale_y: float,
    single_precision: bool,
    threads: int | None = None,
    out: npt.NDArray[np.float32] | None = None,
) -> tuple[npt.NDArray[np.float32], int]:
    """One Gaussian map per scanpath, (n, height, width) float32, plus the count of fixations off the maps.

    weighting: "duration" | "uniform" | "mark" (McGIP: pixel set to 1 once); normalise: "max" | "sum" |
    "none"; outside: "skip" | "clamp"; ksize 0 = round(8 sigma + 1) | 1; sigma <= 0 = OpenCV's automatic
    sigma for ksize. Equals cv2.GaussianBlur(impulses, (ksize, ksize), sigma, BORDER_REFLECT_101).
    With `out` (C-contiguous float32, shape (n, height, width)) the maps are written there and `out` is returned.
    """

def gaussian_kernel(ksize: int, sigma: float) -> npt.NDArray[np.float64]:
    """cv2.getGaussianKernel(ksize, sigma, CV_64F)."""

def auto_ksize(sigma: float) -> int:
    """cvRound(8 sigma + 1) | 1: OpenCV's kernel size for ksize=(0, 0) on a float image."""


# ---------------------------------------------------------------- multimatch family (rust/python/src/multimatch.rs)

_Columns = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]

def multimatch_pair(a: _Columns, b: _Columns, params: MultiMatchParams) -> npt.NDArray[np.float64]:
    """MultiMatch of one pair, each given as contiguous columns (x, y, duration): (5,) vector,
    direction, length, position, duration."""

def multimatch_pairs_packed(
    archive: Packed, pairs: npt.NDArray[np.int64], params: MultiMatchParams, threads: int | None = None
) -> npt.NDArray[np.float64]:
    """MultiMatch of (P, 2) index pairs into a packed archive: (P, 5)."""

def multimatch_one_vs_many_packed(
    archive: Packed, i: int, params: MultiMatchParams, threads: int | None = None
) -> npt.NDArray[np.float64]:
    """MultiMatch of scanpath i against all scanpaths of a packed archive: (N, 5)."""

def multimatch_matrix_packed(
    archive: Packed, params: MultiMatchParams, threads: int | None = None
) -> npt.NDArray[np.float64]:
    """All pairs of a small packed archive (N <= multimatch_matrix_max_n()): (N, N, 5)."""

def multimatch_matrix_max_n() -> int:
    """Largest N that multimatch_matrix_packed accepts."""


# ---------------------------------------------------------------- hashing family: moments, dHash, Hamming (rust/python/src/hashing.rs)

MapArray = npt.NDArray[np.uint8] | npt.NDArray[np.float32] | npt.NDArray[np.float64]

def raw_moments(maps: MapArray, normalise: str = "none", threads: int | None = None) -> npt.NDArray[np.float64]:
    """(N, H, W) C-contiguous maps -> (N, 10) raw moments m00, m10, m01, m20, m11, m02, m30, m21, m12, m03."""

def hu_moments(maps: MapArray, normalise: str = "none", threads: int | None = None) -> npt.NDArray[np.float64]:
    """(N, H, W) C-contiguous maps -> (N, 7) Hu invariants, as cv2.HuMoments(cv2.moments(m))."""

def match_shapes(
    hu_a: npt.NDArray[np.float64],
    hu_b: npt.NDArray[np.float64],
    method: str = "I1",
    threads: int | None = None,
    out: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """(N, 7), (M, 7) Hu vectors -> (N, M) cv2.matchShapes values (method 'I1', 'I2' or 'I3').

    out: optional C-contiguous (N, M) float64 buffer to fill (returned).
    """

def match_shapes_pairs(
    hu_a: npt.NDArray[np.float64],
    hu_b: npt.NDArray[np.float64],
    ia: npt.NDArray[np.int64],
    ib: npt.NDArray[np.int64],
    method: str = "I1",
    threads: int | None = None,
) -> npt.NDArray[np.float64]:
    """matchShapes(hu_a[ia[t]], hu_b[ib[t]]) for each t -> (len(ia),)."""

def mcgip_hu_similarity(
    features_a: npt.NDArray[np.float64], features_b: npt.NDArray[np.float64], w: float = 0.5, threads: int | None = None
) -> npt.NDArray[np.float64]:
    """(N, 2), (M, 2) rows of (M00, Hu1) -> (N, M) McGIP similarity 1 - (w d(Hu1) + (1-w) d(M00))."""

def hu_log_features(hu: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(N, 7) Hu -> (N, 7) sign(h) log10|h|, 0 where |h| <= 1e-5."""

def lanczos_resize(image: npt.NDArray[np.uint8], out_h: int, out_w: int) -> npt.NDArray[np.uint8]:
    """(H, W) uint8 -> (out_h, out_w) uint8, Pillow 13's Image.resize(..., LANCZOS), bit-exact."""

def dhash_gray(images: npt.NDArray[np.uint8], hash_size: int = 8, threads: int | None = None) -> npt.NDArray[np.uint8]:
    """(N, H, W) uint8 -> (N, ceil(hash_size^2 / 8)) packed dHash codes (imagehash-exact, MSB first)."""

def dhash_rgb(images: npt.NDArray[np.uint8], hash_size: int = 8, threads: int | None = None) -> npt.NDArray[np.uint8]:
    """(N, H, W, 3) uint8 RGB -> packed dHash codes, greyscaled as Pillow's convert('L')."""

def hamming_matrix(
    codes_a: npt.NDArray[np.uint8], codes_b: npt.NDArray[np.uint8], threads: int | None = None
) -> npt.NDArray[np.uint32]:
    """(N, B), (M, B) packed codes -> (N, M) Hamming distances."""

def bit_cosine(
    codes_a: npt.NDArray[np.uint8], codes_b: npt.NDArray[np.uint8], threads: int | None = None
) -> npt.NDArray[np.float64]:
    """(N, B), (M, B) packed codes -> (N, M) cosine between bit vectors (0 for an empty code)."""

def hamming_topk(
    queries: npt.NDArray[np.uint8],
    base: npt.NDArray[np.uint8],
    k: int,
    self_offset: int | None = None,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """k nearest base codes per query -> ((Q, k) indices, (Q, k) distances), sorted by (distance, index).

    self_offset=o: query i is base item o + i and is excluded (tiles of a self-join).
    """

def hamming_within(
    queries: npt.NDArray[np.uint8],
    base: npt.NDArray[np.uint8],
    radius: int,
    self_offset: int | None = None,
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """Sparse (i, j, dist) with dist <= radius (inclusive), sorted by i then j.

    self_offset=o: query i is base item o + i; only pairs with j > o + i are kept.
    """


# ---------------------------------------------------------------- mining family (rust/python/src/mining.rs)

_Edges = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]

def mining_multimatch_tile(
    archive: Packed,
    active: npt.NDArray[np.bool_],
    row_start: int,
    row_end: int,
    params: MultiMatchParams,
    weights: list[float],
    k: int | None = None,
    threshold: float | None = None,
    threads: int | None = None,
) -> tuple[_Edges, int, int]:
    """One tile (rows row_start..row_end, balanced circulant split) of all-pairs weighted MultiMatch.

    Returns ((row, col, score) candidate edges, scored_pairs, nan_pairs). Pass k for top-k
    candidates (both directions) or threshold for (min, max) pairs scoring above it."""

def mining_multimatch_pairs(
    archive: Packed,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    params: MultiMatchParams,
    weights: list[float],
    threads: int | None = None,
) -> npt.NDArray[np.float64]:
    """Weighted MultiMatch of explicit pairs, each scored as (min(i, j), max(i, j))."""

def mining_scanpath_embedding(
    archive: Packed, params: MultiMatchParams, log_duration_range: tuple[float, float], threads: int | None = None
) -> npt.NDArray[np.float32]:
    """(N, width) scanpath embeddings whose distances track MultiMatch (`mcgip_core::embedding`); zeros for unscorable scanpaths."""

def mining_embedding_blocks() -> list[tuple[str, int]]:
    """(name, width) of each embedding block, in column order."""

def mining_merge_topk(
    n: int, k: int, row: npt.NDArray[np.int64], col: npt.NDArray[np.int64], score: npt.NDArray[np.float64], threads: int | None = None
) -> _Edges:
    """Each row's top-k of candidate edges: sorted by row, best first, ties to the smaller column."""

def mining_select_block(
    block: npt.NDArray[np.float64],
    row_start: int,
    active: npt.NDArray[np.bool_],
    k: int | None = None,
    threshold: float | None = None,
    upper_only: bool = False,
    threads: int | None = None,
) -> tuple[_Edges, int, int]:
    """Top-k per row or pairs above a threshold from a dense (rows, n) block of scores."""

def mining_tile_pairs(n: int, row_start: int, row_end: int) -> int:
    """Unordered pairs owned by rows row_start..row_end in the circulant split (a tile's work)."""

def mining_hamming_topk(
    codes: npt.NDArray[np.uint8], row_start: int, row_end: int, k: int, active: npt.NDArray[np.bool_], threads: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """Exact Hamming top-k of rows row_start..row_end among the other active codes (multi-index
    hashing; equal to a full scan, ties to the lower index): (row, col, distance)."""

"""Hu-moment similarity of gaze heatmaps (unstructured images), exact to OpenCV.

- :func:`hu_moments` equals ``cv2.HuMoments(cv2.moments(img))`` per map;
- :func:`match_shapes` equals ``cv2.matchShapes(a, b, method, 0)`` for every pair, from cached
  Hu vectors (no moments recomputed);
- :func:`mcgip_hu_features` and :func:`mcgip_hu_similarity` are the official McGIP variant.

**Intensity scale matters.** Hu invariants are invariant to translation, scale and rotation of
the *shape*, not to the *intensity*: for a map ``c·I`` each normalised moment ``nu_pq`` is
multiplied by ``c^(-(p+q)/2)``. A heatmap rendered with its peak at 1 and the same heatmap scaled
to 0..255 give Hu1 about 250 times apart. So every entry point takes ``normalise``:

- ``"none"`` (default): the values as given, what ``cv2.moments`` sees;
- ``"max"``: each map divided by its maximum (peak 1);
- ``"sum"``: each map divided by its sum (``m00 = 1``).

Use the same choice for every map you compare.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mcgip_fast import _core

Normalise = Literal["none", "max", "sum"]
Method = Literal["I1", "I2", "I3"]

_MAP_DTYPES = (np.uint8, np.float32, np.float64)


def _as_maps(heatmaps: np.ndarray, name: str = "heatmaps") -> np.ndarray:
    """Validate (N, H, W) or (H, W) maps of uint8/float32/float64; return a C-contiguous (N, H, W) view."""
    arr = np.asarray(heatmaps)
    if arr.dtype not in _MAP_DTYPES:
        raise ValueError(f"{name} must be uint8, float32 or float64, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be an (N, H, W) stack or one (H, W) map, got {arr.ndim} dimensions {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    # NaN / infinity are detected in Rust, inside the moment pass (no extra sweep here).
    return np.ascontiguousarray(arr)


def _check_normalise(normalise: str) -> None:
    if normalise not in ("none", "max", "sum"):
        raise ValueError(f"normalise must be 'none', 'max' or 'sum', got {normalise!r}")


def raw_moments(heatmaps: np.ndarray, threads: int | None = None, *, normalise: Normalise = "none") -> np.ndarray:
    """Raw image moments, OpenCV order ``m00, m10, m01, m20, m11, m02, m30, m21, m12, m03``.

    Args:
        heatmaps: (N, H, W) or (H, W) array, uint8, float32 or float64, finite.
        normalise: intensity scaling applied first (see the module docs).
        threads: worker threads (None: all cores).

    Returns:
        (N, 10) float64; ``m_pq = Σ I(y, x)·x^p·y^q`` with x the column, as ``cv2.moments``.
    """
    _check_normalise(normalise)
    return _core.raw_moments(_as_maps(heatmaps), normalise, threads)


def hu_moments(heatmaps: np.ndarray, threads: int | None = None, *, normalise: Normalise = "none") -> np.ndarray:
    """The seven Hu invariants of each map, equal to ``cv2.HuMoments(cv2.moments(img)).ravel()``.

    Raw moments are accumulated in float64, then central and normalised moments and the
    invariants are formed in OpenCV's order of operations. Parallel over maps.

    Args:
        heatmaps: (N, H, W) or (H, W) array, uint8, float32 or float64, finite.
        normalise: ``"none"`` (as ``cv2``), ``"max"`` or ``"sum"``; see the module docs.
        threads: worker threads (None: all cores).

    Returns:
        (N, 7) float64. An all-zero map gives seven zeros (OpenCV's convention).

    Raises:
        ValueError: wrong dtype or number of dimensions, an empty array, NaN or infinity.
    """
    _check_normalise(normalise)
    return _core.hu_moments(_as_maps(heatmaps), normalise, threads)


def _as_hu(hu: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(hu)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 7:
        raise ValueError(f"{name} must be (N, 7) Hu vectors, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} holds NaN")
    return arr


def match_shapes(
    hu_a: np.ndarray,
    hu_b: np.ndarray | None = None,
    method: Method = "I1",
    threads: int | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``cv2.matchShapes`` for all pairs, from cached Hu vectors.

    ``out[i, j] == cv2.matchShapes(map_a[i], map_b[j], method, 0)`` where ``hu_a``/``hu_b`` are
    :func:`hu_moments` of those maps. With ``s = sign(h)·log10|h|``, and a component counting
    only when both ``|h| > 1e-5``:

    - ``"I1"``: ``Σ |1/s_b − 1/s_a|``
    - ``"I2"``: ``Σ |s_b − s_a|``
    - ``"I3"``: ``max |(s_a − s_b)/s_a|`` (asymmetric: ``a`` is OpenCV's first argument)

    If exactly one of the two Hu vectors is all zero the result is ``DBL_MAX``
    (``np.finfo(float).max``), as in OpenCV; two all-zero vectors give 0.

    Args:
        hu_a: (N, 7) Hu vectors (or one (7,) vector).
        hu_b: (M, 7) Hu vectors; None compares ``hu_a`` with itself.
        method: ``"I1"``, ``"I2"`` or ``"I3"``.
        threads: worker threads (None: all cores).
        out: optional (N, M) float64 C-contiguous array to write into (reusing one buffer across
            tiles avoids the page faults of a fresh allocation).

    Returns:
        (N, M) float64 (``out`` when given). Dense: for archives, tile the rows or use
        :mod:`mcgip_fast.mining.candidates.retrieval`.
    """
    a = _as_hu(hu_a, "hu_a")
    b = a if hu_b is None else _as_hu(hu_b, "hu_b")
    if method not in ("I1", "I2", "I3"):
        raise ValueError(f"method must be 'I1', 'I2' or 'I3', got {method!r}")
    if out is not None and (not isinstance(out, np.ndarray) or out.dtype != np.float64 or not out.flags.c_contiguous):
        raise ValueError("out must be a C-contiguous float64 numpy array")
    return _core.match_shapes(a, b, method, threads, out)


def match_shapes_pairs(
    hu_a: np.ndarray,
    hu_b: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    method: Method = "I1",
    threads: int | None = None,
) -> np.ndarray:
    """``match_shapes(hu_a[ia[t]], hu_b[ib[t]])`` for a list of index pairs (sparse re-ranking).

    Returns:
        (len(ia),) float64, same values as the matching entries of :func:`match_shapes`.
    """
    a, b = _as_hu(hu_a, "hu_a"), _as_hu(hu_b, "hu_b")
    ia = np.ascontiguousarray(ia, dtype=np.int64).ravel()
    ib = np.ascontiguousarray(ib, dtype=np.int64).ravel()
    if method not in ("I1", "I2", "I3"):
        raise ValueError(f"method must be 'I1', 'I2' or 'I3', got {method!r}")
    return _core.match_shapes_pairs(a, b, ia, ib, method, threads)


def hu_log_features(hu: np.ndarray) -> np.ndarray:
    """``sign(h)·log10|h|`` per component, 0 where ``|h| <= 1e-5`` (components matchShapes ignores).

    The L1 distance between two rows equals :func:`match_shapes` I2 whenever all seven
    components count on both sides; :class:`mcgip_fast.mining.candidates.retrieval.FloatIndex` indexes these vectors.
    """
    return _core.hu_log_features(_as_hu(hu, "hu"))


def mcgip_hu_features(
    heatmaps: np.ndarray,
    *,
    size: int = 32,
    normalise: Normalise = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Features of the official McGIP Hu variant: ``(M00, Hu1)`` of each map resized to size×size.

    The official code reads each 8-bit heatmap, resizes it with ``cv2.resize(img, (32, 32))``
    (bilinear, OpenCV's default) and keeps the zeroth moment and the first Hu invariant. The resize
    here is that same ``cv2.resize`` call, in the map's own dtype (pass uint8 maps for the official
    8-bit behaviour).

    Args:
        heatmaps: (N, H, W) or (H, W) uint8/float32/float64.
        size: side of the resized map (32 in McGIP).
        normalise: intensity scaling before the moments (applied after the resize).
        threads: worker threads for the moments.

    Returns:
        (N, 2) float64: column 0 M00, column 1 Hu1 (= nu20 + nu02).
    """
    import cv2

    maps = _as_maps(heatmaps)
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    small = np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) for m in maps])
    _check_normalise(normalise)
    raw = _core.raw_moments(np.ascontiguousarray(small), normalise, threads)
    hu = _core.hu_moments(np.ascontiguousarray(small), normalise, threads)
    return np.stack([raw[:, 0], hu[:, 0]], axis=1)


def mcgip_hu_similarity(
    features_a: np.ndarray,
    features_b: np.ndarray | None = None,
    w: float = 0.5,
    threads: int | None = None,
) -> np.ndarray:
    """Official McGIP Hu similarity ``1 − (w·d(Hu1) + (1 − w)·d(M00))`` for all pairs.

    ``d(a, b) = |a − b| / max(|a|, |b|)``, which is 1 when undefined (a NaN, or both values 0) and 0
    when ``a == b`` otherwise. Note: the official code returns 0 for two zero values; here two
    empty heatmaps are never similar (d = 1), so they cannot become positive pairs.

    Args:
        features_a: (N, 2) rows of (M00, Hu1) from :func:`mcgip_hu_features`.
        features_b: (M, 2); None compares ``features_a`` with itself.
        w: weight of the Hu1 term, in [0, 1] (McGIP used 0.5 for mammography, 0.8 for dental).
        threads: worker threads.

    Returns:
        (N, M) float64 similarities in [0, 1] (up to rounding).
    """
    def rows(f, name):
        arr = np.asarray(f)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty (N, 2) array of (M00, Hu1), got shape {arr.shape}")
        return np.ascontiguousarray(arr, dtype=np.float64)

    a = rows(features_a, "features_a")
    b = a if features_b is None else rows(features_b, "features_b")
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")
    return _core.mcgip_hu_similarity(a, b, float(w), threads)


__all__ = [
    "raw_moments",
    "hu_moments",
    "match_shapes",
    "match_shapes_pairs",
    "hu_log_features",
    "mcgip_hu_features",
    "mcgip_hu_similarity",
]

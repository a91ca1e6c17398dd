"""Difference hashes (dHash) of gaze heatmaps and Hamming-distance queries over them.

:func:`dhash` is bit-exact with ``imagehash.dhash(PIL.Image.fromarray(img), hash_size)``
(imagehash 4.3.2 on Pillow 13.0.0): the image is greyscaled (RGB with Pillow's integer formula
``(19595·R + 38470·G + 7471·B + 0x8000) >> 16``), reduced with Pillow's exact 8-bit LANCZOS
(same kernel, support, 22-bit fixed-point weights and pass order) to ``hash_size + 1`` columns by
``hash_size`` rows, and bit (r, c) is ``px[r, c+1] > px[r, c]``. Bits are taken row-major and
packed most-significant-bit first, as ``np.packbits`` does: ``ceil(hash_size²/8)`` bytes per image.

Pillow versions. Pillow ≤ 12 always ran the horizontal pass first. Pillow 13 (PR #9549) runs the
vertical pass first when ``H > hash_size`` and ``H − hash_size > 2·(W − hash_size − 1)``; this
module follows Pillow 13.0.0, which the parity tests pin (imagehash 4.3.2). Codes can differ from
older Pillow only for such tall images (never for square ones), by a bit or two at near-ties.

**Float maps** are never passed to Pillow as mode "F" (converting that to "L" clips, so a [0, 1]
map becomes {0, 1}). Here they are scaled explicitly to uint8 by ``float_scaling``:

- ``"max"`` (default): ``round(255 · m / max(m))`` per map (an all-zero map stays 0);
- ``"unit"``: ``round(255 · clip(m, 0, 1))`` (maps already in [0, 1]);
- ``"raise"``: refuse float input.

Rounding is half to even (``np.rint``). The parity tests compare against imagehash on the same
uint8 images.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mcgip_fast import _core

FloatScaling = Literal["max", "unit", "raise"]


#: Maps scaled at once by `to_uint8` (its float64 temporaries stay ~4 x 8 bytes x this x H x W).
_TO_UINT8_CHUNK = 512


def to_uint8(maps: np.ndarray, float_scaling: FloatScaling = "max") -> np.ndarray:
    """Scale float maps to uint8 the way :func:`dhash` does (see the module docs)."""
    arr = np.asarray(maps)
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"images must be uint8 or float, got dtype {arr.dtype}")
    if float_scaling == "raise":
        raise ValueError("float images given with float_scaling='raise'; pass uint8 or choose 'max' or 'unit'")
    if arr.ndim == 3 and len(arr) > _TO_UINT8_CHUNK:  # per-image scaling: chunks bound the float64 temporaries
        return np.concatenate([to_uint8(arr[a:a + _TO_UINT8_CHUNK], float_scaling) for a in range(0, len(arr), _TO_UINT8_CHUNK)])
    if not np.isfinite(arr).all():
        raise ValueError("images hold NaN or infinity")
    x = arr.astype(np.float64)
    if float_scaling == "max":
        axes = tuple(range(x.ndim - 2, x.ndim))
        peak = x.max(axis=axes, keepdims=True)
        peak = np.where(peak > 0, peak, 1.0)
        x = 255.0 * np.clip(x, 0, None) / peak
    elif float_scaling == "unit":
        x = 255.0 * np.clip(x, 0.0, 1.0)
    else:
        raise ValueError(f"float_scaling must be 'max', 'unit' or 'raise', got {float_scaling!r}")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def dhash(
    images: np.ndarray,
    hash_size: int = 8,
    threads: int | None = None,
    *,
    float_scaling: FloatScaling = "max",
) -> np.ndarray:
    """dHash codes, bit-exact with ``imagehash.dhash``.

    Args:
        images: greyscale (N, H, W) or one (H, W) image, uint8 or float (see ``float_scaling``);
            or RGB (N, H, W, 3) uint8 (a single RGB image must be given as (1, H, W, 3)).
        hash_size: rows of the hash (≥ 2); the code has hash_size² bits.
        threads: worker threads (None: all cores).
        float_scaling: how float maps become uint8: ``"max"``, ``"unit"`` or ``"raise"``.

    Returns:
        (N, ceil(hash_size²/8)) uint8, most-significant bit first; at hash_size 8, one 8-byte row
        per image, equal to ``np.packbits(imagehash.dhash(Image.fromarray(img)).hash)``.

    Raises:
        ValueError: wrong dtype or dimensions, empty input, NaN in float maps, hash_size < 2.

    Example:
        >>> ramp = np.tile(np.arange(9, dtype=np.uint8) * 20, (8, 1))   # brighter to the right
        >>> dhash(ramp), dhash(ramp[:, ::-1])                            # every bit set / none
        (array([[255, 255, 255, 255, 255, 255, 255, 255]], dtype=uint8), array([[0, 0, 0, 0, 0, 0, 0, 0]], dtype=uint8))
    """
    if isinstance(hash_size, bool) or not isinstance(hash_size, (int, np.integer)) or hash_size < 2:
        raise ValueError(f"hash_size must be an integer of at least 2, got {hash_size!r}")
    arr = np.asarray(images)
    if arr.size == 0:
        raise ValueError(f"images is empty (shape {arr.shape})")
    if arr.ndim == 4:
        if arr.shape[3] != 3:
            raise ValueError(f"4-D images must be RGB (N, H, W, 3), got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise ValueError(f"RGB images must be uint8, got dtype {arr.dtype}")
        return _core.dhash_rgb(np.ascontiguousarray(arr), int(hash_size), threads)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"images must be (N, H, W), (H, W) or (N, H, W, 3), got {arr.ndim} dimensions {arr.shape}")
    arr = to_uint8(arr, float_scaling)
    return _core.dhash_gray(np.ascontiguousarray(arr), int(hash_size), threads)


def _as_codes(codes: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be packed uint8 codes, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (N, n_bytes) packed codes, got {arr.ndim} dimensions")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return np.ascontiguousarray(arr)


def _pair(codes_a, codes_b):
    a = _as_codes(codes_a, "codes_a")
    b = a if codes_b is None else _as_codes(codes_b, "codes_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"codes differ in width: {a.shape[1]} vs {b.shape[1]} bytes")
    return a, b


def hamming(codes_a: np.ndarray, codes_b: np.ndarray | None = None, threads: int | None = None) -> np.ndarray:
    """All-pairs Hamming distances (popcount of XOR on 64-bit words).

    Args:
        codes_a: (N, n_bytes) uint8 packed codes (e.g. from :func:`dhash`).
        codes_b: (M, n_bytes); None compares ``codes_a`` with itself.
        threads: worker threads (None: all cores).

    Returns:
        (N, M) uint32. Dense: for archives use :func:`hamming_topk` / :func:`hamming_within`.
    """
    a, b = _pair(codes_a, codes_b)
    return _core.hamming_matrix(a, b, threads)


def bit_cosine(codes_a: np.ndarray, codes_b: np.ndarray | None = None, threads: int | None = None) -> np.ndarray:
    """McGIP's original dHash similarity: cosine between the bit vectors, all pairs.

    ``|a ∧ b| / sqrt(|a|·|b|)`` with ``|·|`` the number of set bits; 0 when either code has no
    bit set (as ``sklearn.metrics.pairwise.cosine_similarity`` gives for a zero vector).

    Returns:
        (N, M) float64.
    """
    a, b = _pair(codes_a, codes_b)
    return _core.bit_cosine(a, b, threads)


def hamming_topk(codes: np.ndarray, k: int, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest codes of every code (self excluded), without the dense matrix.

    Args:
        codes: (N, n_bytes) uint8.
        k: neighbours per code, 1 ≤ k ≤ N − 1.
        threads: worker threads.

    Returns:
        ``(indices, distances)``: (N, k) int64 and (N, k) uint32, each row sorted by distance,
        ties broken by the lower index.
    """
    c = _as_codes(codes, "codes")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= c.shape[0] - 1:
        raise ValueError(f"k must be an integer between 1 and N - 1 = {c.shape[0] - 1}, got {k!r}")
    return _core.hamming_topk(c, c, int(k), 0, threads)


def hamming_within(codes: np.ndarray, radius: int, threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of codes within a Hamming radius, as sparse arrays.

    The radius is **inclusive**: pairs with ``distance <= radius``. (FAISS ``range_search`` on
    binary indexes is strict, ``< r``; :class:`mcgip_fast.mining.candidates.retrieval.BinaryIndex` converts.)

    Args:
        codes: (N, n_bytes) uint8.
        radius: largest distance kept (≥ 0).
        threads: worker threads.

    Returns:
        ``(i, j, dist)``: int64, int64, uint32 arrays with ``i < j``, sorted by i then j.
    """
    c = _as_codes(codes, "codes")
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    return _core.hamming_within(c, c, int(min(radius, 2**32 - 1)), 0, threads)


__all__ = ["dhash", "to_uint8", "hamming", "bit_cosine", "hamming_topk", "hamming_within"]

"""Gaze maps: fixations placed as impulses, then blurred by a Gaussian exactly as OpenCV does.

Two recipes, one Rust kernel (`mcgip_fast._core.render_heatmaps`):

* `render_heatmaps` — one map per scanpath, weighted by duration (or uniform), any shape and
  sigma. Each map equals, to float32 rounding (tested to 1e-5 on real data)::

      impulses = np.zeros((H, W), np.float32)
      np.add.at(impulses, (rows, cols), weights)
      cv2.GaussianBlur(impulses, (ksize, ksize) if ksize else (0, 0), sigma,
                       borderType=cv2.BORDER_REFLECT_101)

  followed by division by the map's max or sum. With ``ksize=None`` OpenCV (and we) use
  ``ksize = round(8 * sigma + 1) | 1`` (4 sigma each side, the rule for float images).

* `mcgip_heatmaps` — the McGIP paper's recipe: every sample or fixation *sets* its pixel of an
  800 x 800 float64 canvas to 1, then ``cv2.GaussianBlur(canvas, (199, 199), 0)`` (OpenCV's
  automatic sigma ``0.3 * ((199 - 1) / 2 - 1) + 0.8 = 30.2``) and division by the max.

Coordinate to pixel: ``col = floor(x * scale_x)``, ``row = floor(y * scale_y)``, where the scale
maps the screen onto the map (``scale_x = W / screen_width``, ``scale_y = H / screen_height``, each
computed once in float64; ``floor(x * W / screen_width)`` can differ by a pixel on exact
boundaries). A fixation exactly on the far edge (``x == screen_width``) lands on the last pixel.

Cost: the kernel never blurs a whole image. Fixations on one pixel row share a vertical profile,
and each row adds one outer product, so a map costs about ``n * k * k`` for n fixations with a
k-pixel kernel, and never more than the column pass of a full separable blur.
"""

from __future__ import annotations

import warnings
from typing import Literal, Sequence

import numpy as np

from mcgip_fast import _core
from mcgip_fast.gaze.archive import GazeArchive
from mcgip_fast.gaze.hints import one_of

Weight = Literal["duration", "uniform"]
Normalise = Literal["max", "sum", "none"]

#: McGIP's canvas and kernel (zhaozh10/McGIP, downstream/utils/gazeUtils.py, createSaveHeat).
MCGIP_CANVAS = 800
MCGIP_KSIZE = 199


def _shape(shape: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width), got {shape!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"shape must be positive (height, width), got {shape!r}")
    return h, w


def _scales(scale, screen, h: int, w: int) -> tuple[float, float]:
    if scale is not None:
        sx, sy = (scale, scale) if np.isscalar(scale) else tuple(scale)
        return float(sx), float(sy)
    if screen is None:
        return 1.0, 1.0
    return w / float(screen[0]), h / float(screen[1])


def _check_threads(threads: int | None) -> int | None:
    if threads is not None and (int(threads) != threads or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return None if threads is None else int(threads)


def render_heatmaps(
    archive: GazeArchive,
    shape: Sequence[int] = (224, 224),
    sigma: float | None = None,
    *,
    ksize: int | None = None,
    weight: Weight = "duration",
    normalise: Normalise = "max",
    scale: float | tuple[float, float] | None = None,
    precision: Literal["float32", "float64"] = "float32",
    threads: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """One Gaussian gaze map per scanpath, equal to OpenCV's ``GaussianBlur`` of the impulses.

    Args:
        archive: the scanpaths (coordinates in screen pixels).
        shape: (height, width) of each map.
        sigma: Gaussian sigma in map pixels. Default ``max(height, width) / 32`` (7 px at 224).
            ``sigma <= 0`` with an explicit `ksize` means OpenCV's automatic sigma for that size.
        ksize: odd kernel size; default ``round(8 * sigma + 1) | 1``, as ``cv2.GaussianBlur``
            with ``ksize=(0, 0)`` on a float image.
        weight: "duration" (each fixation adds its duration) or "uniform" (each adds 1).
        normalise: "max" (peak 1), "sum" (total 1) or "none". Maps without fixations stay 0.
        scale: map pixels per screen pixel, a number or (x, y). Default: ``shape`` over
            ``archive.screen``, or 1 (coordinates already in map pixels) when the screen is unknown.
        precision: dtype of the impulse image in the equivalent OpenCV call. "float32" rounds the
            kernel to float32 and accumulates in float32, as OpenCV does; "float64" is exact-er.
            The output is float32 either way.
        threads: worker threads (None: all cores). The result does not depend on it.
        out: optional C-contiguous float32 array of shape (len(archive), height, width) to write
            into (its content is overwritten). Reusing one buffer across batches of a large
            archive avoids allocating, and first touching, fresh memory for every batch.

    Returns:
        (len(archive), height, width) float32 array, row-major (row = y, column = x); `out` when given.

    Fixations outside the screen (kept by ``off_screen="keep"``) are left off the maps, with a
    `UserWarning` saying how many.
    """
    h, w = _shape(shape)
    if weight not in ("duration", "uniform"):
        raise ValueError(f"weight must be 'duration' or 'uniform', got {weight!r}")
    if normalise not in ("max", "sum", "none"):
        raise ValueError(f"normalise must be 'max', 'sum' or 'none', got {normalise!r}")
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
    if sigma is None:
        sigma = max(h, w) / 32.0 if ksize is None else 0.0
    if out is not None:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous float32 numpy array")
        if out.shape != (len(archive), h, w):
            raise ValueError(f"out must have shape {(len(archive), h, w)}, got {out.shape}")
    sx, sy = _scales(scale, archive.screen, h, w)
    maps, outside = _core.render_heatmaps(
        archive.packed(), h, w, 0 if ksize is None else int(ksize), float(sigma),
        weight, normalise, "skip", sx, sy, precision == "float32", _check_threads(threads), out,
    )
    if outside:
        warnings.warn(f"render_heatmaps: {outside} fixations fall outside the maps and were left out", stacklevel=2)
    return maps


def mcgip_heatmaps(
    data: GazeArchive | np.ndarray | Sequence[np.ndarray],
    canvas: int = MCGIP_CANVAS,
    *,
    screen: tuple[float, float] | None = None,
    ksize: int = MCGIP_KSIZE,
    on_invalid: Literal["raise", "drop"] = "raise",
    threads: int | None = None,
) -> np.ndarray:
    """Gaze maps by the McGIP paper's recipe, equal to its OpenCV code.

    Each sample (or fixation) sets its pixel of a ``canvas x canvas`` float64 image to 1 (repeats
    do not add up), then ``cv2.GaussianBlur(img, (ksize, ksize), 0)`` with OpenCV's automatic sigma
    ``0.3 * ((ksize - 1) / 2 - 1) + 0.8`` and default border (BORDER_REFLECT_101), then division by
    the max.

    Args:
        data: a `GazeArchive` (one map per scanpath, from its fixations), one (n, 2) array of raw
            gaze samples (x, y), or a list of such arrays (one map each).
        canvas: side of the square map in pixels (McGIP: 800).
        screen: (width, height) of the coordinates' space; coordinates are scaled by
            ``canvas / screen``. Default: the archive's screen, or no scaling (coordinates are
            canvas pixels, as in McGIP).
        ksize: odd kernel size (McGIP: 199).
        on_invalid: samples with NaN/inf coordinates (eye-tracker dropouts): "raise" naming the
            first one, or "drop" them.
        threads: worker threads (None: all cores).

    Returns:
        (n_maps, canvas, canvas) float32.

    Pixels are ``floor`` of the (scaled) coordinates, clamped to ``[0, canvas - 1]``; McGIP's code
    clamps only the top (``min(799, x)``) and lets a negative index wrap, which we do not copy.
    """
    canvas = int(canvas)
    if canvas <= 0:
        raise ValueError(f"canvas must be positive, got {canvas}")
    if isinstance(data, GazeArchive):
        archive = data
        screen = screen if screen is not None else archive.screen
        packed = archive.packed()
    else:
        paths = [np.asarray(data, dtype=np.float64)] if isinstance(data, np.ndarray) and np.ndim(data) == 2 else [
            np.asarray(a, dtype=np.float64) for a in data
        ]
        for k, a in enumerate(paths):
            if a.ndim != 2 or a.shape[1] < 2:
                raise ValueError(f"samples {k}: expected an (n, 2) array of x, y; got shape {a.shape}")
        cleaned = []
        for k, a in enumerate(paths):
            bad = ~np.isfinite(a[:, :2]).all(axis=1)
            if bad.any():
                if on_invalid == "raise":
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(
                        f"samples {k} row {i}: non-finite coordinate {a[i, :2].tolist()}; "
                        f"{int(bad.sum())} such rows in all. Pass {one_of('on_invalid', ['drop'])} to drop them."
                    )
                if on_invalid != "drop":
                    raise ValueError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
            cleaned.append(a[~bad, :2])
        lens = [len(a) for a in cleaned]
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        xy = np.concatenate(cleaned) if cleaned else np.zeros((0, 2))
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        packed = (offsets, x, y, np.ones(len(x)))
    sx, sy = _scales(None, screen, canvas, canvas)
    maps, _ = _core.render_heatmaps(
        packed, canvas, canvas, int(ksize), 0.0, "mark", "max", "clamp", sx, sy, False,
        _check_threads(threads),
    )
    return maps


def gaussian_kernel(ksize: int, sigma: float = 0.0) -> np.ndarray:
    """``cv2.getGaussianKernel(ksize, sigma, cv2.CV_64F)`` as a 1-D float64 array (the kernel maps use)."""
    if int(ksize) != ksize or ksize <= 0:
        raise ValueError(f"ksize must be a positive odd integer, got {ksize!r}")
    return _core.gaussian_kernel(int(ksize), float(sigma))

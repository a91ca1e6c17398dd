"""MultiMatch scanpath similarity, in exact parity with multimatch-gaze 0.1.3 (``docomparison``).

MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012) compares two scanpaths on five
dimensions, returned in this order (see `DIMENSIONS`): vector (shape), direction, length,
position and duration. 1 means identical. The kernels are in Rust (``rust/core/src/multimatch``);
this module validates input and documents behaviour.

Parity and documented departures:

- Results match ``multimatch_gaze.docomparison`` to 1e-9, including how ties in the alignment
  path are broken (scipy >= 1.16's Dijkstra order) and the quirks of its grouping step.
- Fewer than 3 fixations in either scanpath: NaN x 5, as in the reference.
- Where the reference crashes, we return scores instead:
  * collinear saccades whose rounded cosine exceeds 1 (``math.acos`` raises ``ValueError``):
    the cosine is clamped to [-1, 1], which is what the MATLAB original's ``real(acos(.))``
    amounts to;
  * a single saccade left after grouping that is shorter than ``tamp`` (``IndexError`` in
    ``simlen``): it is kept as it is, since it has no neighbour to merge with.
- ``screen=(w, h)`` is the screen size in pixels. Only its diagonal ``sqrt(w² + h²)`` enters
  the normalisation, so ``(w, h)`` and ``(h, w)`` give identical scores (multimatch-gaze's own
  MATLAB test passes ``[720, 1280]`` for a 1280 x 720 screen).
- ``tdur`` is in the unit of the durations (seconds in multimatch-gaze and in `GazeArchive`).
- Swapping ``a`` and ``b`` gives the same scores except where the alignment path is tied: the
  reference breaks ties by node index, which is not symmetric. The all-pairs functions score
  each unordered pair once, as ``multimatch(archive[min(i, j)], archive[max(i, j)])``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from mcgip_fast import _core
from mcgip_fast.gaze.archive import GazeArchive, Scanpath

#: Names of the five scores, in the order every function returns them.
DIMENSIONS = ("vector", "direction", "length", "position", "duration")

#: Largest archive `multimatch_matrix` accepts (its (N, N, 5) float64 result is 40·N² bytes).
MATRIX_MAX_N: int = _core.multimatch_matrix_max_n()

__all__ = [
    "DIMENSIONS",
    "MATRIX_MAX_N",
    "multimatch",
    "multimatch_matrix",
    "multimatch_one_vs_many",
    "multimatch_pairs",
]


def _columns(s: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, duration of a Scanpath, an (n, 3) array, or a record array with start_x/start_y/duration.

    Finiteness is checked in Rust (`_core.multimatch_pair`), which names the first bad value.
    """
    if isinstance(s, Scanpath):
        cols = (s.x, s.y, s.duration)
    else:
        arr = np.asarray(s)
        if arr.dtype.names is not None:
            missing = {"start_x", "start_y", "duration"} - set(arr.dtype.names)
            if missing:
                raise ValueError(f"{name}: record array lacks fields {sorted(missing)}")
            cols = (arr["start_x"], arr["start_y"], arr["duration"])
        else:
            if arr.ndim != 2 or arr.shape[1] != 3:
                raise ValueError(f"{name} must be a Scanpath or an (n, 3) array of x, y, duration; got shape {arr.shape}")
            if arr.dtype.kind not in "fiub":
                raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
            cols = (arr[:, 0], arr[:, 1], arr[:, 2])
    return tuple(np.ascontiguousarray(c, dtype=np.float64) for c in cols)  # type: ignore[return-value]


def _screen(screen: Any, archive: GazeArchive | None = None) -> tuple[float, float]:
    if screen is None:
        screen = None if archive is None else archive.screen
        if screen is None:
            raise ValueError("screen=(width, height) is required: pass it, or build the archive with a screen")
    try:
        w, h = (float(v) for v in screen)
    except (TypeError, ValueError):
        raise ValueError(f"screen must be (width, height) in pixels, got {screen!r}") from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"screen must be two positive finite numbers (width, height), got {screen!r}")
    return w, h


def _threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    try:
        t = operator.index(threads)
    except TypeError:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}") from None
    if t < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return t


def _archive(archive: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(archive, GazeArchive):
        raise ValueError(f"archive must be a GazeArchive, got {type(archive).__name__}")
    offsets, x, y, d = archive.packed()
    return (
        np.ascontiguousarray(offsets, dtype=np.int64),
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(d, dtype=np.float64),
    )


def _grouping(grouping: bool, tdir: float, tdur: float, tamp: float) -> tuple[bool, float, float, float]:
    vals = []
    for label, v in (("tdir", tdir), ("tdur", tdur), ("tamp", tamp)):
        v = float(v)
        if math.isnan(v):
            raise ValueError(f"{label} must be a number, got NaN")
        vals.append(v)
    return (bool(grouping), *vals)


def multimatch(
    a: Scanpath | np.ndarray,
    b: Scanpath | np.ndarray,
    screen: tuple[float, float],
    grouping: bool = False,
    tdir: float = 0.0,
    tdur: float = 0.0,
    tamp: float = 0.0,
) -> np.ndarray:
    """MultiMatch similarity of two scanpaths: ``multimatch_gaze.docomparison`` in Rust.

    Args:
        a, b: a `Scanpath`, an (n, 3) array of x, y (pixels) and duration (seconds), or a
            record array with fields ``start_x``, ``start_y``, ``duration``.
        screen: (width, height) of the screen in pixels (only the diagonal matters).
        grouping: simplify both scanpaths first (merge saccades by direction and length).
        tdir: direction threshold for grouping, degrees.
        tdur: duration threshold for grouping, in the durations' unit (seconds).
        tamp: amplitude threshold for grouping, pixels.

    Returns:
        float64 array of 5: vector, direction, length, position, duration (see `DIMENSIONS`);
        NaN x 5 if either scanpath has fewer than 3 fixations.

    Raises:
        ValueError: on malformed scanpaths, non-finite values, or a bad screen.
    """
    ax, ay, ad = _columns(a, "a")
    bx, by, bd = _columns(b, "b")
    g, tdir, tdur, tamp = _grouping(grouping, tdir, tdur, tamp)
    return _core.multimatch_pair(ax, ay, ad, bx, by, bd, _screen(screen), g, tdir, tdur, tamp)


def multimatch_pairs(
    archive: GazeArchive,
    pairs: np.ndarray,
    screen: tuple[float, float] | None = None,
    grouping: bool = False,
    tdir: float = 0.0,
    tdur: float = 0.0,
    tamp: float = 0.0,
    threads: int | None = None,
) -> np.ndarray:
    """MultiMatch scores of explicit scanpath pairs of an archive.

    Args:
        archive: the scanpaths.
        pairs: (P, 2) integer array of scanpath indices into `archive`.
        screen: (width, height) in pixels; defaults to ``archive.screen``.
        grouping, tdir, tdur, tamp: as in `multimatch`.
        threads: worker threads (None: all cores). Results do not depend on it.

    Returns:
        (P, 5) float64, one row per pair, columns as in `DIMENSIONS`.
    """
    arr = np.asarray(pairs)
    if arr.size == 0:
        arr = arr.reshape(0, 2) if arr.ndim < 2 or arr.shape[-1] != 2 else arr
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pairs must hold integer indices, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    g, tdir, tdur, tamp = _grouping(grouping, tdir, tdur, tamp)
    return _core.multimatch_pairs_packed(
        *_archive(archive), arr, _screen(screen, archive), g, tdir, tdur, tamp, _threads(threads)
    )


def multimatch_one_vs_many(
    archive: GazeArchive,
    i: int,
    screen: tuple[float, float] | None = None,
    grouping: bool = False,
    tdir: float = 0.0,
    tdur: float = 0.0,
    tamp: float = 0.0,
    threads: int | None = None,
) -> np.ndarray:
    """MultiMatch scores of scanpath `i` against every scanpath of the archive (itself included).

    Returns:
        (N, 5) float64; row j is ``multimatch(archive[i], archive[j])``. `i` may be negative,
        counting from the end.
    """
    try:
        i = operator.index(i)
    except TypeError:
        raise ValueError(f"i must be an integer scanpath index, got {i!r}") from None
    n = len(archive) if isinstance(archive, GazeArchive) else 0
    if -n <= i < 0:
        i += n
    g, tdir, tdur, tamp = _grouping(grouping, tdir, tdur, tamp)
    return _core.multimatch_one_vs_many_packed(
        *_archive(archive), i, _screen(screen, archive), g, tdir, tdur, tamp, _threads(threads)
    )


def multimatch_matrix(
    archive: GazeArchive,
    screen: tuple[float, float] | None = None,
    grouping: bool = False,
    tdir: float = 0.0,
    tdur: float = 0.0,
    tamp: float = 0.0,
    threads: int | None = None,
) -> np.ndarray:
    """All-pairs MultiMatch scores of a small archive, computed once per unordered pair, in tiles.

    For N above `MATRIX_MAX_N` this raises ValueError: a dense N x N result does not scale;
    mine positive pairs in tiles instead (``mcgip_fast.mining``), or score chosen pairs with
    `multimatch_pairs`.

    Returns:
        (N, N, 5) float64, symmetric: ``out[i, j] = out[j, i] = multimatch(archive[min], archive[max])``.
    """
    if isinstance(archive, GazeArchive) and len(archive) > MATRIX_MAX_N:
        raise ValueError(
            f"multimatch_matrix is for small archives (N <= {MATRIX_MAX_N}); this one has {len(archive)} "
            "scanpaths. Use multimatch_pairs / multimatch_one_vs_many, or mine positive pairs in tiles "
            "(mcgip_fast.mining)."
        )
    g, tdir, tdur, tamp = _grouping(grouping, tdir, tdur, tamp)
    return _core.multimatch_matrix_packed(
        *_archive(archive), _screen(screen, archive), g, tdir, tdur, tamp, _threads(threads)
    )

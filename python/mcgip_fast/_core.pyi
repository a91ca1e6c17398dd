"""Type stubs for the Rust extension `mcgip_fast._core` (hand-written; keep in step with rust/python/src)."""

import numpy as np
import numpy.typing as npt

__version__: str

def default_threads() -> int:
    """Threads rayon uses when a call passes `threads=None` (all cores)."""

def _panic_for_tests() -> None: ...

# ---------------------------------------------------------------- heatmap family (rust/python/src/heatmap.rs)


# ---------------------------------------------------------------- multimatch family (rust/python/src/multimatch.rs)

def multimatch_pair(
    ax: npt.NDArray[np.float64], ay: npt.NDArray[np.float64], ad: npt.NDArray[np.float64],
    bx: npt.NDArray[np.float64], by: npt.NDArray[np.float64], bd: npt.NDArray[np.float64],
    screen: tuple[float, float], grouping: bool, tdir: float, tdur: float, tamp: float,
) -> npt.NDArray[np.float64]:
    """MultiMatch of one pair given as contiguous columns: (5,) vector, direction, length, position, duration."""

def multimatch_pairs_packed(
    offsets: npt.NDArray[np.int64], x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
    duration: npt.NDArray[np.float64], pairs: npt.NDArray[np.int64],
    screen: tuple[float, float], grouping: bool, tdir: float, tdur: float, tamp: float,
    threads: int | None = None,
) -> npt.NDArray[np.float64]:
    """MultiMatch of (P, 2) index pairs into a packed archive: (P, 5)."""

def multimatch_one_vs_many_packed(
    offsets: npt.NDArray[np.int64], x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
    duration: npt.NDArray[np.float64], i: int,
    screen: tuple[float, float], grouping: bool, tdir: float, tdur: float, tamp: float,
    threads: int | None = None,
) -> npt.NDArray[np.float64]:
    """MultiMatch of scanpath i against all scanpaths of a packed archive: (N, 5)."""

def multimatch_matrix_packed(
    offsets: npt.NDArray[np.int64], x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
    duration: npt.NDArray[np.float64],
    screen: tuple[float, float], grouping: bool, tdir: float, tdur: float, tamp: float,
    threads: int | None = None,
) -> npt.NDArray[np.float64]:
    """All pairs of a small packed archive (N <= multimatch_matrix_max_n()): (N, N, 5)."""

def multimatch_matrix_max_n() -> int:
    """Largest N that multimatch_matrix_packed accepts."""


# ---------------------------------------------------------------- hashing family: moments, dHash, Hamming (rust/python/src/hashing.rs)


# ---------------------------------------------------------------- mining family (rust/python/src/mining.rs)


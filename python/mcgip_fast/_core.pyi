"""Type stubs for the Rust extension `mcgip_fast._core` (hand-written; keep in step with rust/python/src)."""

import numpy as np
import numpy.typing as npt

__version__: str

def default_threads() -> int:
    """Threads rayon uses when a call passes `threads=None` (all cores)."""

def _panic_for_tests() -> None: ...

# ---------------------------------------------------------------- heatmap family (rust/python/src/heatmap.rs)


# ---------------------------------------------------------------- multimatch family (rust/python/src/multimatch.rs)


# ---------------------------------------------------------------- hashing family: moments, dHash, Hamming (rust/python/src/hashing.rs)


# ---------------------------------------------------------------- mining family (rust/python/src/mining.rs)


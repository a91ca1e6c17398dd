"""mcgip_fast: gaze-guided contrastive pre-training (McGIP) at archive scale.

Rooms, in data-flow order: ``gaze`` (archives, readers, heatmaps), ``similarity`` (Rust
kernels), ``index`` (FAISS retrieval), ``mining`` (positive pairs), ``train`` / ``eval``
(PyTorch; need the ``train`` extra), ``cli``.

Importing this package never imports torch.
"""

from mcgip_fast._core import __version__
from mcgip_fast.gaze.archive import (
    GazeArchive,
    GazeValidationError,
    Scanpath,
    ValidationReport,
)

__all__ = [
    "__version__",
    "GazeArchive",
    "GazeValidationError",
    "Scanpath",
    "ValidationReport",
]

# ---- hashing family: FAISS retrieval (faiss is imported lazily, on first build/load)
from mcgip_fast.index import BinaryIndex, FloatIndex, HuIndex  # noqa: E402

__all__ += ["BinaryIndex", "FloatIndex", "HuIndex"]

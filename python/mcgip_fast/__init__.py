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
# gaze readers and heatmaps
from mcgip_fast.gaze import (
    fixations_from_samples,
    load_heatmap_images,
    mcgip_heatmaps,
    read_fixation_files,
    read_remodnav,
    read_table,
    render_heatmaps,
)
from mcgip_fast.similarity.multimatch import (  # noqa: F401
    multimatch, multimatch_matrix, multimatch_one_vs_many, multimatch_pairs,
)

__all__ = [
    "__version__",
    "GazeArchive",
    "GazeValidationError",
    "Scanpath",
    "ValidationReport",
    # gaze readers and heatmaps
    "fixations_from_samples",
    "load_heatmap_images",
    "mcgip_heatmaps",
    "read_fixation_files",
    "read_remodnav",
    "read_table",
    "render_heatmaps",
]

# ---- hashing family: FAISS retrieval (faiss is imported lazily, on first build/load)
from mcgip_fast.index import BinaryIndex, FloatIndex, HuIndex  # noqa: E402

__all__ += ["BinaryIndex", "FloatIndex", "HuIndex"]

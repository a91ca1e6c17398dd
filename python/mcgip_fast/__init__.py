"""mcgip_fast: gaze-guided contrastive pre-training (McGIP) at archive scale.

Rooms, in data-flow order: ``gaze`` (archives, readers, heatmaps), ``similarity`` (Rust
kernels), ``mining`` (positive pairs; FAISS retrieval in ``mining.candidates.retrieval``), ``train`` / ``eval``
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
# similarity kernels and retrieval (faiss is imported lazily, on first build/load)
from mcgip_fast.mining.candidates.retrieval import BinaryIndex, FloatIndex, HuIndex
from mcgip_fast.similarity.dhash import bit_cosine, dhash, hamming, hamming_topk, hamming_within
from mcgip_fast.similarity.hu import hu_moments, match_shapes, mcgip_hu_features, mcgip_hu_similarity
from mcgip_fast.similarity.multimatch import (
    multimatch,
    multimatch_matrix,
    multimatch_one_vs_many,
    multimatch_pairs,
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
    # similarity kernels and retrieval
    "BinaryIndex",
    "FloatIndex",
    "HuIndex",
    "bit_cosine",
    "dhash",
    "hamming",
    "hamming_topk",
    "hamming_within",
    "hu_moments",
    "match_shapes",
    "mcgip_hu_features",
    "mcgip_hu_similarity",
    "multimatch",
    "multimatch_matrix",
    "multimatch_one_vs_many",
    "multimatch_pairs",
]

"""mcgip_fast: gaze-guided contrastive pre-training (McGIP) at archive scale.

Rooms, in data-flow order: ``gaze`` (archives, readers, heatmaps), ``similarity`` (Rust
kernels), ``mining`` (positive pairs; FAISS retrieval in ``mining.candidates.retrieval``), ``train`` / ``eval``
(PyTorch; need the ``train`` extra), ``cli``.

Importing this package never imports torch. The subpackages listed in `_LAZY_SUBPACKAGES`
(``mf.data``, ``mf.mining``, ``mf.train`` ...) are imported on first attribute access, so
``import mcgip_fast as mf; mf.data.load_studyforrest()`` works and plain ``import mcgip_fast``
stays light (``mf.train`` imports torch only when a training function runs).

Example (the embedded real sample; no file of your own needed)::

    >>> import mcgip_fast as mf
    >>> archive = mf.data.load_studyforrest()
    >>> len(archive), archive.screen
    (60, (1280.0, 720.0))
    >>> mf.multimatch_pairs(archive, [[0, 1], [0, 2]]).shape     # vector, direction, length, position, duration
    (2, 5)
"""

import importlib as _importlib

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
    read_egd_cxr,
    read_fixation_files,
    read_reflacx,
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
    "read_egd_cxr",
    "read_fixation_files",
    "read_reflacx",
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

#: Subpackages reachable as attributes (``mf.data``) without an explicit import; loaded on first use.
_LAZY_SUBPACKAGES = frozenset({"cli", "data", "eval", "gaze", "index", "mining", "report", "similarity", "synth", "train"})


def __getattr__(name: str):
    if name in _LAZY_SUBPACKAGES:
        module = _importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module  # later lookups skip this hook
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBPACKAGES)

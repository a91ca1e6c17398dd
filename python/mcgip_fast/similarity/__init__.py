"""Similarity kernels: thin, documented wrappers over the Rust core.

- `similarity.multimatch`: MultiMatch on scanpaths (parity with multimatch-gaze);
- `similarity.hu`: Hu moments and matchShapes on gaze maps (parity with OpenCV);
- `similarity.dhash`: dHash codes, Hamming and bit cosine (parity with imagehash).

The functions `multimatch` and `dhash` are not re-exported here: they would shadow their
submodules. Import them from the submodule or from the top-level `mcgip_fast`.
"""

from mcgip_fast.similarity.dhash import bit_cosine, hamming, hamming_topk, hamming_within
from mcgip_fast.similarity.hu import hu_moments, match_shapes, mcgip_hu_features, mcgip_hu_similarity
from mcgip_fast.similarity.multimatch import DIMENSIONS, multimatch_matrix, multimatch_one_vs_many, multimatch_pairs

__all__ = [
    "DIMENSIONS",
    "bit_cosine",
    "hamming",
    "hamming_topk",
    "hamming_within",
    "hu_moments",
    "match_shapes",
    "mcgip_hu_features",
    "mcgip_hu_similarity",
    "multimatch_matrix",
    "multimatch_one_vs_many",
    "multimatch_pairs",
]

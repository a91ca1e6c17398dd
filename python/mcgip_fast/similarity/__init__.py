"""Similarity kernels: thin, documented wrappers over the Rust core."""

# ---- hashing family: Hu moments (similarity/hu.py), dHash and Hamming (similarity/dhash.py).
# The function `dhash` is not re-exported here: it would shadow the module `similarity.dhash`.
from mcgip_fast.similarity.dhash import bit_cosine, hamming, hamming_topk, hamming_within
from mcgip_fast.similarity.hu import (
    hu_moments,
    match_shapes,
    mcgip_hu_features,
    mcgip_hu_similarity,
)

__all__ = [
    "bit_cosine",
    "hamming",
    "hamming_topk",
    "hamming_within",
    "hu_moments",
    "match_shapes",
    "mcgip_hu_features",
    "mcgip_hu_similarity",
]

# The pair function stays `multimatch.multimatch`: re-exporting it here would shadow the submodule.
from mcgip_fast.similarity.multimatch import DIMENSIONS, multimatch_matrix, multimatch_one_vs_many, multimatch_pairs  # noqa: F401

"""Similarity kernels: thin, documented wrappers over the Rust core."""

# The pair function stays `multimatch.multimatch`: re-exporting it here would shadow the submodule.
from mcgip_fast.similarity.multimatch import DIMENSIONS, multimatch_matrix, multimatch_one_vs_many, multimatch_pairs  # noqa: F401

"""Similarity schemes: what a score means and how a tile of rows is scored.

`base` holds what they share and the registry; each scheme module registers itself there
(``multimatch``, whose weights may be fitted by `reader_weights`; ``hu`` and ``dhash`` in `heatmap`). A new scheme is a new module imported below.
"""

from .base import REGISTRY, ItemArrays, TileResult, make_scheme, register
from .multimatch import MCGIP_WEIGHTS, MultiMatchScheme, MultiMatchState
from .reader_weights import READER_INVARIANT, ReaderWeightFit, fit_reader_invariant_weights
from .heatmap import DHashScheme, FeatureState, HuScheme  # noqa: E402  (registers hu, dhash)

#: Names of the registered schemes.
SCHEMES = tuple(REGISTRY)

__all__ = [
    "MCGIP_WEIGHTS",
    "REGISTRY",
    "SCHEMES",
    "DHashScheme",
    "FeatureState",
    "HuScheme",
    "ItemArrays",
    "MultiMatchScheme",
    "MultiMatchState",
    "READER_INVARIANT",
    "ReaderWeightFit",
    "TileResult",
    "fit_reader_invariant_weights",
    "make_scheme",
    "register",
]

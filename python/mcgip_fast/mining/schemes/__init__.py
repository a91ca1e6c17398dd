"""Similarity schemes: what a score means and how a tile of rows is scored.

`base` holds what they share and the registry; each scheme module registers itself there
(``multimatch``; ``hu`` and ``dhash`` in `heatmap`). A new scheme is a new module imported below.
"""

from .base import REGISTRY, ItemArrays, TileResult, make_scheme, register
from .multimatch import MCGIP_WEIGHTS, MultiMatchScheme, MultiMatchState
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
    "TileResult",
    "make_scheme",
    "register",
]

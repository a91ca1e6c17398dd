"""Mining: gaze similarities become a sparse `PositivePairs` graph.

`mine(archive, scheme, rule, ...)` scores items in tiles (resumable, local or on Dask) and returns
`PositivePairs`. Schemes: ``multimatch``, ``hu``, ``dhash``; rules: ``threshold``, ``topk``,
``mutual``, ``percentile``.
"""

from mcgip_fast.mining.controls import shuffle_positives
from mcgip_fast.mining.feature_schemes import DHashScheme, HuScheme
from mcgip_fast.mining.mine import MiningReport, mine, summary
from mcgip_fast.mining.pairs import PairsMismatchError, PositivePairs
from mcgip_fast.mining.rules import RULES, MutualTopK, Percentile, Threshold, TopK
from mcgip_fast.mining.schemes import MCGIP_WEIGHTS, SCHEMES, ItemArrays, MultiMatchScheme
from mcgip_fast.mining.workdir import CorruptTileError, WorkdirMismatchError

__all__ = [
    "MCGIP_WEIGHTS",
    "RULES",
    "SCHEMES",
    "CorruptTileError",
    "DHashScheme",
    "HuScheme",
    "ItemArrays",
    "MiningReport",
    "MultiMatchScheme",
    "MutualTopK",
    "PairsMismatchError",
    "Percentile",
    "PositivePairs",
    "Threshold",
    "TopK",
    "WorkdirMismatchError",
    "mine",
    "shuffle_positives",
    "summary",
]

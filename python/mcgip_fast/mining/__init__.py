"""Mining: gaze similarities become a sparse `PositivePairs` graph.

`mine(archive, scheme, rule, ...)` runs five stages, one module each: `plan` -> `candidates`
(FAISS retrieval in `candidates.retrieval`) -> `score` (tiles on the local or Dask engine,
resumable through `workdir`) -> `select` -> `write`. Schemes (``multimatch``, ``hu``,
``dhash``) live in `schemes`; rules (``threshold``, ``topk``, ``mutual``, ``percentile``) in `rules`.
"""

from mcgip_fast.mining.candidates.ann import AnnCandidates
from mcgip_fast.mining.controls import shuffle_positives
from mcgip_fast.mining.mine import mine
from mcgip_fast.mining.pairs import PairsMismatchError, PositivePairs
from mcgip_fast.mining.plan import MiningReport
from mcgip_fast.mining.rules import RULES, MutualTopK, Percentile, Threshold, TopK
from mcgip_fast.mining.schemes import MCGIP_WEIGHTS, SCHEMES, DHashScheme, HuScheme, ItemArrays, MultiMatchScheme
from mcgip_fast.mining.workdir import CorruptTileError, WorkdirMismatchError
from mcgip_fast.mining.write import summary, summary_json

__all__ = [
    "AnnCandidates",
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
    "summary_json",
]

"""`mine()`: gaze similarities to a sparse `PositivePairs` graph, in tiles, resumable, local or on Dask.

The run goes through five stages, one module each:

1. `plan`: scheme, rule, prepared state, the tile selection (top-k or above θ) and the run's params;
2. `candidates`: which pairs are scored (all, or each item's listed partners; FAISS in `candidates.retrieval`);
3. `score`: tiles of rows scored exactly on an engine (local or Dask), each written to the work directory;
4. `select`: tiles' edges merged into the rule's positives (order-independent);
5. `write`: the `PositivePairs` graph and the summary.

Each tile returns sparse candidate edges (never a dense block of scores); finished tiles can be
written atomically to a work directory, so a killed run resumes where it stopped and produces
byte-identical output. Results never depend on the tile order, the thread count or the engine.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import select as select_stage
from .candidates import make_candidates
from .pairs import PositivePairs
from .plan import MiningReport, make_plan, plan_tiles, sample_pairs  # noqa: F401  (re-exported)
from .score import ENGINES, KILL_AFTER_ENV, run_tiles  # noqa: F401  (KILL_AFTER_ENV re-exported)
from .workdir import Workdir
from .write import summary, summary_json, to_pairs  # noqa: F401  (re-exported)


def mine(
    archive,
    scheme: str | Any = "multimatch",
    rule: str | Any = "topk",
    *,
    k: int | None = None,
    threshold: float | None = None,
    percentile: float | None = None,
    sample_size: int = 100_000,
    seed: int = 0,
    scheme_options: dict[str, Any] | None = None,
    tile_rows: int | None = None,
    workdir: str | os.PathLike | None = None,
    resume: bool = False,
    engine: str = "local",
    scheduler: Any = None,
    threads: int | None = None,
    progress: bool = False,
    score_sample: int = 0,
    candidates: str | Any = "exact",
    aggregate: str | None = "auto",
) -> PositivePairs:
    """Mine gaze-positive pairs from an archive.

    Args:
        archive: a `GazeArchive` (scanpaths), or `ItemArrays` of heatmaps / dHash codes for ``hu`` and ``dhash``.
        scheme: ``"multimatch"``, ``"hu"`` or ``"dhash"`` (or a scheme object). Its options go in
            `scheme_options` (see `MultiMatchScheme`, `HuScheme`, `DHashScheme`), e.g.
            ``{"weights": (0.1, 0.1, 0.1, 0.1, 0.6), "screen": (1920, 1080), "grouping": True,
            "tdir": 45, "tdur": 0.1, "tamp": 160, "prefilter": None}`` for MultiMatch,
            ``{"method": "I2" | "official", "weight": 0.5, "candidates": "exact" | "faiss"}`` for Hu,
            ``{"method": "hamming" | "cosine", "hash_size": 8, "candidates": ...}`` for dHash.
            Scores are always similarities (higher = more similar); see `mcgip_fast.mining.schemes`.
        rule: ``"threshold"`` (needs `threshold`; pairs with score > threshold), ``"topk"`` (needs `k`;
            union of each item's top-k), ``"mutual"`` (needs `k`; mutual top-k) or ``"percentile"``
            (needs `percentile` in (0, 100); threshold estimated from `sample_size` random pairs drawn with `seed`).
        tile_rows: rows per tile (default: chosen from the archive size so a tile's buffer stays under 64 MB).
        workdir: directory to write each finished tile into (atomically); with `resume`, finished
            tiles are reused after checking that the directory belongs to this very run.
        engine: ``"local"`` or ``"dask"`` (then `scheduler` is a ``tcp://`` address or a `distributed.Client`).
        threads: rayon threads per tile (None: all cores). Results never depend on it.
        progress: show a progress bar with an ETA on stderr.
        score_sample: also score this many random pairs for the report's score distribution.
        candidates: ``"exact"`` (every pair; default), ``"ann"`` (each item's nearest scanpath
            embeddings, re-ranked exactly; recall measured on sampled queries, in ``report.candidates``),
            ``"auto"`` (exact where all pairs cost less than ann) or an `AnnCandidates` with its options
            (candidates per item, a target recall, the number of recall queries). multimatch only,
            one reading per item (``"auto"`` is exact when readers are aggregated).
        aggregate: several readers per image (see `mcgip_fast.mining.aggregate`): ``"same-reader"``
            (image pairs scored by the mean over their common readers), ``"all-pairs"`` (mean over
            every pair of readings), ``"pooled"`` (hu/dhash: one heatmap per image) or ``"none"``
            (items are readings, keyed ``"image|reader"``). ``"auto"`` (default): "same-reader" when
            the archive has readers and they overlap, "all-pairs" when they do not, "none" without
            readers. Aggregated pairs are keyed by image id, as `mcgip train` needs.

    Returns:
        `PositivePairs` (symmetric for symmetric schemes), with ``.report`` (a `MiningReport`) attached.

    Raises:
        ValueError: unknown scheme, rule, engine or candidates; k <= 0; threshold outside the score
            range; an empty archive or one with fewer than 2 scorable items; a work directory from
            a different run; a corrupt tile file.

    Example:
        >>> import mcgip_fast as mf
        >>> archive = mf.data.load_studyforrest(segments=range(5))     # 5 segments x 2 viewers
        >>> pairs = mine(archive, scheme="multimatch", rule="topk", k=2)  # viewers overlap: same-reader
        >>> pairs.n_pairs, list(pairs.ids[:2])                         # union of each segment's 2 best
        (7, ['segment_0', 'segment_1'])
        >>> readings = mine(archive, scheme="multimatch", rule="topk", k=2, aggregate="none")
        >>> readings.n_pairs, list(readings.ids[:2])                   # one item per (segment, viewer)
        (15, ['segment_0|sub-01', 'segment_0|sub-19'])
    """
    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if resume and workdir is None:
        raise ValueError("resume needs a work directory (workdir=...)")
    # 1. plan
    plan = make_plan(
        archive, scheme, rule, k=k, threshold=threshold, percentile=percentile, sample_size=sample_size, seed=seed,
        scheme_options=scheme_options, engine=engine, threads=threads, score_sample=score_sample, aggregate=aggregate,
    )
    # 2. candidates (their parameters join the plan before the work directory records it)
    source = make_candidates(candidates, plan)
    tiles = plan_tiles(plan.n, tile_rows if tile_rows is not None else source.tile_rows_hint(plan))
    plan.report.tiles_total = len(tiles)
    wd, done = None, set()
    if workdir is not None:
        wd = Workdir(workdir)
        wd.start(plan.manifest(tiles), resume)
        if resume:
            done = set(wd.finished(len(tiles)))
    source.build(plan, wd, tiles, threads, progress)
    # 3. score, 4. select
    acc = select_stage.accumulator(plan.n, plan.select, source.complete_rows, threads)
    run_tiles(plan, source, tiles, wd, resume_done=done, engine=engine, scheduler=scheduler, threads=threads,
              progress=progress, accumulator=acc)
    row, col, score = acc.result()
    del acc
    source.measure(plan, row, col, score, threads)
    row, col, score = select_stage.finish(plan.rule, plan.n, row, col, score)
    # 5. write
    pairs = to_pairs(plan, row, col, score)
    plan.report.seconds = time.perf_counter() - t0
    pairs.report = plan.report
    return pairs

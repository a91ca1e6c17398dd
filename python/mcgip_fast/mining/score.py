"""Stage 3, score: run the tiles on an engine, `local` (this process, rayon threads) or `dask`.

A tile scores its rows exactly: all pairs (the scheme's own tile) or the candidate stage's
listed partners (`score_listed`). Finished tiles go to the work directory atomically and are
handed to the select stage's accumulator. Both engines call ``on_done(tile_id, start, end,
result)`` once per finished tile, in this process, so the work directory and the merge live
here; output never depends on the engine or on the order tiles finish in.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Callable, Sequence

import numpy as np

from .candidates import Listed
from .schemes import TileResult
from .select import select_scored

ENGINES = ("local", "dask")

#: Test hook: SIGKILL this process after writing this many tiles (used to test resume).
KILL_AFTER_ENV = "MCGIP_MINE_KILL_AFTER_TILES"

Tile = tuple[int, int, int]  # (tile_id, start row, end row)


def score_listed(scheme, state, listed: Listed, select, threads) -> TileResult:
    """Score each row's listed partners exactly, then select within the tile."""
    n = state.n
    rows_in_tile, width = listed.partners.shape
    rows = np.repeat(np.arange(listed.start, listed.start + rows_in_tile, dtype=np.int64), width)
    cols = listed.partners.reshape(-1).astype(np.int64)
    keep = (cols >= 0) & (cols != rows) & state.active[rows] & state.active[np.maximum(cols, 0)]
    rows, cols = rows[keep], cols[keep]
    if not listed.mirror:
        return select_scored(n, rows, cols, scheme.score_pairs(state, rows, cols, threads), select, threads, len(rows))
    # Each unordered pair once, in a fixed order; its score goes to both rows' top-k.
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    key = np.unique(lo * n + hi)
    lo, hi = key // n, key % n
    s = scheme.score_pairs(state, lo, hi, threads)
    if select[0] == "above":
        return select_scored(n, lo, hi, s, select, threads, len(key))
    return select_scored(n, np.concatenate([lo, hi]), np.concatenate([hi, lo]), np.concatenate([s, s]), select, threads, len(key))


def compute_tile(scheme, state, start: int, end: int, select, threads, listed: Listed | None = None) -> TileResult:
    """One tile (module-level, so a Dask worker gets it by reference)."""
    if listed is None:
        return scheme.tile(state, start, end, select, threads)
    return score_listed(scheme, state, listed, select, threads)


def run_tiles(plan, source, tiles: Sequence[Tile], workdir, *, resume_done: set[int], engine: str, scheduler: Any,
              threads: int | None, progress: bool, accumulator) -> None:
    """Score every tile (reusing finished ones from the work directory) into `accumulator`."""
    scheme, state, report = plan.scheme, plan.state, plan.report
    total_work = sum(source.tile_work(plan, a, b) for _, a, b in tiles)
    bar = _progress_bar(progress, total_work, f"{scheme.name} {plan.rule.name}")
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    written = 0

    def on_done(tile_id: int, start: int, end: int, result: TileResult, fresh: bool = True) -> None:
        nonlocal written
        if fresh and workdir is not None:
            workdir.write_tile(tile_id, start, end, result)
            # Round-trip through the file so a fresh run and a resumed run merge identical data.
            result = workdir.read_tile(tile_id, start, end)
            written += 1
            if kill_after and written >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
        report.scored_pairs += result.scored_pairs
        report.nan_pairs += result.nan_pairs
        accumulator.add(result)
        if bar is not None:
            bar.update(source.tile_work(plan, start, end))

    for tile_id, start, end in tiles:
        if tile_id in resume_done:
            on_done(tile_id, start, end, workdir.read_tile(tile_id, start, end), fresh=False)
            report.tiles_reused += 1
    todo = [t for t in tiles if t[0] not in resume_done]
    try:
        if engine == "local":
            run_local(scheme, state, source, todo, plan.select, threads, on_done)
        else:
            run_dask(scheme, state, source, todo, plan.select, threads, on_done, scheduler)
    finally:
        if bar is not None:
            bar.close()


def run_local(scheme, state, source, todo: Sequence[Tile], select, threads: int | None, on_done: Callable) -> None:
    for tile_id, start, end in todo:
        on_done(tile_id, start, end, compute_tile(scheme, state, start, end, select, threads, source.listed(start, end)))


def run_dask(scheme, state, source, todo: Sequence[Tile], select, threads: int | None, on_done: Callable, scheduler: Any) -> None:
    """Send one task per tile to a Dask cluster.

    `scheduler` is a `distributed.Client` or a scheduler address ("tcp://host:8786"). The state
    (the packed archive) is scattered to every worker once (`broadcast=True`); tasks receive a
    reference to it, never a copy per tile, plus their own rows' candidate partners if listed.
    """
    try:
        from distributed import Client, as_completed
    except ImportError as e:  # pragma: no cover - the distributed extra is missing
        raise ImportError("engine='dask' needs the 'distributed' package: pip install 'mcgip_fast[distributed]'") from e
    if scheduler is None:
        raise ValueError("engine 'dask' needs a scheduler address (tcp://host:port) or a distributed.Client")
    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        if not todo:
            return
        state_ref = client.scatter(state, broadcast=True, hash=False)
        tile_of = {}
        futures = []
        for tile in todo:
            listed = source.listed(tile[1], tile[2])
            fut = client.submit(compute_tile, scheme, state_ref, tile[1], tile[2], select, threads, listed, pure=False)
            tile_of[fut.key] = tile
            futures.append(fut)
        for fut in as_completed(futures):
            tile_id, start, end = tile_of[fut.key]
            on_done(tile_id, start, end, fut.result())
            fut.release()
    finally:
        if own:
            client.close()


def _progress_bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="pair", unit_scale=True, smoothing=0.1, dynamic_ncols=True)

"""Engines run tiles: `local` (this process, rayon threads) or `dask` (a Dask cluster).

Both call ``on_done(tile_id, start, end, result)`` once per finished tile, in this process, so the
work directory and the merge live with the caller. Output never depends on the engine or on the
order tiles finish in: the merge is order-independent.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

ENGINES = ("local", "dask")

Tile = tuple[int, int, int]  # (tile_id, start row, end row)


def _compute_tile(scheme, state, start: int, end: int, select, threads):
    """The task a Dask worker runs (module-level, so it pickles by reference)."""
    return scheme.tile(state, start, end, select, threads)


def run_local(scheme, state, todo: Sequence[Tile], select, threads: int | None, on_done: Callable) -> None:
    for tile_id, start, end in todo:
        on_done(tile_id, start, end, scheme.tile(state, start, end, select, threads))


def run_dask(scheme, state, todo: Sequence[Tile], select, threads: int | None, on_done: Callable, scheduler: Any) -> None:
    """Send one task per tile to a Dask cluster.

    `scheduler` is a `distributed.Client` or a scheduler address ("tcp://host:8786"). The state
    (the packed archive) is scattered to every worker once (`broadcast=True`); tasks receive a
    reference to it, never a copy per tile.
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
            fut = client.submit(_compute_tile, scheme, state_ref, tile[1], tile[2], select, threads, pure=False)
            tile_of[fut.key] = tile
            futures.append(fut)
        for fut in as_completed(futures):
            tile_id, start, end = tile_of[fut.key]
            on_done(tile_id, start, end, fut.result())
            fut.release()
    finally:
        if own:
            client.close()

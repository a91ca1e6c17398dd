"""Generated scanpath archives for mining tests and benchmarks (not a model of real reading)."""

from __future__ import annotations

import numpy as np

from mcgip_fast.gaze.archive import GazeArchive


def random_archive(
    n: int,
    fixations: int = 30,
    *,
    seed: int = 0,
    screen: tuple[float, float] = (1280.0, 720.0),
    spread: int = 0,
    short: int = 0,
) -> GazeArchive:
    """`n` random-walk scanpaths of about `fixations` fixations (+- `spread`) on `screen`.

    Walks start from a few shared "hot spots" so that some pairs are clearly more similar than
    others. The last `short` scanpaths get 2 fixations (MultiMatch cannot score them).
    """
    rng = np.random.default_rng(seed)
    w, h = screen
    hot = rng.uniform([0.2 * w, 0.2 * h], [0.8 * w, 0.8 * h], size=(8, 2))
    lengths = fixations + (rng.integers(-spread, spread + 1, n) if spread else np.zeros(n, dtype=np.int64))
    lengths = np.maximum(lengths, 3)
    if short:
        lengths[n - short:] = 2
    total = int(lengths.sum())
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    start = hot[rng.integers(0, len(hot), n)]
    steps = rng.normal(0, 0.06 * min(w, h), size=(total, 2))
    steps[offsets[:-1]] = 0
    owner = np.repeat(np.arange(n), lengths)
    pos = np.cumsum(steps, axis=0)
    pos -= np.repeat(pos[offsets[:-1]], lengths, axis=0)
    pos += start[owner]
    x = np.clip(pos[:, 0], 0, w)
    y = np.clip(pos[:, 1], 0, h)
    duration = rng.gamma(4.0, 0.06, total) + 0.02
    ids = [f"img{i:06d}" for i in range(n)]
    return GazeArchive.from_arrays(ids, offsets, x, y, duration, screen=screen)


def jittered_replicas(
    base: GazeArchive,
    n: int,
    *,
    seed: int = 0,
    position_jitter: float = 0.01,
    duration_jitter: float = 0.1,
    drop: float = 0.3,
) -> GazeArchive:
    """`n` scanpaths, each a jittered copy of a random scanpath of `base`: an archive with neighbours.

    Real archives repeat themselves (many viewers on one image, one viewer on many images);
    `random_archive` does not, so its MultiMatch neighbours are noise. Each copy moves every
    fixation by a normal step of `position_jitter` x the screen diagonal, scales each duration by
    ``exp(normal(0, duration_jitter))`` and, with probability `drop`, loses one fixation (not below 3).
    """
    rng = np.random.default_rng(seed)
    offsets, x, y, d = base.packed()
    lengths = np.diff(offsets)
    source = rng.integers(0, len(base), n)
    drop_at = np.where((rng.random(n) < drop) & (lengths[source] > 3), rng.integers(0, np.maximum(lengths[source], 1)), -1)
    new_len = lengths[source] - (drop_at >= 0)
    new_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(new_len, out=new_off[1:])
    # Fixation positions inside each source scanpath, skipping the dropped one.
    owner = np.repeat(np.arange(n), new_len)
    pos = np.arange(new_off[-1]) - new_off[owner]
    pos += (drop_at[owner] >= 0) & (pos >= drop_at[owner])
    take = offsets[source][owner] + pos
    w, h = base.screen
    diag = float(np.hypot(w, h))
    nx = np.clip(x[take] + rng.normal(0, position_jitter * diag, len(take)), 0, w)
    ny = np.clip(y[take] + rng.normal(0, position_jitter * diag, len(take)), 0, h)
    nd = d[take] * np.exp(rng.normal(0, duration_jitter, len(take)))
    ids = [f"rep{i:07d}" for i in range(n)]
    return GazeArchive.from_arrays(ids, new_off, nx, ny, nd, screen=base.screen)

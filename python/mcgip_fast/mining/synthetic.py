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

"""Real-gaze archives of any size for the study's growth benchmarks.

The real studyforrest data in this repository is 30 movie segments x 2 viewers (the embedded
``fixvectors``) plus one 8.7-second REMoDNaV stream of one viewer, too few scanpaths for a growth
table. `grown_studyforrest(n)` therefore replicates the 30 real two-viewer segments: copy 0 is the
real data; copy c > 0 of a segment moves both viewers' scanpaths by one shared random shift
(up to 15 % of the screen), jitters every fixation by 15 px and every duration by about 10 %,
and clips to the screen. Each copy is a new "image" seen by the same two viewers, so the archive
keeps real scanpath shapes and real between-viewer agreement.
"""

from __future__ import annotations

import numpy as np


def grown_studyforrest(n: int, seed: int = 0):
    """An archive of `n` scanpaths (n even): n / 2 images x 2 viewers, from the real studyforrest sample."""
    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.gaze.archive import GazeArchive, Scanpath

    if n < 4 or n % 2:
        raise ValueError(f"n must be an even number >= 4, got {n}")
    base = load_studyforrest()
    w, h = base.screen
    segments = sorted(set(base.image_ids), key=lambda s: int(s.split("_")[1]))
    by_segment = {s: [k for k in range(len(base)) if base.image_ids[k] == s] for s in segments}
    rng = np.random.default_rng(seed)
    scanpaths = []
    for g in range(n // 2):
        seg = segments[g % len(segments)]
        copy = g // len(segments)
        shift = rng.uniform(-0.15, 0.15, size=2) * (w, h) if copy else np.zeros(2)
        for k in by_segment[seg]:
            sp = base[k]
            x, y, d = sp.x.copy(), sp.y.copy(), sp.duration.copy()
            if copy:
                x = np.clip(x + shift[0] + rng.normal(0, 15, len(x)), 0, w)
                y = np.clip(y + shift[1] + rng.normal(0, 15, len(y)), 0, h)
                d = d * np.exp(rng.normal(0, 0.1, len(d)))
            scanpaths.append(Scanpath(x=x, y=y, duration=d, image_id=f"{seg}_copy{copy}", reader=base.readers[k]))
    return GazeArchive.from_scanpaths(scanpaths, screen=(w, h))

"""MultiMatch weights fitted to be blind to who read the images ("reader-invariant").

Readers have personal habits: one scans slowly, one always starts top left, one makes long saccades.
Two scanpaths by the same reader are then alike on the dimensions those habits drive, whatever the
images show, and MultiMatch with fixed weights (McGIP's 0.6 on duration) mines pairs of images that
share a *reader* rather than a finding. Which dimensions a reader's habits drive depends on the
archive, so no fixed weighting suits every archive.

The fit needs only reader ids, never labels. For each of MultiMatch's five dimensions it measures the
**reader effect**: how much more similar two scanpaths by the same reader (of different images) are
than two by different readers, in standard deviations of that dimension over both kinds of pair,

    effect_d = (mean_same_d - mean_cross_d) / std_d,

from `pairs` sampled pairs of each kind (seeded), and weights each dimension by the inverse of its
effect, ``w_d ∝ 1 / (floor + max(effect_d, 0))``, normalised to sum 1. A dimension that carries the
reader (effect near 1) gets little weight; one blind to the reader (effect near 0) gets up to
``1 / floor`` times as much. ``floor`` = 0.05 is one constant for every archive (chosen once, on the
two synthetic archives, not per archive).

The five per-dimension similarities come from `mcgip_fast.similarity.multimatch.multimatch_pairs`, the
same Rust kernel as every mined score, so the fit and the mining share one formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DIMENSIONS = ("vector", "direction", "length", "position", "duration")
READER_INVARIANT = "reader-invariant"
#: Smallest effect a dimension is charged with: bounds the largest weight ratio at 1 / FLOOR.
FLOOR = 0.05


@dataclass(frozen=True)
class ReaderWeightFit:
    weights: tuple[float, ...]
    reader_effects: tuple[float, ...]
    same_reader_pairs: int
    cross_reader_pairs: int
    nan_pairs: int
    readers: int
    floor: float
    seed: int

    def params(self) -> dict[str, Any]:
        return {
            "rule": "w_d ∝ 1 / (floor + max(reader effect_d, 0)), sum 1; reader effect = (mean same-reader - mean "
                    "cross-reader similarity) / std, from sampled pairs of scanpaths of different images; no labels",
            "dimensions": list(DIMENSIONS),
            "reader_effects": [round(e, 6) for e in self.reader_effects],
            "same_reader_pairs": self.same_reader_pairs,
            "cross_reader_pairs": self.cross_reader_pairs,
            "nan_pairs_dropped": self.nan_pairs,
            "readers": self.readers,
            "floor": self.floor,
            "seed": self.seed,
        }


def _sample(rng: np.random.Generator, groups: list[np.ndarray], image: np.ndarray, same: bool, size: int):
    """Up to `size` pairs (i, j) of scanpaths of different images, by one reader (`same`) or by two;
    each scanpath pair about equally likely (readers drawn in proportion to their pair counts)."""
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    flat, starts = np.concatenate(groups), np.r_[0, np.cumsum(sizes)[:-1]]

    def pick(g: np.ndarray) -> np.ndarray:
        return flat[starts[g] + rng.integers(0, sizes[g])]

    got_i, got_j, n = [], [], 0
    for _ in range(100):  # rejections are rare: a few rounds unless readers read very few images
        m = 2 * (size - n) + 16
        if same:
            p = (sizes * (sizes - 1)).astype(np.float64)
            a = b = rng.choice(len(groups), size=m, p=p / p.sum())
        else:
            p = sizes / sizes.sum()
            a, b = rng.choice(len(groups), size=m, p=p), rng.choice(len(groups), size=m, p=p)
        i, j = pick(a), pick(b)
        keep = (i != j) & (image[i] != image[j]) & ((a == b) if same else (a != b))
        got_i.append(i[keep])
        got_j.append(j[keep])
        n += int(keep.sum())
        if n >= size:
            break
    return np.concatenate(got_i)[:size], np.concatenate(got_j)[:size]


def fit_reader_invariant_weights(scheme, archive, *, pairs: int = 4000, floor: float = FLOOR, seed: int = 0,
                                 threads: int | None = None) -> ReaderWeightFit:
    """Fit the weights on `archive` (a GazeArchive with `readers`); `scheme` is a `MultiMatchScheme` with its
    screen set (its MultiMatch options are used). Scanpaths under 3 fixations, which MultiMatch cannot
    score, are left out, as in mining."""
    from ...similarity.multimatch import multimatch_pairs

    readers = getattr(archive, "readers", None)
    if readers is None:
        raise ValueError("weights='reader-invariant' needs reader ids: this archive has none (pass the reader "
                         "column when reading the table, e.g. --reader-col reader, or SynthArchive.gaze(with_readers=True))")
    if isinstance(pairs, bool) or not isinstance(pairs, (int, np.integer)) or pairs < 100:
        raise ValueError(f"reader-invariant weights: pairs must be an integer >= 100, got {pairs!r}")
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"reader-invariant weights: floor must be a positive number, got {floor!r}")
    rdr = np.asarray([str(r) for r in readers], dtype=object)
    image = np.unique(np.asarray(archive.image_ids).astype(str), return_inverse=True)[1]
    active = np.flatnonzero(archive.lengths >= 3)
    names, code = np.unique(rdr[active], return_inverse=True)
    groups = [active[code == g] for g in range(len(names))]
    if len(groups) < 2:
        raise ValueError(f"weights='reader-invariant' compares readers with each other; this archive has "
                         f"{len(groups)} reader with scorable scanpaths ({', '.join(map(str, names))}): pass fixed --weights")
    if max(len(g) for g in groups) < 2:
        raise ValueError("weights='reader-invariant' needs a reader who read at least two images; every reader here "
                         "read one")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919]))
    si, sj = _sample(rng, groups, image, True, int(pairs))
    ci, cj = _sample(rng, groups, image, False, int(pairs))
    i, j = np.concatenate([si, ci]), np.concatenate([sj, cj])
    is_same = np.r_[np.ones(len(si), bool), np.zeros(len(ci), bool)]
    screen, grouping, tdir, tdur, tamp = scheme.multimatch_params()
    dims = multimatch_pairs(archive, np.stack([i, j], axis=1), screen=screen, grouping=grouping, tdir=tdir, tdur=tdur,
                            tamp=tamp, threads=threads)
    finite = np.isfinite(dims).all(axis=1)
    dims, is_same = dims[finite], is_same[finite]
    if is_same.sum() < 2 or (~is_same).sum() < 2:
        raise ValueError("reader-invariant weights: too few scorable same-reader or cross-reader pairs")
    std = dims.std(axis=0)
    effect = (dims[is_same].mean(axis=0) - dims[~is_same].mean(axis=0)) / np.where(std > 0, std, 1.0)
    raw = 1.0 / (floor + np.maximum(effect, 0.0))
    w = raw / raw.sum()
    return ReaderWeightFit(tuple(float(v) for v in w), tuple(float(e) for e in effect), int(len(si)), int(len(ci)),
                           int((~finite).sum()), len(groups), float(floor), int(seed))

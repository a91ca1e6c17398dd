"""Control graphs: positives with the structure of a mined graph but none of its information.

`shuffle_positives(pairs, seed)` keeps the images and the number of positives of every image and
permutes which images they point to, by degree-preserving edge swaps (Maslov & Sneppen 2002):
two edges (a, b) and (c, d) become (a, d) and (c, b). Training on the result separates "gaze
carries information" from "extra positives of any kind regularise a weak baseline".

The swaps run in vectorised rounds: each round pairs every edge with another at random,
proposes one swap per pair and accepts those that create no self-pair and no duplicate edge
(checked against the current graph and the other proposals of the round). Every round keeps
every degree, so the result does too, exactly, whatever is rejected. Symmetric graphs stay
symmetric (undirected edges are swapped); directed graphs keep every out- and in-degree.
Memory and time are O(edges log edges) per round; no dense matrix.
"""

from __future__ import annotations

import numpy as np

from mcgip_fast.mining.pairs import PositivePairs

__all__ = ["shuffle_positives", "DEFAULT_ROUNDS"]

#: Each round swaps roughly half the edges; after 30, the share of edges left where they were
#: is at the level a random graph of the same degrees would share with the original by chance.
DEFAULT_ROUNDS = 30


def _swap_round(a: np.ndarray, b: np.ndarray, n: int, undirected: bool, rng: np.random.Generator) -> int:
    """One round of swaps on the edge list (a[k], b[k]), in place; returns how many were accepted."""
    m = len(a)
    order = rng.permutation(m)
    half = m // 2
    e1, e2 = order[:half], order[half:2 * half]
    c, d = a[e2].copy(), b[e2].copy()
    if undirected:  # either way round: (a, d) + (c, b) or (a, c) + (d, b)
        flip = rng.random(half) < 0.5
        c, d = np.where(flip, d, c), np.where(flip, c, d)
    new1 = (a[e1], d)
    new2 = (c, b[e1])

    def key(x, y):
        if undirected:
            x, y = np.minimum(x, y), np.maximum(x, y)
        return x * n + y

    existing = np.sort(key(a, b))
    k1, k2 = key(*new1), key(*new2)

    def exists(k):
        pos = np.minimum(np.searchsorted(existing, k), m - 1)
        return existing[pos] == k

    ok = (new1[0] != new1[1]) & (new2[0] != new2[1]) & ~exists(k1) & ~exists(k2) & (k1 != k2)
    # two proposals of this round must not create the same edge
    proposed = np.concatenate([k1[ok], k2[ok]])
    uniq, counts = np.unique(proposed, return_counts=True)
    clash = uniq[counts > 1]
    if len(clash):
        ok &= ~np.isin(k1, clash) & ~np.isin(k2, clash)
    a[e2[ok]], b[e2[ok]] = new2[0][ok], new2[1][ok]
    b[e1[ok]] = new1[1][ok]
    return int(ok.sum())


def shuffle_positives(pairs: PositivePairs, seed: int = 0, rounds: int = DEFAULT_ROUNDS) -> PositivePairs:
    """A graph on the same images with the same degrees and permuted partners.

    Deterministic in `seed`. Each edge keeps its score and its first image (the second is
    swapped), so the score distribution is unchanged. The result records the control in its
    params (``control``, ``seed``, ``rounds``, ``unchanged_share``: the share of its pairs that
    are also pairs of the source, and ``source_params``) and keeps the archive hash, so it trains
    on the same archive as the source.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    n = len(pairs)
    rows, cols, scores = pairs.edges()
    undirected = pairs.symmetric
    keep = rows < cols if undirected else np.ones(len(rows), dtype=bool)
    a, b, s = rows[keep].copy(), cols[keep].copy(), scores[keep].copy()
    if undirected and not np.array_equal(np.sort(rows * n + cols), np.sort(cols * n + rows)):
        raise ValueError("the pairs file says it is symmetric but some edge has no mirror")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5F1E]))
    if len(a) >= 2:
        for _ in range(rounds):
            _swap_round(a, b, n, undirected, rng)
    lo, hi = (np.minimum(a, b), np.maximum(a, b)) if undirected else (a, b)
    source = PositivePairs.from_edges(pairs.ids, rows[keep], cols[keep], scores[keep], symmetric=undirected)
    unchanged = float(source.are_positive(lo, hi).mean()) if len(a) else 0.0
    params = {"control": "shuffled positives (degree-preserving edge swaps)", "seed": int(seed), "rounds": int(rounds),
              "unchanged_share": unchanged, "source_params": pairs.params}
    return PositivePairs.from_edges(pairs.ids, a, b, s, symmetric=undirected, params=params,
                                    archive_hash=pairs.archive_hash)

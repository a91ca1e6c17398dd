"""Stage 2, candidates: which pairs the score stage scores exactly.

- `Exhaustive`: every pair; the scheme's own tiles enumerate them (``multimatch`` in Rust tiles,
  ``hu`` / ``dhash`` with their exact or FAISS search, see `mcgip_fast.mining.schemes.heatmap`).
- `HeatmapPrefilter`: ``multimatch`` with ``prefilter=C``: each item's C nearest heatmap feature
  vectors (FAISS flat L2). Kept for its pair files; it misses most of the exact top-k.
- `AnnCandidates` (`ann`): each item's C nearest scanpath embeddings (Rust, one pass; FAISS IVF
  or flat, chosen from N), with recall measured on sampled queries scored exactly one-vs-all.

`retrieval` holds the FAISS indexes (`BinaryIndex`, `FloatIndex`, `HuIndex`) they use.
A candidate source gives, per tile of rows, either nothing (the scheme enumerates all pairs)
or a `Listed` block of partner ids, which the score stage scores with `scheme.score_pairs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CANDIDATES = ("exact", "ann", "auto")


@dataclass
class Listed:
    """Partners of rows ``start..start + len(partners)``: (rows, C) ids, -1 where a row has fewer."""

    start: int
    partners: np.ndarray
    #: Score each unordered pair once and give it to both rows (the prefilter's way); else rows keep their own lists.
    mirror: bool = False


class Exhaustive:
    """Every pair, enumerated by the scheme's tiles."""

    name = "exhaustive"

    def __init__(self, plan) -> None:
        self.complete_rows = bool(getattr(plan.scheme, "complete_rows", False))

    def tile_rows_hint(self, plan) -> int | None:
        hint = getattr(plan.scheme, "tile_rows_hint", None)
        return hint(plan.n) if hint else None

    def build(self, plan, workdir, tiles, threads, progress) -> None:
        pass

    def tile_work(self, plan, start: int, end: int) -> int:
        return plan.scheme.tile_work(plan.state, start, end)

    def listed(self, start: int, end: int) -> Listed | None:
        return None

    def measure(self, plan, row, col, score, threads) -> None:
        pass


class HeatmapPrefilter:
    """``multimatch`` ``prefilter=C``: each row's C nearest heatmap features (FAISS flat L2), exact re-rank."""

    name = "heatmap prefilter"
    complete_rows = False

    def __init__(self, plan) -> None:
        self.per_item = min(int(plan.scheme.prefilter), plan.n - 1)
        self.partners: np.ndarray | None = None

    def tile_rows_hint(self, plan) -> int | None:
        return None

    def build(self, plan, workdir, tiles, threads, progress) -> None:
        import faiss

        features = heatmap_features(plan.archive, plan.scheme)
        index = faiss.IndexFlatL2(features.shape[1])
        index.add(features)
        c = self.per_item
        partners = np.empty((plan.n, c + 1), dtype=np.int64)
        for _, start, end in tiles:  # per tile, as the searches always ran: same batches, same neighbours
            partners[start:end] = index.search(features[start:end], c + 1)[1]
        self.partners = partners

    def tile_work(self, plan, start: int, end: int) -> int:
        return (end - start) * self.per_item

    def listed(self, start: int, end: int) -> Listed:
        return Listed(start, self.partners[start:end], mirror=True)

    def measure(self, plan, row, col, score, threads) -> None:
        pass


def heatmap_features(archive, scheme) -> np.ndarray:
    """The prefilter's features: unit-length gaze maps and log-duration quantiles, weighted by the scheme's weights."""
    from mcgip_fast.gaze.heatmaps import render_heatmaps

    offsets, _, _, d = archive.packed()
    lengths = np.diff(offsets)
    size = scheme.heatmap_size
    maps = render_heatmaps(archive, (size, size), sigma=size / 16, normalise="none")
    spatial = maps.reshape(len(maps), -1).astype(np.float64)
    spatial /= np.maximum(np.linalg.norm(spatial, axis=1, keepdims=True), 1e-300)
    # Duration quantiles stand in for the duration dimension (McGIP weighs it 0.6).
    q = np.linspace(0.1, 0.9, 9)
    durs = np.zeros((len(lengths), len(q)))
    for i in np.flatnonzero(lengths > 0):
        durs[i] = np.quantile(np.log(d[offsets[i]:offsets[i + 1]]), q)
    durs -= durs.mean(axis=0)
    durs /= max(float(np.sqrt((durs**2).sum(axis=1).mean())), 1e-12)
    w = np.asarray(scheme.weights) / sum(scheme.weights)
    return np.hstack([np.sqrt(w[:4].sum()) * spatial, np.sqrt(w[4]) * durs]).astype(np.float32)


def make_candidates(candidates: str | Any, plan):
    """The candidate source for `mine(candidates=...)`: ``"exact"``, ``"ann"``, ``"auto"`` or an `AnnCandidates`."""
    from ..aggregate import AggregateScheme
    from .ann import AnnCandidates

    if isinstance(candidates, AnnCandidates):
        source = candidates
    elif candidates in ("exact", None):
        source = None
    elif candidates in ("ann", "auto"):
        source = AnnCandidates(auto=candidates == "auto")
    else:
        raise ValueError(f"unknown candidates {candidates!r}; choose one of {', '.join(CANDIDATES)} (or pass an AnnCandidates)")
    prefilter = getattr(plan.scheme, "prefilter", None)
    if source is not None and isinstance(plan.scheme, AggregateScheme):
        # An image's score is a mean over readers: one scanpath embedding per item cannot stand for it.
        if source.auto:
            source = None
        else:
            raise ValueError(
                f"candidates='ann' embeds one scanpath per item; {plan.scheme.mode} aggregation over readers scores "
                "every image pair exactly: pass aggregate='none' to mine readings with ann candidates, or candidates='exact'"
            )
    if source is None:
        return HeatmapPrefilter(plan) if prefilter is not None else Exhaustive(plan)
    if plan.scheme.name != "multimatch":
        raise ValueError(
            f"candidates={candidates!r} is for the multimatch scheme; {plan.scheme.name} chooses its candidates "
            "with its own option candidates='exact' | 'faiss'"
        )
    if prefilter is not None:
        raise ValueError("prefilter (heatmap candidates) and candidates='ann' are two candidate stages: choose one")
    return source.bind(plan)

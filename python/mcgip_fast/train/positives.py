"""Device-side positive look-up from the sparse `PositivePairs` graph.

The trainer asks, every step, "which of these M candidates (in-batch keys, queue entries) are
positives of each of these B anchors?". `PositiveLookup` answers with one vectorised
`torch.searchsorted` over the graph's sorted int64 keys ``i * n + j``: O(B * M * log nnz) work,
O(B * M) memory, no Python loop and no dense N x N matrix.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["PositiveLookup"]


class PositiveLookup:
    """Positive weights between anchor and candidate image indices, computed on the device.

    An anchor's positives are candidates showing the same image (same index) and, when the
    graph is given, candidates whose image is a gaze positive of the anchor's image. Index -1
    marks an empty slot (e.g. an unfilled queue entry) and is never a positive.

    Args:
        keys: sorted int64 keys ``i * n + j`` of the graph's edges (`PositivePairs.keys()`).
        scores: float score of each key (same order).
        n: number of items in the graph. Indices >= n (images not in the graph) have no gaze positives.
        device: where the look-up runs.
    """

    def __init__(self, keys, scores, n: int, device: torch.device | str = "cpu") -> None:
        keys = torch.as_tensor(np.asarray(keys, dtype=np.int64))
        scores = torch.as_tensor(np.asarray(scores, dtype=np.float32))
        if keys.ndim != 1 or keys.shape != scores.shape:
            raise ValueError(f"keys and scores must be 1-D of equal length, got {tuple(keys.shape)} and {tuple(scores.shape)}")
        if len(keys) > 1 and not bool(torch.all(keys[1:] > keys[:-1])):
            raise ValueError("keys must be strictly increasing")
        self.n = int(n)
        self.keys = keys.to(device)
        self.scores = scores.to(device)

    @classmethod
    def from_pairs(cls, pairs, device: torch.device | str = "cpu") -> "PositiveLookup":
        """Build from a `mcgip_fast.mining.PositivePairs` graph."""
        return cls(pairs.keys(), pairs.scores, len(pairs), device)

    @classmethod
    def identity(cls, device: torch.device | str = "cpu") -> "PositiveLookup":
        """No gaze positives: only the same image is a positive (the baselines)."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), 0, device)

    @property
    def n_edges(self) -> int:
        return int(self.keys.numel())

    def to(self, device: torch.device | str) -> "PositiveLookup":
        self.keys = self.keys.to(device)
        self.scores = self.scores.to(device)
        return self

    def weights(
        self,
        anchors: torch.Tensor,
        candidates: torch.Tensor,
        *,
        soft: bool = False,
        drop_p: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Float (B, M) positive weights of candidates for anchors; 0 means negative.

        Same image: weight 1. Gaze positive: weight 1, or the mined score clipped to [0, 1]
        with `soft`. With `drop_p`, each gaze positive (never the same image) is dropped,
        independently, with probability `drop_p`.
        """
        if not 0.0 <= drop_p <= 1.0:
            raise ValueError(f"drop_p must be in [0, 1], got {drop_p}")
        a = anchors.reshape(-1, 1).long()
        c = candidates.reshape(1, -1).long()
        same = (a == c) & (c >= 0) & (a >= 0)
        w = same.to(torch.float32)
        if self.n_edges == 0:
            return w
        n = self.n
        valid = (a >= 0) & (c >= 0) & (a < n) & (c < n) & ~same
        query = torch.where(valid, a * n + c, torch.full_like(a * c, -1))
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.n_edges - 1)
        hit = valid & (self.keys[pos] == query)
        if drop_p > 0.0:
            u = torch.rand(hit.shape, generator=generator, device=hit.device)
            hit &= u >= drop_p
        gaze = self.scores[pos].clamp(0.0, 1.0) if soft else torch.ones_like(w)
        return w + torch.where(hit, gaze, torch.zeros_like(w))

"""Device-side positive look-up from the sparse `PositivePairs` graph.

The trainer asks, every step, "which of these M candidates (in-batch keys, queue entries) are
positives of each of these B anchors?". `PositiveLookup` answers with vectorised torch ops on the
graph's CSR arrays: sort the candidate ids once, gather each anchor's CSR row, and binary-search
each neighbour in the sorted candidates. Work is O(M log M + B * degree * log M + hits) plus
filling the (B, M) output; no Python loop, no dense N x N matrix, and no search per (anchor,
candidate) cell.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["PositiveLookup"]


class PositiveLookup:
    """Positive weights between anchor and candidate image indices, computed on the device.

    An anchor's positives are candidates showing the same image (same index) and, when the
    graph is given, candidates whose image is a gaze positive of the anchor's image. Index -1
    marks an empty slot (e.g. an unfilled queue entry) and is never a positive. Indices >= n
    (images outside the graph) have no gaze positives.

    Args:
        indptr: (n + 1,) CSR row pointers.
        indices: (nnz,) neighbour indices, each row's without duplicates.
        scores: (nnz,) score of each edge.
        device: where the look-up runs.
    """

    def __init__(self, indptr, indices, scores, device: torch.device | str = "cpu") -> None:
        indptr = torch.as_tensor(np.asarray(indptr, dtype=np.int64))
        indices = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        scores = torch.as_tensor(np.asarray(scores, dtype=np.float32))
        if indptr.ndim != 1 or len(indptr) < 1 or int(indptr[0]) != 0 or bool(torch.any(indptr[1:] < indptr[:-1])):
            raise ValueError("indptr must be a non-decreasing 1-D array starting at 0")
        if indices.shape != scores.shape or indices.ndim != 1 or len(indices) != int(indptr[-1]):
            raise ValueError(f"indices and scores must both have indptr[-1] = {int(indptr[-1])} entries")
        n = len(indptr) - 1
        if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise ValueError(f"neighbour index out of range for {n} items")
        self.n = n
        self.indptr, self.indices, self.scores = indptr.to(device), indices.to(device), scores.to(device)

    @classmethod
    def from_pairs(cls, pairs, device: torch.device | str = "cpu") -> "PositiveLookup":
        """Build from a `mcgip_fast.mining.PositivePairs` graph."""
        return cls(pairs.indptr, pairs.indices, pairs.scores, device)

    @classmethod
    def identity(cls, device: torch.device | str = "cpu") -> "PositiveLookup":
        """No gaze positives: only the same image is a positive (the baselines)."""
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), device)

    @property
    def n_edges(self) -> int:
        return int(self.indices.numel())

    def to(self, device: torch.device | str) -> "PositiveLookup":
        self.indptr, self.indices, self.scores = self.indptr.to(device), self.indices.to(device), self.scores.to(device)
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
        a = anchors.reshape(-1).long()
        c = candidates.reshape(-1).long()
        dev = c.device
        w = torch.zeros(len(a), len(c), device=dev)
        if len(a) == 0 or len(c) == 0:
            return w
        # what to look for: each anchor's own image, then its CSR row (flattened)
        batch_rows = torch.arange(len(a), device=dev)
        own = a >= 0
        rows, nbs, edges = [batch_rows[own]], [a[own]], [torch.full((int(own.sum()),), -1, device=dev, dtype=torch.long)]
        if self.n_edges:
            in_graph = (a >= 0) & (a < self.n)
            a_safe = torch.where(in_graph, a, torch.zeros_like(a))
            start = self.indptr[a_safe]
            deg = torch.where(in_graph, self.indptr[a_safe + 1] - start, torch.zeros_like(start))
            total = int(deg.sum())
            first = torch.cumsum(deg, 0) - deg
            edge = torch.repeat_interleave(start - first, deg, output_size=total) + torch.arange(total, device=dev)
            rows.append(torch.repeat_interleave(batch_rows, deg, output_size=total))
            nbs.append(self.indices[edge])
            edges.append(edge)
        rows, nb, edge = torch.cat(rows), torch.cat(nbs), torch.cat(edges)
        # where each id sits among the sorted candidates (a range: the queue may repeat ids)
        c_sorted, order = torch.sort(c, stable=True)
        lo = torch.searchsorted(c_sorted, nb, side="left")
        count = torch.searchsorted(c_sorted, nb, side="right") - lo
        hits = int(count.sum())
        if hits == 0:
            return w
        which = torch.repeat_interleave(torch.arange(len(nb), device=dev), count, output_size=hits)
        hit_first = torch.cumsum(count, 0) - count
        pos = torch.repeat_interleave(lo - hit_first, count, output_size=hits) + torch.arange(hits, device=dev)
        r, col, e = rows[which], order[pos], edge[which]
        gaze = e >= 0
        val = torch.ones(hits, device=dev)
        if soft and self.n_edges:
            val = torch.where(gaze, self.scores[e.clamp(min=0)].clamp(0.0, 1.0), val)
        keep = ~gaze | (nb[which] != a[r])  # a self-loop in the graph never overrides "same image"
        if drop_p > 0.0:
            keep &= ~gaze | (torch.rand(hits, generator=generator, device=dev) >= drop_p)
        w[r[keep], col[keep]] = val[keep]
        return w

"""SimCLR (NT-Xent) with gaze positives, SupCon-style: every view of the same image or of a gaze
positive image, across the gathered global batch, is a positive; optionally also the remembered
projections of gaze positives from earlier steps (`gaze_memory`)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcgip_fast.train import ddp
from mcgip_fast.train.base import GazeMethod, MethodOutput
from mcgip_fast.train.heads import simclr_projector
from mcgip_fast.train.losses import multi_positive_infonce

__all__ = ["SimCLR"]


class SimCLR(GazeMethod):
    """SimCLR (Chen et al. 2020). With gaze off and one other view per image this is NT-Xent.

    Args:
        proj_dim, hidden_dim: projector sizes (paper: 128 and the feature dim).
        temperature: tau (paper: 0.1-0.5).
        gaze_memory: remembered projections (0: none). Only the entries of the anchor's gaze positives
            (and of its own image) count, as positives; the others leave the softmax, so the negatives
            are SimCLR's in-batch ones with or without a memory. See `GazeMethod.init_gaze_memory`.
        **kw: see `GazeMethod`.
    """

    default_temperature = 0.2

    def __init__(self, backbone: nn.Module, *, proj_dim: int = 128, hidden_dim: int | None = None, temperature: float = 0.2,
                 gaze_memory: int = 0, **kw) -> None:
        super().__init__(backbone, **kw)
        self.projector = simclr_projector(backbone.feature_dim, hidden_dim or backbone.feature_dim, proj_dim)
        self.temperature = float(temperature)
        self.init_gaze_memory(proj_dim, gaze_memory)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, index: torch.Tensor) -> MethodOutput:
        b = view1.shape[0]
        z = F.normalize(self.projector(self.backbone(torch.cat([view1, view2]))), dim=1)
        ids = torch.cat([index, index])
        z_all = ddp.gather_with_grad(z)
        with torch.no_grad():
            ids_all = ddp.all_gather_nograd(ids)
        candidates, candidate_ids = z_all, ids_all
        if self.memory is not None:
            self.memory.check_batch(ids_all.shape[0] // 2)  # one entry per image, two views per image
            keys, mem_ids = self.memory.snapshot()
            candidates = torch.cat([z_all, keys.to(z)])
            candidate_ids = torch.cat([ids_all, mem_ids.to(ids_all.device)])
        logits = z @ candidates.T / self.temperature
        own = self.own_columns(2 * b, z.device)
        exclude = torch.zeros_like(logits, dtype=torch.bool)
        exclude[torch.arange(2 * b, device=z.device), own] = True
        w = self.positive_weights(ids, candidate_ids, exclude=exclude)
        if self.memory is not None:
            # a remembered entry that is no positive of this anchor leaves the softmax: the memory adds
            # positives only, so the negatives (in-batch) are the baseline's with or without it
            n = z_all.shape[0]
            exclude[:, n:] |= w[:, n:] == 0
        loss = multi_positive_infonce(logits, w, exclude=exclude, average=self.loss_average)
        if self.memory is not None:
            self._remember_views(z_all.detach(), ids_all, b)
        self.last_weights = w.detach()  # inspected by tests and benchmarks
        return MethodOutput(loss, self.extra_positives(w, 2 * b))

    def _remember_views(self, z_all: torch.Tensor, ids_all: torch.Tensor, b: int) -> None:
        """Enqueue one entry per image of the gathered batch: each rank contributed [view1; view2]."""
        ranks = z_all.shape[0] // (2 * b)
        views = z_all.reshape(ranks, 2, b, -1)
        image_ids = ids_all.reshape(ranks, 2, b)[:, 0].reshape(-1)
        self.remember(views[:, 0].reshape(ranks * b, -1), views[:, 1].reshape(ranks * b, -1), image_ids)

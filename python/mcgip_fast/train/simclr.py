"""SimCLR (NT-Xent) with gaze positives, SupCon-style: every view of the same image or of a gaze
positive image, across the gathered global batch, is a positive."""

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
        **kw: see `GazeMethod`.
    """

    default_temperature = 0.2

    def __init__(self, backbone: nn.Module, *, proj_dim: int = 128, hidden_dim: int | None = None, temperature: float = 0.2, **kw) -> None:
        super().__init__(backbone, **kw)
        self.projector = simclr_projector(backbone.feature_dim, hidden_dim or backbone.feature_dim, proj_dim)
        self.temperature = float(temperature)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, index: torch.Tensor) -> MethodOutput:
        b = view1.shape[0]
        z = F.normalize(self.projector(self.backbone(torch.cat([view1, view2]))), dim=1)
        ids = torch.cat([index, index])
        z_all = ddp.gather_with_grad(z)
        with torch.no_grad():
            ids_all = ddp.all_gather_nograd(ids)
        logits = z @ z_all.T / self.temperature
        own = self.own_columns(2 * b, z.device)
        exclude = torch.zeros_like(logits, dtype=torch.bool)
        exclude[torch.arange(2 * b, device=z.device), own] = True
        w = self.positive_weights(ids, ids_all, exclude=exclude)
        loss = multi_positive_infonce(logits, w, exclude=exclude, average=self.loss_average)
        self.last_weights = w.detach()  # inspected by tests and benchmarks
        return MethodOutput(loss, self.extra_positives(w, 2 * b))

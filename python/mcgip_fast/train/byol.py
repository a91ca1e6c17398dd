"""BYOL with gaze positives: each prediction is pulled towards the targets of its image and of
every in-batch gaze positive (targets gathered over ranks), and optionally of every gaze positive
in a memory of earlier steps' targets (`gaze_memory`)."""

from __future__ import annotations

import torch
import torch.nn as nn

from mcgip_fast.train import ddp
from mcgip_fast.train.base import GazeMethod, MethodOutput, ema_update, frozen_copy
from mcgip_fast.train.heads import byol_mlp

__all__ = ["BYOL"]


class BYOL(GazeMethod):
    """BYOL (Grill et al. 2020): online backbone + projector + predictor, EMA target network.

    Args:
        proj_dim, hidden_dim: projector/predictor sizes (paper: 256 and 4096).
        momentum: base target EMA, raised to 1 along a cosine over training (paper: 0.996).
        gaze_memory: remembered targets (0: none); see `GazeMethod.init_gaze_memory`.
        **kw: see `GazeMethod`.
    """

    default_momentum = 0.996

    def __init__(self, backbone: nn.Module, *, proj_dim: int = 256, hidden_dim: int = 4096, momentum: float = 0.996,
                 gaze_memory: int = 0, **kw) -> None:
        super().__init__(backbone, **kw)
        self.projector = byol_mlp(backbone.feature_dim, hidden_dim, proj_dim)
        self.predictor = byol_mlp(proj_dim, hidden_dim, proj_dim)
        self.target_backbone = frozen_copy(self.backbone)
        self.target_projector = frozen_copy(self.projector)
        self.momentum = float(momentum)
        self.init_gaze_memory(proj_dim, gaze_memory)
        self.init_gaze_predictor(lambda: byol_mlp(proj_dim, hidden_dim, proj_dim))

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, index: torch.Tensor) -> MethodOutput:
        b = view1.shape[0]
        z1 = self.projector(self.backbone(view1))
        z2 = self.projector(self.backbone(view2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            t1 = ddp.all_gather_nograd(self.target_projector(self.target_backbone(view1)))
            t2 = ddp.all_gather_nograd(self.target_projector(self.target_backbone(view2)))
            ids_all = ddp.all_gather_nograd(index)
        w, ids, c2, c1 = self.with_memory(index, ids_all, t2, t1)
        loss = (self.predict_loss(z1, p1, c2, w, index, ids, "byol") + self.predict_loss(z2, p2, c1, w, index, ids, "byol")
                + self.spread_penalty(z1, z2))
        self.remember(t1, t2, ids_all)
        self.last_weights = w.detach()  # inspected by tests and benchmarks
        return MethodOutput(loss, self.extra_positives(w, b))

    def momentum_update(self, step: int, total_steps: int) -> None:
        m = self.cosine_momentum(self.momentum, step, total_steps)
        ema_update(self.target_backbone, self.backbone, m)
        ema_update(self.target_projector, self.projector, m)

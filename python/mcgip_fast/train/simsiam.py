"""SimSiam with gaze positives: each prediction is pulled towards the (stop-gradient) projections
of its own image and of every in-batch gaze positive (gathered over ranks), and optionally of
every gaze positive in a memory of earlier steps' projections (`gaze_memory`)."""

from __future__ import annotations

import torch
import torch.nn as nn

from mcgip_fast.train import ddp
from mcgip_fast.train.base import GazeMethod, MethodOutput
from mcgip_fast.train.heads import simsiam_predictor, simsiam_projector

__all__ = ["SimSiam"]


class SimSiam(GazeMethod):
    """SimSiam (Chen & He 2021): no momentum encoder; symmetric negative cosine, stop-gradient.

    Args:
        proj_dim, hidden_dim: projector sizes (paper: 2048 and 2048); the predictor's bottleneck
            is proj_dim // 4 (paper: 512).
        gaze_memory: remembered projections (0: none); see `GazeMethod.init_gaze_memory`.
        **kw: see `GazeMethod`.
    """

    def __init__(self, backbone: nn.Module, *, proj_dim: int = 2048, hidden_dim: int = 2048, gaze_memory: int = 0,
                 **kw) -> None:
        super().__init__(backbone, **kw)
        self.projector = simsiam_projector(backbone.feature_dim, hidden_dim, proj_dim)
        self.predictor = simsiam_predictor(proj_dim, max(1, proj_dim // 4))
        self.init_gaze_memory(proj_dim, gaze_memory)
        self.init_gaze_predictor(lambda: simsiam_predictor(proj_dim, max(1, proj_dim // 4)))

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, index: torch.Tensor) -> MethodOutput:
        b = view1.shape[0]
        z1 = self.projector(self.backbone(view1))
        z2 = self.projector(self.backbone(view2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            z1_all = ddp.all_gather_nograd(z1.detach())
            z2_all = ddp.all_gather_nograd(z2.detach())
            ids_all = ddp.all_gather_nograd(index)
        w, ids, c2, c1 = self.with_memory(index, ids_all, z2_all, z1_all)
        loss = 0.5 * (self.predict_loss(z1, p1, c2, w, index, ids, "simsiam")
                      + self.predict_loss(z2, p2, c1, w, index, ids, "simsiam")) + self.spread_penalty(z1, z2)
        self.remember(z1_all, z2_all, ids_all)
        self.last_weights = w.detach()  # inspected by tests and benchmarks
        return MethodOutput(loss, self.extra_positives(w, b))

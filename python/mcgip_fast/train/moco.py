"""MoCo v2 with gaze positives from the key queue and the batch.

For query i the positives are its own key plus every in-batch key and queue entry whose image is
a gaze positive of i, or is image i itself. Empty queue slots (id -1) are never positives. Keys
and ids are gathered from every process before they are used and enqueued, so every rank holds the
same queue and sees the same candidates.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcgip_fast.train import ddp
from mcgip_fast.train.base import GazeMethod, MethodOutput, ema_update, frozen_copy
from mcgip_fast.train.heads import moco_v2_projector
from mcgip_fast.train.losses import multi_positive_infonce
from mcgip_fast.train.queue import KeyQueue

__all__ = ["MoCo"]


class MoCo(GazeMethod):
    """MoCo v2 (Chen et al. 2020) with McGIP's multi-positive InfoNCE.

    Args:
        backbone: encoder; `backbone.feature_dim` sizes the projector.
        proj_dim, hidden_dim: projector sizes (paper: 128 and the feature dim).
        queue_size: number of keys kept (K); must be a multiple of the global batch.
        temperature: tau (McGIP uses 0.2).
        momentum: key-encoder EMA (0.999).
        in_batch_keys: also contrast against the other in-batch keys (gathered over ranks). With
            False and gaze off this is exactly the official MoCo v2 loss.
        shuffle_bn: under DDP, compute keys on a global batch shuffled across processes (MoCo's
            shuffling BN), so BatchNorm statistics cannot leak which key matches which query.
            The permutation is seeded by the step, so it is the same on every rank and after a resume.
        **kw: see `GazeMethod`.
    """

    default_momentum = 0.999
    default_temperature = 0.2

    def __init__(self, backbone: nn.Module, *, proj_dim: int = 128, hidden_dim: int | None = None, queue_size: int = 4096,
                 temperature: float = 0.2, momentum: float = 0.999, in_batch_keys: bool = True, shuffle_bn: bool = True,
                 **kw) -> None:
        super().__init__(backbone, **kw)
        hidden_dim = hidden_dim or backbone.feature_dim
        self.projector = moco_v2_projector(backbone.feature_dim, hidden_dim, proj_dim)
        self.key_backbone = frozen_copy(self.backbone)
        self.key_projector = frozen_copy(self.projector)
        self.queue = KeyQueue(proj_dim, queue_size)
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.in_batch_keys = in_batch_keys
        self.shuffle_bn = shuffle_bn
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _keys(self, view2: torch.Tensor) -> torch.Tensor:
        """Normalised keys of every rank's batch, in rank order (shuffled BN under DDP)."""
        def encode(x):
            return F.normalize(self.key_projector(self.key_backbone(x)), dim=1)

        world = ddp.world_size()
        if world == 1 or not self.shuffle_bn:
            return ddp.all_gather_nograd(encode(view2))
        b = view2.shape[0]
        x_all = ddp.all_gather_nograd(view2)
        g = torch.Generator().manual_seed(int(self.steps))
        perm = torch.randperm(b * world, generator=g).to(view2.device)
        r = ddp.rank()
        k_shuffled = ddp.all_gather_nograd(encode(x_all[perm[r * b : (r + 1) * b]]))
        return k_shuffled[torch.argsort(perm)]

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, index: torch.Tensor) -> MethodOutput:
        b = view1.shape[0]
        q = F.normalize(self.projector(self.backbone(view1)), dim=1)
        with torch.no_grad():
            self.steps += 1
            k_all = self._keys(view2)
            k = k_all[self.own_columns(b, k_all.device)]
            ids_all = ddp.all_gather_nograd(index)
        self.queue.check_batch(k_all.shape[0])
        queue_keys, queue_ids = self.queue.snapshot()
        queue_keys = queue_keys.to(q.dtype)
        queue_ids = queue_ids.to(index.device)
        if self.in_batch_keys:
            batch_logits = q @ k_all.to(q.dtype).T
            batch_ids = ids_all
            w_batch = self.unbalanced_weights(index, ids_all)
        else:  # one column: each query's own key
            batch_logits = (q * k.to(q.dtype)).sum(dim=1, keepdim=True)
            batch_ids = None
            w_batch = torch.ones(b, 1, device=q.device)
        # baseline: every queue entry is a negative (even an older key of the same image), as in MoCo
        w_queue = self.unbalanced_weights(index, queue_ids) if self.gaze else torch.zeros(b, queue_ids.shape[0], device=q.device)
        weights = torch.cat([w_batch, w_queue], dim=1)
        if self.gaze_weight is not None:
            own_batch = self.same_image(index, batch_ids) if batch_ids is not None else torch.ones_like(w_batch, dtype=torch.bool)
            own_queue = self.same_image(index, queue_ids) & self.gaze
            weights = self.balance(weights, torch.cat([own_batch, own_queue], dim=1))
        logits = torch.cat([batch_logits, q @ queue_keys.T], dim=1) / self.temperature
        loss = multi_positive_infonce(logits, weights, average=self.loss_average)
        self.queue.enqueue(k_all, ids_all)
        self.last_weights = weights.detach()  # inspected by tests and benchmarks
        return MethodOutput(loss, self.extra_positives(weights, b))

    def momentum_update(self, step: int, total_steps: int) -> None:
        ema_update(self.key_backbone, self.backbone, self.momentum)
        ema_update(self.key_projector, self.projector, self.momentum)

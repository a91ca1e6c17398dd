"""What every method shares: the backbone, the positive look-up, EMA updates and the step output."""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcgip_fast.train import ddp
from mcgip_fast.train.losses import predictive_cosine_loss, variance_covariance_penalty
from mcgip_fast.train.positives import PositiveLookup
from mcgip_fast.train.queue import KeyQueue

__all__ = ["MethodOutput", "GazeMethod", "ema_update", "frozen_copy"]


@dataclass
class MethodOutput:
    """One step's loss, plus the number of extra (gaze) positives summed over anchors and ranks."""

    loss: torch.Tensor
    n_gaze_positives: torch.Tensor


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy that receives no gradients (momentum / target network)."""
    m = copy.deepcopy(module)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target = momentum * target + (1 - momentum) * online, for parameters (buffers are copied)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


class GazeMethod(nn.Module):
    """Base class. Subclasses define `forward(view1, view2, index) -> MethodOutput`.

    Args:
        backbone: the encoder being trained (saved as the plain state dict at the end).
        lookup: positives; `None` (or `gaze=False`) trains the method's baseline.
        soft_weights: weight gaze positives by their mined score.
        drop_positive_p: drop each gaze positive with this probability every step.
        loss_average: "anchor" (per anchor, SupCon L_out) or "batch" (official McGIP masked mean).
        gaze_weight: `None`: every positive weighs 1. A number: per anchor, the views of its own image
            share weight 1 and its gaze positives share `gaze_weight` (see `balance`).
        variance_weight, covariance_weight: weights of VICReg's variance and covariance terms on the
            online projections (`spread_penalty`; BYOL and SimSiam, which have no negatives); 0 = off.
        gaze_predictor: BYOL and SimSiam: predict gaze positives' targets with a second predictor
            (`init_gaze_predictor`).
        center_targets: BYOL and SimSiam: centre each step's targets before the cosines
            (`predictive_cosine_loss(center=...)`, over the real candidates).
    """

    default_momentum = 0.0

    def __init__(self, backbone: nn.Module, *, lookup: PositiveLookup | None = None, soft_weights: bool = False,
                 drop_positive_p: float = 0.0, loss_average: str = "anchor", gaze_weight: float | None = None,
                 variance_weight: float = 0.0, covariance_weight: float = 0.0, gaze_predictor: bool = False,
                 center_targets: bool = False) -> None:
        super().__init__()
        if loss_average not in ("anchor", "batch"):
            raise ValueError(f"loss_average must be 'anchor' or 'batch', got {loss_average!r}")
        if not 0.0 <= drop_positive_p <= 1.0:
            raise ValueError(f"drop_positive_p must be in [0, 1], got {drop_positive_p}")
        if gaze_weight is not None and not (math.isfinite(gaze_weight) and gaze_weight >= 0.0):
            raise ValueError(f"gaze_weight must be a finite number >= 0, got {gaze_weight}")
        for name, value in (("variance_weight", variance_weight), ("covariance_weight", covariance_weight)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        self.backbone = backbone
        self.lookup = lookup if lookup is not None else PositiveLookup.identity()
        self.gaze = lookup is not None
        self.soft_weights = soft_weights
        self.drop_positive_p = drop_positive_p
        self.loss_average = loss_average
        self.gaze_weight = None if gaze_weight is None else float(gaze_weight)
        self.use_gaze_predictor = bool(gaze_predictor) and self.gaze
        self.center_targets = bool(center_targets)
        self.gaze_predictor: nn.Module | None = None  # see `init_gaze_predictor`
        self.variance_weight = float(variance_weight)
        self.covariance_weight = float(covariance_weight)
        self.memory: KeyQueue | None = None  # see `init_gaze_memory`
        # Gaze warm-up: the training loop sets this from the global step (so a resumed run gets the same
        # value); gaze positives weigh gaze_scale times their weight, the own image's views keep theirs.
        self.gaze_scale = 1.0

    def positive_weights(self, anchors: torch.Tensor, candidates: torch.Tensor,
                         exclude: torch.Tensor | None = None) -> torch.Tensor:
        """(B, M) weights of `candidates` (image ids) as positives of `anchors`; `exclude` (B, M bool)
        columns weigh 0. Balanced by `gaze_weight` when it is set."""
        w = self.unbalanced_weights(anchors, candidates)
        if exclude is not None:
            w = w.masked_fill(exclude, 0.0)
        if self.gaze_weight is None:  # no (B, M) same-image mask to build on every step
            return w
        return self.balance(w, self.same_image(anchors, candidates))

    def unbalanced_weights(self, anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """The look-up's weights: 1 (or the mined score) per positive, gaze positives dropped at `drop_positive_p`
        and scaled by `gaze_scale` (during the gaze warm-up)."""
        w = self.lookup.weights(anchors, candidates, soft=self.soft_weights,
                                drop_p=self.drop_positive_p if self.gaze else 0.0)
        if self.gaze and self.gaze_scale < 1.0:
            w = torch.where(self.same_image(anchors, candidates), w, w * self.gaze_scale)
        return w

    @staticmethod
    def same_image(anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """(B, M) bool: the candidate shows the anchor's own image (empty slots, id -1, never do)."""
        a = anchors.reshape(-1, 1)
        return (a == candidates.reshape(1, -1)) & (a >= 0)

    def balance(self, w: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """With `gaze_weight`, rescale each row: its `own`-image columns sum to 1, its gaze columns
        to `gaze_weight`; without it, `w` unchanged.

        Unbalanced, an anchor with 40 gaze positives is pulled 40 times as hard towards other images
        as towards its own second view, which drowns the method's own objective (BYOL and SimSiam have
        no negatives to hold images apart). Balanced, no anchor's loss depends on how many gaze
        positives it happens to have in this batch and memory.
        """
        if self.gaze_weight is None:
            return w
        own_w = torch.where(own, w, torch.zeros_like(w))
        gaze_w = w - own_w
        own_sum = own_w.sum(dim=1, keepdim=True)
        gaze_sum = gaze_w.sum(dim=1, keepdim=True)
        own_w = torch.where(own_sum > 0, own_w / own_sum.clamp_min(1e-12), own_w)
        gaze_w = torch.where(gaze_sum > 0, gaze_w * (self.gaze_weight / gaze_sum.clamp_min(1e-12)), gaze_w)
        return own_w + gaze_w

    def init_gaze_predictor(self, make) -> None:
        """With `gaze_predictor`, a second predictor (`make()`, the first one's shape, fresh weights).

        One shared predictor must map an image's projection both onto its own second view's target
        and onto the targets of its gaze positives: with many positives the second task wins and the
        own-view prediction is pulled towards other images, which without negatives flattens the
        features. A head of its own lets the backbone carry what predicts the neighbours' targets while
        the first predictor keeps BYOL's (or SimSiam's) own task. The baseline builds none.
        """
        if self.use_gaze_predictor:
            self.gaze_predictor = make()

    def predict_loss(self, predictor_input: torch.Tensor, predictions: torch.Tensor, targets: torch.Tensor,
                     w: torch.Tensor, index: torch.Tensor, candidate_ids: torch.Tensor, kind: str) -> torch.Tensor:
        """`predictive_cosine_loss` of one view, gaze pairs through the gaze predictor when there is one;
        with `center_targets`, centred over the real candidates (not a memory's empty slots)."""
        center = candidate_ids >= 0 if self.center_targets else False
        if self.gaze_predictor is None:
            return predictive_cosine_loss(predictions, targets, w, kind=kind, average=self.loss_average,
                                          center=center)
        return predictive_cosine_loss(predictions, targets, w, kind=kind, average=self.loss_average,
                                      center=center, gaze_predictions=self.gaze_predictor(predictor_input),
                                      own=self.same_image(index, candidate_ids))

    def spread_penalty(self, *projections: torch.Tensor) -> torch.Tensor | float:
        """Weighted VICReg variance + covariance terms, averaged over the views' online projections.

        Without negatives, a pull towards many other images' targets can only be met by moving
        everything together: the features lose rank (benchmarks/README.md, issue 12). These terms keep
        the batch spread over all directions, so the pull can only group images, not merge them.
        Computed on each process's own batch (no gather: the gradient needs the local tensors).
        """
        if not (self.variance_weight or self.covariance_weight):
            return 0.0
        total = 0.0
        for z in projections:
            variance, covariance = variance_covariance_penalty(z)
            total = total + self.variance_weight * variance + self.covariance_weight * covariance
        return total / len(projections)

    def init_gaze_memory(self, dim: int, size: int) -> None:
        """Optional memory of `size` target projections with their image ids (BYOL, SimSiam).

        Each anchor's prediction is then also pulled towards the remembered targets of its gaze
        positives (as MoCo's queue gives it positives from earlier steps; cf. MSF, NNCLR). Entries
        of the anchor's own image count too, as in MoCo's queue: an older target of the same
        image is a positive, never a negative. Slots of other images contribute nothing (no
        negatives here). Size 0 builds nothing: the method is exactly as without a memory.
        """
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
            raise ValueError(f"gaze_memory must be an integer >= 0, got {size!r}")
        if size and not self.gaze:
            raise ValueError("gaze_memory needs gaze positives; the baseline (no lookup / --no-gaze) takes gaze_memory 0")
        self.memory = None
        if size:
            # the placeholder keys (never positives: id -1) must not shift the seeded RNG stream
            with torch.random.fork_rng(devices=[]):
                self.memory = KeyQueue(dim, size, name="gaze_memory")

    def with_memory(self, index: torch.Tensor, ids_all: torch.Tensor, *targets: torch.Tensor):
        """Positive weights of this step's gathered targets followed by the memory, the candidates'
        image ids, and each of `targets` with the memory appended: returns (weights, ids, *candidates).
        Without a memory, `positive_weights(index, ids_all)`, `ids_all` and the targets as given."""
        if self.memory is None:
            return (self.positive_weights(index, ids_all), ids_all, *targets)
        self.memory.check_batch(ids_all.shape[0])
        keys, ids = self.memory.snapshot()
        candidate_ids = torch.cat([ids_all, ids.to(ids_all.device)])
        w = self.positive_weights(index, candidate_ids)
        return (w, candidate_ids, *(torch.cat([t, keys.to(t)]) for t in targets))

    @torch.no_grad()
    def remember(self, view1_targets: torch.Tensor, view2_targets: torch.Tensor, ids_all: torch.Tensor) -> None:
        """Enqueue one entry per image (gathered over ranks, after the loss): the normalised
        mean of its two views' targets, so both predictions are pulled towards the same entry and
        it depends less on one view's augmentation than either target alone."""
        if self.memory is not None:
            mean = F.normalize(view1_targets.float(), dim=1) + F.normalize(view2_targets.float(), dim=1)
            self.memory.enqueue(F.normalize(mean, dim=1), ids_all)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        # keep the look-up on the module's device (it is not part of the state dict)
        p = next(self.parameters(), None)
        if p is not None:
            self.lookup.to(p.device)
        return out

    def momentum_update(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step; methods with a momentum encoder override it."""

    @staticmethod
    def cosine_momentum(base: float, step: int, total_steps: int) -> float:
        """BYOL's schedule: from `base` up to 1 along a cosine."""
        if total_steps <= 0:
            return base
        return 1.0 - (1.0 - base) * (math.cos(math.pi * min(step, total_steps) / total_steps) + 1.0) / 2.0

    @staticmethod
    def own_columns(batch: int, device) -> torch.Tensor:
        """Column of each local anchor's own sample among the rank-ordered gathered candidates."""
        return ddp.rank() * batch + torch.arange(batch, device=device)

    def extra_positives(self, w: torch.Tensor, own: int) -> torch.Tensor:
        """Positives beyond each anchor's own `own` view(s), summed here and over ranks (for logging)."""
        return ddp.all_reduce_sum(((w > 0).sum() - own).detach().float())

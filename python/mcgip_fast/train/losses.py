"""Multi-positive losses shared by the methods.

Every loss takes a (B, M) weight matrix: row i says which of the M candidates are positives of
anchor i (and how much, with soft weights). With one positive per anchor each loss equals the
method's standard loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["multi_positive_infonce", "predictive_cosine_loss", "variance_covariance_penalty", "AVERAGES"]

AVERAGES = ("anchor", "batch")


def _check(logits: torch.Tensor, weights: torch.Tensor, average: str) -> None:
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    if logits.shape != weights.shape or logits.ndim != 2:
        raise ValueError(f"logits and weights must both be (B, M), got {tuple(logits.shape)} and {tuple(weights.shape)}")


def _reduce(per_pair: torch.Tensor, w: torch.Tensor, average: str) -> torch.Tensor:
    """Weighted mean of per-pair losses: per anchor then over anchors, or over all pairs at once."""
    contrib = torch.where(w > 0, w * per_pair, torch.zeros_like(per_pair))
    if average == "batch":
        return contrib.sum() / w.sum().clamp_min(1e-12)
    wsum = w.sum(dim=1)
    has = wsum > 0
    if not bool(has.any()):
        return per_pair.sum() * 0.0  # keeps the graph; no anchor has a positive
    return (contrib.sum(dim=1)[has] / wsum[has]).mean()


def multi_positive_infonce(
    logits: torch.Tensor,
    weights: torch.Tensor,
    *,
    exclude: torch.Tensor | None = None,
    average: str = "anchor",
) -> torch.Tensor:
    """InfoNCE with several (weighted) positives per anchor, SupCon's L_out form.

    ``loss_i = -sum_j w_ij log softmax(logits_i)_j / sum_j w_ij``, averaged over anchors with at
    least one positive (`average="anchor"`), or ``-sum_ij w_ij log p_ij / sum_ij w_ij`` over the
    whole batch (`average="batch"`, as McGIP's official MoCo code does).

    Args:
        logits: (B, M) similarities already divided by the temperature.
        weights: (B, M) non-negative positive weights (0 = negative).
        exclude: optional (B, M) bool; True columns leave the softmax denominator entirely
            (an anchor's own view in SimCLR).
        average: "anchor" or "batch".
    """
    _check(logits, weights, average)
    logits = logits.float()
    w = weights.float()
    denom_logits = logits
    if exclude is not None:
        denom_logits = logits.masked_fill(exclude, float("-inf"))
        w = w.masked_fill(exclude, 0.0)
    # sum_j w_ij (-log p_ij) = lse_i * sum_j w_ij - sum_j w_ij logit_ij: two fused passes, no (B, M) log-probs
    lse = torch.logsumexp(denom_logits, dim=1)
    wsum = w.sum(dim=1)
    per_anchor_sum = lse * wsum - (w * logits).sum(dim=1)
    if average == "batch":
        return per_anchor_sum.sum() / wsum.sum().clamp_min(1e-12)
    has = wsum > 0
    if not bool(has.any()):
        return logits.sum() * 0.0  # keeps the graph; no anchor has a positive
    return (per_anchor_sum[has] / wsum[has]).mean()


def predictive_cosine_loss(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    kind: str = "byol",
    average: str = "anchor",
    gaze_predictions: torch.Tensor | None = None,
    own: torch.Tensor | None = None,
    center: bool | torch.Tensor = False,
) -> torch.Tensor:
    """BYOL / SimSiam loss pulling each prediction towards the targets of all its positives.

    Per pair, ``2 - 2 cos(p_i, z_j)`` (BYOL) or ``-cos(p_i, z_j)`` (SimSiam). Targets are
    detached (stop-gradient). Averaged per anchor over its positives, or over all positive pairs
    (`average="batch"`, the official masked mean).

    With `gaze_predictions` (B, D) and `own` (B, M bool: the candidate shows the anchor's own image),
    pairs with another image's target use `gaze_predictions[i]` instead of `predictions[i]`.

    With `center` (True, or an (M,) bool mask of the candidates to average over, e.g. leaving out
    a memory's empty slots), the unit targets' mean over the M candidates is subtracted (and the rest
    re-normalised) before the cosines, as DINO centres its teacher. A barely trained target network
    maps every image close to one common direction; the mean of an anchor's gaze positives' targets
    is then mostly that direction, so pulling towards them merges all images. Centred, only what
    sets the positives apart from the rest of the step's targets is left to pull towards.
    """
    if kind not in ("byol", "simsiam"):
        raise ValueError(f"kind must be 'byol' or 'simsiam', got {kind!r}")
    if (gaze_predictions is None) != (own is None):
        raise ValueError("gaze_predictions and own go together")
    z = F.normalize(targets.detach().float(), dim=1)
    if center is True:
        center = torch.ones(z.shape[0], dtype=torch.bool, device=z.device)
    if isinstance(center, torch.Tensor):
        if center.shape != (z.shape[0],) or center.dtype != torch.bool:
            raise ValueError(f"center must be a bool or an ({z.shape[0]},) bool mask, got {center.dtype} {tuple(center.shape)}")
        if center.any():
            z = F.normalize(z - z[center].mean(dim=0, keepdim=True), dim=1)
    cos = F.normalize(predictions.float(), dim=1) @ z.T
    _check(cos, weights, average)
    if gaze_predictions is not None:
        if own.shape != cos.shape:
            raise ValueError(f"own must be (B, M) = {tuple(cos.shape)}, got {tuple(own.shape)}")
        cos = torch.where(own, cos, F.normalize(gaze_predictions.float(), dim=1) @ z.T)
    per_pair = 2.0 - 2.0 * cos if kind == "byol" else -cos
    return _reduce(per_pair, weights.float(), average)


def variance_covariance_penalty(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg's variance and covariance terms (Bardes et al. 2022) on the directions of `z` (B, D).

    BYOL's and SimSiam's losses see only directions (cosines), so the terms act on ``sqrt(D) *
    normalize(z)``: a batch spread evenly over all D directions has unit std in each dimension and no
    covariance, whatever the projector's output scale (on raw `z` the network could meet the
    variance hinge by scaling its output up, leaving the directions collapsed).

    Returns (variance, covariance): ``mean_d relu(1 - std_d)`` and ``sum_{d != e} C_de^2 / D``, both
    0 for an isotropic batch; the variance term is 1 when every image maps to one direction.
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"variance_covariance_penalty needs a (B >= 2, D) batch, got {tuple(z.shape)}")
    b, d = z.shape
    zs = F.normalize(z.float(), dim=1) * d ** 0.5
    zs = zs - zs.mean(dim=0)
    std = torch.sqrt(zs.var(dim=0) + 1e-4)
    variance = F.relu(1.0 - std).mean()
    cov = (zs.T @ zs) / (b - 1)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    covariance = off_diagonal.pow(2).sum() / d
    return variance, covariance

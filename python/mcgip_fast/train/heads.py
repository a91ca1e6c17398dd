"""Projector and predictor heads, each as in its method's paper."""

from __future__ import annotations

import torch.nn as nn

__all__ = ["mlp", "moco_v2_projector", "simclr_projector", "byol_mlp", "simsiam_projector", "simsiam_predictor"]


def mlp(dims: list[int], *, bn: bool = True, last_bn: bool = False, last_bn_affine: bool = True) -> nn.Sequential:
    """Linear layers of sizes dims[0] -> ... -> dims[-1]; BN + ReLU between them."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = k == len(dims) - 2
        layers.append(nn.Linear(a, b, bias=not (bn and not last) and not (last and last_bn)))
        if not last:
            if bn:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU(inplace=True))
        elif last_bn:
            layers.append(nn.BatchNorm1d(b, affine=last_bn_affine))
    return nn.Sequential(*layers)


def moco_v2_projector(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    """MoCo v2: Linear-ReLU-Linear, no BN."""
    return mlp([in_dim, hidden, out], bn=False)


def simclr_projector(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    """SimCLR: Linear-BN-ReLU-Linear."""
    return mlp([in_dim, hidden, out])


def byol_mlp(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    """BYOL projector and predictor: Linear-BN-ReLU-Linear (4096 -> 256 in the paper)."""
    return mlp([in_dim, hidden, out])


def simsiam_projector(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    """SimSiam: three layers, BN on every output, the last without affine."""
    return mlp([in_dim, hidden, hidden, out], last_bn=True, last_bn_affine=False)


def simsiam_predictor(dim: int, bottleneck: int) -> nn.Sequential:
    """SimSiam: bottleneck Linear-BN-ReLU-Linear (2048 -> 512 -> 2048)."""
    return mlp([dim, bottleneck, dim])

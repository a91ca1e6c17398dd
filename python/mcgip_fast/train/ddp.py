"""Distributed helpers: process-group set-up from torchrun's environment and all-gathers.

Every helper is the identity in a single process, so the methods call them unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "is_distributed", "world_size", "rank", "all_gather_nograd", "gather_with_grad", "all_reduce_sum", "cleanup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (WORLD_SIZE > 1): gloo on CPU, NCCL on CUDA; or
    use the one already initialised."""
    if is_distributed():  # the caller already joined a group (any size, one process included)
        r = dist.get_rank()
        return DistInfo(rank=r, world_size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", r)))
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws <= 1:
        return DistInfo()
    r = int(os.environ["RANK"])
    lr = int(os.environ.get("LOCAL_RANK", r))
    if not is_distributed():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=r, world_size=ws)
    return DistInfo(rank=r, world_size=ws, local_rank=lr)


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()


@torch.no_grad()
def all_gather_nograd(t: torch.Tensor) -> torch.Tensor:
    """Concatenate `t` from every rank along dim 0, rank order (equal shapes required)."""
    if not is_distributed():
        return t
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t.contiguous())
    return torch.cat(out, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(out, t.contiguous())
        return torch.cat(out, dim=0)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every rank's loss depends on this rank's rows
        n = grad.shape[0] // dist.get_world_size()
        r = dist.get_rank()
        return grad[r * n : (r + 1) * n]


def gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """All-gather that lets gradients flow back to each rank's own rows (SimCLR negatives)."""
    if not is_distributed():
        return t
    return _GatherWithGrad.apply(t)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        t = t.clone()
        dist.all_reduce(t)
    return t

"""MoCo key queue that remembers which image each key came from."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["KeyQueue"]


class KeyQueue(nn.Module):
    """Ring buffer of L2-normalised keys and their image indices.

    Slots start as random unit keys with id -1: they act as negatives (as in MoCo) but never as
    positives. Keys and ids are buffers, so they are saved with the model and restored on resume.
    """

    def __init__(self, dim: int, size: int, *, name: str = "queue size") -> None:
        super().__init__()
        self.name = name  # what error messages call the size (the option a user sets)
        if size <= 0:
            raise ValueError(f"{name} must be positive, got {size}")
        self.size = int(size)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    def check_batch(self, global_batch: int) -> None:
        if self.size % global_batch:
            raise ValueError(
                f"{self.name} {self.size} is not a multiple of the global batch size {global_batch}; "
                f"use e.g. {max(global_batch, self.size - self.size % global_batch)}"
            )

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, ids: torch.Tensor) -> None:
        """Replace the oldest `len(keys)` slots. Pass keys and ids gathered from every process."""
        b = keys.shape[0]
        self.check_batch(b)
        p = int(self.ptr)
        self.keys[p : p + b] = keys.detach().to(self.keys.dtype)
        self.ids[p : p + b] = ids.long()
        self.ptr.fill_((p + b) % self.size)

    def snapshot(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of (keys, ids), safe to use in a graph while the queue is updated."""
        return self.keys.clone(), self.ids.clone()

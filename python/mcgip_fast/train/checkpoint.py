"""Checkpoints: everything needed to continue a run exactly, loadable with `weights_only=True`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state", "save_encoder", "load_encoder_state"]

CHECKPOINT_FORMAT = 1


def rng_state(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Every process's torch CPU (and CUDA device) generator state, stacked by rank.

    A collective under DDP: call it on every rank. Ranks draw different random numbers (e.g.
    dropped positives), so each one gets its own state back on resume.
    """
    from mcgip_fast.train import ddp

    device = torch.device(device)
    state = {"torch": ddp.all_gather_nograd(torch.get_rng_state().to(device)[None]).cpu()}
    if device.type == "cuda":
        state["cuda"] = ddp.all_gather_nograd(torch.cuda.get_rng_state(device).to(device)[None]).cpu()
    return state


def set_rng_state(state: dict[str, Any], rank: int = 0, device: torch.device | str = "cpu") -> None:
    torch.set_rng_state(state["torch"][rank].clone())
    device = torch.device(device)
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"][rank].clone(), device)


def _atomic_save(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)  # a run killed while saving keeps the previous checkpoint
    return path


def save_checkpoint(path: str | Path, *, model, optimizer, scheduler, scaler, rng: dict, epoch: int, step_in_epoch: int,
                    global_step: int, losses: list[float], config: dict, world_size: int) -> Path:
    """Model (with the queue and its ids, momentum networks, BN statistics), optimiser, LR
    schedule, loss scaler, RNG states (`rng_state()`), and the position in training."""
    return _atomic_save(
        {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "rng": rng,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "losses": [float(x) for x in losses],
            "config": config,
            "world_size": world_size,
        },
        Path(path),
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a loadable checkpoint ({e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a mcgip_fast training checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def save_encoder(path: str | Path, backbone: torch.nn.Module) -> Path:
    """The backbone as a plain state dict (torchvision key names), for use anywhere."""
    return _atomic_save({k: v.detach().cpu().clone() for k, v in backbone.state_dict().items()}, Path(path))


def load_encoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such encoder file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a loadable state dict ({e})") from e

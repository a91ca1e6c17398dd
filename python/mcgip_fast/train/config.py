"""`TrainConfig`: every training option, with the help text the CLI shows. Imports no torch."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrainConfig", "METHOD_NAMES", "OPTIMIZERS", "BACKBONE_NAMES", "STEM_NAMES", "POOL_NAMES", "LOSS_AVERAGES", "BATCH_SAMPLERS"]

METHOD_NAMES = ("moco", "byol", "simsiam", "simclr")
OPTIMIZERS = ("sgd", "adam", "adamw")
# Architecture names live here (torch-free) so configs and CLIs can check them without importing torch.
BACKBONE_NAMES = ("resnet10", "resnet18", "resnet50")
#: "imagenet": torchvision's 7x7 stride-2 conv + 3x3 stride-2 max-pool (stride 4);
#: "small": 3x3 stride-1 conv, no pool (stride 1); "small-pool": 3x3 stride-1 conv + 2x2 max-pool (stride 2).
STEM_NAMES = ("imagenet", "small", "small-pool")
#: Global pooling of the last feature map: "avg" (torchvision's) or "max".
POOL_NAMES = ("avg", "max")
LOSS_AVERAGES = ("anchor", "batch")
#: "random": a seeded permutation per epoch; "gaze": groups of an image and its mined neighbours (train/samplers.py).
BATCH_SAMPLERS = ("random", "gaze")


def _f(default: Any, help: str, **kw) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """Options for `mcgip_fast.train.train`. Defaults follow each method's paper where one exists."""

    # data
    manifest: str | None = _f(None, "image manifest (CSV or Parquet) with columns id (or image_id), path, optional label and split; relative paths are read from the manifest's folder")
    pairs: str | None = _f(None, "positive-pairs file from `mcgip mine` (.parquet or .npz), aligned with the manifest by image id; needed unless --no-gaze")
    archive_hash: str | None = _f(None, "if given, the pairs file must record this archive content hash")
    on_bad_image: str = _f("error", "missing or unreadable images: 'error' stops with a list, 'skip' drops them and reports the count", choices=("error", "skip"))
    cache: str | None = _f(None, "image cache from `mcgip prepare` (checked against the manifest: ids, paths, file sizes and times); "
                           "without it every image is decoded from its file in every epoch")
    image_size: int = _f(224, "side of the square crops fed to the network, in pixels")
    in_channels: int = _f(1, "input channels (1 for greyscale radiographs)")
    crop_min_scale: float = _f(0.2, "smallest area fraction kept by the random resized crop")
    solarize_p: float = _f(0.0, "probability of solarising a view (pixels >= 0.5 inverted; BYOL uses 0.2 on one view)")
    batch_sampler: str = _f("random", "how batches are drawn: 'random' (a seeded permutation per epoch) or 'gaze' (groups of an image and --positives-per-anchor of its mined neighbours, so every method sees dense gaze positives in its batch; needs --pairs, also with --no-gaze)", choices=BATCH_SAMPLERS)
    positives_per_anchor: int = _f(3, "gaze batch sampler: neighbours placed beside each seed image; the batch size must be a multiple of this + 1")
    num_workers: int = _f(0, "DataLoader worker processes (augmentations are seeded per image, so results do not depend on this)")
    # method
    method: str = _f("moco", "self-supervised method", choices=METHOD_NAMES)
    gaze: bool = _f(True, "use gaze positives; --no-gaze trains the method's plain baseline")
    drop_positive_p: float = _f(0.0, "drop each gaze positive with this probability at every step")
    soft_weights: bool = _f(False, "weight each gaze positive by its mined score (clipped to [0, 1]) instead of 1")
    loss_average: str = _f("anchor", "average the multi-positive loss per anchor (SupCon L_out) or over the whole batch (official McGIP code)", choices=("anchor", "batch"))
    gaze_weight: float | None = _f(None, "balance each anchor's positives: its own image's views share weight 1 and its gaze "
                                   "positives share this weight (0 = baseline-like); default: every positive weighs 1, so "
                                   "many gaze positives outweigh the own view")
    gaze_warmup_epochs: float = _f(0.0, "gaze warm-up: gaze positives' weight rises linearly from 0 to 1 over this many epochs "
                                   "(the own image's views keep weight 1), so the encoder learns instance features before "
                                   "cross-image positives can pull it into a collapsed state; 0 = full weight from the start")
    variance_weight: float = _f(0.0, "BYOL/SimSiam: weight of VICReg's variance term on the directions of the online "
                                "projections (keeps every dimension spread over the batch, so many gaze positives "
                                "group images instead of collapsing them); 0 = the method as published")
    covariance_weight: float = _f(0.0, "BYOL/SimSiam: weight of VICReg's covariance term (decorrelates the projection "
                                  "dimensions; VICReg weighs it 1/25 of the variance term); 0 = off")
    gaze_predictor: bool = _f(False, "BYOL/SimSiam with gaze: predict gaze positives' targets with a second predictor of "
                              "their own, so the first keeps the method's own task (predicting the image's other view)")
    center_targets: bool = _f(False, "BYOL/SimSiam: subtract the mean of each step's targets (batch and gaze memory) before "
                              "the cosines, as DINO centres its teacher, so gaze positives pull towards what sets them "
                              "apart rather than towards the direction every image shares early in training")
    fixed_predictor_lr: bool = _f(False, "BYOL/SimSiam: the predictor (and gaze predictor) keeps the full learning rate "
                                  "after warm-up instead of decaying along the cosine, as in SimSiam's paper (fix_pred_lr): "
                                  "the predictor keeps adapting to the moving targets late in training")
    queue_size: int = _f(4096, "MoCo queue length K; must be a multiple of the global batch size")
    gaze_memory: int = _f(0, "BYOL/SimSiam/SimCLR with gaze: remember this many target projections (SimCLR: projections) "
                          "with their image ids, so each anchor is also pulled towards the remembered entries of its gaze "
                          "positives (as MoCo's queue gives it positives from earlier steps; SimCLR's other entries are no "
                          "negatives); 0 = none; a multiple of the global batch size")
    in_batch_keys: bool = _f(True, "MoCo: also contrast against the other in-batch keys (--no-in-batch-keys with --no-gaze is exactly MoCo v2)")
    shuffle_bn: bool = _f(True, "MoCo under DDP: compute keys on a batch shuffled across processes (MoCo's shuffling BN)")
    temperature: float | None = _f(None, "softmax temperature for MoCo and SimCLR (default 0.2)")
    momentum: float | None = _f(None, "EMA momentum of the key/target network (default MoCo 0.999, BYOL 0.996 rising to 1)")
    proj_dim: int | None = _f(None, "projector output size (default MoCo/SimCLR 128, BYOL 256, SimSiam 2048)")
    hidden_dim: int | None = _f(None, "projector hidden size (default MoCo/SimCLR the feature size, BYOL 4096, SimSiam 2048)")
    # model
    backbone: str = _f("resnet18", "encoder architecture (resnet10: one block per stage, for small images)", choices=BACKBONE_NAMES)
    stem: str = _f("imagenet", "first layers: 'imagenet' (7x7 stride-2 conv + max-pool, torchvision's), 'small' "
                   "(3x3 stride-1 conv, no pool; keeps small findings in low-resolution images) or 'small-pool' "
                   "('small' plus a 2x2 max-pool: less than half the cost)", choices=STEM_NAMES)
    pool: str = _f("avg", "global pooling of the last feature map: 'avg' (torchvision's) or 'max' (keeps a small finding's "
                   "response instead of averaging it away over the background)", choices=POOL_NAMES)
    width: int | None = _f(None, "ResNet base channels (default 64 = torchvision's; e.g. 8 for a tiny fast CPU model)")
    pretrained: str | None = _f(None, "local state-dict file to initialise the backbone (nothing is downloaded)")
    # optimisation
    epochs: int = _f(100, "passes over the data")
    max_steps: int | None = _f(None, "stop after this many optimiser steps in total (also the LR schedule's length)")
    batch_size: int = _f(64, "images per step on each process (the global batch is this times the number of processes)")
    lr: float = _f(0.03, "peak learning rate")
    optimizer: str = _f("sgd", "optimiser (SGD uses momentum 0.9)", choices=OPTIMIZERS)
    weight_decay: float = _f(1e-4, "weight decay")
    warmup_steps: int = _f(0, "linear LR warm-up steps before the cosine decay")
    # run
    seed: int = _f(0, "random seed; with the same seed a CPU run reproduces its losses exactly")
    deterministic: bool = _f(True, "ask torch for deterministic algorithms")
    device: str = _f("auto", "cpu, cuda, cuda:N or auto (CUDA when available)")
    amp: bool = _f(True, "mixed precision where the device supports it (CUDA: bf16, or fp16 with loss scaling); CPU trains in fp32")
    channels_last: bool | None = _f(None, "channels-last memory format for the network (default: on with CUDA, where it speeds up convolutions)")
    pin_memory: bool | None = _f(None, "page-locked loader batches copied with non_blocking=True (default: on with CUDA)")
    compile: bool = _f(False, "torch.compile the model (pays a compile time of minutes up front; for long GPU runs)")
    out_dir: str = _f("runs/train", "folder for checkpoint.pt, encoder.pt, metrics.jsonl, loss.png and config.json")
    resume: bool = _f(False, "continue from out_dir/checkpoint.pt (model, optimiser, schedule, queue, RNG states, position in the epoch)")
    checkpoint_every: int = _f(100, "save a checkpoint every this many steps (and at every epoch end)")
    log_every: int = _f(10, "write a metrics row every this many steps")
    progress: bool = _f(True, "show a progress bar with loss and throughput")
    tensorboard: bool = _f(False, "also write TensorBoard scalars (needs the tensorboard package)")

    def validate(self) -> "TrainConfig":
        """Raise ValueError for inconsistent options (before any data or torch is touched)."""
        def bad(msg: str) -> None:
            raise ValueError(msg)

        if self.manifest is None:
            bad("a manifest is required")
        if self.method not in METHOD_NAMES:
            bad(f"method must be one of {METHOD_NAMES}, got {self.method!r}")
        if self.stem not in STEM_NAMES:
            bad(f"stem must be 'imagenet', 'small' or 'small-pool', got {self.stem!r}")
        if self.pool not in POOL_NAMES:
            bad(f"pool must be 'avg' or 'max', got {self.pool!r}")
        if self.backbone not in BACKBONE_NAMES:
            bad(f"backbone must be resnet10, resnet18 or resnet50, got {self.backbone!r}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.batch_sampler not in BATCH_SAMPLERS:
            bad(f"batch_sampler must be one of {BATCH_SAMPLERS}, got {self.batch_sampler!r}")
        if self.batch_sampler == "gaze":
            if self.pairs is None:
                bad("the gaze batch sampler needs a pairs file (--pairs)")
            if self.positives_per_anchor < 1:
                bad(f"positives_per_anchor must be at least 1, got {self.positives_per_anchor}")
            if self.batch_size % (self.positives_per_anchor + 1):
                bad(f"batch_size {self.batch_size} is not a multiple of positives_per_anchor + 1 = {self.positives_per_anchor + 1} "
                    "(each batch holds whole groups of a seed image and its neighbours)")
        if self.gaze and self.pairs is None:
            bad("gaze positives need a pairs file (--pairs), or train the baseline with --no-gaze")
        for name in ("image_size", "in_channels", "epochs", "batch_size", "queue_size", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                bad(f"{name} must be at least 1, got {getattr(self, name)}")
        if isinstance(self.gaze_memory, bool) or not isinstance(self.gaze_memory, numbers.Integral) or self.gaze_memory < 0:
            bad(f"gaze_memory must be an integer >= 0, got {self.gaze_memory!r}")
        if self.gaze_memory:
            if self.method not in ("byol", "simsiam", "simclr"):
                bad(f"gaze_memory is for byol, simsiam and simclr; {self.method} takes gaze_memory 0"
                    + (" (MoCo has its key queue: --queue-size)" if self.method == "moco" else ""))
            if not self.gaze:
                bad("gaze_memory needs gaze positives; the --no-gaze baseline takes gaze_memory 0")
            if self.gaze_memory % self.batch_size:
                bad(f"gaze_memory {self.gaze_memory} is not a multiple of the batch size {self.batch_size}")
        if self.max_steps is not None and self.max_steps < 1:
            bad(f"max_steps must be at least 1, got {self.max_steps}")
        if not 0.0 <= self.drop_positive_p <= 1.0:
            bad(f"drop_positive_p must be in [0, 1], got {self.drop_positive_p}")
        if isinstance(self.gaze_warmup_epochs, bool) or not isinstance(self.gaze_warmup_epochs, (int, float)) \
                or not (math.isfinite(self.gaze_warmup_epochs) and self.gaze_warmup_epochs >= 0.0):
            bad(f"gaze_warmup_epochs must be a finite number >= 0, got {self.gaze_warmup_epochs!r}")
        for name in ("variance_weight", "covariance_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0.0):
                bad(f"{name} must be a finite number >= 0, got {value!r}")
            if value and self.method not in ("byol", "simsiam"):
                bad(f"{name} is for byol and simsiam; {self.method} has negatives and takes 0")
        if self.gaze_predictor and self.method not in ("byol", "simsiam"):
            bad(f"gaze_predictor is for byol and simsiam; {self.method} has no predictor")
        if self.center_targets and self.method not in ("byol", "simsiam"):
            bad(f"center_targets is for byol and simsiam; {self.method} has no predictor targets")
        if self.fixed_predictor_lr and self.method not in ("byol", "simsiam"):
            bad(f"fixed_predictor_lr is for byol and simsiam; {self.method} has no predictor")
        if self.gaze_weight is not None and not (math.isfinite(self.gaze_weight) and self.gaze_weight >= 0.0):
            bad(f"gaze_weight must be a finite number >= 0, got {self.gaze_weight}")
        if not 0.0 <= self.solarize_p <= 1.0:
            bad(f"solarize_p must be in [0, 1], got {self.solarize_p}")
        if not 0.0 < self.crop_min_scale <= 1.0:
            bad(f"crop_min_scale must be in (0, 1], got {self.crop_min_scale}")
        if self.loss_average not in LOSS_AVERAGES:
            bad(f"loss_average must be 'anchor' or 'batch', got {self.loss_average!r}")
        if self.on_bad_image not in ("error", "skip"):
            bad(f"on_bad_image must be 'error' or 'skip', got {self.on_bad_image!r}")
        if self.temperature is not None and self.temperature <= 0:
            bad(f"temperature must be positive, got {self.temperature}")
        if self.momentum is not None and not 0.0 <= self.momentum <= 1.0:
            bad(f"momentum must be in [0, 1], got {self.momentum}")
        if self.lr <= 0:
            bad(f"lr must be positive, got {self.lr}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig options: {sorted(unknown)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

"""mcgip_fast.train: gaze-guided contrastive pre-training (MoCo v2, BYOL, SimSiam, SimCLR).

Needs the ``train`` extra (torch, torchvision). `TrainConfig` is importable without torch; the
rest (``train``, methods, losses...) load torch on first use.

    from mcgip_fast.train import TrainConfig, train
    result = train(TrainConfig(manifest="images.csv", pairs="pairs.parquet", method="moco"))

    prepare_cache("images.csv", "cache/", size=256)        # decode once (`mcgip prepare`)
    train(TrainConfig(manifest="images.csv", pairs="pairs.parquet", cache="cache/"))
"""

from __future__ import annotations

import importlib

from mcgip_fast.train.config import TrainConfig

_LAZY = {
    "train": "mcgip_fast.train.loop",
    "TrainResult": "mcgip_fast.train.loop",
    "NonFiniteLossError": "mcgip_fast.train.loop",
    "PositiveLookup": "mcgip_fast.train.positives",
    "multi_positive_infonce": "mcgip_fast.train.losses",
    "predictive_cosine_loss": "mcgip_fast.train.losses",
    "KeyQueue": "mcgip_fast.train.queue",
    "MoCo": "mcgip_fast.train.moco",
    "BYOL": "mcgip_fast.train.byol",
    "SimSiam": "mcgip_fast.train.simsiam",
    "SimCLR": "mcgip_fast.train.simclr",
    "build_backbone": "mcgip_fast.train.backbones",
    "ImageDataset": "mcgip_fast.train.data",
    "read_manifest": "mcgip_fast.train.data",
    "prepare_cache": "mcgip_fast.train.cache",
    "ImageCache": "mcgip_fast.train.cache",
}

__all__ = ["TrainConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mcgip_fast.train' has no attribute {name!r}")

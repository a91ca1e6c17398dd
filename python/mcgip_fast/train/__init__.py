"""mcgip_fast.train: gaze-guided contrastive pre-training (MoCo v2, BYOL, SimSiam, SimCLR).

Needs the ``train`` extra (torch, torchvision). `TrainConfig` is importable without torch; the
rest (``train``, methods, losses...) load torch on first use.

    from mcgip_fast.train import TrainConfig, train
    result = train(TrainConfig(manifest="images.csv", pairs="pairs.parquet", method="moco"))

trains with each method's paper defaults (224 px ResNet-18, 100 epochs). Large images are decoded
once into a cache first (`mcgip prepare`)::

    prepare_cache("images.csv", "cache/", size=256)
    train(TrainConfig(manifest="images.csv", pairs="pairs.parquet", cache="cache/"))

A run that finishes in seconds, on a generated archive of 16 images of 32 px::

    >>> import tempfile
    >>> from mcgip_fast.mining import mine
    >>> from mcgip_fast.synth import SynthConfig, generate
    >>> from mcgip_fast.train import TrainConfig, train
    >>> tmp = tempfile.TemporaryDirectory()
    >>> archive = generate(tmp.name, SynthConfig(n_images=16, size=32))   # images, manifest.csv, fixations.csv
    >>> pairs = mine(archive.gaze(), scheme="multimatch", rule="topk", k=3)
    >>> cfg = TrainConfig(manifest=str(archive.manifest_path), pairs=str(pairs.save(f"{tmp.name}/pairs.parquet")),
    ...                   method="moco", image_size=32, width=4, batch_size=8, queue_size=64, max_steps=2,
    ...                   device="cpu", progress=False, out_dir=f"{tmp.name}/run")
    >>> result = train(cfg)
    >>> result.steps, result.encoder_path.name
    (2, 'encoder.pt')
    >>> tmp.cleanup()
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

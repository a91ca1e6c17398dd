"""Method registry: name -> class, and building a method from a `TrainConfig`."""

from __future__ import annotations

from mcgip_fast.train.base import GazeMethod
from mcgip_fast.train.byol import BYOL
from mcgip_fast.train.moco import MoCo
from mcgip_fast.train.positives import PositiveLookup
from mcgip_fast.train.simclr import SimCLR
from mcgip_fast.train.simsiam import SimSiam

METHODS: dict[str, type[GazeMethod]] = {"moco": MoCo, "byol": BYOL, "simsiam": SimSiam, "simclr": SimCLR}


def build_method(cfg, backbone, lookup: PositiveLookup | None) -> GazeMethod:
    """Instantiate `cfg.method` around `backbone`; `lookup=None` trains the baseline."""
    common = dict(lookup=lookup, soft_weights=cfg.soft_weights, drop_positive_p=cfg.drop_positive_p, loss_average=cfg.loss_average,
                  gaze_weight=cfg.gaze_weight)
    spread = dict(variance_weight=cfg.variance_weight, covariance_weight=cfg.covariance_weight, gaze_predictor=cfg.gaze_predictor,
                  center_targets=cfg.center_targets)
    if any(spread.values()) and cfg.method not in ("byol", "simsiam"):
        raise ValueError(f"variance_weight, covariance_weight, gaze_predictor and center_targets are for byol and simsiam; "
                         f"{cfg.method} has negatives and takes 0 / False")
    memory = cfg.gaze_memory
    if memory and cfg.method not in ("byol", "simsiam", "simclr"):
        raise ValueError(f"gaze_memory is for byol, simsiam and simclr; {cfg.method} takes gaze_memory 0"
                         + (" (MoCo has its key queue: queue_size)" if cfg.method == "moco" else ""))
    sizes = {k: v for k, v in (("proj_dim", cfg.proj_dim), ("hidden_dim", cfg.hidden_dim)) if v is not None}
    if cfg.method == "moco":
        return MoCo(backbone, queue_size=cfg.queue_size, temperature=cfg.temperature or MoCo.default_temperature,
                    momentum=cfg.momentum if cfg.momentum is not None else MoCo.default_momentum,
                    in_batch_keys=cfg.in_batch_keys, shuffle_bn=cfg.shuffle_bn, **sizes, **common)
    if cfg.method == "byol":
        return BYOL(backbone, momentum=cfg.momentum if cfg.momentum is not None else BYOL.default_momentum,
                    gaze_memory=memory, **sizes, **spread, **common)
    if cfg.method == "simsiam":
        return SimSiam(backbone, gaze_memory=memory, **sizes, **spread, **common)
    if cfg.method == "simclr":
        return SimCLR(backbone, temperature=cfg.temperature or SimCLR.default_temperature,
                      gaze_memory=memory, **sizes, **common)
    raise ValueError(f"method must be one of {sorted(METHODS)}, got {cfg.method!r}")

"""`mcgip train`: pre-train an encoder with gaze positives (or a baseline with --no-gaze).

Every option is a `TrainConfig` field; the help text comes from the field. Under
``torchrun --nproc-per-node N -m mcgip_fast.cli.main train ...`` it runs DDP.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from mcgip_fast.train.config import TrainConfig

EXAMPLES = """examples:
  mcgip train --manifest images.csv --pairs pairs.parquet --method moco --epochs 200
  mcgip train --manifest images.csv --pairs pairs.parquet --cache cache/   # images from `mcgip prepare`
  mcgip train --manifest images.csv --no-gaze --method byol --out-dir runs/byol_baseline
  mcgip train --manifest images.csv --pairs pairs.parquet --method simsiam --batch-sampler gaze --positives-per-anchor 7
  mcgip train --manifest images.csv --pairs pairs.npz --image-size 32 --width 8 --epochs 2 --device cpu
  torchrun --nproc-per-node 2 -m mcgip_fast.cli.main train --manifest images.csv --pairs pairs.parquet
"""


def _type_of(f: dataclasses.Field):
    t = str(f.type).replace(" | None", "")
    return {"int": int, "float": float, "str": str, "bool": bool}[t]


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --option per TrainConfig field (booleans get --x / --no-x)."""
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        t = _type_of(f)
        if t is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                help=help_text + ("" if f.default is None else " (default: %(default)s)"))
        else:
            parser.add_argument(flag, dest=f.name, type=t, default=f.default, choices=f.metadata.get("choices"),
                                required=f.name == "manifest",
                                metavar=None if "choices" in f.metadata else f.name.upper(),
                                help=help_text + ("" if f.default is None else " (default: %(default)s)"))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args).validate()
    from mcgip_fast.train.loop import NonFiniteLossError, train

    from mcgip_fast.train import ddp

    try:
        result = train(cfg)
    except NonFiniteLossError as e:
        print(f"mcgip train: error: {e}", file=sys.stderr)
        return 1
    finally:
        ddp.cleanup()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 wrote the files and reports them
    if result.image_report.n_skipped:
        print(f"skipped images: {result.image_report.summary()}")
    if result.losses:
        print(f"trained {result.steps} steps; final loss {result.losses[-1]:.4f}")
    print(f"encoder:    {result.encoder_path}")
    print(f"checkpoint: {result.checkpoint_path}")
    print(f"metrics:    {result.log_path}")
    if result.loss_plot_path:
        print(f"loss curve: {result.loss_plot_path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="pre-train an image encoder with gaze-mined positives (MoCo v2, BYOL, SimSiam, SimCLR)",
        description="Pre-train an image encoder in which gaze-similar images (a pairs file from `mcgip mine`) "
        "are extra positives. Writes encoder.pt (plain backbone state dict), checkpoint.pt, metrics.jsonl, "
        "loss.png and config.json to --out-dir. Needs the train extra (torch, torchvision).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(p)
    p.set_defaults(run=run)

"""Why a pre-trained encoder does or does not separate the classes: the shape of its features.

For each encoder, on every image of a labelled archive (centre view, as the probes see it):

* effective rank: exp of the entropy of the normalised singular-value spectrum of the centred
  features (1 = everything on one direction; the feature size = isotropic);
* top-1 share: the variance on the first principal direction;
* between-class share: the variance of the class means over the total variance (0 = the classes
  are mixed along every direction, 1 = each class a point).

A method that collapses loses rank without gaining between-class share; a method that learns the
classes from gaze positives concentrates its variance between them (MoCo v2 +McGIP on the demo
archive: 0.50, baselines 0.01-0.04).

    python benchmarks/feature_spectrum.py --archive ARCHIVE_DIR RUN_DIR [RUN_DIR ...]

ARCHIVE_DIR: a synthetic archive (manifest.csv, labels.csv); RUN_DIR: a `mcgip train` output folder
(encoder.pt). Prints one line per run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def spectrum_stats(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Effective rank, top-1 share and between-class share of (n, d) features (see the module docs)."""
    f = features - features.mean(axis=0)
    total = float(np.sum(f**2))
    if total == 0.0:
        return dict(effective_rank=0.0, top1_share=float("nan"), between_class_share=float("nan"))
    s = np.linalg.svd(f, compute_uv=False)
    p = s**2 / np.sum(s**2)
    p = p[p > 0]
    between = sum((labels == c).sum() * np.sum(f[labels == c].mean(axis=0) ** 2) for c in np.unique(labels))
    return dict(effective_rank=float(np.exp(-(p * np.log(p)).sum())), top1_share=float(p[0]),
                between_class_share=float(between / total))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for the measures.")
    parser.add_argument("--archive", type=Path, required=True, help="synthetic archive folder (manifest.csv, labels.csv)")
    parser.add_argument("--image-size", type=int, default=64, help="input size the encoders were trained at (default 64)")
    parser.add_argument("runs", type=Path, nargs="+", help="training output folders holding encoder.pt")
    args = parser.parse_args(argv)
    import torch

    from mcgip_fast.eval.evaluate import extract_features, load_encoder

    torch.set_num_threads(1)
    manifest = pd.read_csv(args.archive / "manifest.csv", dtype={"image_id": str})
    labels = pd.read_csv(args.archive / "labels.csv", dtype={"image_id": str}).set_index("image_id")
    y = labels.loc[manifest["image_id"], "label"].to_numpy()
    paths = [str(args.archive / p) for p in manifest["path"]]
    for run in args.runs:
        encoder = run / "encoder.pt"
        if not encoder.is_file():
            print(f"{run}: no encoder.pt", file=sys.stderr)
            return 2
        model, _, found = load_encoder(encoder)
        stats = spectrum_stats(extract_features(model, paths, args.image_size, found["in_channels"]), y)
        print(f"{run.name}: effective rank {stats['effective_rank']:.1f}, top-1 share {stats['top1_share']:.2f}, "
              f"between-class share {stats['between_class_share']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

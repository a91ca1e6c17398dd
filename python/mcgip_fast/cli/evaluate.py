"""`mcgip eval`: probe a trained encoder (linear, weighted kNN, optional fine-tuning) on labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcgip_fast.train.config import BACKBONE_NAMES

EXAMPLES = """examples:
  mcgip eval --encoder runs/train/encoder.pt --manifest images.csv
  mcgip eval --encoder runs/train/encoder.pt --manifest images.csv --cache cache/
  mcgip eval --encoder runs/train/encoder.pt --manifest images.csv --budgets 1% 10% 100% --seeds 0 1 2 --out results.csv
  mcgip eval --encoder encoder.pt --manifest images.csv --labels labels.csv --probes linear --finetune
"""


def _budget(text: str) -> float:
    """'1%', '0.01' -> 0.01."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a label budget: {text!r} (use e.g. 0.1 or 10%)") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"label budget must be in (0, 1] or (0%, 100%], got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from mcgip_fast.eval import evaluate_encoder, format_summary, summarise

    df = evaluate_encoder(
        args.encoder, args.manifest, labels=args.labels, probes=args.probes, budgets=args.budgets, seeds=args.seeds,
        image_size=args.image_size, backbone=args.backbone, width=args.width, device=args.device,
        finetune=args.finetune, knn_k=args.knn_k, knn_temperature=args.knn_temperature,
        test_fraction=args.test_fraction, split_seed=args.split_seed, finetune_epochs=args.finetune_epochs,
        batch_size=args.batch_size, num_workers=args.num_workers, cache=args.cache,
    )
    print(format_summary(df))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        summary = out.with_name(out.stem + "_summary.csv")
        summarise(df).to_csv(summary, index=False)
        print(f"per-seed results: {out}\nsummary:          {summary}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="probe a trained encoder: linear / kNN / fine-tuning, per label budget, mean ± std over seeds",
        description="Evaluate a saved encoder (plain backbone state dict, e.g. encoder.pt from `mcgip train`) on "
        "labelled images. Reports accuracy, balanced accuracy and ROC-AUC (one-vs-rest for >2 classes) as "
        "mean ± std over seeds, for each probe and label budget.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--encoder", required=True, help="backbone state dict (.pt); architecture, width and channels are read from it")
    p.add_argument("--manifest", required=True, help="CSV/Parquet with id, path, and label (unless --labels) and optionally split (train/test)")
    p.add_argument("--cache", default=None, help="image cache from `mcgip prepare` (checked against the manifest) instead of decoding every file")
    p.add_argument("--labels", default=None, help="CSV/Parquet with id and label columns, if the manifest has no label column")
    p.add_argument("--probes", nargs="+", default=["linear", "knn"], choices=["linear", "knn", "finetune"],
                   help="probes on frozen features: linear (logistic regression), knn (weighted kNN); finetune trains the whole network (default: linear knn)")
    p.add_argument("--budgets", nargs="+", type=_budget, default=[1.0],
                   help="fractions of the training labels to use, e.g. 1%% 10%% 100%% or 0.01 0.1 1 (default: 100%%)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds for label subsets and probes; metrics are mean ± std over them (default: 0 1 2)")
    p.add_argument("--image-size", type=int, default=None, help="input side in pixels (default: the training run's, from encoder.json beside the encoder, else 224)")
    p.add_argument("--backbone", choices=BACKBONE_NAMES, default=None, help="check the encoder is this architecture (default: read from the weights)")
    p.add_argument("--width", type=int, default=None, help="check the encoder's base width (default: read from the weights)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] for feature extraction and fine-tuning (default: cpu)")
    p.add_argument("--finetune", action="store_true", help="also fine-tune the whole backbone with a linear head")
    p.add_argument("--finetune-epochs", type=int, default=10, help="fine-tuning epochs (default: 10)")
    p.add_argument("--knn-k", nargs="+", type=int, default=[20, 200], help="neighbours for the kNN probe, one result per value (default: 20 200)")
    p.add_argument("--knn-temperature", type=float, default=0.1, help="kNN vote temperature: weight exp(cos/T) (default: 0.1)")
    p.add_argument("--test-fraction", type=float, default=0.3, help="test share of the seeded stratified split, used when the manifest has no split column (default: 0.3)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of that split; the test set is the same for every --seeds value (default: 0)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch for feature extraction (default: 64)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers for feature extraction (default: 0)")
    p.add_argument("--out", default=None, help="write per-seed rows to this CSV and the mean ± std summary beside it (<name>_summary.csv)")
    p.set_defaults(run=run)

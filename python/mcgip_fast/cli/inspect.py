"""`mcgip inspect`: is this gaze worth using? Archive summary, reader and label agreement, verdicts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .gaze_input import add_gaze_arguments, load_gaze

DESCRIPTION = """\
Check a gaze archive before spending GPU time on McGIP pre-training. Writes DIR/inspect.md,
DIR/inspect.json and one PNG per section:

  1. archive summary: images, readers, scanpaths, fixations per scanpath, durations, and what
     validation dropped, clipped or flagged;
  2. reader agreement (images read by two or more readers): per scheme and MultiMatch dimension,
     the ROC-AUC of "same image, other reader" against "other image" pairs, and top-1 retrieval
     of another reader's reading (does gaze follow the image or the reader?);
  3. label agreement (with --labels): per scheme, the AUC of same-label against other-label pairs
     of different images, and the precision of the positives `mcgip mine` selects (--rule, --k)
     against chance;
  4. a verdict per scheme: informative / weak / uninformative. With labels: mined precision at
     least 2x chance is informative, below 1.2x uninformative (in the demo, 2.6x chance gave a large
     pre-training gain and chance precision gave none); without labels, reader-agreement AUC
     >= 0.75 / < 0.6 (conventions, stated as such).

Everything is scored on sampled pairs (never all N x N; the report states the sample), so it takes
seconds on 10,000 scanpaths. Scores are exactly those of `mcgip mine` with the scheme's defaults.

Examples:
  mcgip inspect --gaze fixations.csv --reader-col viewer --screen 1024 768 --labels labels.csv --label-col crowd_level --out inspect/
  mcgip inspect --gaze studyforrest --out inspect_sf/
  mcgip inspect --gaze fixations.parquet --reader-col reader --screen 1920 1080 --scheme multimatch --out inspect/
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="is this gaze worth using? reader and label agreement, verdict per scheme",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_gaze_arguments(p)
    lab = p.add_argument_group("labels (optional)")
    lab.add_argument("--labels", metavar="PATH", help="table of image labels (.csv, .tsv, .parquet); ids are read as strings")
    lab.add_argument("--labels-id-col", default="image_id", help="its image id column (default: image_id)")
    lab.add_argument("--label-col", help="its label column (default: the only column besides the id column)")

    chk = p.add_argument_group("checks")
    chk.add_argument("--scheme", nargs="+", default=["multimatch", "hu", "dhash"], choices=("multimatch", "hu", "dhash"),
                     help="schemes to check, each with its `mcgip mine` defaults (default: all three)")
    chk.add_argument("--pairs", type=int, default=20_000, metavar="P", help="same-group and different-group pairs scored per section, each (default 20000)")
    chk.add_argument("--queries", type=int, default=500, help="top-1 queries (default 500)")
    chk.add_argument("--gallery", type=int, default=99, help="random other-image candidates per top-1 query (default 99)")
    chk.add_argument("--rule", default="mutual", choices=("mutual", "topk"), help="mining rule for the mined-precision check (default: mutual, the demo's)")
    chk.add_argument("--k", type=int, help="its k (default: an eighth of the mined items: images when readers are aggregated, as `mcgip mine` does by default; as the demo's mutual top-100 of 800 images)")
    chk.add_argument("--mine-max", type=int, default=2_000, metavar="N", help="mined-precision check on at most N readings, whole images drawn at random (default 2000)")
    chk.add_argument("--seed", type=int, default=0, help="seed of every sample (default 0)")

    run = p.add_argument_group("run")
    run.add_argument("--out", required=True, metavar="DIR", help="output folder for inspect.md, inspect.json and the PNGs")
    run.add_argument("--threads", type=int, help="kernel threads (default: all cores); results do not depend on it")
    run.add_argument("--no-progress", action="store_true", help="do not show the progress bar on stderr")
    p.set_defaults(run=run_inspect_cli)


def run_inspect_cli(args) -> int:
    from mcgip_fast.gaze.archive import GazeArchive
    from mcgip_fast.report.inspect import InspectOptions, read_labels, run_inspect, write_report

    for name in ("pairs", "queries", "gallery", "mine_max"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.k is not None and args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    archive = load_gaze(args)
    if not isinstance(archive, GazeArchive):
        raise ValueError(f"--gaze {args.gaze}: inspect needs scanpaths (fixations), not precomputed heatmaps or codes")
    labels, notes = (None, [])
    if args.labels:
        labels, notes = read_labels(args.labels, archive.image_ids, args.labels_id_col, args.label_col)
    opts = InspectOptions(
        schemes=tuple(dict.fromkeys(args.scheme)), max_positive_pairs=args.pairs, max_negative_pairs=args.pairs,
        queries=args.queries, gallery=args.gallery, rule=args.rule, k=args.k, mine_max_items=args.mine_max,
        seed=args.seed, threads=args.threads, progress=not args.no_progress,
    )
    print(f"mcgip inspect: {len(archive)} scanpaths from {args.gaze}", file=sys.stderr)
    result = run_inspect(archive, labels, opts, source=str(args.gaze), notes=notes)
    paths = write_report(result, Path(args.out))
    for scheme, v in result.verdicts.items():
        print(f"{scheme}: {v['verdict']} ({v['why']})", file=sys.stderr)
    if result.reader_habits:
        h = result.reader_habits
        print("reader habits (same-reader minus cross-reader similarity, in std): "
              + ", ".join(f"{d} {e:.2f}" for d, e in zip(h["dimensions"], h["reader_effects"]))
              + "; --weights reader-invariant would use " + ", ".join(f"{w:.3f}" for w in h["weights"]), file=sys.stderr)
    print(f"time: {result.seconds:.1f} s; wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0

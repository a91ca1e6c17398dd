"""`mcgip demo`: from simulated gaze to a better encoder, with a report that shows whether it is.

Generates a synthetic radiology archive with simulated reader gaze, mines positive pairs with
each scheme, pre-trains baselines and +McGIP encoders, probes them, runs the real-data study on
the embedded studyforrest sample, and writes ``report/``. ``--real-only`` runs just the real-data
section (the studyforrest gaze maps and the similarity study).
"""

from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path


EXAMPLES = """examples:
  mcgip demo                                   # the whole job and report/report.md
  mcgip demo --quick --out report_quick/       # every stage at a tiny size (numbers meaningless)
  mcgip demo --real-only                       # only the studyforrest gaze maps and study
"""


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    from mcgip_fast.report.demo import DemoConfig
    from mcgip_fast.train.config import BACKBONE_NAMES, LOSS_AVERAGES, POOL_NAMES, STEM_NAMES

    d = DemoConfig()
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a synthetic archive and write a report",
        description=textwrap.fill(
            "Generate a synthetic radiology archive with simulated reader gaze; mine positive pairs with "
            "MultiMatch, Hu moments and dHash (precision against hidden labels); pre-train MoCo v2 and SimSiam, "
            "each as a baseline and with McGIP positives (plus a control with uninformative gaze); probe the "
            "encoders (linear, kNN) over several seeds; run the real-data study on studyforrest; when the Saliency "
            "in Crowd data is found, mine same-reader pairs from its 16 viewers and pre-train and probe on crowd level; write "
            "report/report.md with plots. About 15 minutes on 2 CPU cores with the defaults.",
            width=80,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("report"), help="report folder (default: report/)")
    p.add_argument("--work", type=Path, default=None, help="folder for the archive, pairs and runs (default: <out>/work)")
    p.add_argument("--quick", action="store_true", help="a tiny run of every stage (about a minute; numbers are meaningless)")
    p.add_argument("--real-only", action="store_true", help="only the real-data section: studyforrest gaze maps and the study")
    p.add_argument("--n-images", type=int, default=None, help=f"images in the synthetic archive (default {d.n_images})")
    p.add_argument("--informativeness", type=float, default=None, help=f"gaze informativeness in [0, 1] (default {d.informativeness:g})")
    p.add_argument("--epochs", type=int, default=None, help=f"pre-training epochs per run (default {d.epochs})")
    p.add_argument("--methods", type=_names, default=None, help=f"methods, comma-separated (default {','.join(d.methods)})")
    p.add_argument("--pretrain-seeds", type=_ints, default=None, help=f"pre-training seeds, e.g. 0,1,2 (default {','.join(map(str, d.pretrain_seeds))})")
    p.add_argument("--eval-seeds", type=_ints, default=None, help=f"evaluation seeds (default {','.join(map(str, d.eval_seeds))})")
    p.add_argument("--k", type=int, default=None, help=f"top-k most gaze-similar images mined per image (default {d.k})")
    p.add_argument("--rule", choices=["topk", "mutual"], default=None, help=f"mining rule: top-k union or mutual top-k (default {d.rule})")
    p.add_argument("--backbone", choices=BACKBONE_NAMES, default=None, help=f"encoder (default {d.backbone})")
    p.add_argument("--stem", choices=STEM_NAMES, default=None, help=f"encoder stem (default {d.stem})")
    p.add_argument("--pool", choices=POOL_NAMES, default=None, help=f"encoder global pooling (default {d.pool})")
    p.add_argument("--loss-average", choices=LOSS_AVERAGES, default=None,
                   help=f"average the multi-positive loss per anchor or over the batch (default {d.loss_average})")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {d.lr:g})")
    p.add_argument("--no-control", action="store_true", help="skip the uninformative-gaze control run")
    p.add_argument("--no-oracle", action="store_true", help="skip the diagnostic run with same-class positives from the labels")
    p.add_argument("--no-study", action="store_true", help="skip the real-data study")
    p.add_argument("--no-crowd", action="store_true", help="skip the real images with real gaze (Saliency in Crowd) section")
    p.add_argument("--crowd-data", type=Path, default=None,
                   help="folder of the crowd data (fixations.csv, labels.csv, manifest.csv, images/) (default: $MCGIP_CROWD_DATA, else ../shared/data/crowd beside the repository; skipped with a note when absent)")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace):
    from mcgip_fast.report.demo import DemoConfig

    overrides = dict(out=str(args.out), work=str(args.work) if args.work else None, threads=args.threads,
                     progress=args.progress, control=not args.no_control, oracle=not args.no_oracle,
                     study=not args.no_study, crowd=not args.no_crowd and not args.quick,
                     crowd_data=str(args.crowd_data) if args.crowd_data else None)
    for arg, key in (("n_images", "n_images"), ("informativeness", "informativeness"), ("epochs", "epochs"),
                     ("methods", "methods"), ("pretrain_seeds", "pretrain_seeds"), ("eval_seeds", "eval_seeds"),
                     ("k", "k"), ("rule", "rule"), ("backbone", "backbone"), ("stem", "stem"), ("pool", "pool"),
                     ("loss_average", "loss_average"), ("lr", "lr")):
        v = getattr(args, arg)
        if v is not None:
            overrides[key] = v
    return DemoConfig.quick(**overrides) if args.quick else DemoConfig(**overrides)


def _real_only(args: argparse.Namespace) -> int:
    import numpy as np

    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.gaze.heatmaps import render_heatmaps
    from mcgip_fast.gaze.images import save_heatmap_images
    from mcgip_fast.report import plots
    from mcgip_fast.report.study import run_study

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    archive = load_studyforrest()
    print(f"studyforrest sample: {archive}")
    print(f"  fixations per scanpath: min {archive.lengths.min()}, median {int(np.median(archive.lengths))}, max {archive.lengths.max()}")
    t0 = time.perf_counter()
    maps = render_heatmaps(archive, (144, 256), 6.0, threads=args.threads)
    print(f"heatmaps: {maps.shape[0]} maps of 144x256 in {(time.perf_counter() - t0) * 1e3:.1f} ms")
    save_heatmap_images(maps, [k.replace("|", "_") for k in archive.keys], out / "studyforrest_maps")
    study = run_study(archive, threads=args.threads)
    plots.plot_study(study.full, out / "study.png", study.chance_top1)
    path = out / "study.md"
    path.write_text("# Real-data study: gaze similarity on studyforrest\n\n" + study.to_markdown() + "\n\n![study](study.png)\n")
    print(study.verdict())
    print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.real_only:
        return _real_only(args)
    from mcgip_fast.report.demo import run_demo
    from mcgip_fast.report.markdown import terminal_summary, write_report

    cfg = _config(args)
    t0 = time.perf_counter()
    result = run_demo(cfg)
    with_report = time.perf_counter()
    path = write_report(result)
    result.timings.append(("write report", time.perf_counter() - with_report))
    path = write_report(result)  # again, so the report lists its own writing time
    print(terminal_summary(result, path))
    print(f"wall time {(time.perf_counter() - t0) / 60:.1f} min")
    return 0

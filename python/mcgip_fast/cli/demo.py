"""`mcgip demo`: from simulated gaze to a better encoder, with a report that shows whether it is.

Generates a synthetic radiology archive with simulated reader gaze, mines positive pairs with
each scheme, pre-trains baselines and +McGIP encoders, probes them, runs the real-data study on
the embedded studyforrest sample, and writes ``report/``. ``--real-only`` runs just the real-data
section (the studyforrest gaze maps and the similarity study). ``--full`` runs the issue's whole test on one
archive: MoCo v2, BYOL, SimSiam and SimCLR, 5 pre-training seeds for every run, the uninformative-gaze and
shuffled-positives controls for every method (hours on 2 cores; finished runs are reused when it is run again).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path


EXAMPLES = """examples:
  mcgip demo                                   # the whole job and report/report.md
  mcgip demo --quick --out report_quick/       # every stage at a tiny size (numbers meaningless)
  mcgip demo --real-only                       # only the studyforrest gaze maps and study
  mcgip demo --full --out report_full/         # the issue's test: 4 methods x 5 seeds, both controls each (hours)
  mcgip demo --full --archive chest --out report_full_chest/    # the same on the second archive
  mcgip demo --full --method-option byol.gaze_weight=0.5  # one method at another recipe
  mcgip demo --full --quick --pretrain-seeds 0,1 --out /tmp/q/  # every --full run at a tiny size

Runs finished earlier with the very same settings, data, pairs and code are reused (their records are in
<work>/runs/*/record.json), so an interrupted --full run continues where it stopped; --no-reuse trains all.
"""


def parse_value(text: str):
    """An option value as typed: true/false, none/null, an int, a float, else the text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _method_option(text: str) -> tuple[str, str, object]:
    """METHOD.OPTION=VALUE -> (method, option, value)."""
    from mcgip_fast.report.demo import METHODS

    target, sep, value = text.partition("=")
    method, dot, option = target.strip().partition(".")
    if not sep or not dot or not option:
        raise argparse.ArgumentTypeError(f"expected METHOD.OPTION=VALUE (e.g. byol.gaze_memory=256), got {text!r}")
    if method not in METHODS:
        raise argparse.ArgumentTypeError(f"unknown method {method!r} in {text!r}; choose from {', '.join(METHODS)}")
    return method, option.strip().replace("-", "_"), parse_value(value)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    from mcgip_fast.report.demo import DemoConfig
    from mcgip_fast.synth import GENERATORS
    from mcgip_fast.train.config import BACKBONE_NAMES, LOSS_AVERAGES, POOL_NAMES, STEM_NAMES

    d = DemoConfig()
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a synthetic archive and write a report",
        description=textwrap.fill(
            "Generate a synthetic radiology archive with simulated reader gaze; mine positive pairs with "
            "MultiMatch, Hu moments and dHash (precision against hidden labels); pre-train MoCo v2, BYOL, SimSiam "
            "and SimCLR, each as a baseline and with McGIP positives at its own recipe (plus a MoCo control with "
            "uninformative gaze); probe the encoders (linear, kNN) over several seeds; run the real-data study on studyforrest; when the Saliency "
            "in Crowd data is found, mine same-reader pairs from its 16 viewers and pre-train and probe on crowd level; write "
            "report/report.md with plots. About 18 minutes on 2 CPU cores with the defaults. --full runs the issue's "
            "test instead: all four methods (MoCo v2, BYOL, SimSiam, SimCLR), 5 pre-training seeds each, baseline, "
            "+McGIP and the uninformative-gaze and shuffled-positives controls for every method, and a table of "
            "whether +McGIP beats each baseline by more than the seed std (hours; resumable).",
            width=80,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("report"), help="report folder (default: report/)")
    p.add_argument("--work", type=Path, default=None, help="folder for the archive, pairs and runs (default: <out>/work)")
    p.add_argument("--quick", action="store_true", help="a tiny run of every stage (about a minute; numbers are meaningless)")
    p.add_argument("--real-only", action="store_true", help="only the real-data section: studyforrest gaze maps and the study")
    p.add_argument("--full", action="store_true",
                   help="the issue's test: methods moco,byol,simsiam,simclr, pre-training seeds 0-4 for every run, both "
                        "controls for every method, no oracle, study or crowd section (other options still apply; with "
                        "--quick at a tiny size)")
    p.add_argument("--archive", choices=tuple(GENERATORS), default=None,
                   help=f"synthetic archive generator (default {d.archive}; chest: synth/chest.py, a differently built archive)")
    p.add_argument("--n-images", type=int, default=None, help=f"images in the synthetic archive (default {d.n_images})")
    p.add_argument("--informativeness", type=float, default=None, help=f"gaze informativeness in [0, 1] (default {d.informativeness:g})")
    p.add_argument("--epochs", type=int, default=None, help=f"pre-training epochs per run (default {d.epochs})")
    p.add_argument("--methods", type=_names, default=None, help=f"methods, comma-separated (default {','.join(d.methods)}; --full: moco,byol,simsiam,simclr)")
    p.add_argument("--pretrain-seeds", type=_ints, default=None, help=f"pre-training seeds, e.g. 0,1,2 (default {','.join(map(str, d.pretrain_seeds))}; --full: 0,1,2,3,4)")
    p.add_argument("--eval-seeds", type=_ints, default=None, help=f"evaluation seeds (default {','.join(map(str, d.eval_seeds))})")
    p.add_argument("--k", type=int, default=None, help=f"top-k most gaze-similar images mined per image (default {d.k})")
    p.add_argument("--rule", choices=["topk", "mutual"], default=None, help=f"mining rule: top-k union or mutual top-k (default {d.rule})")
    p.add_argument("--mm-weights", choices=["mcgip", "reader-invariant"], default=None,
                   help=f"MultiMatch weights for mining: McGIP's (0.1, 0.1, 0.1, 0.1, 0.6) or fitted from reader ids, no labels (default {d.mm_weights})")
    p.add_argument("--backbone", choices=BACKBONE_NAMES, default=None, help=f"encoder (default {d.backbone})")
    p.add_argument("--stem", choices=STEM_NAMES, default=None, help=f"encoder stem (default {d.stem})")
    p.add_argument("--pool", choices=POOL_NAMES, default=None, help=f"encoder global pooling (default {d.pool})")
    p.add_argument("--loss-average", choices=LOSS_AVERAGES, default=None,
                   help=f"average the multi-positive loss per anchor or over the batch (default {d.loss_average})")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {d.lr:g})")
    p.add_argument("--no-control", action="store_true", help="skip the uninformative-gaze control run")
    p.add_argument("--shuffled-control", action=argparse.BooleanOptionalAction, default=None,
                   help="also run +McGIP on the mined positives shuffled with every image's number of positives kept "
                        "(degree-preserving; default: off, on with --full)")
    p.add_argument("--controls-every-method", action=argparse.BooleanOptionalAction, default=None,
                   help="run the controls for every method, not only the first (MoCo) (default: off, on with --full)")
    p.add_argument("--method-option", type=_method_option, action="append", default=[], metavar="METHOD.OPTION=VALUE",
                   help="a TrainConfig option for one method's runs only (its baseline, +McGIP and controls), e.g. "
                        "byol.gaze_memory=256; repeatable (gaze_memory is left out of baselines: it holds gaze positives)")
    p.add_argument("--no-reuse", action="store_true",
                   help="train and probe every run anew instead of reusing records of runs finished with the same settings")
    p.add_argument("--oracle", action=argparse.BooleanOptionalAction, default=None,
                   help="also run the diagnostic runs with same-class positives from the labels: the headline method's, or "
                        "with --controls-every-method every method's (default: off)")
    p.add_argument("--no-study", action="store_true", help="skip the real-data study")
    p.add_argument("--no-crowd", action="store_true", help="skip the real images with real gaze (Saliency in Crowd) section")
    p.add_argument("--crowd-data", type=Path, default=None,
                   help="folder of the crowd data (fixations.csv, labels.csv, manifest.csv, images/) (default: $MCGIP_CROWD_DATA, else ../shared/data/crowd beside the repository; skipped with a note when absent)")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    p.add_argument("--parallel-runs", type=int, default=None,
                   help=f"pre-training runs side by side, each in its own process (default {d.parallel_runs}; 1: one after another)")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch threads per run (default: the cores shared out among the parallel runs); "
                        "a run's numbers depend on this count")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace):
    from dataclasses import replace

    from mcgip_fast.report.demo import FULL, DemoConfig

    overrides = dict(out=str(args.out), work=str(args.work) if args.work else None, threads=args.threads,
                     progress=args.progress, crowd_data=str(args.crowd_data) if args.crowd_data else None)
    # a "--no-..." flag turns its part off; without it the part keeps its default (the demo's or --full's)
    for flag, key in (("no_control", "control"), ("no_study", "study"), ("no_crowd", "crowd"),
                      ("no_reuse", "reuse")):
        if getattr(args, flag):
            overrides[key] = False
    if args.quick:
        overrides["crowd"] = False
    for arg, key in (("n_images", "n_images"), ("informativeness", "informativeness"), ("epochs", "epochs"),
                     ("methods", "methods"), ("pretrain_seeds", "pretrain_seeds"), ("eval_seeds", "eval_seeds"),
                     ("k", "k"), ("rule", "rule"), ("mm_weights", "mm_weights"), ("backbone", "backbone"), ("stem", "stem"), ("pool", "pool"),
                     ("loss_average", "loss_average"), ("lr", "lr"), ("archive", "archive"),
                     ("shuffled_control", "shuffled_control"), ("controls_every_method", "controls_every_method"),
                     ("oracle", "oracle"), ("parallel_runs", "parallel_runs"), ("torch_threads", "torch_threads")):
        v = getattr(args, arg)
        if v is not None:
            overrides[key] = v
    if args.quick:
        cfg = DemoConfig.quick(**{**FULL, **overrides}) if args.full else DemoConfig.quick(**overrides)
    else:
        cfg = DemoConfig.full(**overrides) if args.full else DemoConfig(**overrides)
    if args.method_option:
        options = {m: dict(o) for m, o in cfg.method_options.items()}
        for method, option, value in args.method_option:
            options.setdefault(method, {})[option] = value
        cfg = replace(cfg, method_options=options)
    return cfg


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
    try:
        cfg.validate()
    except ValueError as e:
        print(f"mcgip demo: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    result = run_demo(cfg)
    with_report = time.perf_counter()
    path = write_report(result)
    result.timings.append(("write report", time.perf_counter() - with_report))
    path = write_report(result)  # again, so the report lists its own writing time
    print(terminal_summary(result, path))
    print(f"wall time {(time.perf_counter() - t0) / 60:.1f} min")
    return 0

"""`mcgip mine`: mine gaze-positive pairs from a gaze archive into a sparse pair file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .gaze_input import add_gaze_arguments, load_gaze

DESCRIPTION = """\
Mine gaze-positive pairs: score gaze similarity between items (scanpaths, or heatmaps made from
them), select positives with a rule, and write a sparse pair graph (.parquet or .npz) that
`mcgip train` reads. The file records the item ids, a content hash of the archive and every
parameter, so it is refused by a reordered or different archive.

Work proceeds in tiles of rows with bounded memory. With --workdir each finished tile is written
atomically; a killed run continues with --resume and gives byte-identical output. Results never
depend on --threads or on the engine.

Example:
  mcgip mine --gaze fixations.parquet --screen 1920 1080 --scheme multimatch --rule topk --k 5 --out pairs.parquet
  mcgip mine --gaze studyforrest --scheme multimatch --rule threshold --threshold 0.7 --out pairs.npz
  # several readers per image: image-level pairs, each image pair scored over its common readers
  mcgip mine --gaze crowd/fixations.csv --screen 1024 768 --reader-col viewer --aggregate same-reader --rule mutual --k 62 --out pairs.npz
  # large archives: candidates + exact re-rank, recall measured and raised to 0.95
  mcgip mine --gaze big.parquet --screen 1920 1080 --rule topk --k 10 --candidates ann --recall 0.95 --workdir work/ --out pairs.npz
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "mine",
        help="mine gaze-positive pairs into a sparse pair file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_gaze_arguments(p)

    sch = p.add_argument_group("scheme (what similarity means; scores are similarities, higher = more similar)")
    sch.add_argument("--scheme", default="multimatch", help="multimatch (scanpaths), hu (heatmap Hu moments) or dhash (heatmap difference hash) (default: multimatch)")
    sch.add_argument("--weights", nargs="+", metavar="W",
                     help="multimatch: weights of the five dimensions VEC DIR LEN POS DUR (default: McGIP's 0.1 0.1 0.1 0.1 0.6), "
                          "or 'reader-invariant': fitted on the archive from its reader ids (--reader-col), no labels: "
                          "dimensions on which one reader's scanpaths are alike whatever the image get little weight "
                          "(the fitted weights are printed and stored in the pairs' params)")
    sch.add_argument("--grouping", action="store_true", help="multimatch: simplify scanpaths (group saccades by direction and length) before comparing")
    sch.add_argument("--tdir", type=float, help="multimatch: direction threshold in degrees for --grouping (default 0)")
    sch.add_argument("--tdur", type=float, help="multimatch: duration threshold in seconds for --grouping (default 0)")
    sch.add_argument("--tamp", type=float, help="multimatch: amplitude threshold in pixels for --grouping (default 0)")
    sch.add_argument("--method", help="hu: I1, I2, I3 (cv2.matchShapes; score 1/(1+distance)) or official (McGIP's M00 + Hu1 score); dhash: hamming (score 1 - d/bits) or cosine (official)")
    sch.add_argument("--hu-weight", type=float, help="hu official: weight w of Hu1 against M00 (default 0.5)")
    sch.add_argument("--hash-size", type=int, help="dhash: hash size (default 8: 64-bit codes)")
    sch.add_argument("--heatmap-size", type=int, help="hu/dhash: heatmaps rendered from scanpaths are SIZE x SIZE (default 64; hu official then resizes to 32 x 32 as McGIP); multimatch --prefilter: feature maps SIZE x SIZE (default 32)")
    cand = p.add_argument_group("candidates (which pairs are scored exactly)")
    cand.add_argument("--candidates", choices=("exact", "faiss", "ann", "auto"), help="exact: every pair (default). hu/dhash: faiss = only FAISS-retrieved candidates (approximate). multimatch: ann = each item's nearest scanpath embeddings (FAISS), re-ranked exactly, recall measured on sampled queries and written to the summary; auto = exact where all pairs cost less than ann")
    cand.add_argument("--candidates-per-item", type=int, metavar="C", help="multimatch --candidates ann: candidates per item (default: max(8k, 64) for topk/mutual, 256 for thresholds)")
    cand.add_argument("--recall", type=float, metavar="R", help="multimatch --candidates ann: raise the candidates per item (doubling) until the measured recall reaches R, in (0, 1]")
    cand.add_argument("--recall-queries", type=int, default=100, metavar="Q", help="multimatch --candidates ann: random items scored exactly one-vs-all to measure recall (default 100)")
    cand.add_argument("--prefilter", type=int, metavar="C", help="multimatch, older candidate stage: re-rank each item's C nearest heatmap features (FAISS); misses most of the exact top-k with McGIP's weights, prefer --candidates ann")

    sch.add_argument(
        "--aggregate", default="auto", choices=("auto", "none", "same-reader", "all-pairs", "pooled"),
        help="several readers per image (--reader-col): same-reader (an image pair's score is the mean, over the readers "
        "who read both, of that reader's score; pairs with no common reader get none), all-pairs (mean over every pair "
        "of readings; R^2 cost), pooled (hu/dhash: one heatmap per image from all readers), none (pairs of readings, "
        "keyed image|reader; `mcgip train` cannot use them). auto (default): same-reader when readers overlap, "
        "all-pairs when they do not, none without readers. Aggregated pairs are keyed by image id",
    )

    rule = p.add_argument_group("rule (which pairs are positive; self-pairs are always excluded)")
    rule.add_argument("--rule", default="topk", help="threshold (score > --threshold, as McGIP), topk (each item's --k best, union), mutual (mutual top-k) or percentile (score above the --percentile-th percentile, estimated from a sample) (default: topk)")
    rule.add_argument("--k", type=int, help="topk/mutual: partners per item (k >= 1)")
    rule.add_argument("--threshold", type=float, help="threshold: positives have score > THRESHOLD; must lie in the scheme's range")
    rule.add_argument("--percentile", type=float, help="percentile: q in (0, 100)")
    rule.add_argument("--sample-size", type=int, default=100_000, help="percentile: random pairs scored to estimate it, and pairs scored for the plot (default 100000)")
    rule.add_argument("--seed", type=int, default=0, help="seed of the pair sample (default 0)")

    run = p.add_argument_group("run")
    run.add_argument("--out", required=True, metavar="FILE", help="pair file to write: .parquet (edge list + metadata) or .npz (CSR + metadata)")
    run.add_argument("--summary", metavar="FILE", help="summary JSON (pairs, degree distribution, score histogram, time) (default: OUT with .summary.json)")
    run.add_argument("--plot", metavar="FILE", help="PNG of the score distribution with the threshold marked (default: OUT with .scores.png)")
    run.add_argument("--workdir", metavar="DIR", help="write each finished tile here atomically, so the run can be resumed")
    run.add_argument("--resume", action="store_true", help="continue the run in --workdir (checks it is the same run; reuses finished tiles)")
    run.add_argument("--tile-rows", type=int, help="rows per tile (default: from the archive size, so a tile stays under 64 MB)")
    run.add_argument("--threads", type=int, help="threads per tile (default: all cores); the output does not depend on it")
    run.add_argument("--engine", default="local", help="local (this machine) or dask (a Dask cluster, see --scheduler) (default: local)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="dask: scheduler address, e.g. tcp://10.0.0.5:8786")
    run.add_argument("--no-progress", action="store_true", help="do not show the progress bar (with ETA) on stderr")
    p.set_defaults(run=run_mine)


def _weights(values: list[str] | None):
    if not values:
        return None
    if values == ["reader-invariant"]:
        return "reader-invariant"
    try:
        weights = tuple(float(v) for v in values)
    except ValueError:
        weights = ()
    if len(weights) != 5:
        raise ValueError(f"--weights takes 5 numbers (VEC DIR LEN POS DUR) or 'reader-invariant', got {' '.join(values)}")
    return weights


def scheme_options(args) -> dict:
    opts = {
        "weights": _weights(args.weights),
        "screen": tuple(args.screen) if args.screen else None,
        "grouping": True if args.grouping else None,
        "tdir": args.tdir,
        "tdur": args.tdur,
        "tamp": args.tamp,
        "method": args.method,
        "weight": args.hu_weight,
        "hash_size": args.hash_size,
        "heatmap_size": args.heatmap_size,
        "prefilter": args.prefilter,
        "candidates": args.candidates if args.scheme != "multimatch" else None,
    }
    return {k: v for k, v in opts.items() if v is not None}


def weight_fit_lines(params: dict) -> list[str]:
    """The fitted reader-invariant weights, for the console."""
    fit = params.get("weight_fit")
    if not fit:
        return []
    names = ("vector", "direction", "length", "position", "duration")
    return [f"reader-invariant weights: {', '.join(f'{n} {w:.3f}' for n, w in zip(names, params['weights']))} "
            f"(reader effects {', '.join(f'{e:.2f}' for e in fit['reader_effects'])}; {fit['same_reader_pairs']} same-reader "
            f"and {fit['cross_reader_pairs']} cross-reader pairs of {fit['readers']} readers)"]


def aggregate_lines(aggregate: dict | None) -> list[str]:
    """What aggregation over readers did, for the console."""
    if not aggregate:
        return []
    line = f"aggregate: {aggregate['mode']} (items are image ids)"
    if "image_pairs_without_common_reader" in aggregate:
        line += (f"; {aggregate['image_pairs_without_common_reader']} image pairs share no reader (no score, never 0), "
                 f"{aggregate['images_without_common_reader']} images share no reader with any other")
    return [line]


def candidate_stage(args):
    """`mine(candidates=...)` from the options; hu/dhash take --candidates as their scheme option instead."""
    from mcgip_fast.mining import AnnCandidates

    ann_options = {"--candidates-per-item": args.candidates_per_item, "--recall": args.recall}
    given = [k for k, v in ann_options.items() if v is not None]
    if args.scheme != "multimatch":
        if given:
            raise ValueError(f"{', '.join(given)} belong to --scheme multimatch --candidates ann")
        return "exact"
    if args.candidates == "faiss":
        raise ValueError("--candidates faiss is for hu and dhash; multimatch uses --candidates ann (scanpath embeddings) or the older --prefilter C")
    if args.candidates in ("ann", "auto"):
        return AnnCandidates(per_item=args.candidates_per_item, target_recall=args.recall, queries=args.recall_queries, auto=args.candidates == "auto")
    if given:
        raise ValueError(f"{', '.join(given)} need --candidates ann (or auto)")
    return "exact"


def run_mine(args) -> int:
    from mcgip_fast.mining import mine, summary_json
    from mcgip_fast.mining.plots import plot_scores

    out = Path(args.out)
    if out.suffix not in (".parquet", ".npz"):
        raise ValueError(f"--out {out}: pair files end in .parquet or .npz")
    t0 = time.perf_counter()
    items = load_gaze(args)
    print(f"mcgip mine: {len(items)} items from {args.gaze}", file=sys.stderr)
    validation = getattr(items, "report", None)
    if validation is not None and not (validation.clean and not validation.short_scanpaths and not validation.notes):
        print(f"validation: {validation.summary()}" + "".join(f"\n  {note}" for note in validation.notes), file=sys.stderr)
    pairs = mine(
        items, args.scheme, args.rule, k=args.k, threshold=args.threshold, percentile=args.percentile,
        sample_size=args.sample_size, seed=args.seed, scheme_options=scheme_options(args),
        tile_rows=args.tile_rows, workdir=args.workdir, resume=args.resume, engine=args.engine,
        scheduler=args.scheduler, threads=args.threads, progress=not args.no_progress,
        score_sample=min(args.sample_size, 20_000), candidates=candidate_stage(args), aggregate=args.aggregate,
    )
    pairs.save(out)
    report = pairs.report
    report.seconds = time.perf_counter() - t0
    summary_path = Path(args.summary) if args.summary else out.with_name(out.stem + ".summary.json")
    summary_path.write_text(summary_json(pairs, report) + "\n")
    plot_path = Path(args.plot) if args.plot else out.with_name(out.stem + ".scores.png")
    plot_scores(pairs, report, plot_path)
    deg = pairs.degrees()
    lines = [
        f"pairs: {pairs.n_pairs} ({'symmetric' if pairs.symmetric else 'directed'}) among {len(pairs)} items",
        f"degree: min {deg.min()}, median {float(__import__('numpy').median(deg)):g}, mean {deg.mean():.2f}, max {deg.max()}, isolated {(deg == 0).sum()}",
        *report.summary_lines(),
        *aggregate_lines(pairs.params.get("aggregate")),
        *weight_fit_lines(pairs.params),
        f"time: {report.seconds:.2f} s",
        f"wrote {out}, {summary_path}, {plot_path}",
    ]
    print("\n".join(lines), file=sys.stderr)
    return 0

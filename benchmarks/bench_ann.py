"""Candidate ("ann") MultiMatch mining against exact all-pairs mining, in the same run.

Parts:
  recall   recall@k (McGIP weights, grouping off and on) of `mine(candidates="ann")` on three
           archives of N scanpaths: generated random walks (iid durations), generated jittered
           replicas of N/20 random walks, and the real studyforrest REMoDNaV stream cut into 10-s
           windows, replicated with jitter to N. Recall is measured on sampled queries scored
           exactly one-vs-all; exact all-pairs time is estimated from a measured sample of its
           tiles (top-k, the same Rust tiles `mine()` runs), not run in full.
  million  one ann top-k run on N generated scanpaths (25-35 fixations) with a work directory;
           records time, peak memory (ru_maxrss) and recall. Run it in the background.
  noise    how much of the duration dimension any per-scanpath statistic can predict (explains misses).
  growth   reads the recall/million JSONs, measures exact tile samples at each N, writes a
           table and a plot of time against N for exact and candidate mining.

Examples:
  python benchmarks/bench_ann.py --part recall --n 100000 --queries 200
  nohup python benchmarks/bench_ann.py --part million --n 1000000 --workdir /tmp/ann1m > /tmp/ann1m.log 2>&1 &
  python benchmarks/bench_ann.py --part growth
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from mcgip_fast import _core, read_remodnav
from mcgip_fast.mining import AnnCandidates, mine
from mcgip_fast.mining.schemes import MultiMatchScheme
from mcgip_fast.mining.synthetic import jittered_replicas, random_archive

RESULTS = Path(__file__).parent / "results"
STUDYFORREST_DIR = Path(os.environ.get("MCGIP_STUDYFORREST", "/work/shared/data/studyforrest"))
GROUPING = {"grouping": True, "tamp": 160.0, "tdir": 45.0, "tdur": 0.1}


def archives(n: int, seed: int):
    yield "generated random walks (iid durations)", random_archive(n, 30, spread=5, seed=seed)
    yield "generated jittered replicas of N/20 walks", jittered_replicas(random_archive(max(2, n // 20), 30, spread=5, seed=seed), n, seed=seed + 1, drop=0.0)
    base = studyforrest_base()
    yield f"studyforrest: {len(base)} real scanpaths replicated with jitter", jittered_replicas(base, n, seed=seed + 2)


def studyforrest_base():
    """The REMoDNaV stream cut into 10-s windows (it is 9 s long: one window) plus the 60 fixation-vector scanpaths."""
    from mcgip_fast import GazeArchive, read_fixation_files

    stream = read_remodnav(STUDYFORREST_DIR / "remodnav/sub-01_task-movie_run-1_events.tsv", 10.0, screen=(1280, 720), short="drop")
    vectors = read_fixation_files(STUDYFORREST_DIR / "fixvectors", screen=(1280, 720), off_screen="clip", short="drop")
    parts = [a.packed() for a in (stream, vectors)]
    lengths = np.concatenate([np.diff(p[0]) for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    x, y, d = (np.concatenate([p[c] for p in parts]) for c in (1, 2, 3))
    ids = [str(k) for a in (stream, vectors) for k in a.keys]
    return GazeArchive.from_arrays(ids, offsets, x, y, d, screen=(1280, 720))


def exact_rate(archive, options, k: int, threads) -> dict:
    """Pairs/s of exact all-pairs top-k, measured on one tile of the size `mine()` would use, in the
    middle of the archive (each tile prepares the archive once, so tile size matters)."""
    from mcgip_fast.mining.plan import plan_tiles

    s = MultiMatchScheme(**options)
    s.bind(archive)
    st = s.prepare(archive)
    n = len(archive)
    _, a, b = plan_tiles(n, None)[0]
    rows = b - a
    start = n // 2 - rows // 2
    t = time.perf_counter()
    s.tile(st, start, start + rows, ("topk", k), threads)
    sec = time.perf_counter() - t
    pairs = int(_core.mining_tile_pairs(n, start, start + rows))
    total = n * (n - 1) // 2
    return {"tile_rows": rows, "sampled_pairs": pairs, "seconds": sec, "pairs_per_s": pairs / sec, "all_pairs": total, "estimated_s": total / (pairs / sec)}


def run_ann(archive, options, k, queries, target, threads, workdir=None, progress=False, engine="local", scheduler=None, per_item=None):
    # The candidate budget: at most 1% of all pairs scored exactly (C <= 0.005 (N - 1)).
    budget = max(2 * k, int(0.005 * (len(archive) - 1)))
    t = time.perf_counter()
    p = mine(archive, "multimatch", "topk", k=k, scheme_options=options, threads=threads, workdir=workdir, resume=workdir is not None and Path(workdir, "manifest.json").exists(),
             candidates=AnnCandidates(per_item=per_item, target_recall=target, queries=queries, max_per_item=budget), progress=progress, engine=engine, scheduler=scheduler)
    sec = time.perf_counter() - t
    c = p.report.candidates
    n = p.report.n_scorable
    return p, {
        "seconds": sec, "recall": c["recall"], "per_item": c["per_item"], "index": c["index"], "calibration": c["calibration"],
        "scored_pairs": p.report.scored_pairs, "exact_fraction_of_all_pairs": p.report.scored_pairs / (n * (n - 1) / 2),
        "timings": c["timings"], "block_weights": c["block_weights"], "tiles_reused": p.report.tiles_reused,
    }


def part_recall(args):
    out = []
    which = [int(v) for v in args.archives.split(",")]
    for idx, (name, a) in enumerate(archives(args.n, args.seed)):
        if idx not in which:
            continue
        for grouping in [bool(int(g)) for g in args.groupings.split(",")]:
            options = GROUPING if grouping else {}
            _, r = run_ann(a, options, args.k, args.queries, args.target, args.threads, per_item=args.per_item)
            ex = exact_rate(a, options, args.k, args.threads)
            row = {"archive": name, "n": len(a), "grouping": grouping, "k": args.k, "ann": r, "exact_estimate": ex,
                   "speedup_vs_exact_estimate": ex["estimated_s"] / r["seconds"]}
            print(json.dumps({kk: row[kk] for kk in ("archive", "n", "grouping")}), f"recall {r['recall']['value']:.4f}",
                  f"C {r['per_item']}", f"ann {r['seconds']:.1f}s", f"exact est {ex['estimated_s']:.0f}s", flush=True)
            out.append(row)
            dump(out, args, f"ann_recall_{args.n}{args.tag}.json")


def part_million(args):
    base = random_archive(max(2, args.n // 20), 30, spread=5, seed=args.seed)
    a = jittered_replicas(base, args.n, seed=args.seed + 1, drop=0.0)
    lengths = np.diff(a.packed()[0])
    print(f"{len(a)} scanpaths, {lengths.min()}-{lengths.max()} fixations", flush=True)
    t = time.perf_counter()
    cluster = None
    if args.engine == "dask":  # a local cluster stands in for a real one: the tiles go through the scheduler
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=args.dask_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        p, r = run_ann(a, {}, args.k, args.queries, args.target, args.threads, workdir=args.workdir, progress=True, per_item=args.per_item,
                       engine=args.engine, scheduler=cluster.scheduler_address if cluster else None)
    finally:
        if cluster is not None:
            cluster.close()
    r["engine"] = args.engine if cluster is None else f"dask LocalCluster, {args.dask_workers} worker processes x 1 thread"
    out_path = Path(args.workdir) / "pairs.npz"
    p.save(out_path)
    r.update({"n": len(a), "k": args.k, "wall_s": time.perf_counter() - t, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
              "pairs_file": str(out_path), "load_avg_end": os.getloadavg()})
    print(json.dumps(r, indent=1, default=float), flush=True)
    dump(r, args, f"ann_million_{args.n}{args.tag}.json")


def part_noise(args):
    """Why iid random walks defeat any per-scanpath embedding: how much of MultiMatch's duration
    dimension a scanpath-level statistic can predict at all.

    For random queries of a generated archive, the exact duration dimension against every item is
    correlated with the best order-free predictor there is: the median of |d1 - d2| / max(d1, d2)
    over *all* fixation pairs (what a duration distribution can say about a pair).
    """
    from mcgip_fast import multimatch_one_vs_many

    out = []
    for name, a in list(archives(args.n, args.seed))[:2]:
        offsets, _, _, d = a.packed()
        rng = np.random.default_rng(args.seed)
        corr, share = [], []
        for q in rng.choice(len(a), args.queries, replace=False):
            dims = multimatch_one_vs_many(a, int(q))
            dims[q] = np.nan
            dq = d[offsets[q]:offsets[q + 1]]
            pred = np.array([1 - np.median(np.abs(dq[:, None] - dj[None, :]) / np.maximum(dq[:, None], dj[None, :]))
                             for dj in (d[offsets[j]:offsets[j + 1]] for j in range(len(a)))])
            ok = ~np.isnan(dims[:, 4])
            corr.append(np.corrcoef(dims[ok, 4], pred[ok])[0, 1])
            weighted = dims[ok] * np.array([0.1, 0.1, 0.1, 0.1, 0.6])
            share.append(weighted[:, 4].var() / weighted.sum(axis=1).var())
        row = {"archive": name, "n": len(a), "queries": args.queries, "duration_corr_with_order_free_predictor": float(np.mean(corr)),
               "duration_share_of_score_variance": float(np.mean(share))}
        print(row, flush=True)
        out.append(row)
    dump(out, args, f"ann_noise_{args.n}.json")


def part_growth(args):
    """Time against N on generated replicas (the archive of the 100k and 1M runs): ann measured
    (10k here; 100k and 1M from the recall and million JSONs), exact estimated from sampled tiles."""
    rows = []
    recall_json = RESULTS / "ann_recall_100000_replicas.json"
    for n in (10_000, 100_000, 1_000_000):
        a = jittered_replicas(random_archive(n // 20, 30, spread=5, seed=args.seed), n, seed=args.seed + 1, drop=0.0)
        ex = exact_rate(a, {}, args.k, args.threads)
        row = {"n": n, "exact_estimate_s": ex["estimated_s"], "exact_pairs_per_s": ex["pairs_per_s"], "exact_sampled_pairs": ex["sampled_pairs"]}
        if n == 10_000:
            _, r = run_ann(a, {}, args.k, args.queries, args.target, args.threads)
            row.update({"ann_s": r["seconds"], "ann_recall": r["recall"]["value"], "ann_per_item": r["per_item"], "ann_from": "measured here"})
        elif n == 100_000 and recall_json.exists():
            r = next(x for x in json.loads(recall_json.read_text())["results"] if x["archive"].startswith("generated jittered") and not x["grouping"])
            row.update({"ann_s": r["ann"]["seconds"], "ann_recall": r["ann"]["recall"]["value"], "ann_per_item": r["ann"]["per_item"], "ann_from": recall_json.name})
        elif n == 1_000_000:
            million = RESULTS / f"ann_million_{n}.json"
            if million.exists():
                m = json.loads(million.read_text())["results"]
                row.update({"ann_s": m.get("end_to_end_s", m["wall_s"]), "ann_recall": m["recall"]["value"], "ann_per_item": m["per_item"], "ann_from": million.name})
        print(row, flush=True)
        rows.append(row)
        dump(rows, args, "ann_growth.json")
    plot_growth(rows, RESULTS / "ann_growth.png")


def part_plot(args):
    """Redo the growth table's 1M ann row from the million JSON (written later) and the plot."""
    path = RESULTS / "ann_growth.json"
    data = json.loads(path.read_text())
    million = RESULTS / "ann_million_1000000.json"
    if million.exists():
        m = json.loads(million.read_text())["results"]
        for row in data["results"]:
            if row["n"] == 1_000_000:
                row.update({"ann_s": m.get("end_to_end_s", m["wall_s"]), "ann_recall": m["recall"]["value"], "ann_per_item": m["per_item"], "ann_from": million.name})
    path.write_text(json.dumps(data, indent=1, default=float) + "\n")
    plot_growth(data["results"], RESULTS / "ann_growth.png")
    for row in data["results"]:
        print(row)


def plot_growth(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    n = [r["n"] for r in rows]
    ax.loglog(n, [r["exact_estimate_s"] for r in rows], "o--", label="exact all-pairs (estimated from sampled tiles)")
    meas = [(r["n"], r["exact_measured_s"]) for r in rows if "exact_measured_s" in r]
    if meas:
        ax.loglog(*zip(*meas), "s", label="exact all-pairs (measured)")
    ann = [(r["n"], r["ann_s"]) for r in rows if "ann_s" in r]
    if ann:
        ax.loglog(*zip(*ann), "o-", label="ann candidates + exact re-rank (measured)")
    ax.axhline(3600, color="grey", lw=0.8, ls=":", label="1 hour")
    ax.set_xlabel("scanpaths N")
    ax.set_ylabel("seconds (2 shared cores)")
    ax.set_title("MultiMatch top-10 mining: time against N")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def dump(obj, args, name):
    RESULTS.mkdir(exist_ok=True)
    meta = {"threads": args.threads or _core.default_threads(), "load_avg": os.getloadavg(), "argv": sys.argv}
    path = RESULTS / name
    path.write_text(json.dumps({"meta": meta, "results": obj}, indent=1, default=float) + "\n")
    print(f"wrote {path}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("recall", "million", "growth", "noise", "plot"), required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/ann_million")
    ap.add_argument("--tag", default="")
    ap.add_argument("--archives", default="0,1,2", help="recall: which archives (0 random walks, 1 generated replicas, 2 studyforrest replicas)")
    ap.add_argument("--groupings", default="0,1", help="recall: grouping off (0) and/or on (1)")
    ap.add_argument("--engine", choices=("local", "dask"), default="local", help="million: where the exact re-rank tiles run")
    ap.add_argument("--dask-workers", type=int, default=2, help="million with --engine dask: local worker processes")
    ap.add_argument("--per-item", type=int, help="million: first candidate count (doubled until --target)")
    args = ap.parse_args()
    {"recall": part_recall, "million": part_million, "growth": part_growth, "noise": part_noise, "plot": part_plot}[args.part](args)


if __name__ == "__main__":
    main()

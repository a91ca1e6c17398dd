"""Mining benchmarks: `mcgip mine` wall time and peak RSS, against McGIP's dense Python loop.

Each `mcgip mine` run is a separate process (so its peak RSS is its own, read with `wait4`).
The official approach (a Python double loop over all pairs calling the reference, filling a dense
N x N matrix) is timed on a subset and extrapolated by the pair count, N (N - 1) / 2.

    .venv/bin/python benchmarks/bench_mining.py multimatch --n 10000 --fixations 30 --threads 2
    .venv/bin/python benchmarks/bench_mining.py dhash --n 1000000 --k 10 --threads 2
    .venv/bin/python benchmarks/bench_mining.py recall --n 2000          # FAISS prefilter recall
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run_cli(args: list[str]) -> tuple[float, float, str]:
    """Run `mcgip mine ARGS` in a child process: (wall seconds, peak RSS MiB, stderr).

    Also prints the child's CPU time (user + system): on a shared machine wall time depends on
    the load, CPU time much less.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mcgip_fast.cli.main", "mine", *args], stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"mcgip mine failed ({proc.returncode}):\n{err}")
    print(f"  (child CPU time {usage.ru_utime + usage.ru_stime:.1f} s, load average {os.getloadavg()[0]:.1f})")
    return wall, usage.ru_maxrss / 1024, err


def write_table(archive, path: Path) -> None:
    import pandas as pd

    owner = np.repeat(archive.image_ids, archive.lengths)
    pd.DataFrame({"image_id": owner, "x": archive.x, "y": archive.y, "duration": archive.duration}).to_parquet(path)


def official_multimatch_seconds_per_pair(archive, n_subset: int) -> float:
    """McGIP's way: a Python double loop over all pairs of a subset, dense matrix, docomparison."""
    from multimatch_gaze import docomparison

    sub = [archive[i] for i in range(n_subset)]
    recs = [np.rec.fromarrays([s.x, s.y, s.duration], names="start_x,start_y,duration") for s in sub]
    sim = np.zeros((n_subset, n_subset))
    w = np.array([0.1, 0.1, 0.1, 0.1, 0.6])
    t0 = time.perf_counter()
    for i in range(n_subset):
        for j in range(i + 1, n_subset):
            sim[i, j] = sim[j, i] = float(np.dot(docomparison(recs[i], recs[j], screensize=list(archive.screen)), w))
    return (time.perf_counter() - t0) / (n_subset * (n_subset - 1) / 2)


def bench_multimatch(a) -> None:
    from mcgip_fast.mining.synthetic import random_archive

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.n:
            archive = random_archive(n, a.fixations, seed=0, spread=5)
            table = Path(tmp) / f"gaze{n}.parquet"
            write_table(archive, table)
            out = Path(tmp) / f"pairs{n}.parquet"
            wall, rss, err = run_cli(["--gaze", str(table), "--screen", "1280", "720", "--scheme", "multimatch", "--rule", "topk",
                                      "--k", str(a.k), "--threads", str(a.threads), "--out", str(out), "--no-progress"])
            pairs = n * (n - 1) // 2
            print(f"mcgip mine multimatch topk k={a.k}: N={n} ({archive.lengths.mean():.1f} fixations/scanpath), "
                  f"{pairs} pairs, threads={a.threads}: wall {wall:.1f} s, peak RSS {rss:.0f} MiB, {wall / pairs * 1e6:.2f} us/pair")
        ref = official_multimatch_seconds_per_pair(random_archive(a.subset, a.fixations, seed=0, spread=5), a.subset)
        big = max(a.n)
        print(f"official dense Python loop (multimatch_gaze.docomparison): {ref * 1e3:.2f} ms/pair on {a.subset} scanpaths; "
              f"extrapolated to N={big}: {ref * big * (big - 1) / 2:.0f} s; dense matrix {big * big * 8 / 2**20:.0f} MiB")
        print(f"ratio at N={big}: {ref * big * (big - 1) / 2 / wall:.0f}x")


def bench_dhash(a) -> None:
    print(f"machine: {machine()}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.n:
            # Codes of heatmaps cluster: 1000 prototypes, each code a few bit flips away from one.
            protos = rng.integers(0, 256, (1000, 8), dtype=np.uint8)
            codes = protos[rng.integers(0, len(protos), n)]
            flips = rng.integers(0, 64, (n, 6))
            bits = np.unpackbits(codes, axis=1)
            np.put_along_axis(bits, flips, 1 - np.take_along_axis(bits, flips, axis=1), axis=1)
            codes = np.packbits(bits, axis=1)
            items = Path(tmp) / f"codes{n}.npz"
            np.savez(items, ids=np.array([f"h{i:07d}" for i in range(n)]), codes=codes)
            for cand in a.candidates:
                out = Path(tmp) / f"pairs{n}{cand}.npz"
                wall, rss, err = run_cli(["--gaze", str(items), "--scheme", "dhash", "--rule", "topk", "--k", str(a.k),
                                          "--candidates", cand, "--threads", str(a.threads), "--out", str(out), "--no-progress",
                                          "--sample-size", "10000"])
                print(f"mcgip mine dhash hamming topk k={a.k} candidates={cand}: N={n}, threads={a.threads}: wall {wall:.1f} s, peak RSS {rss:.0f} MiB")
        # The official dHash path: cosine between bit vectors in a Python double loop.
        sub = codes[: a.subset]
        vec = np.unpackbits(sub, axis=1).astype(np.float64)
        t0 = time.perf_counter()
        sim = np.zeros((len(sub), len(sub)))
        for i in range(len(sub)):
            for j in range(len(sub)):
                den = np.linalg.norm(vec[i]) * np.linalg.norm(vec[j])
                sim[i, j] = vec[i] @ vec[j] / den if den else 0.0
        per = (time.perf_counter() - t0) / len(sub) ** 2
        big = max(a.n)
        print(f"official dense Python loop (bit cosine): {per * 1e6:.2f} us/pair on {len(sub)} codes; extrapolated to N={big}: "
              f"{per * big * big:.0f} s; dense matrix {big * big * 8 / 2**40:.1f} TiB; ratio {per * big * big / wall:.0f}x")


def bench_recall(a) -> None:
    """Recall of the MultiMatch FAISS prefilter against exhaustive top-k, and its speed-up."""
    from mcgip_fast.mining import mine
    from mcgip_fast.mining.synthetic import random_archive

    from mcgip_fast.data import load_studyforrest

    print(f"machine: {machine()}")
    real = load_studyforrest()
    for n in a.n + ["studyforrest"]:
        archive = real if n == "studyforrest" else random_archive(n, a.fixations, seed=1, spread=5)
        for weights in ((0.1, 0.1, 0.1, 0.1, 0.6), (0.25, 0.25, 0.25, 0.25, 0.0)):
            t0 = time.perf_counter()
            exact = mine(archive, "multimatch", "topk", k=a.k, threads=a.threads, scheme_options={"weights": weights})
            t_exact = time.perf_counter() - t0
            r, c, _ = exact.edges()
            want = set(zip(r.tolist(), c.tolist()))
            for cand in (a.prefilter if n != "studyforrest" else [5, 10, 20]):
                t0 = time.perf_counter()
                pf = mine(archive, "multimatch", "topk", k=a.k, threads=a.threads, scheme_options={"weights": weights, "prefilter": cand})
                t_pf = time.perf_counter() - t0
                r, c, _ = pf.edges()
                got = set(zip(r.tolist(), c.tolist()))
                print(f"prefilter N={len(archive)} ({'real' if n == 'studyforrest' else 'generated'}) k={a.k} weights={weights} C={cand}: recall {len(got & want) / len(want):.3f}, "
                      f"time {t_pf:.1f} s vs exhaustive {t_exact:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("multimatch")
    m.add_argument("--n", type=int, nargs="+", default=[1000, 2000])
    m.add_argument("--fixations", type=int, default=30)
    m.add_argument("--k", type=int, default=5)
    m.add_argument("--subset", type=int, default=30, help="scanpaths for the official loop")
    m.add_argument("--threads", type=int, default=2)
    d = sub.add_parser("dhash")
    d.add_argument("--n", type=int, nargs="+", default=[100_000])
    d.add_argument("--k", type=int, default=10)
    d.add_argument("--candidates", nargs="+", default=["exact", "faiss"])
    d.add_argument("--subset", type=int, default=300)
    d.add_argument("--threads", type=int, default=2)
    r = sub.add_parser("recall")
    r.add_argument("--n", type=int, nargs="+", default=[2000])
    r.add_argument("--fixations", type=int, default=30)
    r.add_argument("--k", type=int, default=5)
    r.add_argument("--prefilter", type=int, nargs="+", default=[50, 200])
    r.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    {"multimatch": bench_multimatch, "dhash": bench_dhash, "recall": bench_recall}[a.what](a)


if __name__ == "__main__":
    main()

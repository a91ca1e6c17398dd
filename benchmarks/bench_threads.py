"""Batch speed-up from 1 to 2 threads of the per-item kernels (dHash, Hu moments, heatmaps).

Run on an otherwise idle machine: `.venv/bin/python benchmarks/bench_threads.py [--n 2000]`.
Each kernel runs twice per thread count (after a warm-up); the best time is kept.
"""

import argparse
import time

import numpy as np

import mcgip_fast as mf


def best_time(f, x, threads: int, repeats: int = 2) -> float:
    f(x[:10], threads=threads)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x, threads=threads)
        best = min(best, time.perf_counter() - t0)
    return best


def main(n: int) -> None:
    rng = np.random.default_rng(0)
    cases = [
        ("dHash 8x8", mf.dhash, rng.integers(0, 256, (n, 224, 224), dtype=np.uint8), "224x224 uint8"),
        ("Hu moments", mf.hu_moments, rng.random((n, 224, 224), dtype=np.float32), "224x224 float32"),
    ]
    print("| kernel | input | 1 thread (per item) | 2 threads (per item) | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for name, f, x, what in cases:
        t1, t2 = best_time(f, x, 1), best_time(f, x, 2)
        print(f"| {name} | {n} x {what} | {t1 / n * 1e6:.1f} µs | {t2 / n * 1e6:.1f} µs | {t1 / t2:.2f}x |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="items per batch")
    main(ap.parse_args().n)

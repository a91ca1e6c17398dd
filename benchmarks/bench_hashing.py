"""Hu moments, matchShapes, dHash and Hamming against their references, in one run.

    .venv/bin/python benchmarks/bench_hashing.py            # prints the table rows
    .venv/bin/python benchmarks/bench_hashing.py --quick    # smaller inputs, for a smoke run

Timing. The machine is shared, so single-thread rows report *CPU time* (``time.process_time``,
best of several repeats) for both sides: it does not count time spent waiting for a core. Rows
with 2 threads report wall time (best of repeats). Inputs are 224x224 maps rendered from random
gaze-like blobs (the kernels' cost does not depend on the content); codes come from those maps.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import imagehash
import numpy as np
from PIL import Image

from mcgip_fast import _core
from mcgip_fast.similarity import hu as H
from mcgip_fast.similarity.dhash import dhash, hamming


def best(f, repeat: int, clock=time.process_time) -> float:
    t = float("inf")
    for _ in range(repeat):
        s = clock()
        f()
        t = min(t, clock() - s)
    return t


def blob_maps(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    maps = np.zeros((n, size, size), np.float32)
    for k in range(n):
        for _ in range(4):
            cx, cy = rng.uniform(20, size - 20, 2)
            s = rng.uniform(5, 25)
            maps[k] += rng.uniform(0.2, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        maps[k] /= maps[k].max()
    return maps


def row(op, inp, threads, ref, ref_t, ours_t, unit="ms", scale=1e3):
    ratio = ref_t / ours_t
    print(f"| {op} | {inp} | {threads} | {ref} | {ref_t * scale:,.3g} {unit} | {ours_t * scale:,.3g} {unit} | {ratio:,.1f}x |", flush=True)
    return ratio


def main(quick: bool = False) -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"OpenCV {cv2.__version__}, imagehash {imagehash.__version__}, Pillow {Image.__version__}")
    print("| operation | input | threads | reference | reference time | mcgip_fast time | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    n = 50 if quick else 300
    maps = blob_maps(n)

    # ---------------------------------------------------------------- Hu moments, per map
    t_cv = best(lambda: [cv2.HuMoments(cv2.moments(m)) for m in maps], 5) / n
    t_one = best(lambda: [H.hu_moments(m, threads=1) for m in maps], 5) / n
    t_b1 = best(lambda: H.hu_moments(maps, threads=1), 5) / n
    row("Hu moments, one call per map", f"{n} maps 224x224 float32", 1, "cv2.HuMoments(cv2.moments(m))", t_cv, t_one, "µs", 1e6)
    row("Hu moments, batch (per map)", f"{n} maps 224x224 float32", 1, "cv2.HuMoments(cv2.moments(m))", t_cv, t_b1, "µs", 1e6)
    w1 = best(lambda: H.hu_moments(maps, threads=1), 5, time.perf_counter) / n
    w2 = best(lambda: H.hu_moments(maps, threads=2), 5, time.perf_counter) / n
    row("Hu moments, batch, 2 threads vs 1 (wall)", f"{n} maps 224x224 float32", 2, "mcgip_fast, 1 thread", w1, w2, "µs", 1e6)
    for dt in (np.uint8, np.float64):
        mm = (maps * 255).astype(dt) if dt == np.uint8 else maps.astype(dt)
        t_cv = best(lambda: [cv2.HuMoments(cv2.moments(m)) for m in mm], 5) / n
        t_b1 = best(lambda: H.hu_moments(mm, threads=1), 5) / n
        row("Hu moments, batch (per map)", f"{n} maps 224x224 {np.dtype(dt).name}", 1, "cv2.HuMoments(cv2.moments(m))", t_cv, t_b1, "µs", 1e6)

    # ---------------------------------------------------------------- matchShapes, all pairs
    n_hu = 2000 if quick else 10000
    hu = H.hu_moments(blob_maps(min(n, 64), seed=1))
    hu = hu[np.random.default_rng(2).integers(0, len(hu), n_hu)] * np.random.default_rng(3).uniform(0.5, 2, (n_hu, 7))
    pairs = 60 if quick else 300
    t_pair = best(lambda: [cv2.matchShapes(maps[i % n], maps[(i * 7 + 1) % n], cv2.CONTOURS_MATCH_I1, 0) for i in range(pairs)], 3) / pairs
    t_ref_all = t_pair * n_hu * n_hu
    for method in ("I1", "I2", "I3"):
        t1 = best(lambda: H.match_shapes(hu, hu, method, threads=1), 2)
        row(f"match_shapes {method}, all pairs (reference extrapolated from {pairs} pairs)", f"{n_hu:,} cached Hu vectors ({n_hu * n_hu:,} pairs)",
            1, "cv2.matchShapes(map_a, map_b) per pair (recomputes moments)", t_ref_all, t1, "s", 1)
    t2 = best(lambda: H.match_shapes(hu, hu, "I1", threads=2), 2, time.perf_counter)
    row("match_shapes I1, all pairs (wall)", f"{n_hu:,} cached Hu vectors", 2, "cv2.matchShapes per pair, extrapolated", t_ref_all, t2, "s", 1)

    # ---------------------------------------------------------------- dHash
    u8 = np.rint(maps * 255).astype(np.uint8)
    t_ih = best(lambda: [imagehash.dhash(Image.fromarray(m)) for m in u8], 3) / n
    t_d1 = best(lambda: dhash(u8, threads=1), 5) / n
    row("dHash 8x8, batch (per image)", f"{n} images 224x224 uint8", 1, "imagehash.dhash(Image.fromarray(img))", t_ih, t_d1, "µs", 1e6)
    t_one = best(lambda: [dhash(m, threads=1) for m in u8], 3) / n
    row("dHash 8x8, one call per image", f"{n} images 224x224 uint8", 1, "imagehash.dhash(Image.fromarray(img))", t_ih, t_one, "µs", 1e6)
    w_ih = best(lambda: [imagehash.dhash(Image.fromarray(m)) for m in u8], 3, time.perf_counter) / n
    w_d2 = best(lambda: dhash(u8, threads=2), 5, time.perf_counter) / n
    row("dHash 8x8, batch (per image, wall)", f"{n} images 224x224 uint8", 2, "imagehash.dhash, 1 thread (wall)", w_ih, w_d2, "µs", 1e6)
    assert np.array_equal(dhash(u8[:20]), np.stack([np.packbits(imagehash.dhash(Image.fromarray(m)).hash.ravel()) for m in u8[:20]]))

    # ---------------------------------------------------------------- Hamming, all pairs
    n_codes = 5000 if quick else 20000
    codes = dhash(np.rint(blob_maps(200, size=64, seed=4) * 255).astype(np.uint8))
    rng = np.random.default_rng(5)
    codes = codes[rng.integers(0, len(codes), n_codes)] ^ np.packbits(rng.random((n_codes, 64)) < 0.05, axis=1)

    def numpy_hamming():
        out = np.empty((n_codes, n_codes), np.uint32)
        for s in range(0, n_codes, 500):
            out[s : s + 500] = np.bitwise_count(codes[s : s + 500, None, :] ^ codes[None, :, :]).sum(axis=2)
        return out

    t_np = best(numpy_hamming, 1)
    t_h1 = best(lambda: hamming(codes, threads=1), 2)
    row("Hamming, all pairs", f"{n_codes:,} 64-bit codes", 1, "numpy XOR + bitwise_count (500-row chunks)", t_np, t_h1, "s", 1)
    t_h2 = best(lambda: hamming(codes, threads=2), 2, time.perf_counter)
    w_np = best(numpy_hamming, 1, time.perf_counter)
    row("Hamming, all pairs (wall)", f"{n_codes:,} 64-bit codes", 2, "numpy XOR + bitwise_count (wall)", w_np, t_h2, "s", 1)
    assert np.array_equal(hamming(codes[:300]), numpy_hamming()[:300, :300]) if quick else True
    print(f"(default threads here: {_core.default_threads()})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)

"""k-NN (k = 10) over 1,000,000 dHash codes and 1,000,000 Hu vectors: FAISS exact and approximate.

    .venv/bin/python benchmarks/bench_index.py              # 1,000,000 codes, 1,000 queries
    .venv/bin/python benchmarks/bench_index.py --n 100000   # smaller

Codes. One million dHash codes of synthetic gaze heatmaps (3-6 Gaussian fixations on a 32x32
map, hashed with :func:`mcgip_fast.similarity.dhash.dhash`), so they have the clustered structure
of real codes (many near-duplicates), not uniform random bits.

Reported per index: build time, time per query (queries are held-out codes; FAISS uses all its
OpenMP threads), memory of the index, and recall@10 against the exact answer. Recall is measured
by distance, so it is not penalised by ties: a returned neighbour counts when its distance is at
most the true 10th distance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mcgip_fast import _core
from mcgip_fast.mining.candidates.retrieval import BinaryIndex, HuIndex
from mcgip_fast.similarity.dhash import dhash
from mcgip_fast.similarity.hu import hu_moments, match_shapes


def synthetic_maps(rng, m: int) -> np.ndarray:
    """m gaze-like 32x32 maps: 1-6 Gaussian fixations each, peak 1 (float32)."""
    grid = np.arange(32, dtype=np.float32)
    k = 6
    cx = rng.uniform(3, 29, (m, k)).astype(np.float32)
    cy = rng.uniform(3, 29, (m, k)).astype(np.float32)
    sig = rng.uniform(1.5, 5, (m, k)).astype(np.float32)
    wts = rng.uniform(0.2, 1, (m, k)).astype(np.float32) * (rng.random((m, k)) < 0.7)
    wts[:, 0] = 1.0
    gx = np.exp(-((grid[None, None, :] - cx[..., None]) ** 2) / (2 * sig[..., None] ** 2))
    gy = np.exp(-((grid[None, None, :] - cy[..., None]) ** 2) / (2 * sig[..., None] ** 2))
    maps = np.einsum("mk,mky,mkx->myx", wts, gy, gx, optimize=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def synthetic_hu(n: int, seed: int = 1, chunk: int = 50_000) -> np.ndarray:
    """Hu vectors (sum-normalised, so every component counts) of n synthetic maps."""
    rng = np.random.default_rng(seed)
    return np.concatenate([hu_moments(synthetic_maps(rng, min(chunk, n - s)), normalise="sum") for s in range(0, n, chunk)])


def synthetic_codes(n: int, seed: int = 0, chunk: int = 50_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, 8), np.uint8)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        out[s : s + m] = dhash(np.rint(synthetic_maps(rng, m) * 255).astype(np.uint8))
    return out


def recall_by_distance(found_i, found_d, true_d, nq, k):
    kth = true_d[:, -1]
    ok = found_d <= kth[found_i]
    per = np.bincount(found_i, weights=ok, minlength=nq) / k
    return float(per.mean())


def main(n: int, nq: int, k: int = 10) -> None:
    t = time.perf_counter()
    codes = synthetic_codes(n + nq)
    base, queries = np.ascontiguousarray(codes[:n]), np.ascontiguousarray(codes[n:])
    print(f"generated {n:,} + {nq:,} codes in {time.perf_counter() - t:.1f}s; distinct codes: {len(np.unique(base.view(np.uint64))):,}")

    t = time.perf_counter()
    true_i, true_d = _core.hamming_topk(queries, base, k, None, None)
    t_rust = time.perf_counter() - t
    print("| index | build | per query | recall@10 | note |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| Rust brute force `hamming_topk` (exact) | none | {t_rust / nq * 1e3:.2f} ms | 1.000 | reference answer; ties to the lower index |")

    for label, index in (
        ("FAISS IndexBinaryFlat (exact)", BinaryIndex(exact=True)),
        ("FAISS IndexBinaryMultiHash, nhash 4 x 16 bits (default at this size)", BinaryIndex(exact=False, kind="multihash", nhash=4)),
        ("FAISS IndexBinaryMultiHash, nhash 8 x 8 bits", BinaryIndex(exact=False, kind="multihash", nhash=8)),
        ("FAISS IndexBinaryIVF, nprobe 16", BinaryIndex(exact=False, kind="ivf", nprobe=16)),
        ("FAISS IndexBinaryIVF, nprobe 64", BinaryIndex(exact=False, kind="ivf", nprobe=64)),
        ("FAISS IndexBinaryHNSW, M 16, efSearch 64", BinaryIndex(exact=False, kind="hnsw", hnsw_m=16, ef_search=64)),
    ):
        t_build, t_q, (fi, _, fd) = _build_and_query(index, base, queries, k)
        rec = recall_by_distance(fi, fd.astype(np.int64), true_d.astype(np.int64), nq, k)
        note = ""
        if index.kind == "flat":
            same = np.array_equal(fd.reshape(nq, k), true_d)
            note = f"distances equal brute force: {same}"
        print(f"| {label} | {t_build:.2f} s | {t_q * 1e3:.3f} ms | {rec:.3f} | {note} |", flush=True)


def _build_and_query(index, base, queries, k: int):
    """Build `index` on `base`, then its k-NN of `queries`: (build s, s per query, (i, j, score))."""
    t = time.perf_counter()
    index.build(base)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    result = index.knn(k, queries=queries)
    return t_build, (time.perf_counter() - t) / len(queries), result


def main_hu(n: int, nq: int, k: int = 10, hnsw: bool = True) -> None:
    """HuIndex: FAISS L1 over sign·log10|h| + exact matchShapes I2 re-rank, against brute force."""
    t = time.perf_counter()
    hu = synthetic_hu(n + nq)
    base, queries = hu[:n], hu[n:]
    print(f"\nHu vectors: {n:,} + {nq:,} queries, computed in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    exact = match_shapes(queries, base, "I2")
    true = np.sort(exact, axis=1)[:, :k]
    t_brute = (time.perf_counter() - t) / nq
    print("| Hu index (matchShapes I2) | build | per query | recall@10 | note |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| brute force `match_shapes` row + sort | none | {t_brute * 1e3:.2f} ms | 1.000 | reference answer |")
    configs = [("HuIndex exact (IndexFlat L1 + re-rank, oversample 4)", HuIndex("I2", exact=True))]
    if hnsw:
        configs.append(("HuIndex approximate (IndexHNSWFlat L1 M 32 + re-rank)", HuIndex("I2", exact=False)))
    for label, index in configs:
        t_build, t_q, (fi, _, fs) = _build_and_query(index, base, queries, k)
        ok = fs <= true[fi, -1] * (1 + 1e-12)
        rec = float((np.bincount(fi, weights=ok, minlength=nq) / k).mean())
        print(f"| {label} | {t_build:.2f} s | {t_q * 1e3:.3f} ms | {rec:.3f} | {index.n_deficient:,} deficient vectors re-scored per query |", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--part", choices=["all", "codes", "hu"], default="all")
    ap.add_argument("--no-hnsw", action="store_true", help="skip the HuIndex HNSW build")
    a = ap.parse_args()
    if a.part in ("all", "codes"):
        main(a.n, a.queries)
    if a.part in ("all", "hu"):
        main_hu(a.n, min(a.queries, 200), hnsw=not a.no_hnsw)

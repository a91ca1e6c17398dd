"""Training benchmarks: positive look-up against McGIP's official mask building, and the cost of
gaze positives in a full MoCo step.

    .venv/bin/python benchmarks/bench_train.py [THREADS]  # plain script, prints a table (default 1 thread)
    .venv/bin/python -m pytest benchmarks/bench_train.py --benchmark-enable -q

The official code (zhaozh10/McGIP) builds the positive mask with Python double loops over
batch x queue against a dense N x N similarity matrix on every step; `official_style_mask`
reproduces that approach (the package is not installable) so both run on the same inputs.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.moco import MoCo  # noqa: E402
from mcgip_fast.train.positives import PositiveLookup  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
try:
    from conftest import machine_line  # noqa: E402
except ImportError:  # pragma: no cover
    def machine_line() -> str:
        return f"{os.cpu_count()} cores"


def random_graph(n: int, degree: int, seed: int = 0) -> PositivePairs:
    """A symmetric graph with about `degree` positives per image."""
    rng = np.random.default_rng(seed)
    i = np.repeat(np.arange(n), degree // 2)
    j = rng.integers(0, n, len(i))
    s = rng.uniform(0.7, 1.0, len(i))
    pairs = PositivePairs.from_edges([str(k) for k in range(n)], i, j, s)
    return pairs


def official_style_mask(batch_ids: list[int], queue_ids: list[int], sim: np.ndarray, threshold: float) -> np.ndarray:
    """The official approach: a Python double loop over batch x queue reading a dense matrix."""
    mask = np.zeros((len(batch_ids), len(queue_ids)), dtype=bool)
    for a, i in enumerate(batch_ids):
        for b, j in enumerate(queue_ids):
            mask[a, b] = i == j or sim[i, j] > threshold
    return mask


def _time(fn, repeat: int = 5) -> float:
    fn()
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def bench_mask(n: int, degree: int, batch: int, queue: int) -> dict:
    pairs = random_graph(n, degree)
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, n, batch))
    q = torch.from_numpy(rng.integers(-1, n, queue))
    lookup = PositiveLookup.from_pairs(pairs)
    ours = _time(lambda: lookup.weights(a, q))
    # the dense matrix the official code needs (n x n); build it only where it fits
    dense = np.zeros((n, n), dtype=np.float32)
    rows, cols, scores = pairs.edges()
    dense[rows, cols] = scores
    ref_fn = lambda: official_style_mask(a.tolist(), q.tolist(), dense, 0.5)  # noqa: E731
    ref = _time(ref_fn, repeat=1)
    got = lookup.weights(a, q).numpy() > 0
    want = ref_fn()
    want &= q.numpy()[None, :] >= 0
    assert np.array_equal(got, want), "look-up disagrees with the official-style mask"
    return {"n": n, "degree": degree, "batch": batch, "queue": queue, "ours_s": ours, "ref_s": ref}


def bench_lookup_only(n: int, degree: int, batch: int, queue: int) -> dict:
    """Our look-up at sizes where the dense matrix (n^2) and the Python loop are out of reach."""
    pairs = random_graph(n, degree)
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, n, batch))
    q = torch.from_numpy(rng.integers(-1, n, queue))
    lookup = PositiveLookup.from_pairs(pairs)
    return {"n": n, "degree": degree, "batch": batch, "queue": queue, "ours_s": _time(lambda: lookup.weights(a, q), 3)}


def bench_moco_step(image_size: int, width: int, batch: int, queue: int, n: int, degree: int) -> dict:
    """One MoCo training step (forward, backward, SGD, EMA) with and without gaze positives."""
    pairs = random_graph(n, degree)
    rng = np.random.default_rng(2)
    x1 = torch.randn(batch, 1, image_size, image_size)
    x2 = torch.randn(batch, 1, image_size, image_size)
    ids = torch.from_numpy(rng.choice(n, batch, replace=False))
    times = {}
    for name, lookup in (("plain", None), ("gaze", PositiveLookup.from_pairs(pairs))):
        torch.manual_seed(0)
        m = MoCo(build_backbone("resnet18", 1, width), lookup=lookup, queue_size=queue)
        m.queue.ids.copy_(torch.from_numpy(rng.integers(0, n, queue)))
        opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

        def step():
            loss = m(x1, x2, ids).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            m.momentum_update(0, 1)

        times[name] = _time(step, 3)
    return {"image": image_size, "width": width, "batch": batch, "queue": queue, "plain_s": times["plain"], "gaze_s": times["gaze"]}


def bench_moco_head(n: int, degree: int, batch: int, queue: int, dim: int = 128) -> dict:
    """The MoCo loss alone (logits against the queue + InfoNCE), plain vs gaze, at archive scale."""
    from mcgip_fast.train.losses import multi_positive_infonce

    pairs = random_graph(n, degree)
    lookup = PositiveLookup.from_pairs(pairs)
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(batch, dim, generator=g), dim=1).requires_grad_(True)
    keys = torch.nn.functional.normalize(torch.randn(queue, dim, generator=g), dim=1)
    ids = torch.randint(0, n, (batch,), generator=g)
    qids = torch.randint(-1, n, (queue,), generator=g)

    def plain():
        logits = torch.cat([(q * keys[:batch]).sum(1, keepdim=True), q @ keys.T], 1) / 0.2
        torch.nn.functional.cross_entropy(logits, torch.zeros(batch, dtype=torch.long)).backward()

    def gaze():
        logits = torch.cat([(q * keys[:batch]).sum(1, keepdim=True), q @ keys.T], 1) / 0.2
        w = torch.cat([torch.ones(batch, 1), lookup.weights(ids, qids)], 1)
        multi_positive_infonce(logits, w).backward()

    return {"plain_s": _time(plain, 3), "gaze_s": _time(gaze, 3)}


# ---------------------------------------------------------------- pytest-benchmark entry points
def test_bench_lookup(benchmark):
    pairs = random_graph(20_000, 10)
    lookup = PositiveLookup.from_pairs(pairs)
    a = torch.randint(0, 20_000, (256,))
    q = torch.randint(-1, 20_000, (16_384,))
    benchmark(lambda: lookup.weights(a, q))


def test_bench_mask_agrees_with_official_style():
    r = bench_mask(n=2_000, degree=10, batch=32, queue=256)
    assert r["ours_s"] > 0


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    print(f"machine: {machine_line()}; torch threads: {torch.get_num_threads()}")
    print("\npositive mask: ours (CSR rows searched among sorted candidates) vs official-style Python double loop + dense NxN")
    for n, b, k in ((5_000, 32, 1_024), (10_000, 64, 4_096)):
        r = bench_mask(n, 10, b, k)
        print(f"  N={n} deg=10 B={b} K={k}: ours {r['ours_s'] * 1e3:.3f} ms, official-style {r['ref_s'] * 1e3:.1f} ms, "
              f"ratio {r['ref_s'] / r['ours_s']:.0f}x")
    print("\nours alone at archive scale (the dense matrix would need N^2 floats):")
    for n, b, k in ((1_000_000, 256, 65_536),):
        r = bench_lookup_only(n, 10, b, k)
        print(f"  N={n} deg=10 B={b} K={k}: {r['ours_s'] * 1e3:.1f} ms per step")
    r = bench_moco_head(1_000_000, 10, 256, 65_536)
    print(f"\nMoCo loss head only (logits vs queue + loss + backward), N=1000000 B=256 K=65536: plain {r['plain_s'] * 1e3:.0f} ms, "
          f"gaze {r['gaze_s'] * 1e3:.0f} ms, overhead {100 * (r['gaze_s'] / r['plain_s'] - 1):+.1f}%")
    print("\nMoCo step, plain vs gaze positives (CPU, tiny ResNet-18):")
    for size, width, b, k in ((32, 8, 64, 4_096), (64, 16, 32, 4_096)):
        r = bench_moco_step(size, width, b, k, n=100_000, degree=10)
        print(f"  {size}px width {width} B={b} K={k}: plain {r['plain_s'] * 1e3:.1f} ms, gaze {r['gaze_s'] * 1e3:.1f} ms, "
              f"overhead {100 * (r['gaze_s'] / r['plain_s'] - 1):+.1f}%")

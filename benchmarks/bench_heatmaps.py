"""Heatmap rendering: mcgip_fast vs the OpenCV pipeline it equals, on the same real inputs.

OpenCV pipeline per scanpath (the calls the parity tests compare against):
  render:  impulses (np.add.at) -> cv2.GaussianBlur(float32, (0, 0), sigma, BORDER_REFLECT_101) -> / max
  McGIP:   canvas[rows, cols] = 1 (float64, 800x800) -> cv2.GaussianBlur(canvas, (199, 199), 0) -> / max

Inputs: the 60 real studyforrest scanpaths (1,793 fixations), tiled to 600 scanpaths for the
render case (10 copies) so that per-call overheads do not dominate.

Run:
  .venv/bin/python -m pytest benchmarks/bench_heatmaps.py --benchmark-enable -q   (pytest-benchmark)
  .venv/bin/python benchmarks/bench_heatmaps.py                                      (summary table)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcgip_fast import GazeArchive, mcgip_heatmaps, render_heatmaps
from mcgip_fast.gaze.readers import read_fixation_files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import machine_line  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "studyforrest"
EMBEDDED = Path(__file__).resolve().parents[1] / "python" / "mcgip_fast" / "data" / "studyforrest"
SCREEN = (1280, 720)


def load(copies: int = 1) -> GazeArchive:
    base = SHARED if SHARED.exists() else EMBEDDED
    arch = read_fixation_files(base / "fixvectors", screen=SCREEN)
    if copies == 1:
        return arch
    sps = [sp.to_array() for _ in range(copies) for sp in arch]
    return GazeArchive.from_scanpaths(sps, [f"{i}" for i in range(len(sps))], screen=SCREEN)


def cv2_render(archive: GazeArchive, shape, sigma, out=None) -> np.ndarray:
    h, w = shape
    sx, sy = w / SCREEN[0], h / SCREEN[1]
    out = np.empty((len(archive), h, w), np.float32) if out is None else out
    for i, sp in enumerate(archive):
        imp = np.zeros((h, w), np.float32)
        rows = np.minimum(np.floor(sp.y * sy), h - 1).astype(int)
        cols = np.minimum(np.floor(sp.x * sx), w - 1).astype(int)
        np.add.at(imp, (rows, cols), sp.duration.astype(np.float32))
        m = cv2.GaussianBlur(imp, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
        out[i] = m / m.max()
    return out


def cv2_mcgip(archive: GazeArchive, canvas: int = 800) -> np.ndarray:
    out = np.empty((len(archive), canvas, canvas), np.float32)
    for i, sp in enumerate(archive):
        c = np.zeros((canvas, canvas))
        rows = np.minimum(np.floor(sp.y * (canvas / SCREEN[1])), canvas - 1).astype(int)
        cols = np.minimum(np.floor(sp.x * (canvas / SCREEN[0])), canvas - 1).astype(int)
        c[rows, cols] = 1.0
        c = cv2.GaussianBlur(c, (199, 199), 0)
        out[i] = c / c.max()
    return out


CASES = {
    # name: (archive copies, ours, reference)
    "render 224x224 sigma 7": (10, lambda a, t: render_heatmaps(a, (224, 224), 7.0, threads=t), lambda a: cv2_render(a, (224, 224), 7.0)),
    "McGIP 800x800 k199": (1, lambda a, t: mcgip_heatmaps(a, threads=t), cv2_mcgip),
}


@pytest.fixture(scope="module")
def archives():
    return {c: load(c) for c in {v[0] for v in CASES.values()}}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", ["mcgip_fast", "opencv"])
def test_bench_heatmaps(benchmark, archives, case, impl):
    copies, ours, ref = CASES[case]
    arch = archives[copies]
    benchmark.group = case
    benchmark.extra_info.update(scanpaths=len(arch), fixations=len(arch.x), cv2_threads=cv2.getNumThreads())
    fn = (lambda: ours(arch, None)) if impl == "mcgip_fast" else (lambda: ref(arch))
    result = benchmark.pedantic(fn, rounds=2, iterations=1, warmup_rounds=1)
    assert result.shape[0] == len(arch)


def _best(fn, repeat=5) -> float:
    """Best of `repeat` timed runs after a warm-up; a warm-up slower than 1 s is timed alone."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > 1.0:
        return first
    times = [first]
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _best_ref(fn) -> float:
    """OpenCV's best time with its default thread pool or with one thread (whichever wins on this
    machine; on a loaded machine its thread pool can slow it down several times)."""
    default = cv2.getNumThreads()
    t = _best(fn)
    cv2.setNumThreads(1)
    try:
        return min(t, _best(fn))
    finally:
        cv2.setNumThreads(default)


def main() -> None:
    print(f"machine: {machine_line()}; OpenCV {cv2.__version__} (best of {cv2.getNumThreads()} threads and 1 thread)")
    print(f"{'case':28s} {'input':>26s} {'threads':>7s} {'opencv':>10s} {'mcgip_fast':>11s} {'ratio':>7s} {'max |diff|':>11s}")
    for case, (copies, ours, ref) in CASES.items():
        arch = load(copies)
        t_ref = _best_ref(lambda: ref(arch))
        want = ref(arch)
        for threads in (1, os.cpu_count()):
            t_ours = _best(lambda: ours(arch, threads))
            diff = float(np.abs(ours(arch, threads) - want).max())
            size = f"{len(arch)} paths, {len(arch.x)} fix"
            print(f"{case:28s} {size:>26s} {threads:>7d} {t_ref * 1e3:8.1f}ms {t_ours * 1e3:9.1f}ms {t_ref / t_ours:6.1f}x {diff:11.2e}")
    # Both sides writing into one reused output buffer (no fresh memory to first-touch).
    arch = load(10)
    buf_ref = np.empty((len(arch), 224, 224), np.float32)
    buf = np.empty_like(buf_ref)
    t_ref = _best_ref(lambda: cv2_render(arch, (224, 224), 7.0, out=buf_ref))
    for threads in (1, os.cpu_count()):
        t_ours = _best(lambda: render_heatmaps(arch, (224, 224), 7.0, threads=threads, out=buf))
        diff = float(np.abs(buf - buf_ref).max())
        size = f"{len(arch)} paths, {len(arch.x)} fix"
        case = "render 224 sigma 7, out="
        print(f"{case:28s} {size:>26s} {threads:>7d} {t_ref * 1e3:8.1f}ms {t_ours * 1e3:9.1f}ms {t_ref / t_ours:6.1f}x {diff:11.2e}")


if __name__ == "__main__":
    main()

"""Helpers shared by several test modules (import as ``from _helpers import ...``)."""

from pathlib import Path

import cv2
import numpy as np


def opencv_heatmaps(
    folder: Path, shape=(72, 128), screen=(1280, 720), sigma=2.5, limit=None, accumulate=np.float64
) -> np.ndarray:
    """Duration-weighted fixation maps of the real scanpaths, blurred by OpenCV: (N, H, W) float32, peak 1.

    Built independently of our kernels, so the parity tests get inputs our code did not make.
    `accumulate` is the dtype the impulses are summed and blurred in.
    """
    h, w = shape
    maps = []
    for f in sorted(folder.glob("*.tsv"))[:limit]:
        fix = np.loadtxt(f, skiprows=1, ndmin=2)
        m = np.zeros(shape, accumulate)
        xs = np.clip((fix[:, 0] / screen[0] * w).astype(int), 0, w - 1)
        ys = np.clip((fix[:, 1] / screen[1] * h).astype(int), 0, h - 1)
        np.add.at(m, (ys, xs), fix[:, 2])
        m = cv2.GaussianBlur(m, (0, 0), sigma)
        maps.append((m / m.max()).astype(np.float32))
    return np.stack(maps)


def gated_job(job, cfg):
    """A stand-in for `report.runs.execute`: job = (name, gate); waits until the file `gate` exists (at most
    two minutes), so a test decides which job finishes first instead of racing two trainings."""
    import time

    name, gate = job
    deadline = time.monotonic() + 120
    while gate is not None and not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: gate {gate} never opened")
        time.sleep(0.05)
    return name

"""Tiny synthetic image datasets for the trainer / eval tests (PNG files in a tmp folder)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mcgip_fast.mining import PositivePairs

try:  # tiny models: one thread avoids OpenMP spinning on a shared, busy machine
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


def make_dataset(root: Path, n: int = 16, size: int = 24, n_classes: int = 2, seed: int = 0,
                 pairs_suffix: str = ".npz", split: bool = False) -> tuple[Path, Path]:
    """n greyscale PNGs whose class sets where a bright square sits; gaze pairs link same-class
    neighbours. Returns (manifest.csv, pairs file)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n):
        label = k % n_classes
        img = rng.integers(0, 60, (size, size)).astype(np.uint8)
        q = size // (n_classes + 1)
        img[q * label : q * label + q, 2 : size // 2] = 200 + rng.integers(0, 55)
        path = root / f"img_{k:03d}.png"
        Image.fromarray(img).save(path)
        row = {"id": f"im{k:03d}", "path": path.name, "label": label}
        if split:
            row["split"] = "test" if k % 4 == 3 else "train"
        rows.append(row)
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    ids = [r["id"] for r in rows]
    i = np.arange(n - n_classes)
    pairs = PositivePairs.from_edges(ids, i, i + n_classes, rng.uniform(0.5, 1.0, len(i)), params={"rule": "test"})
    pairs_path = pairs.save(root / f"pairs{pairs_suffix}")
    return manifest, pairs_path


def tiny_config(data, out, **kw):
    """A TrainConfig for `make_dataset`'s (manifest, pairs): a width-4 network on 16-px crops."""
    from mcgip_fast.train import TrainConfig

    manifest, pairs = data
    base = dict(manifest=str(manifest), pairs=str(pairs), image_size=16, width=4, epochs=2, batch_size=4,
                queue_size=16, proj_dim=8, hidden_dim=16, out_dir=str(out), progress=False, log_every=1)
    base.update(kw)
    return TrainConfig(**base)


def free_port() -> int:
    """A free TCP port on localhost, for a 2-process gloo group (DDP tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Killed(Exception):
    """Raised by `kill_at`: stops train() mid-run, after its last checkpoint, as a kill would."""


def kill_at(step: int):
    """A train() `on_step` callback that raises `Killed` when `step` is reached."""

    def on_step(done: int, loss: float) -> None:
        if done == step:
            raise Killed

    return on_step

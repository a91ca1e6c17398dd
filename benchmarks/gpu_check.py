"""Device check behind benchmarks/gpu_check.sh (run that, not this).

    python benchmarks/gpu_check.py data WORKDIR      # images, cache, pairs (CPU)
    python benchmarks/gpu_check.py train WORKDIR     # MoCo v2 + BYOL, gaze positives, 224 px, AMP, cache
    torchrun --nproc-per-node 1 benchmarks/gpu_check.py ddp WORKDIR   # NCCL group of one GPU, DDP-wrapped run

Prints images/s, GPU memory and the loader's wait per step from each run's metrics.jsonl.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

N_IMAGES, SOURCE, CACHE_SIZE, IMAGE_SIZE, BATCH, STEPS = 1024, (1250, 1024), 256, 224, 128, 40


def _generate(task: tuple[int, str]) -> None:
    import cv2

    k, path = task
    rng = np.random.default_rng(k)
    h, w = SOURCE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = rng.uniform(2, 6, 4)
    img = (0.5 + 0.2 * np.sin(xx / w * f[0] * 3 + f[1]) * np.cos(yy / h * f[2] * 3 + f[3])) * 50000
    img += rng.normal(0, 800, (h, w)).astype(np.float32)
    cv2.imwrite(path, np.clip(img, 0, 65535).astype(np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 1])


def make_data(work: Path) -> None:
    """Half-size radiograph-like 16-bit PNGs (generation must fit the 5-minute budget), the cache, random pairs."""
    import multiprocessing as mp

    import pandas as pd

    from mcgip_fast.mining import PositivePairs
    from mcgip_fast.train.cache import prepare_cache

    root = work / "images"
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = [{"id": f"{k:05d}", "path": str(root / f"{k:05d}.png")} for k in range(N_IMAGES)]
    todo = [(k, r["path"]) for k, r in enumerate(rows) if not Path(r["path"]).exists()]
    with mp.get_context("fork").Pool() as pool:
        pool.map(_generate, todo, chunksize=8)
    pd.DataFrame(rows).to_csv(work / "manifest.csv", index=False)
    print(f"generated {len(todo)} {SOURCE[0]}x{SOURCE[1]} 16-bit PNGs in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    prepare_cache(work / "manifest.csv", work / "cache", CACHE_SIZE, progress=False)
    print(f"prepare: {N_IMAGES / (time.perf_counter() - t0):.0f} images/s on all cores")
    rng = np.random.default_rng(0)
    ids = [r["id"] for r in rows]
    i = np.repeat(np.arange(N_IMAGES), 4)
    PositivePairs.from_edges(ids, i, rng.integers(0, N_IMAGES, len(i)), np.ones(len(i))).save(work / "pairs.npz")


def config(work: Path, method: str, out: str, steps: int = STEPS):
    from mcgip_fast.train import TrainConfig

    return TrainConfig(manifest=str(work / "manifest.csv"), pairs=str(work / "pairs.npz"), cache=str(work / "cache"),
                       method=method, backbone="resnet50", image_size=IMAGE_SIZE, batch_size=BATCH, queue_size=BATCH * 32,
                       amp=True, device="cuda", epochs=100, max_steps=steps, num_workers=4, out_dir=str(work / out),
                       progress=False, log_every=1, checkpoint_every=10_000)


def summarise(name: str, result) -> None:
    import torch

    rows = [json.loads(x) for x in result.log_path.read_text().splitlines()][5:]  # the first steps warm up
    step = np.mean([r["step_s"] for r in rows])
    wait = np.mean([r["loader_wait_s"] for r in rows])
    aug = np.mean([r["augment_s"] for r in rows])
    mem = torch.cuda.max_memory_allocated() / 2**30
    print(f"{name}: {BATCH / step:.0f} images/s, step {1e3 * step:.0f} ms, loader wait {1e3 * wait:.1f} ms "
          f"({100 * wait / step:.1f}%), augmentation launch {1e3 * aug:.1f} ms, peak GPU memory {mem:.1f} GiB, "
          f"final loss {result.losses[-1]:.3f}")


def main() -> None:
    mode, work = sys.argv[1], Path(sys.argv[2])
    if mode == "data":
        make_data(work)
        return
    import torch

    from mcgip_fast.train import train

    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, bf16 {torch.cuda.is_bf16_supported()}")
    if mode == "train":
        for method in ("moco", "byol"):
            torch.cuda.reset_peak_memory_stats()
            summarise(f"{method} + gaze, resnet50, {IMAGE_SIZE} px, batch {BATCH}, AMP", train(config(work, method, f"run_{method}")))
    elif mode == "ddp":
        import torch.distributed as dist

        dist.init_process_group("nccl")
        torch.cuda.set_device(0)
        try:
            r = train(config(work, "moco", "run_ddp", steps=15))
            if dist.get_rank() == 0:
                summarise(f"DDP (NCCL, {dist.get_world_size()} GPU) moco", r)
        finally:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""Input pipeline on radiograph-sized images: today's per-image decode + augment vs `mcgip prepare`'s cache.

    .venv/bin/python benchmarks/bench_input.py [--n 200] [--steps 3] [--workdir /tmp/mcgip_bench_input]

Generates N 2,500 x 2,048 16-bit PNGs (smooth field + noise, about 8.8 MB each, like the
radiographs in issue 14) under --workdir (never in the repository), then measures in one run:

1. today: `ImageDataset[i]` of the code before the cache (commit c7df5f2, exported with
   `git archive` and imported in a subprocess): decode + two antialiased crops at full size;
2. files, this code: decode + crop per image in the loader, flip/jitter/blur on the batch;
3. `prepare` throughput with 1 and 2 processes, and the cache's size on disk;
4. from the cache: the loader alone (what the CPU must sustain when augmentation runs on a GPU),
   and loader + batched augmentation on this CPU (two 224-px views per image);
5. a full CPU training step (MoCo v2 + gaze positives, resnet18 width 64, batch 64, 224 px) from
   the files and from the cache with the same seed: images/s, loader wait / step, and the losses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
try:
    from conftest import machine_line  # noqa: E402
except ImportError:  # pragma: no cover
    def machine_line() -> str:
        return f"{os.cpu_count()} cores"

OLD_COMMIT = "c7df5f2"
H, W = 2500, 2048


def load() -> str:
    return "load %.1f/%.1f/%.1f" % os.getloadavg()


def generate(root: Path, n: int, distinct: int | None = None) -> Path:
    """n 16-bit PNGs (re-used if present) and a manifest with string ids.

    Only the first `distinct` are generated (2.5 s each, mostly PNG encoding); the rest are byte
    copies of them under their own names, so decoding costs the same per file while making the
    issue's 2,000 files takes minutes instead of an hour. The disk and page cache see n real files."""
    import shutil

    import cv2
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rows = []
    t0 = time.perf_counter()
    for k in range(n):
        path = root / f"rad_{k:05d}.png"
        if not path.exists() and distinct and k >= distinct:
            shutil.copyfile(root / f"rad_{k % distinct:05d}.png", path)
        elif not path.exists():
            f = rng.uniform(2, 6, 4)
            base = 0.5 + 0.2 * np.sin(xx / W * f[0] * 3 + f[1]) * np.cos(yy / H * f[2] * 3 + f[3])
            img = base * 50000 + rng.normal(0, 800, (H, W)).astype(np.float32)
            cv2.imwrite(str(path), np.clip(img, 0, 65535).astype(np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        rows.append({"id": f"{k:05d}", "path": path.name, "label": k % 2})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    mb = sum((root / r["path"]).stat().st_size for r in rows) / 2**20
    print(f"images: {n} x {H}x{W} 16-bit PNG ({min(n, distinct or n)} distinct, the rest byte copies), "
          f"{mb / n:.1f} MB each, {mb / 1024:.2f} GB in all (generated in {time.perf_counter() - t0:.0f} s)")
    return manifest


def bench_today(workdir: Path, manifest: Path, k: int) -> float:
    """The pre-cache ImageDataset, in a subprocess importing the old commit's package."""
    old = workdir / f"old_{OLD_COMMIT}"
    if not old.exists():
        old.mkdir(parents=True)
        repo = Path(__file__).resolve().parents[1]
        archive = subprocess.run(["git", "-C", str(repo), "archive", OLD_COMMIT, "python/mcgip_fast"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        so = next((repo / "python" / "mcgip_fast").glob("_core*.so"), None)
        if so is not None:
            (old / "python" / "mcgip_fast" / so.name).symlink_to(so)
    code = f"""
import time, torch
torch.set_num_threads(1)
from mcgip_fast.train.data import ImageDataset, read_manifest
m = read_manifest({str(manifest)!r})
ds = ImageDataset(m["path"].tolist()[:{k}], 224)
ds[0]
t0 = time.perf_counter()
for i in range(1, {k}):
    ds[i]
print(({k} - 1) / (time.perf_counter() - t0))
"""
    env = {**os.environ, "PYTHONPATH": str(old / "python")}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def bench_files_new(manifest: Path, k: int) -> float:
    import torch

    from mcgip_fast.train.augment import GreyAugment
    from mcgip_fast.train.data import ImageDataset, read_manifest, to_views

    m = read_manifest(manifest)
    aug = GreyAugment(224)
    ds = ImageDataset(m["path"].tolist()[:k], 224, augment=aug)
    t0 = time.perf_counter()
    batch = ds.__getitems__(range(k))
    to_views(batch, aug, torch.device("cpu"))
    return k / (time.perf_counter() - t0)


def bench_prepare(manifest: Path, workdir: Path, size: int) -> dict:
    import shutil

    from mcgip_fast.train.cache import prepare_cache

    import resource

    def cpu_s() -> float:  # this process and its finished worker processes
        return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))

    out = {}
    for workers in (1, 2):
        path = workdir / f"cache_{size}_w{workers}"
        shutil.rmtree(path, ignore_errors=True)
        t0, c0 = time.perf_counter(), cpu_s()
        r = prepare_cache(manifest, path, size, workers=workers, progress=False)
        n = len(r.cache)
        out[workers] = (n / (time.perf_counter() - t0), load(), 1e3 * (cpu_s() - c0) / n)
    out["bytes"] = (path / "images.npy").stat().st_size
    out["path"] = path
    return out


def bench_cache_pipeline(cache_path: Path, manifest: Path, batch: int = 64, repeat: int = 12) -> dict:
    import torch

    from mcgip_fast.train.augment import GreyAugment
    from mcgip_fast.train.cache import ImageCache
    from mcgip_fast.train.data import CachedImages, ImageDataset, read_manifest, to_views

    cache = ImageCache(cache_path)
    m = read_manifest(manifest)
    aug = GreyAugment(224)
    ds = ImageDataset(CachedImages(cache, cache.rows_for(m)), 224, augment=aug)
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(ds), batch, replace=False) for _ in range(repeat)]
    ds.__getitems__(batches[0])
    t0 = time.perf_counter()
    got = [ds.__getitems__(b) for b in batches]
    t_load = time.perf_counter() - t0
    n = batch * repeat
    out = {"loader": n / t_load}
    threads = torch.get_num_threads()
    for k in (1, 2):  # augmentation on one core and on both
        torch.set_num_threads(k)
        to_views(got[0], aug, torch.device("cpu"))
        t0 = time.perf_counter()
        for b in got:
            to_views(b, aug, torch.device("cpu"))
        t_aug = time.perf_counter() - t0
        out[f"augment_{k}"] = n / t_aug
        out[f"both_{k}"] = n / (t_load + t_aug)
    torch.set_num_threads(threads)
    out["load"] = load()
    return out


def bench_train_step(manifest: Path, cache_path: Path, workdir: Path, steps: int, batch: int = 64) -> dict:
    import shutil

    import pandas as pd

    from mcgip_fast.mining import PositivePairs
    from mcgip_fast.train import TrainConfig, train

    ids = pd.read_csv(manifest, dtype={"id": str})["id"].tolist()
    rng = np.random.default_rng(0)
    i = np.repeat(np.arange(len(ids)), 2)
    pairs = PositivePairs.from_edges(ids, i, rng.integers(0, len(ids), len(i)), np.ones(len(i))).save(workdir / "pairs.npz")
    out = {}
    for name, cache in (("files", None), ("cache", str(cache_path))):
        run_dir = workdir / f"run_{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        r = train(TrainConfig(manifest=str(manifest), pairs=str(pairs), cache=cache, backbone="resnet18", width=64,
                              image_size=224, batch_size=batch, queue_size=batch * 16, epochs=steps, max_steps=steps,
                              device="cpu", out_dir=str(run_dir), progress=False, log_every=1))
        wall = time.perf_counter() - t0
        rows = [json.loads(x) for x in r.log_path.read_text().splitlines()]
        rows = rows[1:] or rows  # step 1 warms up
        step = float(np.mean([x["step_s"] for x in rows]))
        wait = float(np.mean([x["loader_wait_s"] for x in rows]))
        aug = float(np.mean([x["augment_s"] for x in rows]))
        out[name] = {"images_per_s": batch / step, "step_s": step, "wait_s": wait, "augment_s": aug,
                     "losses": r.losses, "wall_s": wall, "load": load()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="generated images (the issue's 2,000 are 17 GB)")
    ap.add_argument("--distinct", type=int, default=None,
                    help="generate only this many distinct images; the rest are byte copies (default: all distinct)")
    ap.add_argument("--size", type=int, default=256, help="cache side S")
    ap.add_argument("--steps", type=int, default=3, help="training steps per run (the first is not timed)")
    ap.add_argument("--today", type=int, default=12, help="images timed through the pre-cache pipeline")
    ap.add_argument("--workdir", default="/tmp/mcgip_bench_input")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--train-only", action="store_true", help="reuse the images and cache of an earlier run")
    ap.add_argument("--prepare-only", action="store_true", help="only time `prepare` (wall and CPU per image)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    workdir = Path(args.workdir)
    print(f"machine: {machine_line()}; {load()}; torch threads 1 (loader benchmarks)")
    manifest = generate(workdir / "images", args.n, args.distinct)
    if args.prepare_only:
        prep = bench_prepare(manifest, workdir, args.size)
        print(f"prepare {args.n} images: 1 process {prep[1][0]:.2f} images/s, {prep[1][2]:.0f} ms CPU per image ({prep[1][1]}); "
              f"2 processes {prep[2][0]:.2f} images/s, {prep[2][2]:.0f} ms CPU per image ({prep[2][1]}); "
              f"scaling {prep[2][0] / prep[1][0]:.2f}x")
        return
    if args.train_only:
        torch.set_num_threads(2)
        report_train(bench_train_step(manifest, workdir / f"cache_{args.size}_w2", workdir, args.steps))
        return
    today = bench_today(workdir, manifest, args.today)
    print(f"today (commit {OLD_COMMIT}) ImageDataset[i], decode + 2 views at full size: {today:.2f} images/s ({load()})")
    files = bench_files_new(manifest, args.today)
    print(f"files, this code (decode + crop per image, batched flip/jitter/blur): {files:.2f} images/s ({load()})")
    prep = bench_prepare(manifest, workdir, args.size)
    print(f"prepare {args.n} images -> {args.size}x{args.size} uint16: 1 process {prep[1][0]:.2f} images/s, {prep[1][2]:.0f} ms CPU "
          f"per image ({prep[1][1]}), 2 processes {prep[2][0]:.2f} images/s, {prep[2][2]:.0f} ms CPU per image ({prep[2][1]}), "
          f"scaling {prep[2][0] / prep[1][0]:.2f}x; "
          f"cache {prep['bytes'] / 2**20:.1f} MiB on disk ({prep['bytes'] / args.n / 1024:.0f} KiB per image; "
          f"2,000 images: {2000 * prep['bytes'] / args.n / 2**20:.0f} MiB)")
    c = bench_cache_pipeline(prep["path"], manifest)
    print(f"cache, batches of 64: loader alone (1 thread) {c['loader']:.0f} images/s ({c['loader'] / today:.0f}x today); "
          f"batched augmentation (2 x 224-px views) on the CPU: 1 thread {c['augment_1']:.0f} images/s, 2 threads {c['augment_2']:.0f} images/s; "
          f"loader + augmentation on this CPU: {c['both_1']:.0f} / {c['both_2']:.0f} images/s ({c['both_2'] / today:.0f}x today) ({c['load']})")
    if not args.skip_train:
        torch.set_num_threads(2)
        report_train(bench_train_step(manifest, prep["path"], workdir, args.steps))


def report_train(t: dict) -> None:
    for name, r in t.items():
        print(f"train step from {name} (MoCo v2 + gaze, resnet18 w64, B=64, 224 px, 2 threads): {r['images_per_s']:.2f} images/s, "
              f"step {r['step_s']:.1f} s, loader wait {r['wait_s']:.2f} s ({100 * r['wait_s'] / r['step_s']:.1f}%), "
              f"augmentation {r['augment_s']:.2f} s ({100 * r['augment_s'] / r['step_s']:.1f}%) ({r['load']})")
    a, b = np.array(t["files"]["losses"]), np.array(t["cache"]["losses"])
    print(f"losses, same seed: files {np.round(a, 6).tolist()} cache {np.round(b, 6).tolist()}, "
          f"max relative difference {np.max(np.abs(a - b) / np.abs(a)):.2e}")

if __name__ == "__main__":
    main()

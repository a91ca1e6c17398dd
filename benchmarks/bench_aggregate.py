"""Cost of mining with several readers per image against single-reader mining, in the same run.

On the real crowd data (500 photos x 16 viewers, `../shared/data/crowd`, or --gaze), it times
`mine(..., "multimatch", "mutual", k)`:

- single-reader: one viewer's 500 scanpaths, one per image (what McGIP's one-radiologist setting mines);
- same-reader: all 16 viewers, image pairs scored by the mean over common viewers (expected ~R x single);
- all-pairs: every pair of readings (expected ~R^2 x single), on a subset of images (--all-pairs-images),
  next to single-reader and same-reader on that same subset.

    .venv/bin/python benchmarks/bench_aggregate.py --threads 2 [--precision]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

DEFAULT_GAZE = Path(__file__).resolve().parents[2] / "shared" / "data" / "crowd" / "fixations.csv"


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> None:
    import mcgip_fast as mf
    from mcgip_fast.mining import mine

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gaze", default=str(DEFAULT_GAZE if DEFAULT_GAZE.exists() else "/work/shared/data/crowd/fixations.csv"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=62)
    p.add_argument("--all-pairs-images", type=int, default=100)
    p.add_argument("--repeats", type=int, default=2, help="best of this many runs per row")
    p.add_argument("--precision", action="store_true", help="also the mined pairs' precision against labels.csv beside --gaze (crowd level)")
    args = p.parse_args(argv)

    archive = mf.read_table(args.gaze, reader_col="viewer", screen=(1024, 768))
    readers = np.unique(archive.readers.astype(str))
    print(f"archive: {len(archive)} readings, {len(np.unique(archive.image_ids.astype(str)))} images, {len(readers)} readers; "
          f"threads {args.threads}; load average {os.getloadavg()[0]:.1f}")

    def best(fn):
        runs = [timed(fn) for _ in range(args.repeats)]
        return min(runs, key=lambda r: r[1])

    def single(arch):
        one = arch.subset(np.flatnonzero(arch.readers.astype(str) == readers[0]))
        one = mf.GazeArchive.from_arrays(one.image_ids, one.offsets, one.x, one.y, one.duration, screen=one.screen, short="keep")
        return lambda: mine(one, "multimatch", "mutual", k=args.k, threads=args.threads)

    def aggregated(arch, mode):
        return lambda: mine(arch, "multimatch", "mutual", k=args.k, threads=args.threads, aggregate=mode)

    rows = []
    images = np.unique(archive.image_ids.astype(str))
    subset_ids = images[: args.all_pairs_images]
    small = archive.subset(np.flatnonzero(np.isin(archive.image_ids.astype(str), subset_ids)))
    for label, arch, modes in (("all images", archive, ("same-reader",)), (f"{len(subset_ids)} images", small, ("same-reader", "all-pairs"))):
        _, base_wall, base_cpu = best(single(arch))
        rows.append((label, "single reader", base_wall, base_cpu, 1.0))
        for mode in modes:
            _, wall, cpu = best(aggregated(arch, mode))
            rows.append((label, mode, wall, cpu, wall / base_wall))
    print("| images | mining | wall | CPU | wall / single reader |")
    print("| --- | --- | --- | --- | --- |")
    for label, what, wall, cpu, ratio in rows:
        print(f"| {label} | {what} | {wall:.2f} s | {cpu:.2f} s | {ratio:.1f}x |")
    print(f"(load average after: {os.getloadavg()[0]:.1f})")
    labels_path = Path(args.gaze).with_name("labels.csv")
    if args.precision and labels_path.exists():
        precision_table(archive, labels_path, args)


def precision_table(archive, labels_path: Path, args) -> None:
    """Precision of the mined pairs against the crowd level, next to chance, for several ways to mine."""
    import pandas as pd

    import mcgip_fast as mf
    from mcgip_fast.mining import mine
    from mcgip_fast.report.demo import chance_precision, pair_precision

    labels = pd.read_csv(labels_path, dtype={"image_id": str}).set_index("image_id")["crowd_level"]
    runs = []
    for viewer in np.unique(archive.readers.astype(str))[:2]:
        one = archive.subset(np.flatnonzero(archive.readers.astype(str) == viewer))
        one = mf.GazeArchive.from_arrays(one.image_ids, one.offsets, one.x, one.y, one.duration, screen=one.screen)
        runs.append((f"one viewer ({viewer}), MultiMatch", lambda one=one: mine(one, "multimatch", "mutual", k=args.k, threads=args.threads)))
    runs.append(("all viewers, same-reader MultiMatch", lambda: mine(archive, "multimatch", "mutual", k=args.k, threads=args.threads, aggregate="same-reader")))
    for scheme in ("hu", "dhash"):
        runs.append((f"all viewers, pooled {scheme} heatmaps", lambda scheme=scheme: mine(archive, scheme, "mutual", k=args.k, threads=args.threads, aggregate="pooled")))
    print(f"\n| mining (mutual top-{args.k}) | precision | chance | lift | pairs |")
    print("| --- | --- | --- | --- | --- |")
    for name, run in runs:
        pairs = run()
        y = labels.loc[[str(i) for i in pairs.ids]].to_numpy()
        precision, n = pair_precision(pairs, y)
        chance = chance_precision(y)
        print(f"| {name} | {precision:.3f} | {chance:.3f} | {precision / chance:.2f}x | {n} |")


if __name__ == "__main__":
    main()

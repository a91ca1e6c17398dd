"""`mcgip demo` (interim): load the embedded studyforrest sample, render its gaze maps, summarise.

A later version replaces this with the full pipeline demo (mining, training, report).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the demo on the embedded real sample (studyforrest)",
        description=(
            "Load the embedded studyforrest sample (60 real scanpaths: 30 movie segments x 2 viewers, "
            "screen 1280x720), validate it, render one Gaussian gaze map per scanpath in Rust, "
            "and print a summary. Writes a PNG per map and an overview figure into --out."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out/)")
    p.add_argument("--size", type=int, nargs=2, default=(144, 256), metavar=("H", "W"), help="map shape (default: 144 256)")
    p.add_argument("--sigma", type=float, default=6.0, help="Gaussian sigma in map pixels (default: 6)")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    p.add_argument("--no-images", action="store_true", help="print the summary only; write no files")
    p.set_defaults(run=run)


def _overview(maps, ids, readers, path: Path, n: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n, len(maps))
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.0), squeeze=False)
    for ax, m, i, r in zip(axes[0], maps[:n], ids[:n], readers[:n]):
        ax.imshow(m, cmap="inferno", vmin=0, vmax=1)
        ax.set_title(f"{i}\n{r}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.gaze.heatmaps import render_heatmaps
    from mcgip_fast.gaze.images import save_heatmap_images

    h, w = args.size
    archive = load_studyforrest()
    print(f"studyforrest sample: {archive}")
    print(f"  fixations per scanpath: min {archive.lengths.min()}, median {int(np.median(archive.lengths))}, max {archive.lengths.max()}")
    print(f"  validation: {archive.report.summary()}")
    t0 = time.perf_counter()
    maps = render_heatmaps(archive, (h, w), args.sigma, threads=args.threads)
    dt = time.perf_counter() - t0
    print(f"heatmaps: {maps.shape[0]} maps of {h}x{w}, sigma {args.sigma:g} px, in {dt * 1e3:.1f} ms")

    # How alike are the two viewers' maps of the same segment, against different segments?
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    sim = flat @ flat.T
    images = archive.image_ids
    same = images[:, None] == images[None, :]
    off = ~np.eye(len(maps), dtype=bool)
    print(
        f"  cosine similarity of maps: same segment, other viewer {sim[same & off].mean():.3f}; "
        f"different segments {sim[~same].mean():.3f}"
    )
    if not args.no_images:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        keys = [k.replace("|", "_") for k in archive.keys]
        save_heatmap_images(maps, keys, out / "heatmaps")
        _overview(maps, archive.image_ids, archive.readers, out / "overview.png")
        print(f"wrote {len(keys)} PNG maps to {out / 'heatmaps'} and {out / 'overview.png'}")
    return 0

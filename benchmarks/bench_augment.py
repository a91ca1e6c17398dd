"""Where the CPU time of the batched augmentation goes (issue 14), per 224-px view.

    .venv/bin/python benchmarks/bench_augment.py [--threads 1] [--batch 128]

Times, on whole cached images (256 x 256, as `mcgip prepare` writes them), each stage of
`GreyAugment.apply`: the crop + flip (`crop_resize`, one bilinear `grid_sample`), jitter, blur (on
the blurred views only) and the whole call, next to one alternative for the crop that torchvision
offers (`roi_align`, same boxes, bilinear, one sample per output pixel). Median of 12 calls.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
try:
    from conftest import machine_line  # noqa: E402
except ImportError:  # pragma: no cover
    def machine_line() -> str:
        return f"{os.cpu_count()} cores"


def median_seconds(f, repeat: int = 12) -> float:
    f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128, help="views per call")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from torchvision.ops import roi_align

    from mcgip_fast.train.augment import PARAM_NAMES, GreyAugment, crop_resize

    col = {name: k for k, name in enumerate(PARAM_NAMES)}
    aug = GreyAugment(224)
    n = args.batch
    x = torch.rand(n, 1, 256, 256, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    params = torch.stack([aug.draw(g, 2500, 2048) for _ in range(n)])
    flip = params[:, col["flip"]] > 0
    crops = crop_resize(x, params[:, :4], 224, flip=flip)
    blurred = params[:, col["blur"]] > 0
    no_blur = params.clone()
    no_blur[:, col["blur"]] = 0

    def roi() -> torch.Tensor:
        top, left, h, w = params[:, :4].unbind(1)
        boxes = torch.stack([torch.arange(n, dtype=x.dtype), left * 256, top * 256, (left + w) * 256, (top + h) * 256], 1)
        z = roi_align(x, boxes, 224, spatial_scale=1.0, sampling_ratio=1, aligned=True)
        z[flip] = z[flip].flip(-1)
        return z

    rows = [
        ("crop + flip: crop_resize (grid_sample)", n, median_seconds(lambda: crop_resize(x, params[:, :4], 224, flip=flip))),
        ("crop + flip: torchvision roi_align (alternative)", n, median_seconds(roi)),
        ("jitter (+ solarise check), all views", n, median_seconds(lambda: aug.photometric(crops.clone(), no_blur))),
        ("blur, blurred views only", int(blurred.sum()), median_seconds(lambda: aug._blur(crops[blurred], params[blurred, col["sigma"]]))),
        ("GreyAugment.apply, whole", n, median_seconds(lambda: aug.apply(x, params))),
    ]
    print(f"machine: {machine_line()}; load {'%.1f/%.1f/%.1f' % os.getloadavg()}; torch {torch.__version__}, {args.threads} thread(s); "
          f"{n} views of 224 px from 256 x 256 float32")
    for name, views, sec in rows:
        print(f"{name:52s} {views:4d} views  {1e3 * sec / views:6.3f} ms/view  {views / sec:7.0f} views/s")
    whole = rows[-1][2]
    print(f"=> {n / whole / 2:.0f} images/s (two views each) on {args.threads} thread(s)")


if __name__ == "__main__":
    main()

"""`mcgip prepare`: decode every image of a manifest once into a memory-mapped cache for train/eval."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  mcgip prepare --manifest images.csv --size 256 --out cache/
  mcgip prepare --manifest images.csv --size 512 --out cache512/ --workers 16 --on-bad-image skip
  mcgip train --manifest images.csv --pairs pairs.parquet --cache cache/
  mcgip eval --encoder runs/train/encoder.pt --manifest images.csv --cache cache/
"""


def run(args: argparse.Namespace) -> int:
    from mcgip_fast.train.cache import prepare_cache

    result = prepare_cache(args.manifest, args.out, args.size, dtype=args.dtype, workers=args.workers,
                           on_bad_image=args.on_bad_image, progress=not args.no_progress, overwrite=args.overwrite)
    cache = result.cache
    n_ok = int((cache.index["status"] == "ok").sum())
    resumed = f" (resumed: {result.n_done_before} were already done)" if result.n_done_before else ""
    print(f"cached {n_ok} of {len(cache)} images as {cache.size}x{cache.size} {cache.dtype}{resumed}: {cache.path}")
    size = (cache.path / "images.npy").stat().st_size
    print(f"size on disk: {size / 2**20:.1f} MiB")
    if result.report.n_skipped:
        print(f"bad images (kept out): {result.report.summary()}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="decode and resize every image once into a memory-mapped cache (for train/eval --cache)",
        description="Decode every image of a manifest (PNG, JPEG, TIFF, 8/16-bit, DICOM) once, in parallel, resize it "
        "to SIZE x SIZE (area interpolation; the original height and width are kept, and crops are drawn in the "
        "original's geometry, so aspect ratios stay right) and write one memory-mapped array (uint8, or uint16 when a "
        "source is deeper) plus an index that keeps the manifest's ids. A stopped run resumes where it stopped. "
        "`mcgip train --cache` and `mcgip eval --cache` read it after checking it matches the manifest.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest", required=True, help="CSV/TSV/Parquet with id (or image_id) and path columns")
    p.add_argument("--out", required=True, help="cache folder (images.npy, index.parquet, meta.json)")
    p.add_argument("--size", type=int, default=256,
                   help="side S of the stored square; about 8/7 of the training --image-size (256 for 224) keeps "
                   "random crops close to native resolution without aliasing (default: 256)")
    p.add_argument("--dtype", choices=("auto", "uint8", "uint16"), default="auto",
                   help="stored type; auto = uint16 when any image has more than 8 bits, else uint8 (default: auto)")
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    p.add_argument("--on-bad-image", choices=("error", "skip"), default="error",
                   help="missing or undecodable images are recorded either way; 'error' then fails listing them, "
                   "'skip' keeps them out of training and reports the count (default: error)")
    p.add_argument("--overwrite", action="store_true", help="rebuild a cache made from another manifest, size or dtype")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)

"""`mcgip shuffle-pairs`: a shuffled-positives control graph from any pairs file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Write a control graph from a pairs file: the same images, the same number of positives per image,
but the partners permuted by degree-preserving edge swaps (a symmetric graph stays symmetric).
Train on it exactly as on the mined pairs: if +McGIP's gain survives the shuffle, it came from
having extra positives at all, not from what gaze says about the images. The output keeps the
source's archive hash and records the seed, the rounds and the share of pairs left unchanged.

Examples:
  mcgip shuffle-pairs --pairs pairs.parquet --seed 1 --out shuffled.parquet
  mcgip shuffle-pairs --pairs pairs.npz --seed 2 --rounds 50 --out shuffled_s2.npz
  mcgip train --manifest images.csv --pairs shuffled.parquet --method moco --out-dir runs/moco_shuffled
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "shuffle-pairs",
        help="write a shuffled-positives control graph (same images and degrees, permuted partners)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pairs", required=True, metavar="FILE", help="source pairs file (.parquet or .npz) from `mcgip mine`")
    p.add_argument("--out", required=True, metavar="FILE", help="control pairs file to write (.parquet or .npz)")
    p.add_argument("--seed", type=int, default=0, help="seed of the swaps; the same seed writes the same file (default 0)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of swaps; each swaps about half of the edges (default 30)")
    p.set_defaults(run=run)


def run(args) -> int:
    import numpy as np

    from mcgip_fast.mining.controls import DEFAULT_ROUNDS, shuffle_positives
    from mcgip_fast.mining.pairs import PositivePairs

    out = Path(args.out)
    if out.suffix not in (".parquet", ".npz"):
        raise ValueError(f"--out {out}: pair files end in .parquet or .npz")
    source = PositivePairs.load(args.pairs)
    shuffled = shuffle_positives(source, seed=args.seed, rounds=args.rounds or DEFAULT_ROUNDS)
    shuffled.save(out)
    same_degrees = np.array_equal(source.degrees(), shuffled.degrees())
    print(f"source:   {source!r}", file=sys.stderr)
    print(f"shuffled: {shuffled.n_pairs} {'pairs' if shuffled.symmetric else 'edges'} among {len(shuffled)} items; "
          f"degrees {'identical' if same_degrees else 'DIFFER'}; "
          f"{shuffled.params['unchanged_share']:.1%} of pairs unchanged", file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)
    return 0 if same_degrees else 1

"""`mcgip inspect` on a 10,000-scanpath archive: wall and CPU time, peak RSS, against scoring all pairs.

The archive is `study_archives.grown_studyforrest(N)` (real studyforrest scanpaths, replicated with
jitter: N / 2 images x 2 viewers) written as a fixation CSV, with labels (segment number mod 4) so
that every section runs. `mcgip inspect` runs as a child process (its own peak RSS, via wait4).
The peer is the exhaustive approach (what the study does on small archives): MultiMatch on every
pair, timed with mcgip_fast's own kernel on a subset and extrapolated by the pair count.

    .venv/bin/python benchmarks/bench_inspect.py --n 10000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from study_archives import grown_studyforrest  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--subset", type=int, default=1000, help="scanpaths for the all-pairs peer")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args(argv)
    import pandas as pd

    from mcgip_fast.similarity.multimatch import multimatch_matrix

    arch = grown_studyforrest(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        owner = np.repeat(arch.image_ids, arch.lengths)
        reader = np.repeat(arch.readers, arch.lengths)
        pd.DataFrame({"image_id": owner, "viewer": reader, "x": arch.x, "y": arch.y, "duration": arch.duration}).to_csv(tmp / "fix.csv", index=False)
        imgs = np.unique(arch.image_ids)
        pd.DataFrame({"image_id": imgs, "label": [int(i.split("_")[1]) % 4 for i in imgs]}).to_csv(tmp / "labels.csv", index=False)
        cmd = [sys.executable, "-m", "mcgip_fast.cli.main", "inspect", "--gaze", str(tmp / "fix.csv"), "--reader-col", "viewer",
               "--screen", "1280", "720", "--labels", str(tmp / "labels.csv"), "--threads", str(args.threads), "--out", str(tmp / "out")]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(err)
        print(err.strip().splitlines()[-1][:200])
        print("\n".join(l for l in err.splitlines() if l.split(":")[0] in ("multimatch", "hu", "dhash")))
    cpu = usage.ru_utime + usage.ru_stime
    sub = arch.subset(np.arange(args.subset))
    t0 = time.perf_counter()
    multimatch_matrix(sub, threads=args.threads)
    per_pair = (time.perf_counter() - t0) / (args.subset * (args.subset - 1) / 2)
    full = per_pair * args.n * (args.n - 1) / 2
    print(f"inspect, {args.n} scanpaths, {args.threads} threads: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS "
          f"{usage.ru_maxrss / 1024:.0f} MiB (load average {os.getloadavg()[0]:.1f})")
    print(f"peer: MultiMatch on all {args.n * (args.n - 1) // 2:,} pairs, extrapolated from {args.subset} scanpaths: "
          f"{full:.0f} s; inspect is {full / wall:.0f}x faster in wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

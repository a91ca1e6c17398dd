"""Growth of `run_study` (issue 17): wall time, CPU time and peak RSS at several archive sizes.

Each size runs in its own child process (its peak RSS read with wait4). Archives are real
studyforrest scanpaths replicated with jitter (`study_archives.grown_studyforrest`: N / 2 images x
2 viewers), since the repository holds only 60 real scanpaths. The study's full protocol runs:
every measure, 4 x 5-fold held-out combinations. On a shared machine wall time depends on the
load (printed); CPU time much less.

    .venv/bin/python benchmarks/bench_study_scale.py 200 400 1000 2000
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import sys, time
sys.path.insert(0, {bench!r})
from study_archives import grown_studyforrest
from mcgip_fast.report.study import run_study
a = grown_studyforrest({n})
t0 = time.perf_counter()
r = run_study(a)
print(f"study {{time.perf_counter() - t0:.1f}} s; " + r.verdict())
"""


def main(argv=None) -> int:
    sizes = [int(v) for v in (argv if argv is not None else sys.argv[1:])] or [200, 400, 1000, 2000]
    print("| scanpaths | wall (s) | CPU (s) | peak RSS (MiB) | load average | threads |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD.format(bench=str(Path(__file__).parent), n=n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out, err = proc.stdout.read(), proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"N = {n} failed:\n{err}")
        print(f"| {n:,} | {wall:.0f} | {usage.ru_utime + usage.ru_stime:.0f} | {usage.ru_maxrss / 1024:.0f} | "
              f"{os.getloadavg()[0]:.1f} | {len(os.sched_getaffinity(0))} |", flush=True)
        print("  " + out.strip(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

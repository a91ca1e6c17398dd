"""Pre-train and probe the demo's runs, several at a time, each in its own process.

On a small CPU machine one run cannot keep every core busy (the demo's tiny encoder and 32-image batches
scale poorly past one thread), so `DemoConfig.parallel_runs` runs go side by side with
``cores // parallel_runs`` torch threads each: on 2 cores, two 1-thread runs finish in about 0.65x the
time of the same two runs one after the other on 2 threads (benchmarks/README.md, `make demo`).

A run's numbers depend on its torch thread count (float sums are ordered by the thread split), never on
how many runs share the machine or in which order they finish: each run is a fresh process, seeded by its
own config. The thread count is part of every run's record key (`mcgip_fast.report.records`).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

__all__ = ["RunJob", "RunOutcome", "run_jobs", "torch_threads"]


@dataclass(frozen=True)
class RunJob:
    """One pre-training run (a `TrainConfig`) and the probes that follow it."""

    train: Any  # TrainConfig
    eval_manifest: Path
    eval_labels: Path


@dataclass
class RunOutcome:
    encoder_path: str
    losses: list[float]
    train_seconds: float
    eval_seconds: float
    results: pd.DataFrame  # `report.demo._evaluate` rows


def torch_threads(cfg) -> int | None:
    """Torch threads per run: `cfg.torch_threads`, else the cores shared out among `cfg.parallel_runs` runs
    (None with one run at a time: torch's own default, as before runs went side by side)."""
    if cfg.torch_threads is not None:
        return int(cfg.torch_threads)
    if cfg.parallel_runs <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // cfg.parallel_runs)


def effective_threads(cfg) -> int:
    """The thread count a run will actually use (for the record key)."""
    threads = torch_threads(cfg)
    if threads is not None:
        return threads
    import torch

    return torch.get_num_threads()


def execute(job: RunJob, cfg) -> RunOutcome:
    """Train and probe one run in this process."""
    from mcgip_fast.report.demo import _evaluate
    from mcgip_fast.train import train

    t0 = time.perf_counter()
    tres = train(job.train)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = _evaluate(tres.encoder_path, job.eval_manifest, job.eval_labels, cfg)
    return RunOutcome(str(tres.encoder_path), list(tres.losses), train_s, time.perf_counter() - t0, res)


def _init_worker(threads: int | None) -> None:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)


def run_jobs(
    jobs: list[RunJob], cfg, run_one: Callable[[Any, Any], Any] | None = None
) -> Iterator[tuple[int, RunOutcome]]:
    """(index into `jobs`, outcome) for every job, in the order they finish.

    `run_one(job, cfg)` runs one job (default `execute`: train, then probe); with workers it must be a
    module-level function, as it is pickled by name.

    With `cfg.parallel_runs` > 1 (and more than one job) each job runs in a worker process (spawned, so no
    torch state is shared) with `torch_threads(cfg)` threads; the first failure stops the rest and is raised
    here. With one run at a time they run in this process, in order."""
    run_one = execute if run_one is None else run_one
    threads = torch_threads(cfg)
    if cfg.parallel_runs <= 1 or len(jobs) <= 1:
        import torch

        before = torch.get_num_threads()
        try:
            if threads is not None:
                torch.set_num_threads(threads)
            for i, job in enumerate(jobs):
                yield i, run_one(job, cfg)
        finally:
            torch.set_num_threads(before)
        return
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(cfg.parallel_runs, len(jobs)), mp_context=ctx,
                               initializer=_init_worker, initargs=(threads,))
    try:
        pending = {pool.submit(run_one, job, cfg): i for i, job in enumerate(jobs)}
        while pending:
            # FIRST_COMPLETED, not FIRST_EXCEPTION: the latter waits for *every* job unless one fails, so
            # no record would be saved before the last run finished
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                yield i, fut.result()  # raises the worker's exception
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

"""The demo's real-data run: real photographs with real gaze (Saliency in Crowd, 500 images x 16 viewers).

The same path a user takes with a real archive: read the fixation table (viewers as readers, ids as
text), mine with ``same-reader`` aggregation (an image pair's score is the mean over the viewers of
that viewer's MultiMatch score), measure the precision of the mined pairs against the crowd-level
labels (chance = the share of same-label pairs), pre-train MoCo v2 as a baseline and with the pairs
with the demo's recipe, and probe both on crowd level. The outcome is reported whatever it is.

The data (``crowd/``: ``fixations.csv``, ``labels.csv`` with ``crowd_level``, ``manifest.csv``,
``images/``) is not shipped with the package; `find_crowd_data` looks for it beside the repository
(``../shared/data/crowd``) or where ``MCGIP_CROWD_DATA`` points, and the demo skips the section
with a note when it is absent.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

#: Saliency in Crowd shows every photo full screen at 1024 x 768.
CROWD_SCREEN = (1024.0, 768.0)


def find_crowd_data(explicit: str | os.PathLike | None = None) -> Path | None:
    """The crowd data folder: `explicit`, else $MCGIP_CROWD_DATA, else ``shared/data/crowd`` beside the
    repository (or beside one of the two folders above it); None if absent."""
    repo = Path(__file__).resolve().parents[3]
    # ../shared beside the repository, or beside a folder above it (git worktrees sit one level deeper).
    beside = [folder / "shared" / "data" / "crowd" for folder in list(repo.parents)[:3]]
    candidates = [explicit, os.environ.get("MCGIP_CROWD_DATA"), *beside]
    for c in candidates:
        if c and (Path(c) / "fixations.csv").is_file() and (Path(c) / "manifest.csv").is_file():
            return Path(c)
    return None


@dataclass
class CrowdResult:
    root: str
    n_images: int
    n_readers: int
    n_readings: int
    rule: str
    mining: dict[str, Any]
    runs: list = field(default_factory=list)  # RunRecord
    validation: str = ""

    def comparisons(self, probe: str = "linear") -> pd.DataFrame:
        from mcgip_fast.report.demo import paired_comparisons, probe_rows

        return paired_comparisons(probe_rows(self.runs), probe)

    def summary(self) -> pd.DataFrame:
        from mcgip_fast.report.demo import probe_rows

        rows = probe_rows(self.runs)
        if rows.empty:
            return rows
        g = rows.groupby(["run", "probe"], sort=False)["accuracy"]
        return g.agg(["mean", "std", "size"]).reset_index()

    def verdict(self) -> str:
        m = self.mining
        prec = (f"mined pairs have precision {m['precision']:.3f} against crowd level, {m['lift']:.2f}x chance "
                f"({m['chance']:.3f})")
        comp = self.comparisons("linear")
        if comp.empty:
            return f"crowd: {prec}; no pre-training runs"
        r = comp.iloc[0]
        outcome = "beats the baseline by more than the seed-to-seed std" if r.beats else "does not beat the baseline by more than the seed-to-seed std"
        return (f"crowd (real photos, 16 free viewers): {prec}; MoCo +McGIP linear probe {r.mcgip:.3f} vs baseline "
                f"{r.baseline:.3f} (gain {r.gain:+.3f}, seed std {r.seed_std:.3f}, n={int(r.n)}): {outcome}")

    def to_markdown(self) -> str:
        m = self.mining
        L = [
            f"Saliency in Crowd: {self.n_images} photographs, {self.n_readers} viewers, {self.n_readings} viewings (free "
            f"viewing, not a diagnostic task), screen {CROWD_SCREEN[0]:g}x{CROWD_SCREEN[1]:g}. Mined with MultiMatch "
            f"(McGIP weights), **same-reader** aggregation (an image pair's score is the mean over the viewers of "
            f"that viewer's score), {self.rule}.",
            "",
            "| mined pairs | mean degree | precision vs crowd level | chance | lift | mining time | single-viewer mining time |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| {m['pairs']} | {m['mean_degree']:.1f} | {m['precision']:.3f} | {m['chance']:.3f} | {m['lift']:.2f}x | "
            f"{m['seconds']:.1f} s | {m['single_reader_seconds']:.2f} s |",
            "",
        ]
        if self.validation:
            L += [f"Validation: {self.validation}.", ""]
        summary = self.summary()
        if not summary.empty:
            L += ["| run | probe | accuracy (mean ± std) | n |", "| --- | --- | --- | --- |"]
            for r in summary.itertuples():
                L.append(f"| {r.run} | {r.probe} | {r.mean:.3f} ± {0.0 if pd.isna(r.std) else r.std:.3f} | {r.size} |")
            L.append("")
        L += [f"Outcome: {self.verdict()}.", ""]
        return "\n".join(L)


def run_crowd(cfg, work: Path, log: Callable[[str], None] = print, stage=None) -> CrowdResult:
    """Mine, pre-train and probe on the crowd data (see the module docs); `cfg` is the `DemoConfig`."""
    from mcgip_fast.gaze import read_table
    from mcgip_fast.mining import mine
    from mcgip_fast.report.demo import RunRecord, chance_precision, image_cache, pair_precision, train_config
    from mcgip_fast.report.runs import RunJob, run_jobs

    root = find_crowd_data(cfg.crowd_data)
    if root is None:
        raise FileNotFoundError("crowd data not found (set crowd_data or MCGIP_CROWD_DATA)")
    stage = stage or _no_stage
    work.mkdir(parents=True, exist_ok=True)
    with stage("crowd: read and mine (same-reader)"):
        archive = read_table(root / "fixations.csv", reader_col="viewer", screen=CROWD_SCREEN)
        if cfg.crowd_images:
            keep_ids = pd.unique(archive.image_ids.astype(str))[: cfg.crowd_images]
            archive = archive.subset(np.flatnonzero(np.isin(archive.image_ids.astype(str), keep_ids)))
        t0 = time.perf_counter()
        pairs = mine(archive, "multimatch", cfg.rule, k=cfg.crowd_k, aggregate="same-reader", threads=cfg.threads)
        seconds = time.perf_counter() - t0
        one = archive.subset(np.flatnonzero(archive.readers.astype(str) == str(archive.readers[0])))
        t0 = time.perf_counter()
        mine(archive.__class__.from_arrays(one.image_ids, one.offsets, one.x, one.y, one.duration, screen=one.screen),
             "multimatch", cfg.rule, k=cfg.crowd_k, threads=cfg.threads)
        single_seconds = time.perf_counter() - t0
        pairs_path = pairs.save(work / "pairs_crowd_same_reader.npz")
    labels = pd.read_csv(root / "labels.csv", dtype={"image_id": str}).set_index("image_id")["crowd_level"]
    y = labels.loc[[str(i) for i in pairs.ids]].to_numpy()
    precision, n_pairs = pair_precision(pairs, y)
    chance = chance_precision(y)
    mining = dict(pairs=n_pairs, mean_degree=float(pairs.degrees().mean()), precision=precision, chance=chance,
                  lift=precision / chance, seconds=seconds, single_reader_seconds=single_seconds)
    log(f"[demo] crowd: {n_pairs} pairs, precision {precision:.3f} vs chance {chance:.3f}")
    # The probes read labels from a file with columns image_id, label; the manifest lists the images mined.
    label_file = work / "crowd_labels.csv"
    pd.DataFrame({"image_id": [str(i) for i in pairs.ids], "label": y}).to_csv(label_file, index=False)
    manifest = pd.read_csv(root / "manifest.csv", dtype={"image_id": str})
    manifest = manifest[manifest["image_id"].isin(set(map(str, pairs.ids)))]
    manifest = manifest.assign(path=[str((root / p).resolve()) for p in manifest["path"]])
    manifest_file = work / "crowd_manifest.csv"
    manifest.to_csv(manifest_file, index=False)
    result = CrowdResult(str(root), len(pairs.ids), len(np.unique(archive.readers.astype(str))), len(archive),
                         f"mutual top-{cfg.crowd_k}" if cfg.rule == "mutual" else f"top-{cfg.crowd_k}", mining, validation=archive.report.summary())
    with stage("crowd: prepare image cache"):
        cache = image_cache(manifest_file, cfg)
    runs = [(seed, name, use_gaze) for seed in cfg.crowd_pretrain_seeds
            for name, use_gaze in (("moco baseline", False), ("moco +McGIP", True))]
    jobs = [RunJob(train_config(cfg, manifest_file, pairs_path if use_gaze else None, "moco", use_gaze, seed,
                                work / "runs" / f"crowd_{name.replace(' ', '_').replace('+', '')}_seed{seed}", cache=cache),
                   manifest_file, label_file) for seed, name, use_gaze in runs]
    slots: list = [None] * len(runs)
    with stage(f"crowd: pre-train and probe {len(jobs)} runs ({min(cfg.parallel_runs, len(jobs))} at a time)"):
        for i, out in run_jobs(jobs, cfg):
            seed, name, use_gaze = runs[i]
            slots[i] = RunRecord(name, "moco", use_gaze, str(pairs_path) if use_gaze else None, int(seed),
                                 out.encoder_path, out.losses, out.train_seconds, out.eval_seconds, out.results)
    result.runs.extend(slots)
    return result


class _no_stage:
    def __init__(self, name: str) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

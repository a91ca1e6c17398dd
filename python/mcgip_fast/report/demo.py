"""The demo pipeline: synthetic archive -> mined positives -> pre-training -> probes -> report.

`run_demo(DemoConfig(...))` runs every stage, timing each, and returns a `DemoResult`;
`mcgip_fast.report.markdown.write_report` turns it into ``report/`` (Markdown, PNG plots, CSV and
JSON). `mcgip demo` is the command-line front end.

Stages:

1. generate the synthetic archive (and its twin with uninformative gaze: the same images, gaze
   drawn independently of the class), and check it with raw-pixel, global-statistics and
   gaze-statistics probes;
2. mine positives with each scheme (multimatch, hu, dhash) and measure the precision of the
   mined pairs against the hidden labels, next to chance;
3. pre-train each method as a baseline and with McGIP positives (and, as controls, MoCo with the
   positives mined from the uninformative twin and, with `shuffled_control`, with the mined positives
   shuffled so every image keeps its number of positives but not its partners; with
   `controls_every_method`, every method gets both controls; and, as a diagnostic upper bound, MoCo with k
   same-class positives taken from the labels: what gaze that is never wrong could give);
4. evaluate each encoder with a linear probe and kNN over several evaluation seeds (each seed
   draws its own stratified train/test split);
5. the real-data study on studyforrest (see `mcgip_fast.report.study`).

Labels are read only in stages 1 (checks), 2 (precision), 4 (probes) and by the oracle run, which
is labelled as such; mining and the baseline / +McGIP / control runs never see them.

`DemoConfig.full()` (`mcgip demo --full`) is the issue's whole test on one archive (`archive`: "mammo" or
"chest"): MoCo v2, BYOL, SimSiam and SimCLR, 5 pre-training seeds for every run, both controls for every
method; `issue_criteria` applies the issue's rule to the result. Every finished run leaves a record
(work/runs/<run>_seed<seed>/record.json) and a rerun with the same settings reuses it, so a long run can
be stopped and resumed.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from mcgip_fast.train.config import METHOD_NAMES as METHODS  # torch-free: the demo's methods are the trainer's

SCHEMES = ("multimatch", "hu", "dhash")
#: Run-name suffixes of the controls: "<method> +McGIP (uninformative gaze)", "<method> +McGIP (shuffled positives)".
UNINFORMATIVE = "(uninformative gaze)"
SHUFFLED = "(shuffled positives)"
#: TrainConfig fields the demo sets for each run itself; `train_options` and `method_options` may not.
PER_RUN_FIELDS = ("manifest", "pairs", "method", "gaze", "seed", "out_dir", "cache")
#: Each method's own recipe on top of the shared one (benchmarks/README.md, "Issue 12 runs", has the runs
#: behind it). MoCo v2: McGIP's unbalanced batch-averaged loss (its ~70 queue positives per anchor are what
#: gains). SimCLR: its own view and its in-batch gaze positives share the loss equally (`gaze_weight` 1;
#: unbalanced, 7-16 gaze positives drown the own view). BYOL and SimSiam have no negatives: many
#: cross-image positives make them lose rank, so a memory of 256 targets gives each anchor its gaze
#: positives and they share a quarter of the own view's weight.
METHOD_RECIPES: dict[str, dict[str, Any]] = {
    "moco": {},
    "byol": {"gaze_memory": 256, "gaze_weight": 0.25},
    "simsiam": {"gaze_memory": 256, "gaze_weight": 0.25},
    "simclr": {"gaze_weight": 1.0},
}
#: What `DemoConfig.full` (`mcgip demo --full`) changes: the issue's test of every method on one archive.
FULL = dict(
    methods=METHODS, pretrain_seeds=(0, 1, 2, 3, 4), all_runs_every_seed=True, control=True, shuffled_control=True,
    controls_every_method=True, oracle=False, study=False, crowd=False,
)


def _archive_names() -> tuple[str, ...]:
    from mcgip_fast.synth import GENERATORS

    return tuple(GENERATORS)


@dataclass
class DemoConfig:
    """Every knob of the demo. The defaults finish in about 13 minutes on 2 CPU cores (12.7 min wall for
    `make demo`, two runs side by side, measured 2026-12-07)."""

    out: str = "report"
    work: str | None = None  # default: <out>/work
    # archive: a generator of `mcgip_fast.synth.GENERATORS` ("mammo": synth/images.py + gaze.py; "chest":
    # synth/chest.py); the uninformative twin is the same generator with informativeness 0 (same images)
    archive: str = "mammo"
    n_images: int = 800
    image_px: int = 64
    informativeness: float = 0.9
    archive_seed: int = 0
    # mining
    schemes: tuple[str, ...] = SCHEMES
    train_scheme: str = "multimatch"
    # A class is a quarter of the archive; the k = 100 most similar scanpaths (1/8 of it) give every
    # image enough positives in each batch and queue to pull its class together (top-5 gave too few).
    # "mutual" keeps a pair only if each is in the other's top-k: fewer, cleaner positives (precision
    # 0.64 vs 0.56 for the union), and +McGIP then gained on every pre-training seed tried.
    k: int = 100
    rule: str = "mutual"
    # MultiMatch weights: "mcgip" (0.1, 0.1, 0.1, 0.1, 0.6) or "reader-invariant" (fitted from reader ids, no
    # labels; `mcgip_fast.mining.schemes.reader_weights`). On the demo archive the fit gives about McGIP's
    # weights (mined precision 0.642 either way); on the chest archive, whose readers' paces dominate
    # the duration dimension, it lifts precision from 0.47 to 0.74 (benchmarks/README.md).
    mm_weights: str = "mcgip"
    score_sample: int = 4000
    # training
    methods: tuple[str, ...] = METHODS
    control: bool = True  # MoCo + McGIP with positives from uninformative gaze
    # MoCo + McGIP with the training scheme's mined pairs shuffled (degree-preserving edge swaps,
    # `mcgip_fast.mining.controls.shuffle_positives`, seed = archive_seed): the same number of positives
    # per image, none of the gaze information
    shuffled_control: bool = False
    controls_every_method: bool = False  # run the controls for every method, not only the headline one
    # k same-class positives from the labels for each method whose controls run (MoCo only, unless
    # controls_every_method): what perfect gaze could give (MoCo 0.69 vs 0.53 with gaze, benchmarks/README.md;
    # BYOL and SimSiam gain nothing even from these at 40 epochs); off by default to keep `make demo` with all
    # four methods within 15 minutes (it takes 12.7)
    oracle: bool = False
    epochs: int = 40
    image_size: int = 64
    # A small ResNet for small findings: one block per stage, a 3x3 stem with a 2x2 max-pool
    # (torchvision's 7x7/2 stem + pool erases dots a pixel or two across) and global max pooling
    # (average pooling dilutes a finding over the background). See benchmarks/README.md.
    backbone: str = "resnet10"
    stem: str = "small-pool"
    pool: str = "max"
    width: int = 8
    batch_size: int = 32
    queue_size: int = 256
    optimizer: str = "adam"
    lr: float = 3e-3
    moco_momentum: float = 0.99  # 0.999 barely moves the key encoder in a few hundred steps
    head_dim: int = 256  # BYOL / SimSiam projector size (papers: 256-4096 / 2048); 2048 dominates a tiny encoder's cost
    crop_min_scale: float = 0.5  # findings are small: keep them in view more often than the 0.2 of ImageNet recipes
    # McGIP's official averaging over all positive pairs of the batch; per-anchor averaging (SupCon's
    # L_out) gave no gain here with many noisy positives per anchor.
    loss_average: str = "batch"
    # The headline comparison (the first method's baseline and +McGIP) is pre-trained with every seed,
    # so its std includes pre-training variance; the other runs use the first seed unless
    # `all_runs_every_seed` (each run costs one to one and a half minutes on 2 cores). Two seeds keep
    # the four methods within 15 minutes (12.7 measured); `mcgip demo --full` runs five for every run.
    pretrain_seeds: tuple[int, ...] = (0, 1)
    all_runs_every_seed: bool = False
    # Reuse the record of a run finished earlier with the very same settings, data, pairs and code instead of
    # training it again (`mcgip_fast.report.records`); False trains and probes every run anew.
    reuse: bool = True
    train_options: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides for every run
    # TrainConfig overrides for one method's runs only (its baseline, +McGIP and controls, so every comparison
    # is at one recipe), applied after `train_options`, e.g. {"byol": {"gaze_memory": 256, "gaze_weight": 0.25}}.
    # `gaze_memory` is left out of baseline runs: the memory holds gaze positives only and a baseline has none
    # (TrainConfig refuses gaze_memory > 0 without gaze).
    method_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {m: dict(o) for m, o in METHOD_RECIPES.items()})
    # evaluation
    eval_seeds: tuple[int, ...] = (0, 1, 2)
    knn_k: int = 20
    # study
    study: bool = True
    study_repeats: int = 4
    # real photographs with real gaze (Saliency in Crowd; `mcgip_fast.report.crowd`): skipped with a note
    # when the data is not found. k = 62 is the synthetic archive's k / n (100 / 800) times 500 images.
    # One pre-training seed keeps `make demo` near 15 minutes; benchmarks/README.md has three.
    crowd: bool = True
    crowd_data: str | None = None
    crowd_k: int = 62
    crowd_pretrain_seeds: tuple[int, ...] = (0,)
    crowd_images: int | None = None  # first N images only (tests); None: all
    threads: int | None = None
    # Pre-training runs side by side, each in its own process (`mcgip_fast.report.runs`), with torch_threads
    # threads each (default: the cores shared out among them). On 2 cores, two 1-thread runs at a time take
    # about 0.65x the time of one 2-thread run after another. A run's numbers depend on its thread count, not
    # on how many run at once.
    parallel_runs: int = 2
    torch_threads: int | None = None
    progress: bool = False

    @classmethod
    def quick(cls, **overrides: Any) -> "DemoConfig":
        """A tiny run that exercises every stage in well under a minute (for tests)."""
        base = dict(
            n_images=96, epochs=1, width=4, batch_size=16, queue_size=32, image_size=32, k=3,
            score_sample=300, study_repeats=1, crowd=False,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def full(cls, **overrides: Any) -> "DemoConfig":
        """The issue's full test (`mcgip demo --full`): all four methods, 5 pre-training seeds for every run, the
        uninformative-gaze and shuffled-positives controls for every method; no oracle, study or crowd section.
        16 runs per pre-training seed, 80 in all (hours on 2 cores); finished runs are reused when it is run again."""
        base = dict(FULL)
        base.update(overrides)
        return cls(**base)

    def validate(self) -> "DemoConfig":
        for s in self.schemes:
            if s not in SCHEMES:
                raise ValueError(f"unknown mining scheme {s!r}; choose from {SCHEMES}")
        if self.train_scheme not in self.schemes:
            raise ValueError(f"train_scheme {self.train_scheme!r} must be one of the mined schemes {self.schemes}")
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
        if self.archive not in _archive_names():
            raise ValueError(f"unknown archive {self.archive!r}; choose from {_archive_names()}")
        from mcgip_fast.train.config import BACKBONE_NAMES, LOSS_AVERAGES, POOL_NAMES, STEM_NAMES

        for name, value, allowed in (("backbone", self.backbone, BACKBONE_NAMES), ("stem", self.stem, STEM_NAMES),
                                     ("pool", self.pool, POOL_NAMES), ("loss_average", self.loss_average, LOSS_AVERAGES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not self.eval_seeds:
            raise ValueError("at least one evaluation seed is needed")
        if not self.pretrain_seeds:
            raise ValueError("at least one pre-training seed is needed")
        if self.rule not in ("topk", "mutual"):
            raise ValueError(f"rule must be 'topk' or 'mutual', got {self.rule!r}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.mm_weights not in ("mcgip", "reader-invariant"):
            raise ValueError(f"mm_weights must be 'mcgip' or 'reader-invariant', got {self.mm_weights!r}")
        if isinstance(self.parallel_runs, bool) or not isinstance(self.parallel_runs, int) or self.parallel_runs < 1:
            raise ValueError(f"parallel_runs must be an integer >= 1, got {self.parallel_runs!r}")
        if self.torch_threads is not None and (isinstance(self.torch_threads, bool) or not isinstance(self.torch_threads, int)
                                               or self.torch_threads < 1):
            raise ValueError(f"torch_threads must be an integer >= 1 (or None), got {self.torch_threads!r}")
        self._validate_train_options()
        return self

    def _validate_train_options(self) -> None:
        """Check `train_options` and `method_options` now, not hours into a run: names, then every run's TrainConfig."""
        import dataclasses

        from mcgip_fast.train import TrainConfig

        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        groups = [("train_options", self.train_options)]
        for m, opts in self.method_options.items():
            if m not in METHODS:
                raise ValueError(f"method_options: unknown method {m!r}; choose from {METHODS}")
            if not isinstance(opts, dict):
                raise ValueError(f"method_options[{m!r}] must be a dict of TrainConfig options, got {opts!r}")
            groups.append((f"method_options[{m!r}]", opts))
        for where, opts in groups:
            unknown = sorted(set(opts) - fields)
            if unknown:
                raise ValueError(f"{where}: unknown TrainConfig options {unknown}")
            fixed = sorted(set(opts) & set(PER_RUN_FIELDS))
            if fixed:
                raise ValueError(f"{where}: {fixed} are set by the demo for each run")
        for m in self.methods:
            for use_gaze in (False, True):
                try:
                    train_config(self, "manifest.csv", "pairs.npz", m, use_gaze, 0, "runs").validate()
                except ValueError as e:
                    raise ValueError(f"{m} {'+McGIP' if use_gaze else 'baseline'} runs: {e}") from None

    @property
    def rule_name(self) -> str:
        return f"mutual top-{self.k}" if self.rule == "mutual" else f"top-{self.k}"

    @property
    def work_dir(self) -> Path:
        return Path(self.work) if self.work else Path(self.out) / "work"

    @property
    def archive_dir(self) -> Path:
        """Where the archive, its pairs and its runs go: the work folder for "mammo" (as before there was a
        choice), a subfolder named after the archive for the others, so two archives can share a work folder."""
        return self.work_dir if self.archive == "mammo" else self.work_dir / self.archive

    @property
    def control_methods(self) -> tuple[str, ...]:
        """The methods whose controls run: every method, or the headline one."""
        return tuple(self.methods) if self.controls_every_method else (headline_method(self),)


@dataclass
class RunRecord:
    """One pre-training run and its probe results."""

    name: str  # e.g. "moco baseline", "moco +McGIP"
    method: str
    gaze: bool
    pairs: str | None
    seed: int
    encoder_path: str
    losses: list[float]
    seconds: float
    eval_seconds: float
    results: pd.DataFrame  # evaluate_encoder rows plus the eval seed


@dataclass
class DemoResult:
    config: DemoConfig
    timings: list[tuple[str, float]] = field(default_factory=list)  # stages, one after the other (wall clock)
    # each run's own pre-training and probe times; with parallel_runs > 1 they overlap inside one stage
    run_timings: list[tuple[str, float]] = field(default_factory=list)
    archive_root: str = ""
    control_root: str | None = None
    checks: list[dict] = field(default_factory=list)
    mining: pd.DataFrame | None = None
    score_samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)
    study: Any = None
    crowd: Any = None  # `mcgip_fast.report.crowd.CrowdResult`
    notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ results
    def probe_rows(self) -> pd.DataFrame:
        """All probe results: one row per (run, pre-training seed, evaluation seed, probe)."""
        return probe_rows(self.runs)

    def probe_summary(self) -> pd.DataFrame:
        """Mean ± std of accuracy (and balanced accuracy, ROC-AUC) per (run, probe)."""
        rows = self.probe_rows()
        if rows.empty:
            return rows
        g = rows.groupby(["run", "probe"], sort=False)
        out = g[["accuracy", "balanced_accuracy", "roc_auc"]].agg(["mean", "std"])
        out.columns = [f"{a}_{b}" for a, b in out.columns]
        out["n"] = g.size()
        return out.reset_index()

    def comparisons(self, probe: str = "linear") -> pd.DataFrame:
        """+McGIP minus baseline per method (and the control), paired on (pre-training seed, eval seed)."""
        return paired_comparisons(self.probe_rows(), probe)

    def seed_table(self, probe: str = "linear") -> pd.DataFrame:
        """Per method: gains over pre-training seeds, the controls' gains and the issue's verdict (`seed_table`)."""
        return seed_table(self.probe_rows(), probe)

    def stage_seconds(self) -> float:
        return float(sum(s for _, s in self.timings))


def probe_rows(runs: list[RunRecord]) -> pd.DataFrame:
    """All probe results of `runs`: one row per (run, pre-training seed, evaluation seed, probe)."""
    parts = [r.results.assign(run=r.name, method=r.method, gaze=r.gaze, pretrain_seed=r.seed) for r in runs]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def paired_comparisons(rows: pd.DataFrame, probe: str = "linear") -> pd.DataFrame:
    """+McGIP minus baseline per method (and the control), paired on (pre-training seed, eval seed)."""
    out = []
    if rows.empty:
        return pd.DataFrame()
    rows = rows[rows["probe"] == probe]
    for method in dict.fromkeys(rows["method"]):
        base = rows[(rows["run"] == f"{method} baseline")].set_index(["pretrain_seed", "eval_seed"])["accuracy"]
        for run in dict.fromkeys(rows[(rows["method"] == method) & rows["gaze"]]["run"]):
            other = rows[rows["run"] == run].set_index(["pretrain_seed", "eval_seed"])["accuracy"]
            common = base.index.intersection(other.index)
            if len(common) == 0:
                continue
            diff = (other.loc[common] - base.loc[common]).to_numpy()
            b, o = base.loc[common].to_numpy(), other.loc[common].to_numpy()
            spread = max(np.std(b, ddof=1) if len(b) > 1 else 0.0, np.std(o, ddof=1) if len(o) > 1 else 0.0)
            gain = float(diff.mean())
            out.append(dict(
                method=method, run=run, probe=probe, baseline=float(b.mean()), baseline_std=float(np.std(b, ddof=1)) if len(b) > 1 else 0.0,
                mcgip=float(o.mean()), mcgip_std=float(np.std(o, ddof=1)) if len(o) > 1 else 0.0, gain=gain,
                paired_std=float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0, seed_std=float(spread),
                n=len(diff), beats=bool(gain > spread),
            ))
    return pd.DataFrame(out)


#: The issue's rule: +McGIP must gain on at least this share of the pre-training seeds (4 of 5).
POSITIVE_SHARE = 0.8
#: Fewer pre-training seeds than this give no seed std, so no verdict.
MIN_SEEDS = 2


def _seed_means(rows: pd.DataFrame, run: str) -> pd.Series:
    """A run's accuracy per pre-training seed, averaged over the evaluation seeds."""
    return rows[rows["run"] == run].groupby("pretrain_seed")["accuracy"].mean()


def _seed_comparison(base: pd.Series, other: pd.Series) -> dict[str, float]:
    """`other` minus `base`, paired on pre-training seed (each already averaged over evaluation seeds)."""
    common = base.index.intersection(other.index)
    b, o = base.loc[common].to_numpy(float), other.loc[common].to_numpy(float)
    n = len(common)
    std = (lambda x: float(np.std(x, ddof=1)) if n > 1 else float("nan"))
    diff = o - b
    return dict(n=n, baseline=float(b.mean()) if n else float("nan"), baseline_std=std(b),
                mcgip=float(o.mean()) if n else float("nan"), mcgip_std=std(o),
                gain=float(diff.mean()) if n else float("nan"), seed_std=max(std(b), std(o)) if n > 1 else float("nan"),
                positive=int((diff > 0).sum()))


def seed_table(rows: pd.DataFrame, probe: str = "linear") -> pd.DataFrame:
    """Per method, the issue's numbers: +McGIP and each control against the baseline over pre-training seeds.

    Each run's accuracy is first averaged over the evaluation seeds, then paired with the baseline's on the
    pre-training seed. ``seed_std`` is the larger of the two runs' standard deviations over pre-training seeds
    (the pre-training-seed std); ``positive_seeds`` counts the seeds whose paired gain is above 0. The controls
    (``uninformative_*``, ``shuffled_*``) are measured the same way against the same baseline; NaN and 0 seeds
    when a control did not run. ``verdict`` and ``verdict_reasons`` are `issue_criteria` of the row."""
    if rows.empty:
        return pd.DataFrame()
    rows = rows[rows["probe"] == probe]
    out = []
    for method in dict.fromkeys(rows["method"]):
        base = _seed_means(rows, f"{method} baseline")
        if base.empty or f"{method} +McGIP" not in set(rows["run"]):
            continue
        main = _seed_comparison(base, _seed_means(rows, f"{method} +McGIP"))
        row = dict(method=method, probe=probe, seeds=main["n"], baseline=main["baseline"], baseline_std=main["baseline_std"],
                   mcgip=main["mcgip"], mcgip_std=main["mcgip_std"], gain=main["gain"], seed_std=main["seed_std"],
                   positive_seeds=main["positive"])
        for control, suffix in (("uninformative", UNINFORMATIVE), ("shuffled", SHUFFLED)):
            c = _seed_comparison(base, _seed_means(rows, f"{method} +McGIP {suffix}"))
            row.update({f"{control}_gain": c["gain"], f"{control}_seed_std": c["seed_std"], f"{control}_seeds": c["n"]})
        verdict, reasons = issue_criteria(row)
        row.update(verdict=verdict, verdict_reasons="; ".join(reasons))
        out.append(row)
    return pd.DataFrame(out)


def issue_criteria(row, min_seeds: int = MIN_SEEDS, positive_share: float = POSITIVE_SHARE) -> tuple[str, list[str]]:
    """The issue's "done means" for one method on one archive: ("met" | "not met" | "incomplete", reasons).

    `row` has the fields of a `seed_table` row (a dict or a pandas row). The rule:

    1. +McGIP beats the baseline by more than the pre-training-seed std: ``gain > seed_std``;
    2. the paired gain is positive on at least `positive_share` of the pre-training seeds (4 of 5;
       ``positive_seeds >= 0.8 * seeds``);
    3. the gain disappears with uninformative gaze and with shuffled positives: for each control, its gain over
       the same baseline is not above its own pre-training-seed std (``<control>_gain <= <control>_seed_std``),
       i.e. the control does not pass test 1.

    Every comparison needs at least `min_seeds` pre-training seeds (a std needs two). "not met" when any test
    fails on the runs there are; else "incomplete" when a comparison is missing or has too few seeds; else "met".
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    failed, missing = [], []
    n = int(get("seeds", 0) or 0)
    if n < min_seeds:
        missing.append(f"{n} pre-training seed{'s' if n != 1 else ''} (needs {min_seeds})")
    else:
        gain, std = float(get("gain")), float(get("seed_std"))
        if not gain > std:
            failed.append(f"gain {gain:+.3f} not above seed std {std:.3f}")
        positive = int(get("positive_seeds", 0))
        if positive < positive_share * n - 1e-9:
            failed.append(f"positive on {positive} of {n} seeds (needs {int(np.ceil(positive_share * n - 1e-9))})")
    for control, what in (("uninformative", "uninformative gaze"), ("shuffled", "shuffled positives")):
        cn = get(f"{control}_seeds", 0)
        cn = 0 if cn is None or (isinstance(cn, float) and not np.isfinite(cn)) else int(cn)
        if cn < min_seeds:
            missing.append(f"{what} control on {cn} seed{'s' if cn != 1 else ''} (needs {min_seeds})")
            continue
        cgain, cstd = float(get(f"{control}_gain")), float(get(f"{control}_seed_std"))
        if cgain > cstd:
            failed.append(f"{what} still gains {cgain:+.3f} (above its seed std {cstd:.3f})")
    if failed:
        return "not met", failed + missing
    if missing:
        return "incomplete", missing
    return "met", []


@contextlib.contextmanager
def _stage(result: DemoResult, name: str, log: Callable[[str], None]) -> Iterator[None]:
    log(f"[demo] {name} ...")
    t0 = time.perf_counter()
    yield
    dt = time.perf_counter() - t0
    result.timings.append((name, dt))
    log(f"[demo] {name}: {dt:.1f} s")


def pair_precision(pairs, labels: np.ndarray) -> tuple[float, int]:
    """Share of mined (unordered) pairs whose two images have the same label, and the pair count."""
    rows, cols, _ = pairs.edges()
    keep = rows < cols if pairs.symmetric else np.ones(len(rows), dtype=bool)
    rows, cols = rows[keep], cols[keep]
    if len(rows) == 0:
        return float("nan"), 0
    return float(np.mean(labels[rows] == labels[cols])), int(len(rows))


def chance_precision(labels: np.ndarray) -> float:
    """Probability that two distinct random images share a label."""
    counts = np.bincount(np.asarray(labels))
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def oracle_pairs(ids: np.ndarray, labels: np.ndarray, k: int, seed: int):
    """k random same-class partners per image (a diagnostic upper bound: gaze that is never wrong)."""
    from mcgip_fast.mining.pairs import PositivePairs

    rng = np.random.default_rng(np.random.SeedSequence([seed, 31337]))
    rows, cols = [], []
    for i in range(len(labels)):
        same = np.flatnonzero(labels == labels[i])
        same = same[same != i]
        pick = rng.choice(same, size=min(k, len(same)), replace=False)
        rows += [i] * len(pick)
        cols += list(pick)
    return PositivePairs.from_edges(ids, np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.ones(len(rows)),
                                    params={"oracle": "same-class labels", "k": k})


def _scheme_options(scheme: str, cfg: DemoConfig) -> dict[str, Any]:
    # Heatmap schemes render square maps; the synthetic display is square, so nothing is distorted.
    if scheme == "multimatch" and cfg.mm_weights == "reader-invariant":
        return {"weights": "reader-invariant"}
    return {}


def _mining_input(archive, cfg: DemoConfig) -> tuple[Any, str]:
    """(gaze, aggregate) to mine: reader-invariant weights need the reader of every reading; with one
    reading per image, "all-pairs" over readings is exactly the plain image-level score."""
    if cfg.mm_weights == "reader-invariant" and archive.config.readers_per_image == 1:
        return archive.gaze(with_readers=True), "all-pairs"
    return archive.gaze(), "auto"


def _sample_scores(items, scheme: str, labels: np.ndarray, n: int, seed: int, cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """Scores of `n` random distinct pairs under `scheme`, and whether each pair is same-class."""
    from mcgip_fast.mining.schemes import make_scheme

    rng = np.random.default_rng(seed)
    m = len(labels)
    i = rng.integers(0, m, n)
    j = rng.integers(0, m - 1, n)
    j += j >= i
    sch = make_scheme(scheme, **_scheme_options(scheme, cfg))
    sch.bind(items)
    state = sch.prepare(items)
    scores = np.asarray(sch.score_pairs(state, i.astype(np.int64), j.astype(np.int64)), dtype=np.float64)
    return scores, labels[i] == labels[j]


def image_cache(manifest, cfg: DemoConfig) -> str:
    """Decode the manifest's images once (`mcgip prepare`), so no run decodes them again every epoch.

    The cache side is the images' own short side, capped at the size `mcgip prepare` suggests for the
    input size: the synthetic 64-px images are stored unresampled."""
    from PIL import Image

    from mcgip_fast.train.cache import default_cache_size, prepare_cache
    from mcgip_fast.train.data import read_manifest

    paths = read_manifest(manifest)["path"]
    with Image.open(paths.iloc[0]) as im:
        short = min(im.size)
    size = max(cfg.image_size, min(short, default_cache_size(cfg.image_size)))
    out = Path(manifest).with_name(Path(manifest).stem + f"_cache{size}")
    prepare_cache(manifest, out, size=size, workers=1, progress=False)
    return str(out)


def train_config(cfg: DemoConfig, manifest, pairs_path, method: str, use_gaze: bool, seed: int, out_dir, cache=None):
    """The demo's pre-training recipe (`DemoConfig`) as a `TrainConfig` for one run."""
    from mcgip_fast.train import TrainConfig

    options: dict[str, Any] = dict(cache=cache,
        manifest=str(manifest), pairs=str(pairs_path) if pairs_path else None, method=method, gaze=use_gaze,
        image_size=cfg.image_size, backbone=cfg.backbone, stem=cfg.stem, pool=cfg.pool,
        loss_average=cfg.loss_average, width=cfg.width, epochs=cfg.epochs, batch_size=cfg.batch_size,
        queue_size=cfg.queue_size, optimizer=cfg.optimizer, lr=cfg.lr, crop_min_scale=cfg.crop_min_scale,
        momentum=cfg.moco_momentum if method == "moco" else None,
        proj_dim=cfg.head_dim if method in ("byol", "simsiam") else None,
        hidden_dim=cfg.head_dim if method in ("byol", "simsiam") else None, seed=int(seed), device="cpu",
        out_dir=str(out_dir), progress=cfg.progress, checkpoint_every=10**9,
    )
    extra = {**cfg.train_options, **cfg.method_options.get(method, {})}
    if not use_gaze:
        # The gaze memory holds the targets of gaze positives only; a baseline has none (and TrainConfig refuses
        # gaze_memory > 0 without gaze), so the baseline of a method with a memory is the method without one.
        extra.pop("gaze_memory", None)
    options.update(extra)
    return TrainConfig(**options)


def _evaluate(encoder_path: Path, manifest: Path, labels: Path, cfg: DemoConfig) -> pd.DataFrame:
    """Linear and kNN probes; each evaluation seed draws its own stratified 70/30 split."""
    from mcgip_fast.eval import evaluate_encoder

    parts = []
    for s in cfg.eval_seeds:
        df = evaluate_encoder(
            encoder_path, manifest, labels=labels, probes=("linear", "knn"), seeds=(int(s),), split_seed=int(s),
            image_size=cfg.image_size, knn_k=(cfg.knn_k,), device="cpu",
        )
        parts.append(df.assign(eval_seed=int(s)))
    out = pd.concat(parts, ignore_index=True)
    out["probe"] = out["probe"].str.replace(f"knn@{cfg.knn_k}", "knn", regex=False)
    return out


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> DemoResult:
    """Run every stage of the demo (see the module docs) and return what it found."""
    cfg.validate()
    result = DemoResult(cfg)
    work = cfg.archive_dir
    work.mkdir(parents=True, exist_ok=True)
    archive, control = _generate_archives(cfg, result, work, log)  # 1
    _check_archives(cfg, result, archive, control, log)
    pairs = _mine_pairs(cfg, result, archive, control, work, log)  # 2
    plans = _plan_runs(cfg, archive, control, pairs, work)  # 3
    _train_and_evaluate(cfg, result, archive, plans, work, log)  # 3 + 4
    _run_study(cfg, result, log)  # 5
    _run_crowd(cfg, result, cfg.work_dir, log)  # 6
    return result


# -------------------------------------------------------------------------------- 1. archive
def _generate_archives(cfg: DemoConfig, result: DemoResult, work: Path, log: Callable[[str], None]):
    """The archive and, with the control, its twin with uninformative gaze (same images); reused when unchanged."""
    from mcgip_fast.synth import GENERATORS, SynthArchive

    config_class, generate = GENERATORS[cfg.archive]
    with _stage(result, "generate archive" + ("" if cfg.archive == "mammo" else f" ({cfg.archive})"), log):
        scfg = config_class(n_images=cfg.n_images, size=cfg.image_px, informativeness=cfg.informativeness, seed=cfg.archive_seed)
        archive = _fresh(work / "archive", scfg, generate, SynthArchive)
        control = None
        if cfg.control:
            control = _fresh(work / "archive_uninformative", replace(scfg, informativeness=0.0), generate, SynthArchive)
    result.archive_root = str(archive.root)
    result.control_root = str(control.root) if control else None
    return archive, control


def _check_archives(cfg: DemoConfig, result: DemoResult, archive, control, log: Callable[[str], None]) -> None:
    """Can trivial features (raw pixels, global statistics, gaze statistics) tell the classes apart?"""
    from mcgip_fast.synth.checks import gaze_feature_probe, global_stats_probe, raw_pixel_probe

    with _stage(result, "archive checks (probes on pixels and gaze)", log):
        for arch, tag in ((archive, f"informativeness {cfg.informativeness:g}"), (control, "informativeness 0")):
            if arch is None:
                continue
            probes = [gaze_feature_probe(arch)]
            if arch is archive:
                probes = [raw_pixel_probe(arch), global_stats_probe(arch)] + probes
            for p in probes:
                result.checks.append(dict(archive=tag, probe=p.name, accuracy=p.accuracy, accuracy_std=p.accuracy_std,
                                          chance=p.chance, n=p.n, folds=p.folds))


# --------------------------------------------------------------------------------- 2. mining
@dataclass
class MinedPairs:
    """The pairs files of the mining stage."""

    schemes: dict[str, Path]  # scheme -> pairs mined from the archive's gaze
    uninformative: Path | None = None  # the training scheme's pairs mined from the uninformative twin
    shuffled: Path | None = None  # the training scheme's pairs after a degree-preserving shuffle


def _mining_row(archive: str, scheme: str, cfg: DemoConfig, pairs, labels: np.ndarray, chance: float, seconds: float) -> dict:
    prec, n_pairs = pair_precision(pairs, labels)
    return dict(archive=archive, scheme=scheme, rule=cfg.rule_name, pairs=n_pairs, precision=prec, chance=chance,
                lift=prec / chance if chance else float("nan"), seconds=seconds, mean_degree=float(pairs.degrees().mean()))


def _mine_pairs(cfg: DemoConfig, result: DemoResult, archive, control, work: Path, log: Callable[[str], None]) -> MinedPairs:
    """Mine with every scheme (and the training scheme on the uninformative twin); precision against the labels."""
    from mcgip_fast.mining import mine

    labels = archive.labels()["label"].to_numpy()
    gaze, aggregate = _mining_input(archive, cfg)
    mined = MinedPairs({})
    rows = []
    chance = chance_precision(labels)
    for scheme in cfg.schemes:
        with _stage(result, f"mine ({scheme})", log):
            t0 = time.perf_counter()
            pairs = mine(gaze, scheme, cfg.rule, k=cfg.k, scheme_options=_scheme_options(scheme, cfg) or None,
                         threads=cfg.threads, progress=cfg.progress, aggregate=aggregate)
            dt = time.perf_counter() - t0
            mined.schemes[scheme] = pairs.save(work / f"pairs_{scheme}.npz")
            if "weight_fit" in pairs.params:
                w = ", ".join(f"{v:.3f}" for v in pairs.params["weights"])
                result.notes.append(f"MultiMatch weights fitted reader-invariant (no labels) on the archive's gaze: ({w}) for "
                                    f"(vector, direction, length, position, duration)")
                log(f"[demo] {result.notes[-1]}")
            rows.append(_mining_row("informative", scheme, cfg, pairs, labels, chance, dt))
            if cfg.score_sample:
                result.score_samples[scheme] = _sample_scores(gaze, scheme, labels, cfg.score_sample, cfg.archive_seed, cfg)
    if control is not None:
        with _stage(result, f"mine ({cfg.train_scheme}, uninformative twin)", log):
            t0 = time.perf_counter()
            control_gaze, control_aggregate = _mining_input(control, cfg)
            pairs = mine(control_gaze, cfg.train_scheme, cfg.rule, k=cfg.k, aggregate=control_aggregate,
                         scheme_options=_scheme_options(cfg.train_scheme, cfg) or None, threads=cfg.threads)
            dt = time.perf_counter() - t0
            mined.uninformative = pairs.save(work / f"pairs_{cfg.train_scheme}_uninformative.npz")
            rows.append(_mining_row("uninformative", cfg.train_scheme, cfg, pairs, labels, chance, dt))
    if cfg.shuffled_control:
        from mcgip_fast.mining.controls import shuffle_positives
        from mcgip_fast.mining.pairs import PositivePairs

        with _stage(result, f"shuffle positives ({cfg.train_scheme}, degree-preserving)", log):
            t0 = time.perf_counter()
            pairs = shuffle_positives(PositivePairs.load(mined.schemes[cfg.train_scheme]), seed=cfg.archive_seed)
            dt = time.perf_counter() - t0
            mined.shuffled = pairs.save(work / f"pairs_{cfg.train_scheme}_shuffled.npz")
            rows.append(_mining_row("shuffled", cfg.train_scheme, cfg, pairs, labels, chance, dt))
    result.mining = pd.DataFrame(rows)
    return mined


# ------------------------------------------------------------------------------- 3. planning
@dataclass
class RunPlan:
    """One pre-training run to do (for each of `seeds`)."""

    name: str
    method: str
    gaze: bool
    pairs: Path | None
    manifest: Path
    seeds: tuple[int, ...]

    @property
    def tag(self) -> str:
        """The run's folder name stem (work/runs/<tag>_seed<seed>)."""
        return self.name.replace(" ", "_").replace("+", "").replace("(", "").replace(")", "")


def headline_method(cfg: DemoConfig) -> str:
    """The method of the headline comparison, the control and the oracle: MoCo if it runs, else the first."""
    return "moco" if "moco" in cfg.methods else cfg.methods[0]


def _plan_runs(cfg: DemoConfig, archive, control, mined: MinedPairs, work: Path) -> list[RunPlan]:
    """Every run: each method's baseline and +McGIP, the controls and the oracles (for the methods whose controls
    run); which pre-training seeds each gets."""
    first = headline_method(cfg)
    plans: list[tuple[str, str, bool, Path | None, Path]] = []
    for method in cfg.methods:
        plans.append((f"{method} baseline", method, False, None, archive.manifest_path))
        plans.append((f"{method} +McGIP", method, True, mined.schemes[cfg.train_scheme], archive.manifest_path))
    for method in cfg.control_methods:
        if mined.uninformative is not None:
            plans.append((f"{method} +McGIP {UNINFORMATIVE}", method, True, mined.uninformative, control.manifest_path))
        if mined.shuffled is not None:
            plans.append((f"{method} +McGIP {SHUFFLED}", method, True, mined.shuffled, archive.manifest_path))
    if cfg.oracle:
        labels = archive.labels()["label"].to_numpy()
        oracle_path = oracle_pairs(archive.manifest()["image_id"].to_numpy(), labels, cfg.k, cfg.archive_seed).save(
            work / "pairs_oracle_labels.npz")
        # per control method: "even perfect positives do not help BYOL at this budget" is the diagnosis a
        # user needs before doubting the implementation (benchmarks/README.md, issue 12, fifth session)
        for method in cfg.control_methods:
            plans.append((f"{method} +oracle positives (labels)", method, True, oracle_path, archive.manifest_path))
    headline = {f"{first} baseline", f"{first} +McGIP"}
    seeds = tuple(int(s) for s in cfg.pretrain_seeds)
    return [RunPlan(name, method, use_gaze, pairs_path, manifest,
                    seeds if cfg.all_runs_every_seed or name in headline else seeds[:1])
            for name, method, use_gaze, pairs_path, manifest in plans]


# ------------------------------------------------------------------ 3 + 4. training, probes
def _train_and_evaluate(cfg: DemoConfig, result: DemoResult, archive, plans: list[RunPlan], work: Path,
                        log: Callable[[str], None]) -> None:
    """Pre-train every planned run (seed by seed, so the first seed of every run comes first) and probe it,
    `cfg.parallel_runs` at a time (`mcgip_fast.report.runs`).

    A run whose record (`mcgip_fast.report.records`) says it was finished with the very same settings, data,
    pairs, thread count and code is reused instead (unless `cfg.reuse` is off); the log says how many were.
    Each record is written as soon as its run finishes, so a stopped demo loses only the runs in flight."""
    from mcgip_fast.report import records
    from mcgip_fast.report.runs import RunJob, effective_threads, run_jobs

    with _stage(result, "prepare image caches", log):
        caches = {m: image_cache(m, cfg) for m in {p.manifest for p in plans}}
        data = {m: records.data_fingerprint(m) for m in {p.manifest for p in plans} | {archive.manifest_path}}
        pairs = {p.pairs: records.pairs_fingerprint(p.pairs) for p in plans}
        labels = records.file_fingerprint(archive.labels_path)
    threads = effective_threads(cfg)
    slots: list[RunRecord | None] = []  # plan order, so the report never depends on which run finished first
    todo: list[tuple[int, RunPlan, int, Path, dict, Any]] = []
    for seed in cfg.pretrain_seeds:
        for plan in plans:
            if seed not in plan.seeds:
                continue
            run_dir = work / "runs" / f"{plan.tag}_seed{seed}"
            tcfg = train_config(cfg, plan.manifest, plan.pairs, plan.method, plan.gaze, seed, run_dir, cache=caches[plan.manifest])
            key = records.run_key(plan.name, tcfg, data=data[plan.manifest], pairs=pairs[plan.pairs],
                                  eval_data=data[archive.manifest_path], labels=labels, eval_seeds=cfg.eval_seeds,
                                  knn_k=cfg.knn_k, image_size=cfg.image_size, torch_threads=threads)
            record = records.load(run_dir, key) if cfg.reuse else None
            if record is not None:
                log(f"[demo] reuse {plan.name} (seed {seed}): finished earlier with the same settings ({run_dir / records.RECORD})")
            else:
                records.clear(run_dir)
                todo.append((len(slots), plan, seed, run_dir, key, tcfg))
            slots.append(record)
    total, reused = len(slots), len(slots) - len(todo)
    if todo:
        jobs = [RunJob(tcfg, archive.manifest_path, archive.labels_path) for *_, tcfg in todo]
        at_once = min(cfg.parallel_runs, len(jobs))
        with _stage(result, f"pre-train and probe {len(jobs)} runs ({at_once} at a time, {threads} torch thread"
                            f"{'s' if threads != 1 else ''} each)", log):
            for i, out in run_jobs(jobs, cfg):
                slot, plan, seed, run_dir, key, _ = todo[i]
                record = RunRecord(plan.name, plan.method, plan.gaze, str(plan.pairs) if plan.pairs else None, int(seed),
                                   out.encoder_path, out.losses, out.train_seconds, out.eval_seconds, out.results)
                records.save(run_dir, key, record)
                slots[slot] = record
                result.run_timings.append((f"pre-train {plan.name} (seed {seed})", out.train_seconds))
                result.run_timings.append((f"evaluate {plan.name} (seed {seed})", out.eval_seconds))
                log(f"[demo] {plan.name} (seed {seed}): pre-trained in {out.train_seconds:.1f} s, probed in "
                    f"{out.eval_seconds:.1f} s")
    result.runs.extend(r for r in slots if r is not None)
    log(f"[demo] runs: {total - reused} trained, {reused} of {total} reused from earlier records")
    if reused:
        result.notes.append(f"{reused} of {total} runs were reused from records of an earlier demo with the same settings, "
                            "data, pairs and code (work/runs/*/record.json); their times are those of the earlier run and "
                            "are not in the timings. Run with --no-reuse to train every run anew.")


# ------------------------------------------------------------------------ 5, 6. real data
def _run_study(cfg: DemoConfig, result: DemoResult, log: Callable[[str], None]) -> None:
    """Gaze similarity on the embedded studyforrest sample (`mcgip_fast.report.study`)."""
    if not cfg.study:
        return
    from mcgip_fast.report.study import run_study

    with _stage(result, "real-data study (studyforrest)", log):
        result.study = run_study(repeats=cfg.study_repeats, threads=cfg.threads)


def _run_crowd(cfg: DemoConfig, result: DemoResult, work: Path, log: Callable[[str], None]) -> None:
    """Real images with real gaze (`mcgip_fast.report.crowd`); a note when the data is not found."""
    if not cfg.crowd:
        return
    from mcgip_fast.report.crowd import find_crowd_data, run_crowd

    if find_crowd_data(cfg.crowd_data) is None:
        result.notes.append("crowd section skipped: the Saliency in Crowd data was not found (crowd_data, "
                            "$MCGIP_CROWD_DATA or ../shared/data/crowd beside the repository)")
    else:
        result.crowd = run_crowd(cfg, work / "crowd", log, stage=lambda name: _stage(result, name, log))


def _fresh(root: Path, scfg, generate, SynthArchive):
    """Reuse an archive generated earlier with the very same config, else generate it anew."""
    if (root / "meta.json").exists():
        try:
            existing = SynthArchive.open(root)
            if existing.config == scfg:
                return existing
        except (ValueError, FileNotFoundError, TypeError):
            pass
    return generate(root, scfg, overwrite=True)


def config_dict(cfg: DemoConfig) -> dict[str, Any]:
    d = asdict(cfg)
    return json.loads(json.dumps(d, default=str))

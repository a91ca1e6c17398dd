"""Real-data study: does a gaze similarity find the scanpath of another viewer on the same scene?

The embedded studyforrest sample has two viewers watching the same 30 movie segments. A good
gaze similarity ranks the other viewer's scanpath on the same segment above every scanpath on
another segment. For each measure we report, over all 60 scanpaths:

* **retrieval top-1**: for each scanpath (query), is the highest-scoring of the 59 others the
  other viewer on the same segment? Ties at the top count fractionally (the expected top-1 under
  a random tie-break), so a constant score gets chance, 1/59.
* **ROC-AUC** of "same segment" over all 1770 unordered pairs (30 positives).

Measures (all similarities, higher = more alike): the five MultiMatch dimensions, their mean and
McGIP's weighting, MultiMatch after grouping, McGIP's Hu-moment score and OpenCV's matchShapes
(I1-I3) on gaze maps, dHash on gaze maps (Hamming and McGIP's bit cosine), and the Pearson
correlation of gaze maps. Everything except the map correlation runs in mcgip_fast's Rust kernels.

Then combinations fitted on *training segments only* and scored on held-out segments
(repeated K-fold over segments): MultiMatch with fitted weights, a logistic regression over all
measures, and the best training measure, picked on training segments (the honest baseline to
beat). The proposed score is ``logistic_csls``, named in advance (`PROPOSED`); the other
combinations are shown for context. Fitting never sees a held-out segment: training pairs are those with both scanpaths in
training segments; each held-out scanpath is then a query against all 59 others.

Scale: memory is O(N^2 x measures) (the measures' N x N matrices, N <= `MAX_STUDY_N`); a fold
evaluates combinations only on the pairs it scores, and fits on at most `MAX_FIT_PAIRS` training
pairs (the weight grid on `MAX_GRID_PAIRS`), so the embedded sample is fitted on all of them.
The metrics live in `mcgip_fast.report.agreement`, shared with `mcgip inspect`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from mcgip_fast.gaze.archive import GazeArchive
from mcgip_fast.report.agreement import (  # noqa: F401  (re-exported: the study's public metrics)
    auc,
    auc_rows,
    clean_scores,
    hub_correct_at,
    hub_corrected,
    hub_means,
    pair_auc,
    retrieval_top1,
    RankedScores,
    top1_of_rows,
    upper_pairs,
)

#: McGIP's MultiMatch weights (vector, direction, length, position, duration).
MCGIP_MM_WEIGHTS = (0.1, 0.1, 0.1, 0.1, 0.6)
#: multimatch-gaze's own MATLAB comparison settings for studyforrest (TDir, TDur s, TAmp px).
GROUPING = dict(tdir=45.0, tdur=0.3, tamp=146.8)
#: The combined score we propose, named before the held-out comparison: a learned combination of
#: hub-corrected measures. The verdict compares it (not the best combination in hindsight).
PROPOSED = "logistic_csls"
#: Gaze-map sigmas (map pixels per 128 map columns) that `map_corr_csls` picks from on training segments.
MAP_SIGMAS = (2.0, 4.0, 6.0, 8.0, 12.0)
#: Largest set the study accepts: it keeps dense N x N matrices (one per measure), fine for a study sample only.
MAX_STUDY_N = 2000
#: Training pairs a fold fits on (weight grid, logistic regressions): all of them up to this many,
#: else every same-image training pair plus a uniform sample of the others (seeded per fold).
MAX_FIT_PAIRS = 20_000
#: Pairs the MultiMatch weight grid (1001 weight vectors) is scored on: every same-image fitting pair
#: plus the first of a fold's shuffled other fitting pairs up to this many (all of them in small studies).
MAX_GRID_PAIRS = 5_000


# --------------------------------------------------------------------------- metrics
# The metrics live in `mcgip_fast.report.agreement` (shared with `mcgip inspect`); re-exported here.
_clean = clean_scores


# --------------------------------------------------------------------------- measures
@dataclass
class Measure:
    """One similarity matrix and where it comes from."""

    name: str
    family: str
    scores: np.ndarray
    seconds: float
    description: str


def _default_map_shape(archive: GazeArchive) -> tuple[int, int]:
    w, h = archive.screen or (1280.0, 720.0)
    return (max(8, int(round(h / 10))), max(8, int(round(w / 10))))


def gaze_maps(archive: GazeArchive, shape: tuple[int, int] | None = None, sigma: float | None = None) -> np.ndarray:
    """Duration-weighted Gaussian gaze maps (peak 1), a tenth of the screen's size by default
    (sigma default: the longer side / 32)."""
    from mcgip_fast.gaze.heatmaps import render_heatmaps

    return render_heatmaps(archive, shape or _default_map_shape(archive), sigma)


def _timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def multimatch_measures(archive: GazeArchive, threads: int | None = None) -> list[Measure]:
    """The five MultiMatch dimensions, their mean, McGIP's weighting, and the grouped mean."""
    from mcgip_fast.similarity.multimatch import DIMENSIONS, multimatch_matrix

    mm, dt = _timed(lambda: multimatch_matrix(archive, threads=threads))
    out = [
        Measure(f"mm_{d}", "MultiMatch", mm[:, :, k], dt / 5, f"MultiMatch {d} (no grouping)")
        for k, d in enumerate(DIMENSIONS)
    ]
    out.append(Measure("mm_mean", "MultiMatch", mm.mean(axis=2), 0.0, "mean of the 5 MultiMatch dimensions"))
    out.append(
        Measure("mm_mcgip", "MultiMatch", mm @ np.asarray(MCGIP_MM_WEIGHTS), 0.0, "McGIP weights 0.1 x 4 + 0.6 duration")
    )
    g, dtg = _timed(lambda: multimatch_matrix(archive, grouping=True, threads=threads, **GROUPING))
    out.append(
        Measure(
            "mm_grouped_mean", "MultiMatch", g.mean(axis=2), dtg,
            "mean of the 5 dimensions after grouping (TDir 45, TDur 0.3 s, TAmp 146.8 px)",
        )
    )
    return out


def hu_measures(maps: np.ndarray, threads: int | None = None) -> list[Measure]:
    """McGIP's Hu-moment score (8-bit maps, as its code reads them) and OpenCV's matchShapes
    I1-I3 (as 1 / (1 + distance)) on peak-normalised gaze maps."""
    from mcgip_fast.similarity import dhash as dh
    from mcgip_fast.similarity import hu

    out = []
    u8 = dh.to_uint8(maps, "max")
    feats, dt_f = _timed(lambda: hu.mcgip_hu_features(u8, threads=threads))
    s, dt = _timed(lambda: hu.mcgip_hu_similarity(feats, threads=threads))
    out.append(Measure("hu_mcgip", "Hu moments", np.asarray(s, np.float64), dt_f + dt, "McGIP: M00 and Hu1 of 32x32 8-bit maps, w = 0.5"))
    moments, dt_m = _timed(lambda: hu.hu_moments(maps, normalise="max", threads=threads))
    for method in ("I1", "I2", "I3"):
        d, dt = _timed(lambda: hu.match_shapes(moments, method=method, threads=threads))
        d = np.asarray(d, np.float64)
        if method == "I3":  # asymmetric in OpenCV; score each pair the way round that is more alike
            d = np.minimum(d, d.T)
        out.append(
            Measure(f"hu_{method}", "Hu moments", 1.0 / (1.0 + d), dt_m + dt, f"OpenCV matchShapes {method} on gaze maps, as 1 / (1 + d)")
        )
    return out


def dhash_measures(maps: np.ndarray, threads: int | None = None) -> list[Measure]:
    """dHash (imagehash's) of 8-bit gaze maps: 1 - Hamming / bits, and McGIP's bit cosine."""
    from mcgip_fast.similarity import dhash as dh

    codes, dt_c = _timed(lambda: dh.dhash(maps, threads=threads))
    ham, dt_h = _timed(lambda: dh.hamming(codes, threads=threads))
    cos, dt_cos = _timed(lambda: dh.bit_cosine(codes, threads=threads))
    bits = codes.shape[1] * 8
    return [
        Measure("dhash_hamming", "dHash", 1.0 - np.asarray(ham, np.float64) / bits, dt_c + dt_h, "dHash of gaze maps, 1 - Hamming / bits"),
        Measure("dhash_cosine", "dHash", np.asarray(cos, np.float64), dt_c + dt_cos, "dHash of gaze maps, McGIP's bit cosine"),
    ]


def map_correlation(maps: np.ndarray) -> np.ndarray:
    """Pearson correlation between flattened gaze maps (N, N)."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(flat, axis=1)
    norm[norm == 0] = np.inf
    flat /= norm[:, None]
    return flat @ flat.T


def compute_measures(archive: GazeArchive, maps: np.ndarray | None = None, threads: int | None = None) -> tuple[list[Measure], list[str]]:
    """Every single measure on `archive`, plus notes on any family that could not run."""
    if len(archive) > MAX_STUDY_N:
        raise ValueError(
            f"the study builds dense N x N matrices and is for samples of up to {MAX_STUDY_N} scanpaths; "
            f"this archive has {len(archive)}. Mine pairs with mcgip_fast.mining instead."
        )
    notes: list[str] = []
    measures = multimatch_measures(archive, threads)
    if maps is None:
        maps, dt = _timed(lambda: gaze_maps(archive))
    else:
        dt = 0.0
    for fam in (hu_measures, dhash_measures):
        try:
            measures.extend(fam(maps, threads))
        except (ImportError, AttributeError) as e:  # a kernel family not built into this install
            notes.append(f"{fam.__name__.replace('_measures', '')} measures skipped: {e}")
    corr, dtc = _timed(lambda: map_correlation(maps))
    measures.append(Measure("map_corr", "gaze maps", corr, dt + dtc, "Pearson correlation of duration-weighted gaze maps"))
    return measures, notes


# --------------------------------------------------------------------------- combinations
def _simplex_grid(k: int, step: float) -> np.ndarray:
    n = int(round(1 / step))
    pts = [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]
    return np.asarray(pts, dtype=np.float64) / n


#: A score defined on any pairs: ``score(i, j)`` -> the similarities of pairs (i[k], j[k]).
PairScore = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Standardised:
    """Features standardised on the fitting pairs (NaN -> the fitting minimum), evaluated on any pairs.

    Holds only per-feature constants, never a pairs x features array beyond the pairs asked for."""

    def __init__(self, features: list[PairScore], ti: np.ndarray, tj: np.ndarray) -> None:
        self.features = features
        self.consts = []
        for f in features:
            vals = f(ti, tj)
            vals = vals[np.isfinite(vals)]
            lo = vals.min() if len(vals) else 0.0
            mu, sd = (vals.mean(), vals.std()) if len(vals) else (0.0, 1.0)
            self.consts.append((lo, mu, sd if sd > 0 else 1.0))

    def __call__(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        cols = []
        for f, (lo, mu, sd) in zip(self.features, self.consts):
            v = np.array(f(i, j), dtype=np.float64)
            v[~np.isfinite(v)] = lo
            cols.append((v - mu) / sd)
        return np.stack(cols, axis=1)


def _positives_and_sample(positive: np.ndarray, cap: int, seed: list[int]) -> np.ndarray:
    """Positions to fit on: all of them up to `cap`, else every positive plus a seeded uniform
    sample of the others, `cap` in all, in their original order."""
    idx = np.arange(len(positive))
    if len(idx) <= cap:
        return idx
    pos, rest = idx[positive], idx[~positive]
    take = np.random.default_rng(seed).choice(len(rest), size=max(0, cap - len(pos)), replace=False)
    return np.sort(np.concatenate([pos, rest[take]]))


class _Fold:
    """One held-out fold over the study's pairs: which items are held out, which pairs the fits see."""

    def __init__(self, pairs: "_StudyPairs", test_items: np.ndarray, seed: tuple[int, ...]) -> None:
        self.pairs = pairs
        self.test = test_items
        is_test = np.zeros(pairs.n, dtype=bool)
        is_test[test_items] = True
        self.train_mask = ~is_test[pairs.i] & ~is_test[pairs.j]
        self.held_mask = ~self.train_mask  # pairs with at least one held-out item
        fit = np.flatnonzero(self.train_mask)
        fit = fit[_positives_and_sample(pairs.same[fit], MAX_FIT_PAIRS, list(seed))]
        self.fit = fit
        self.ti, self.tj, self.y_fit = pairs.i[fit], pairs.j[fit], pairs.same[fit]
        grid = _positives_and_sample(self.y_fit, MAX_GRID_PAIRS, [*seed, 1])
        self.grid_pairs = grid  # positions in the fitting pairs
        self.category = self.held_mask.astype(np.int8)  # 0: training pair, 1: has a held-out item

    def metrics(self, score: PairScore) -> tuple[float, float]:
        """(top-1 over the held-out queries against all items, AUC over pairs with a held-out item)."""
        p = self.pairs
        held = np.flatnonzero(self.held_mask)
        a = auc(score(p.i[held], p.j[held]), p.same[held])
        return self.top1(lambda q: score(np.repeat(q, p.n), np.tile(np.arange(p.n), len(q))).reshape(len(q), p.n)), a

    def top1(self, rows: Callable[[np.ndarray], np.ndarray]) -> float:
        """Mean top-1 of the held-out queries; `rows(q)` gives their (len(q), N) score rows."""
        step = max(1, (1 << 20) // max(1, self.pairs.n))
        vals = np.concatenate([
            top1_of_rows(rows(self.test[a:a + step]), self.test[a:a + step], self.pairs.groups)
            for a in range(0, len(self.test), step)
        ])
        vals = vals[np.isfinite(vals)]
        return float(np.mean(vals)) if len(vals) else float("nan")


class _StudyPairs:
    """Every unordered pair (i < j) of the study's items and whether it is same-image; fixed scores
    are sorted over these pairs once (`ranked`), so each fold's AUCs need no sort."""

    def __init__(self, groups: np.ndarray) -> None:
        self.groups = np.asarray(groups)
        self.n = len(self.groups)
        self.i, self.j = upper_pairs(self.n)
        self.same = self.groups[self.i] == self.groups[self.j]

    def ranked(self, scores) -> RankedScores:
        """`scores` (an N x N matrix, or a pair score function) over every pair, sorted once."""
        values = scores(self.i, self.j) if callable(scores) else scores[self.i, self.j]
        return RankedScores(values, self.same)


def held_out_study(
    measures: list[Measure],
    groups: np.ndarray,
    *,
    map_variants: dict[float, np.ndarray] | None = None,
    folds: int = 5,
    repeats: int = 4,
    seed: int = 0,
) -> pd.DataFrame:
    """Repeated K-fold over groups (segments): fit on training groups, score held-out queries.

    Candidates fitted on training groups only:

    * ``best_single_on_train``: the single measure with the best training AUC (the baseline);
    * ``mm_weighted_fit``: MultiMatch with weights (simplex grid, step 0.1) maximising training AUC;
    * ``logistic_all``: logistic regression over all single measures (standardised on training pairs);
    * ``map_corr_csls``: gaze-map correlation with the map sigma picked on training AUC from
      `map_variants` ({sigma: correlation matrix}), then hub-corrected (`hub_corrected`);
    * ``logistic_csls``: logistic regression over the hub-corrected single measures.

    The logistic regressions fit on at most `MAX_FIT_PAIRS` training pairs and the weight grid is
    scored on at most `MAX_GRID_PAIRS` of those (every same-group training pair plus a seeded
    uniform sample of the others; all of them in small studies such as the embedded sample); the
    "best single" and sigma choices use every training pair. Memory stays
    O(N^2 x measures): scores are evaluated on the pairs a fold needs, never on pairs x grid.

    Returns one row per (repeat, fold, measure): top1 over the fold's held-out queries (against
    all other items) and auc over pairs with at least one held-out item.
    """
    from sklearn.linear_model import LogisticRegression

    groups = np.asarray(groups)
    uniq = np.unique(groups)
    if folds < 2 or folds > len(uniq):
        raise ValueError(f"folds must be between 2 and the number of groups ({len(uniq)}), got {folds}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    pairs = _StudyPairs(groups)
    names = [m.name for m in measures]
    dim_names = ("mm_vector", "mm_direction", "mm_length", "mm_position", "mm_duration")
    mm_dims = [names.index(d) for d in dim_names if d in names]
    grid = _simplex_grid(len(mm_dims), 0.1) if len(mm_dims) == len(dim_names) else None
    ranked = [pairs.ranked(m.scores) for m in measures]
    raw = [(lambda i, j, s=m.scores: s[i, j]) for m in measures]
    hubs = [hub_means(m.scores) for m in measures]
    csls = [(lambda i, j, s=m.scores, r=r: hub_correct_at(s, r, i, j)) for m, r in zip(measures, hubs)]
    map_csls = {}  # sigma -> (pair score, its ranks over all pairs)
    for sig, c in (map_variants or {}).items():
        f = (lambda i, j, s=c, r=hub_means(c): hub_correct_at(s, r, i, j))
        map_csls[sig] = (f, pairs.ranked(f))
    mm_stack = (lambda i, j: np.stack([np.nan_to_num(measures[k].scores[i, j], nan=0.0) for k in mm_dims], axis=1))
    rng = np.random.default_rng(seed)
    rows = []
    for rep in range(repeats):
        perm = rng.permutation(uniq)
        for f in range(folds):
            test_groups = perm[f::folds]
            fold = _Fold(pairs, np.flatnonzero(np.isin(groups, test_groups)), seed=(seed, rep, f))

            def record(name: str, kind: str, top1: float, auc_: float, picked: str | None = None) -> None:
                rows.append(dict(repeat=rep, fold=f, measure=name, kind=kind, picked=picked, top1=top1, auc=auc_))

            single, train_aucs = {}, {}
            for m, r in zip(measures, ranked):
                train_aucs[m.name], held_auc = r.auc(fold.category, 2)
                single[m.name] = (fold.top1(lambda q, s=m.scores: s[q]), held_auc)
                record(m.name, "single", *single[m.name])
            best = max(names, key=lambda k: train_aucs[k])
            record("best_single_on_train", "selected", *single[best], best)

            if grid is not None:
                g = fold.grid_pairs
                x_fit = mm_stack(fold.ti[g], fold.tj[g])
                w = grid[int(np.argmax(auc_rows(grid @ x_fit.T, fold.y_fit[g])))]
                record("mm_weighted_fit", "combined", *fold.metrics(lambda i, j, w=w: mm_stack(i, j) @ w),
                       ",".join(f"{v:.1f}" for v in w))

            for name, feats in (("logistic_all", raw), ("logistic_csls", csls)):
                z = _Standardised(feats, fold.ti, fold.tj)
                clf = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
                clf.fit(z(fold.ti, fold.tj), fold.y_fit)
                coef = clf.coef_.ravel()
                record(name, "combined", *fold.metrics(lambda i, j, z=z, coef=coef: z(i, j) @ coef))

            if map_csls:
                map_aucs = {k: r.auc(fold.category, 2) for k, (_, r) in map_csls.items()}
                sig = max(map_csls, key=lambda k: map_aucs[k][0])
                score, r = map_csls[sig]
                top1 = fold.top1(lambda q: score(np.repeat(q, pairs.n), np.tile(np.arange(pairs.n), len(q))).reshape(len(q), pairs.n))
                record("map_corr_csls", "combined", top1, map_aucs[sig][1], f"sigma {sig:g}")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the study
@dataclass
class StudyResult:
    """Outcome of `run_study`."""

    full: pd.DataFrame  # measure, family, top1, auc, seconds, description (all queries, no fitting)
    held_out: pd.DataFrame  # per (repeat, fold, measure) rows
    summary: pd.DataFrame  # held-out means and stds per measure
    notes: list[str]
    n_items: int
    n_groups: int
    folds: int
    repeats: int
    seconds: float

    @property
    def chance_top1(self) -> float:
        return 1.0 / (self.n_items - 1)

    def best(self, kind: str) -> pd.Series:
        s = self.summary[self.summary["kind"] == kind]
        return s.sort_values(["top1", "auc"], ascending=False).iloc[0]

    def paired_gain(self, measure: str, baseline: str = "best_single_on_train") -> dict[str, float]:
        """Mean and standard error, over folds, of measure minus baseline (top-1 and AUC)."""
        h = self.held_out.set_index(["repeat", "fold", "measure"])
        out = {}
        for metric in ("top1", "auc"):
            d = (h.xs(measure, level="measure")[metric] - h.xs(baseline, level="measure")[metric]).to_numpy()
            out[metric] = float(d.mean())
            out[metric + "_se"] = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        return out

    def verdict(self) -> str:
        base = self.summary.set_index("measure").loc["best_single_on_train"]
        by_name = self.summary.set_index("measure")
        name = PROPOSED if PROPOSED in by_name.index else self.best("combined")["measure"]
        comb = by_name.loc[name].copy()
        comb["measure"] = name
        g = self.paired_gain(name)
        better_t, better_a = g["top1"] > 0, g["auc"] > 0
        what = "beats" if (better_t and better_a) else ("partly beats" if (better_t or better_a) else "does not beat")
        return (
            f"Held out: {comb['measure']} (top-1 {comb['top1']:.3f}, AUC {comb['auc']:.3f}) {what} the best single "
            f"measure picked on training segments (top-1 {base['top1']:.3f}, AUC {base['auc']:.3f}); paired gain over "
            f"folds: top-1 {g['top1']:+.3f} ± {g['top1_se']:.3f}, AUC {g['auc']:+.3f} ± {g['auc_se']:.3f} (mean ± s.e.)"
        )

    def to_markdown(self) -> str:
        lines = [
            f"Scanpaths: {self.n_items} ({self.n_groups} segments x {self.n_items // max(self.n_groups, 1)} viewers). "
            f"Top-1 chance: {self.chance_top1:.3f}; AUC chance: 0.5. Study time: {self.seconds:.1f} s.",
            "",
            "**All scanpaths, no fitting** (every measure as it comes):",
            "",
            "| measure | family | retrieval top-1 | ROC-AUC | time (s) | what |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.full.sort_values("auc", ascending=False).itertuples():
            lines.append(f"| {r.measure} | {r.family} | {r.top1:.3f} | {r.auc:.3f} | {r.seconds:.3f} | {r.description} |")
        lines += [
            "",
            f"**Held-out segments** ({self.repeats} x {self.folds}-fold over segments; combinations and the "
            "'best single' choice are fitted on training segments only; mean ± std over folds):",
            "",
            "| measure | kind | top-1 | ROC-AUC |",
            "| --- | --- | --- | --- |",
        ]
        order = self.summary.assign(k=self.summary["kind"].map({"combined": 0, "selected": 1, "single": 2}))
        for r in order.sort_values(["k", "auc"], ascending=[True, False]).itertuples():
            lines.append(f"| {r.measure} | {r.kind} | {r.top1:.3f} ± {r.top1_std:.3f} | {r.auc:.3f} ± {r.auc_std:.3f} |")
        lines += ["", self.verdict() + "."]
        picks = self.held_out.dropna(subset=["picked"])
        for name in ("best_single_on_train", "map_corr_csls"):
            p = picks[picks["measure"] == name]["picked"].value_counts()
            if len(p):
                lines.append(f"- {name} picked (per fold): " + ", ".join(f"{k} ({v}x)" for k, v in p.items()))
        w = picks[picks["measure"] == "mm_weighted_fit"]["picked"]
        if len(w):
            mean_w = np.mean([[float(v) for v in s.split(",")] for s in w], axis=0)
            lines.append(
                "- mm_weighted_fit mean fitted weights (vector, direction, length, position, duration): "
                + ", ".join(f"{v:.2f}" for v in mean_w)
            )
        lines += [f"- note: {n}" for n in self.notes]
        return "\n".join(lines)


def run_study(
    archive: GazeArchive | None = None,
    *,
    folds: int = 5,
    repeats: int = 4,
    seed: int = 0,
    threads: int | None = None,
) -> StudyResult:
    """Retrieval top-1 and ROC-AUC of "same image" for every measure, then held-out combinations.

    Args:
        archive: scanpaths with image ids as groups (several readers per image); default the
            embedded studyforrest sample (segments as images, subjects as readers).
        folds, repeats, seed: the held-out protocol (repeated K-fold over images).
        threads: kernel threads (None: all cores).
    """
    t0 = time.perf_counter()
    if archive is None:
        from mcgip_fast.data import load_studyforrest

        archive = load_studyforrest()
    groups = np.asarray(archive.image_ids).astype(str)
    if len(np.unique(groups)) == len(groups):
        raise ValueError("the study needs several scanpaths per image id (e.g. several readers); every image id here is unique")
    measures, notes = compute_measures(archive, threads=threads)
    shape = _default_map_shape(archive)
    variants = {
        sig: map_correlation(gaze_maps(archive, shape, sig)) for sig in np.asarray(MAP_SIGMAS) * shape[1] / 128
    }
    full = pd.DataFrame(
        [
            dict(measure=m.name, family=m.family, top1=retrieval_top1(m.scores, groups), auc=pair_auc(m.scores, groups),
                 seconds=m.seconds, description=m.description)
            for m in measures
        ]
    )
    held = held_out_study(measures, groups, map_variants=variants, folds=folds, repeats=repeats, seed=seed)
    summary = (
        held.groupby(["measure", "kind"], sort=False)
        .agg(top1=("top1", "mean"), top1_std=("top1", "std"), auc=("auc", "mean"), auc_std=("auc", "std"))
        .reset_index()
    )
    return StudyResult(full, held, summary, notes, len(groups), len(np.unique(groups)), folds, repeats, time.perf_counter() - t0)

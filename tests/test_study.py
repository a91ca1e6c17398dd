"""Real-data study: retrieval and AUC metrics, hub correction, no leakage from held-out segments."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mcgip_fast.report.study import (
    MAX_STUDY_N,
    Measure,
    held_out_study,
    hub_corrected,
    pair_auc,
    retrieval_top1,
    run_study,
)


def _pairs_groups(n_groups: int, per: int = 2) -> np.ndarray:
    return np.repeat(np.arange(n_groups), per).astype(str)


def test_top1_perfect_constant_and_ties():
    g = _pairs_groups(5)
    perfect = (g[:, None] == g[None, :]).astype(float)
    assert retrieval_top1(perfect, g) == 1.0
    # A constant score ties all 9 candidates, one of them right: expected top-1 is 1/9.
    assert retrieval_top1(np.zeros((10, 10)), g) == pytest.approx(1 / 9)
    # NaN ranks last, never first.
    s = perfect.copy()
    s[0, 2] = np.nan
    assert retrieval_top1(s, g) == 1.0
    s = np.full((10, 10), np.nan)
    s[0, 1] = 0.5
    assert retrieval_top1(s, g, queries=[0]) == 1.0
    # The diagonal never counts as a hit.
    s = perfect * 0.5
    np.fill_diagonal(s, 10.0)
    assert retrieval_top1(s, g) == 1.0


def test_top1_skips_queries_without_partner():
    g = np.array(["a", "a", "b"])
    s = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float)
    assert retrieval_top1(s, g) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_pair_auc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    g = _pairs_groups(12, per=int(rng.integers(2, 4)))
    s = rng.normal(size=(len(g), len(g)))
    s = np.round(s + s.T, 1)  # symmetric, with ties
    iu, ju = np.triu_indices(len(g), 1)
    ref = roc_auc_score(g[iu] == g[ju], s[iu, ju])
    assert pair_auc(s, g) == pytest.approx(ref, abs=1e-12)
    rows = np.array([0, 3, 5])
    keep = np.isin(iu, rows) | np.isin(ju, rows)
    ref_rows = roc_auc_score((g[iu] == g[ju])[keep], s[iu, ju][keep])
    assert pair_auc(s, g, rows) == pytest.approx(ref_rows, abs=1e-12)


def test_hub_correction_discounts_a_hub():
    g = _pairs_groups(20)
    rng = np.random.default_rng(0)
    s = 0.1 * rng.random((40, 40))
    s = s + s.T
    for a in range(0, 40, 2):
        s[a, a + 1] = s[a + 1, a] = 0.5
    s[0, :] = s[:, 0] = 0.6  # item 0 is closer to everything than partners are to each other
    s[0, 1] = s[1, 0] = 0.9
    assert retrieval_top1(s, g) < 0.2
    assert retrieval_top1(hub_corrected(s, k=5), g) == 1.0
    # Adding a constant changes nothing; NaN stays NaN.
    np.testing.assert_allclose(hub_corrected(s + 3.0), hub_corrected(s), atol=1e-12)
    s[2, 5] = s[5, 2] = np.nan
    out = hub_corrected(s)
    assert np.isnan(out[2, 5]) and np.isfinite(out[2, 4])


def test_held_out_fits_see_no_test_segment():
    """Random measures give chance held-out AUC: a fit that peeked at the test pairs would not."""
    rng = np.random.default_rng(1)
    g = _pairs_groups(30)
    measures = []
    for k in range(6):
        m = rng.normal(size=(60, 60))
        measures.append(Measure(f"noise{k}", "noise", m + m.T, 0.0, "noise"))
    held = held_out_study(measures, g, folds=5, repeats=2, seed=0)
    logistic = held[held["measure"] == "logistic_all"]
    assert abs(logistic["auc"].mean() - 0.5) < 0.08
    assert set(held["measure"]) >= {"best_single_on_train", "logistic_all", "logistic_csls"}


def test_bad_input():
    g = _pairs_groups(3)
    m = [Measure("m", "f", np.zeros((6, 6)), 0.0, "")]
    with pytest.raises(ValueError, match="folds must be between 2 and the number of groups"):
        held_out_study(m, g, folds=4)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        held_out_study(m, g, folds=2, repeats=0)
    from mcgip_fast.data import load_studyforrest

    single = load_studyforrest(by_reader=False)
    with pytest.raises(ValueError, match="several scanpaths per image id"):
        run_study(single)
    assert MAX_STUDY_N >= 60


@pytest.fixture(scope="module")
def study():
    return run_study(folds=3, repeats=1)


def test_study_on_studyforrest(study):
    full = study.full.set_index("measure")
    assert study.n_items == 60 and study.n_groups == 30
    for name in ("mm_vector", "mm_direction", "mm_length", "mm_position", "mm_duration", "mm_mean", "mm_mcgip", "map_corr"):
        assert name in full.index
    assert full["top1"].between(0, 1).all() and full["auc"].between(0, 1).all()
    # Real gaze: the other viewer on the same scene is found far above chance by where people look.
    assert full.loc["map_corr", "top1"] > 5 * study.chance_top1
    assert full.loc["mm_position", "auc"] > 0.7
    md = study.to_markdown()
    assert "Held out:" in md and "| map_corr |" in md
    assert set(study.summary["kind"]) == {"single", "selected", "combined"}


def test_study_multimatch_agrees_with_reference(study):
    """The study's MultiMatch position scores are multimatch-gaze's (spot check of 3 pairs)."""
    import multimatch_gaze as ref

    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.similarity.multimatch import multimatch_matrix

    a = load_studyforrest()
    mm = multimatch_matrix(a)
    for i, j in ((0, 1), (5, 40), (17, 59)):
        ra = np.rec.fromarrays([a[i].x, a[i].y, a[i].duration], names="start_x,start_y,duration")
        rb = np.rec.fromarrays([a[j].x, a[j].y, a[j].duration], names="start_x,start_y,duration")
        expected = ref.docomparison(ra, rb, screensize=[1280, 720])
        np.testing.assert_allclose(mm[i, j], expected, atol=1e-9)


# --------------------------------------------------------------------------- issue 17: bounded, unchanged
DATA = __import__("pathlib").Path(__file__).parent / "data"


@pytest.mark.slow
def test_demo_study_table_unchanged():
    """The demo's study (default protocol, embedded 60 scanpaths) gives exactly the numbers it gave
    before the study was made bounded (tests/data/study_demo_*.csv were written by the old,
    dense implementation at commit c7df5f2)."""
    import pandas as pd

    r = run_study()
    want = pd.read_csv(DATA / "study_demo_table.csv")
    full = want[want["table"] == "all scanpaths"].set_index("measure")
    got_full = r.full.set_index("measure").loc[full.index]
    np.testing.assert_allclose(got_full[["top1", "auc"]].to_numpy(), full[["top1", "auc"]].to_numpy(), rtol=0, atol=1e-12)
    held = want[want["table"] == "held out"].set_index("measure")
    got = r.summary.set_index("measure").loc[held.index]
    assert list(got["kind"]) == list(held["kind"])
    cols = ["top1", "top1_std", "auc", "auc_std"]
    np.testing.assert_allclose(got[cols].to_numpy(), held[cols].to_numpy(), rtol=0, atol=1e-12)
    picks = r.held_out.dropna(subset=["picked"]).groupby(["measure", "picked"]).size().rename("folds").reset_index()
    want_picks = pd.read_csv(DATA / "study_demo_picks.csv")
    pd.testing.assert_frame_equal(picks.reset_index(drop=True), want_picks, check_dtype=False)


def _noise_measures(n_items: int, n_measures: int, seed: int = 0) -> list[Measure]:
    """Symmetric random score matrices with a weak same-group signal, named like the study's
    measures so that every combination (weight grid included) runs."""
    rng = np.random.default_rng(seed)
    g = _pairs_groups(n_items // 2)
    same = (g[:, None] == g[None, :]).astype(float)
    names = ["mm_vector", "mm_direction", "mm_length", "mm_position", "mm_duration"]
    names += [f"other{k}" for k in range(n_measures - len(names))]
    out = []
    for name in names:
        m = rng.random((n_items, n_items)) + 0.3 * same
        out.append(Measure(name, "noise", (m + m.T) / 2, 0.0, "noise"))
    return out


@pytest.mark.slow
def test_held_out_memory_is_bounded():
    """The held-out study at 300 items allocates far less than pairs x weight grid (the old
    implementation ranked a 1001 x 28.7k-pair array here: ~1.2 GB with rankdata's copies). The
    bound (300 MB) is loose: the measures are 8 x 0.7 MB and the chunked study needs < 100 MB."""
    import tracemalloc

    n = 300
    measures = _noise_measures(n, 8)
    g = _pairs_groups(n // 2)
    maps = {s: measures[-1].scores for s in (1.0, 2.0)}
    tracemalloc.start()
    try:
        held = held_out_study(measures, g, map_variants=maps, folds=3, repeats=1, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 300 * 2**20, f"held-out study peaked at {peak / 2**20:.0f} MiB on {n} items"
    # it still did its job: the weak signal is found held out
    assert held[held["measure"] == "logistic_all"]["auc"].mean() > 0.6


def test_fit_sample_keeps_every_positive_and_is_deterministic():
    """Above MAX_FIT_PAIRS training pairs a fold fits on all same-group pairs plus a seeded sample."""
    from mcgip_fast.report.study import MAX_FIT_PAIRS, _Fold, _StudyPairs

    g = _pairs_groups(200)  # 400 items, ~51k training pairs per 5-fold fold
    pairs = _StudyPairs(g)
    test = np.flatnonzero(np.isin(g, np.unique(g)[::5]))
    a, b = _Fold(pairs, test, (0, 0, 0)), _Fold(pairs, test, (0, 0, 0))
    assert len(a.fit) == MAX_FIT_PAIRS and np.array_equal(a.fit, b.fit)
    assert a.y_fit.sum() == pairs.same[a.pairs.same & a.train_mask].sum() == 160
    assert np.all(np.diff(a.fit) > 0) and a.train_mask[a.fit].all()

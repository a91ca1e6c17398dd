"""mine(): rules against a dense brute force, determinism, skipped items, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mcgip_fast.data import load_studyforrest
from mcgip_fast.gaze.archive import GazeArchive
from mcgip_fast.mining import PairsMismatchError, PositivePairs, mine
from mcgip_fast.mining.plan import sample_pairs
from mcgip_fast.mining.schemes import MCGIP_WEIGHTS, MultiMatchScheme
from mcgip_fast.mining.synthetic import random_archive


def dense_scores(archive) -> np.ndarray:
    """Every pair's weighted MultiMatch via the pair function (small archives only)."""
    scheme = MultiMatchScheme(screen=archive.screen)
    state = scheme.prepare(archive)
    n = len(archive)
    i, j = np.triu_indices(n, 1)
    s = scheme.score_pairs(state, i, j)
    m = np.full((n, n), np.nan)
    m[i, j] = s
    m[j, i] = s
    inactive = ~state.active
    m[inactive, :] = np.nan
    m[:, inactive] = np.nan
    return m


def dense_topk(m: np.ndarray, k: int) -> list[list[int]]:
    out = []
    for i in range(len(m)):
        cand = [(-m[i, j], j) for j in range(len(m)) if j != i and not np.isnan(m[i, j])]
        out.append([j for _, j in sorted(cand)[:k]])
    return out


def edge_set(p: PositivePairs) -> set[tuple[int, int]]:
    r, c, _ = p.edges()
    return set(zip(r.tolist(), c.tolist()))


@pytest.fixture(scope="module", params=[23, 24])
def generated(request):
    # Odd and even sizes exercise both halves of the circulant split; 2 short scanpaths are skipped.
    return random_archive(request.param, 12, seed=request.param, short=2)


@pytest.fixture(scope="module")
def dense(generated):
    return dense_scores(generated)


@pytest.mark.parametrize("k", [1, 3])
def test_topk_is_union_of_each_items_topk(generated, dense, k):
    top = dense_topk(dense, k)
    want = {(i, j) for i, js in enumerate(top) for j in js}
    want |= {(j, i) for i, j in want}
    for tile_rows in (1, 5, 100):
        p = mine(generated, "multimatch", "topk", k=k, tile_rows=tile_rows)
        assert edge_set(p) == want
        r, c, s = p.edges()
        np.testing.assert_allclose(s, dense[r, c], rtol=0, atol=0)
        assert p.symmetric and not np.any(r == c)


def test_mutual_topk(generated, dense):
    top = dense_topk(dense, 3)
    want = {(i, j) for i, js in enumerate(top) for j in js if i in top[j]}
    p = mine(generated, "multimatch", "mutual", k=3, tile_rows=4)
    assert edge_set(p) == want
    assert p.degrees().max() <= 3


def test_threshold_is_strict(generated, dense):
    theta = float(np.nanquantile(dense, 0.8))
    want = {(i, j) for i, j in zip(*np.nonzero(dense > theta))}
    p = mine(generated, "multimatch", "threshold", threshold=theta, tile_rows=3)
    assert edge_set(p) == want
    assert (p.scores > theta).all()


def test_percentile_exact_when_sample_covers_all_pairs(generated, dense):
    finite = dense[np.triu_indices(len(dense), 1)]
    finite = finite[~np.isnan(finite)]
    p = mine(generated, "multimatch", "percentile", percentile=75, sample_size=10**6)
    assert p.params["threshold_used"] == pytest.approx(np.percentile(finite, 75), abs=0)
    assert p.n_pairs == int((finite > np.percentile(finite, 75)).sum())


def test_percentile_sample_is_seeded_and_close():
    a = random_archive(150, 10, seed=3)
    p1 = mine(a, "multimatch", "percentile", percentile=90, sample_size=2000, seed=7)
    p2 = mine(a, "multimatch", "percentile", percentile=90, sample_size=2000, seed=7)
    p3 = mine(a, "multimatch", "percentile", percentile=90, sample_size=2000, seed=8)
    assert p1 == p2
    assert p1.params["threshold_used"] != p3.params["threshold_used"]
    # About 10 % of all pairs pass an estimated 90th percentile.
    assert 0.07 < p1.n_pairs / (150 * 149 / 2) < 0.13


def test_sample_pairs_distinct_and_deterministic():
    active = np.ones(1000, bool)
    active[::7] = False
    i, j = sample_pairs(active, 5000, 1)
    assert (i < j).all() and active[i].all() and active[j].all()
    i2, j2 = sample_pairs(active, 5000, 1)
    assert np.array_equal(i, i2) and np.array_equal(j, j2)


def test_same_result_for_any_threads_and_tiles():
    a = random_archive(60, 15, seed=5)
    ref = mine(a, "multimatch", "topk", k=4, threads=1, tile_rows=60)
    for threads, tile_rows in ((2, 7), (1, 1), (2, None)):
        assert mine(a, "multimatch", "topk", k=4, threads=threads, tile_rows=tile_rows) == ref


def test_weighted_score_matches_reference_on_real_data():
    from multimatch_gaze import docomparison

    a = load_studyforrest()
    p = mine(a, "multimatch", "topk", k=2, aggregate="none")  # pairs of readings, as the reference scores them
    r, c, s = p.edges()
    rec = lambda sp: np.rec.fromarrays([sp.x, sp.y, sp.duration], names="start_x,start_y,duration")  # noqa: E731
    for e in range(0, len(r), max(1, len(r) // 6)):
        lo, hi = min(r[e], c[e]), max(r[e], c[e])
        want = np.dot(docomparison(rec(a[lo]), rec(a[hi]), screensize=list(a.screen)), MCGIP_WEIGHTS)
        assert s[e] == pytest.approx(want, abs=1e-12)


def test_custom_weights_and_grouping_recorded():
    a = random_archive(20, 10, seed=1)
    w = (0.2, 0.2, 0.2, 0.2, 0.2)
    p = mine(a, "multimatch", "topk", k=2, scheme_options={"weights": w, "grouping": True, "tdir": 45, "tdur": 0.1, "tamp": 100})
    assert p.params["weights"] == list(w)
    assert p.params["grouping"] is True and p.params["tamp"] == 100
    assert p.params["rule"] == {"name": "topk", "k": 2}


def test_short_scanpaths_are_skipped_and_reported(generated):
    p = mine(generated, "multimatch", "topk", k=2)
    n = len(generated)
    skipped_ids = {str(generated.keys[i]) for i in (n - 2, n - 1)}
    assert len(p.report.skipped) == 2
    assert all(any(s_id in line for s_id in skipped_ids) for line in p.report.skipped)
    assert p.params["skipped_items"] == 2
    assert p.degrees()[n - 2:].sum() == 0
    assert p.report.n_scorable == n - 2
    assert p.report.scored_pairs == (n - 2) * (n - 3) // 2


def test_pairs_file_refuses_other_archives(tmp_path):
    a = random_archive(15, 8, seed=2)
    p = mine(a, "multimatch", "topk", k=2)
    for suffix in (".parquet", ".npz"):
        q = PositivePairs.load(p.save(tmp_path / f"p{suffix}"))
        assert q == p
        q.check_archive(a)
        with pytest.raises(PairsMismatchError, match="reordered or different"):
            q.check_archive(a.subset(np.r_[1, 0, 2:15]))
        with pytest.raises(PairsMismatchError, match="14"):
            q.check_archive(a.subset(np.arange(14)))
        edited = GazeArchive.from_arrays(a.image_ids, a.offsets, a.x + 1.0, a.y, a.duration, screen=a.screen)
        with pytest.raises(PairsMismatchError, match="different content"):
            q.check_archive(edited)


def test_npz_and_parquet_files_are_byte_identical_across_saves(tmp_path):
    a = random_archive(15, 8, seed=2)
    p = mine(a, "multimatch", "topk", k=2)
    for suffix in (".parquet", ".npz"):
        b1 = p.save(tmp_path / f"a{suffix}").read_bytes()
        b2 = mine(a, "multimatch", "topk", k=2, threads=1).save(tmp_path / f"b{suffix}").read_bytes()
        assert b1 == b2


# ---------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    return random_archive(10, 6, seed=0)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("nope", "topk"), {"k": 2}, "unknown scheme 'nope'"),
        (("multimatch", "best"), {"k": 2}, "unknown rule 'best'"),
        (("multimatch", "topk"), {"k": 0}, "k must be a positive integer, got 0"),
        (("multimatch", "mutual"), {"k": -3}, "k must be a positive integer, got -3"),
        (("multimatch", "topk"), {}, "rule 'topk' needs k"),
        (("multimatch", "threshold"), {}, "needs a threshold"),
        (("multimatch", "threshold"), {"threshold": 1.5}, r"outside the range of the multimatch score \[0, 1\)"),
        (("multimatch", "threshold"), {"threshold": -0.1}, "outside the range"),
        (("multimatch", "percentile"), {"percentile": 100}, "strictly between 0 and 100"),
        (("multimatch", "topk"), {"k": 2, "engine": "spark"}, "unknown engine 'spark'"),
        (("multimatch", "topk"), {"k": 2, "engine": "dask"}, "needs a scheduler"),
        (("multimatch", "topk"), {"k": 2, "resume": True}, "resume needs a work directory"),
        (("multimatch", "topk"), {"k": 2, "tile_rows": 0}, "tile_rows must be a positive integer"),
        (("multimatch", "topk"), {"k": 2, "scheme_options": {"weights": (1, 1)}}, "weights must be 5"),
        (("multimatch", "topk"), {"k": 2, "scheme_options": {"hash_size": 8}}, "takes no option"),
    ],
)
def test_bad_arguments(small, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mine(small, *args, **kwargs)


def test_threshold_range_follows_weights(small):
    p = mine(small, "multimatch", "threshold", threshold=1.5, scheme_options={"weights": (1, 1, 1, 1, 1)})
    assert p.params["threshold_used"] == 1.5


def test_empty_archive():
    empty = GazeArchive.from_arrays([], [0], np.zeros(0), np.zeros(0), np.zeros(0), screen=(10, 10))
    with pytest.raises(ValueError, match="archive is empty"):
        mine(empty, "multimatch", "topk", k=1)


def test_archive_multimatch_cannot_score():
    a = random_archive(4, 5, seed=0, short=3)
    with pytest.raises(ValueError, match=r"only 1 of 4 items can be scored.*fewer than 3|only 1 of 4 items can be scored"):
        mine(a, "multimatch", "topk", k=1)


def test_multimatch_needs_a_screen():
    a = random_archive(5, 5, seed=0)
    no_screen = GazeArchive.from_arrays(a.image_ids, a.offsets, a.x, a.y, a.duration)
    with pytest.raises(ValueError, match="needs the screen size"):
        mine(no_screen, "multimatch", "topk", k=1)
    assert mine(no_screen, "multimatch", "topk", k=1, scheme_options={"screen": (1280, 720)}).n_pairs > 0


def test_prefilter_with_every_candidate_equals_exhaustive():
    a = random_archive(30, 10, seed=6, short=1)
    for rule, kw in (("topk", {"k": 3}), ("threshold", {"threshold": 0.7})):
        ex = mine(a, "multimatch", rule, **kw)
        pf = mine(a, "multimatch", rule, scheme_options={"prefilter": 29}, tile_rows=4, **kw)
        r1, c1, s1 = ex.edges()
        r2, c2, s2 = pf.edges()
        assert np.array_equal(r1, r2) and np.array_equal(c1, c2) and np.array_equal(s1, s2)
        assert pf.params["prefilter"] == 29 and "faiss" in pf.params["candidates"]


def test_prefilter_finds_a_subset_with_exact_scores():
    a = random_archive(60, 10, seed=7)
    dense = dense_scores(a)
    pf = mine(a, "multimatch", "threshold", threshold=0.65, scheme_options={"prefilter": 8})
    r, c, s = pf.edges()
    np.testing.assert_array_equal(s, dense[r, c])
    assert edge_set(pf) <= {(i, j) for i, j in zip(*np.nonzero(dense > 0.65))}
    with pytest.raises(ValueError, match="prefilter must be a positive"):
        mine(a, "multimatch", "topk", k=1, scheme_options={"prefilter": 0})


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 14),
    fixations=st.integers(3, 7),
    seed=st.integers(0, 10**6),
    k=st.integers(1, 4),
    tile_rows=st.integers(1, 6),
    rule=st.sampled_from(["topk", "mutual", "threshold"]),
)
def test_any_tiling_equals_dense_brute_force(n, fixations, seed, k, tile_rows, rule):
    a = random_archive(n, fixations, seed=seed)
    m = dense_scores(a)
    top = dense_topk(m, k)
    if rule == "topk":
        want = {(i, j) for i, js in enumerate(top) for j in js}
        want |= {(j, i) for i, j in want}
        p = mine(a, "multimatch", "topk", k=k, tile_rows=tile_rows)
    elif rule == "mutual":
        want = {(i, j) for i, js in enumerate(top) for j in js if i in top[j]}
        p = mine(a, "multimatch", "mutual", k=k, tile_rows=tile_rows)
    else:
        theta = 0.6
        want = {(i, j) for i, j in zip(*np.nonzero(m > theta))}
        p = mine(a, "multimatch", "threshold", threshold=theta, tile_rows=tile_rows)
    assert edge_set(p) == want

"""mcgip_fast.multimatch API: input forms, all-pairs functions, threads, and bad input."""

import numpy as np
import pytest

import mcgip_fast
from mcgip_fast import GazeArchive, Scanpath
from mcgip_fast.similarity import multimatch as mm_module
from mcgip_fast.similarity.multimatch import (
    DIMENSIONS,
    MATRIX_MAX_N,
    multimatch,
    multimatch_matrix,
    multimatch_one_vs_many,
    multimatch_pairs,
)

SCREEN = (1280, 720)
GROUPED = dict(grouping=True, tdir=30.0, tdur=0.05, tamp=100.0)


def _random_archive(n=40, seed=0, screen=SCREEN):
    rng = np.random.default_rng(seed)
    sps = []
    for k in range(n):
        m = 2 + k % 25
        sps.append(np.c_[rng.uniform(0, 1280, m), rng.uniform(0, 720, m), rng.uniform(0.02, 0.6, m)])
    return GazeArchive.from_scanpaths(sps, screen=screen)


def test_exports_and_dimensions():
    assert DIMENSIONS == ("vector", "direction", "length", "position", "duration")
    assert mcgip_fast.multimatch is multimatch
    assert mcgip_fast.multimatch_matrix is multimatch_matrix
    assert mcgip_fast.similarity.multimatch_pairs is multimatch_pairs
    assert MATRIX_MAX_N == mm_module._core.multimatch_matrix_max_n()


def test_input_forms_agree():
    arch = _random_archive()
    a, b = arch[5], arch[9]
    expected = multimatch(a, b, SCREEN)
    assert expected.shape == (5,) and expected.dtype == np.float64
    np.testing.assert_array_equal(multimatch(a.to_array(), b.to_array(), SCREEN), expected)
    np.testing.assert_array_equal(multimatch(a.to_array().tolist(), b.to_array(), screen=list(SCREEN)), expected)
    rec = np.zeros(len(a), dtype=[("start_x", "f8"), ("start_y", "f8"), ("duration", "f8")])
    rec["start_x"], rec["start_y"], rec["duration"] = a.x, a.y, a.duration
    np.testing.assert_array_equal(multimatch(rec, b, SCREEN), expected)
    # Non-contiguous float32 columns are converted.
    big = np.asfortranarray(a.to_array().astype(np.float32))
    assert np.all(np.isfinite(multimatch(big, b, SCREEN)))


def test_screen_order_does_not_matter():
    arch = _random_archive()
    np.testing.assert_array_equal(multimatch(arch[3], arch[4], (1280, 720)), multimatch(arch[3], arch[4], (720, 1280)))


def test_pairs_one_vs_many_matrix_agree_with_single_pair():
    arch = _random_archive()
    n = len(arch)
    mat = multimatch_matrix(arch, **GROUPED)
    assert mat.shape == (n, n, 5)
    np.testing.assert_array_equal(mat, mat.transpose(1, 0, 2))
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, n, size=(50, 2))
    got = multimatch_pairs(arch, pairs, **GROUPED)
    assert got.shape == (50, 5)
    for (i, j), row in zip(pairs, got):
        np.testing.assert_array_equal(row, multimatch(arch[i], arch[j], SCREEN, **GROUPED))
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    np.testing.assert_array_equal(mat[lo, hi], multimatch_pairs(arch, np.c_[lo, hi], **GROUPED))
    row = multimatch_one_vs_many(arch, 7, **GROUPED)
    assert row.shape == (n, 5)
    for j in range(n):
        np.testing.assert_array_equal(row[j], multimatch(arch[7], arch[j], SCREEN, **GROUPED))
    np.testing.assert_array_equal(multimatch_one_vs_many(arch, -1, **GROUPED), multimatch_one_vs_many(arch, n - 1, **GROUPED))


def test_short_scanpaths_nan_in_all_pairs():
    arch = _random_archive()
    short = np.flatnonzero(arch.lengths < 3)
    assert len(short)
    mat = multimatch_matrix(arch)
    assert np.all(np.isnan(mat[short]))
    assert np.all(np.isnan(mat[:, short]))
    long_ = np.flatnonzero(arch.lengths >= 3)
    assert np.all(np.isfinite(mat[np.ix_(long_, long_)]))


def test_results_do_not_depend_on_threads():
    arch = _random_archive(n=70, seed=3)
    one = multimatch_matrix(arch, threads=1, **GROUPED)
    two = multimatch_matrix(arch, threads=2, **GROUPED)
    np.testing.assert_array_equal(one, two)
    pairs = np.c_[np.arange(70), np.arange(70)[::-1]]
    np.testing.assert_array_equal(multimatch_pairs(arch, pairs, threads=1), multimatch_pairs(arch, pairs, threads=3))


def test_screen_defaults_to_archive_and_is_required():
    arch = _random_archive()
    np.testing.assert_array_equal(multimatch_pairs(arch, [[1, 2]]), multimatch_pairs(arch, [[1, 2]], screen=SCREEN))
    bare = _random_archive(screen=None)
    with pytest.raises(ValueError, match="screen=\\(width, height\\) is required"):
        multimatch_pairs(bare, [[1, 2]])
    with pytest.raises(ValueError, match="screen=\\(width, height\\) is required"):
        multimatch_matrix(bare)
    assert multimatch_one_vs_many(bare, 0, screen=(100, 100)).shape == (len(bare), 5)


def test_empty_pairs():
    arch = _random_archive()
    assert multimatch_pairs(arch, np.zeros((0, 2), np.int64)).shape == (0, 5)
    assert multimatch_pairs(arch, []).shape == (0, 5)


@pytest.mark.parametrize(
    "a, match",
    [
        (np.zeros((4, 2)), r"\(n, 3\) array"),
        (np.zeros(4), r"\(n, 3\) array"),
        (np.array([[0, 0, 0.1], [np.nan, 1, 0.2], [2, 2, 0.3]]), "a: x is not finite at fixation 1"),
        (np.array([[0, 0, 0.1], [1, 1, np.inf], [2, 2, 0.3]]), "a: duration is not finite at fixation 1"),
        (np.array([["a", "b", "c"]] * 3), "real numbers"),
        (np.zeros(3, dtype=[("start_x", "f8"), ("duration", "f8")]), r"lacks fields \['start_y'\]"),
    ],
)
def test_bad_scanpaths(a, match):
    b = np.array([[0, 0, 0.1], [1, 1, 0.2], [2, 3, 0.3]], float)
    with pytest.raises(ValueError, match=match):
        multimatch(a, b, SCREEN)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(screen=(0, 720)), "positive finite"),
        (dict(screen=(1280, np.nan)), "positive finite"),
        (dict(screen=(1280,)), r"\(width, height\)"),
        (dict(screen="big"), r"\(width, height\)"),
        (dict(screen=SCREEN, tdir=np.nan), "tdir must be a number"),
        (dict(screen=SCREEN, tamp=float("nan")), "tamp must be a number"),
    ],
)
def test_bad_parameters(kw, match):
    a = np.array([[0, 0, 0.1], [1, 1, 0.2], [2, 3, 0.3]], float)
    with pytest.raises(ValueError, match=match):
        multimatch(a, a, **kw)


def test_bad_all_pairs_arguments():
    arch = _random_archive()
    n = len(arch)
    with pytest.raises(ValueError, match=r"pairs must have shape \(P, 2\)"):
        multimatch_pairs(arch, np.zeros((3, 3), np.int64))
    with pytest.raises(ValueError, match="integer indices"):
        multimatch_pairs(arch, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=f"scanpath index {n} is out of range"):
        multimatch_pairs(arch, [[0, n]])
    with pytest.raises(ValueError, match="scanpath index -1 is out of range"):
        multimatch_pairs(arch, [[-1, 0]])
    with pytest.raises(ValueError, match="out of range"):
        multimatch_one_vs_many(arch, n)
    with pytest.raises(ValueError, match="integer scanpath index"):
        multimatch_one_vs_many(arch, 1.5)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        multimatch_matrix(arch, threads=0)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        multimatch_pairs(arch, [[0, 1]], threads="2")
    with pytest.raises(ValueError, match="must be a GazeArchive"):
        multimatch_matrix([arch[0], arch[1]], screen=SCREEN)


def test_matrix_refuses_large_archives():
    n = MATRIX_MAX_N + 1
    arch = GazeArchive.from_arrays(
        [str(k) for k in range(n)], np.arange(n + 1) * 3, np.ones(3 * n), np.ones(3 * n), np.ones(3 * n), screen=SCREEN
    )
    with pytest.raises(ValueError, match=f"N <= {MATRIX_MAX_N}.*mining"):
        multimatch_matrix(arch)
    # The Rust core refuses too, for callers that bypass the wrapper.
    with pytest.raises(ValueError, match="mining"):
        mm_module._core.multimatch_matrix_packed(*arch.packed(), SCREEN, False, 0.0, 0.0, 0.0)


def test_scanpath_objects_and_identity():
    s = Scanpath(np.array([10.0, 200.0, 400.0, 50.0]), np.array([10.0, 100.0, 300.0, 20.0]), np.array([0.2, 0.3, 0.1, 0.25]))
    np.testing.assert_array_equal(multimatch(s, s, SCREEN), np.ones(5))
    np.testing.assert_array_equal(multimatch(s, s, SCREEN, **GROUPED), np.ones(5))

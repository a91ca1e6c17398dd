"""Parity of mcgip_fast.multimatch with multimatch-gaze 0.1.3 (`docomparison`), tolerance 1e-9.

Pairs on which the reference itself raises are compared with our documented behaviour, emulated
by the reference with two patches (`_patched_reference`): the cosine clamped to [-1, 1] before
`acos`, and a lone short saccade kept by `simlen`.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import multimatch_gaze.multimatch_gaze as mmg
from mcgip_fast import GazeArchive
from mcgip_fast.similarity.multimatch import multimatch, multimatch_matrix

TOL = 1e-9
SCREEN = (1280, 720)
GROUPINGS = {
    "none": dict(grouping=False, tdir=0.0, tdur=0.0, tamp=0.0),
    "matlab": dict(grouping=True, tdir=45.0, tdur=0.3, tamp=146.8),
    "suite": dict(grouping=True, tdir=30.0, tdur=0.05, tamp=100.0),
}

# Tie-breaking follows scipy >= 1.16's Dijkstra (binary heap); older scipy breaks ties differently.
pytestmark = pytest.mark.skipif(
    tuple(int(v) for v in scipy.__version__.split(".")[:2]) < (1, 16), reason="parity needs scipy >= 1.16"
)


def _record(arr: np.ndarray) -> np.ndarray:
    rec = np.zeros(len(arr), dtype=[("start_x", "f8"), ("start_y", "f8"), ("duration", "f8")])
    rec["start_x"], rec["start_y"], rec["duration"] = arr[:, 0], arr[:, 1], arr[:, 2]
    return rec


def _load(path: Path) -> np.ndarray:
    data = np.genfromtxt(path, delimiter="\t", names=True)
    return np.stack([data["start_x"], data["start_y"], data["duration"]], axis=1)


def _clamped_calcangle(x1, x2):
    c = np.dot(x1, x2) / (np.linalg.norm(x1) * np.linalg.norm(x2))
    c = 1.0 if c > 1 else (-1.0 if c < -1 else c)
    return math.degrees(math.acos(c))


_original_simlen = mmg.simlen


def _simlen_keeping_lone_saccade(path, TAmp, TDur):
    if len(path["sac"]["x"]) == 1:
        sac = {k: list(v) for k, v in path["sac"].items()}
        dur = list(path["fix"]["dur"])
        return dict(fix=dict(dur=[dur[0], dur[-1]]), sac=sac)
    return _original_simlen(path, TAmp, TDur)


@contextmanager
def _patched_reference():
    saved = mmg.calcangle, mmg.simlen
    mmg.calcangle, mmg.simlen = _clamped_calcangle, _simlen_keeping_lone_saccade
    try:
        yield
    finally:
        mmg.calcangle, mmg.simlen = saved


def reference(a: np.ndarray, b: np.ndarray, screen, grouping, tdir, tdur, tamp) -> tuple[np.ndarray, str | None]:
    """The reference's scores, and the name of the exception it raised (then: patched scores)."""
    kw = dict(screensize=list(screen), grouping=grouping, TDir=tdir, TDur=tdur, TAmp=tamp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return np.asarray(mmg.docomparison(_record(a), _record(b), **kw), float), None
        except (ValueError, IndexError) as e:
            with _patched_reference():
                return np.asarray(mmg.docomparison(_record(a), _record(b), **kw), float), type(e).__name__


def assert_parity(ours: np.ndarray, ref: np.ndarray, context: str = "") -> None:
    assert ours.shape == (5,)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL, equal_nan=True, err_msg=context)


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def real(studyforrest_dir):
    files = sorted((studyforrest_dir / "fixvectors").glob("*.tsv"))
    assert len(files) == 60
    return [_load(f) for f in files]


@pytest.mark.parametrize("setting", list(GROUPINGS))
def test_every_real_pair(real, setting):
    """All unordered pairs (and self-pairs) of the 60 real scanpaths, via the tiled matrix."""
    kw = GROUPINGS[setting]
    arch = GazeArchive.from_scanpaths(real, screen=SCREEN)
    ours = multimatch_matrix(arch, **kw)
    raised = 0
    for i in range(len(real)):
        for j in range(i, len(real)):
            ref, err = reference(real[i], real[j], SCREEN, **kw)
            raised += err is not None
            assert_parity(ours[i, j], ref, f"pair {i}, {j} ({setting}, reference raised {err})")
    np.testing.assert_array_equal(ours, ours.transpose(1, 0, 2))
    if setting == "matlab":
        assert raised > 0, "the MATLAB settings are known to crash the reference (IndexError) on real pairs"


def test_real_pairs_reversed_order(real):
    """Swapping the scanpaths: the reference and we agree on (j, i) as well (a sample of pairs)."""
    for setting, kw in GROUPINGS.items():
        for i in range(0, 60, 7):
            for j in range(i + 1, 60, 11):
                ref, err = reference(real[j], real[i], SCREEN, **kw)
                assert_parity(multimatch(real[j], real[i], SCREEN, **kw), ref, f"({j}, {i}) {setting} {err}")


def test_real_self_pairs_score_one(real):
    for kw in GROUPINGS.values():
        for a in real:
            np.testing.assert_array_equal(multimatch(a, a, SCREEN, **kw), np.ones(5))


def test_matlab_comparison(studyforrest_dir):
    """multimatch-gaze's own test_compare2matlab: segment_10 sub-19 vs sub-01, screen [720, 1280]."""
    a = _load(studyforrest_dir / "testdata" / "segment_10_sub-19.tsv")
    b = _load(studyforrest_dir / "testdata" / "segment_10_sub-01.tsv")
    expectations = {
        "matlab": [0.95076, 0.95638, 0.94082, 0.94491, 0.78261],
        "none": [0.99082, 0.69902, 0.98927, 0.94767, 0.65563],
    }
    for setting, matlab in expectations.items():
        kw = GROUPINGS[setting]
        ref, err = reference(a, b, (720, 1280), **kw)
        assert err is None
        for screen in [(720, 1280), (1280, 720)]:
            ours = multimatch(a, b, screen, **kw)
            assert_parity(ours, ref, f"{setting} screen {screen}")
            np.testing.assert_allclose(ours, matlab, atol=1e-5, rtol=1e-5)


def test_issue_46_scanpath_terminates(studyforrest_dir):
    """multimatch-gaze issue 46: grouping used to loop forever on this scanpath."""
    sp = np.genfromtxt(studyforrest_dir / "testdata" / "sp-46.csv", delimiter=",", names=True)
    a = np.stack([sp["start_x"], sp["start_y"], sp["duration"]], axis=1)
    kw = dict(grouping=True, tdir=30.0, tdur=0.1, tamp=100.1)
    ref, _ = reference(a, a[::-1].copy(), SCREEN, **kw)
    assert_parity(multimatch(a, a[::-1].copy(), SCREEN, **kw), ref)


# ------------------------------------------------------------------ the reference's crashes


def test_acos_crash_is_clamped():
    # Collinear saccades (0.1, 0.5) then (0.2, 1.0): numpy's cosine rounds to 1 + 2**-52.
    a = np.array([[100.0, 200.0, 0.2], [100.1, 200.5, 0.01], [100.29999999999998, 201.5, 0.2], [300.0, 300.0, 0.2]])
    b = np.array([[0.0, 0.0, 0.3], [50.0, 80.0, 0.2], [400.0, 100.0, 0.1], [420.0, 500.0, 0.3]])
    kw = dict(grouping=True, tdir=10.0, tdur=0.05, tamp=0.0)
    with pytest.raises(ValueError, match="math domain error"):
        mmg.docomparison(_record(a), _record(b), screensize=list(SCREEN), grouping=True, TDir=10.0, TDur=0.05, TAmp=0.0)
    ref, err = reference(a, b, SCREEN, **kw)
    assert err == "ValueError"
    ours = multimatch(a, b, SCREEN, **kw)
    assert np.all(np.isfinite(ours))
    assert_parity(ours, ref)


def test_lone_short_saccade_is_kept():
    # Direction grouping merges both saccades of `a`; the one left is shorter than TAmp.
    a = np.array([[0.0, 0.0, 0.01], [10.0, 0.0, 0.01], [20.0, 0.0, 0.01]])
    b = np.array([[0.0, 0.0, 0.2], [100.0, 0.0, 0.2], [100.0, 100.0, 0.2], [300.0, 50.0, 0.2]])
    kw = dict(grouping=True, tdir=45.0, tdur=0.3, tamp=146.8)
    with pytest.raises(IndexError):
        mmg.docomparison(_record(a), _record(b), screensize=list(SCREEN), grouping=True, TDir=45.0, TDur=0.3, TAmp=146.8)
    ref, err = reference(a, b, SCREEN, **kw)
    assert err == "IndexError"
    ours = multimatch(a, b, SCREEN, **kw)
    assert np.all(np.isfinite(ours))
    assert_parity(ours, ref)


def test_short_scanpaths_are_nan_like_reference():
    a = np.array([[0.0, 0.0, 0.2], [10.0, 5.0, 0.3]])
    b = np.array([[1.0, 2.0, 0.2], [30.0, 40.0, 0.3], [50.0, 10.0, 0.1]])
    for x, y in [(a, b), (b, a), (a, a)]:
        ref = np.asarray(mmg.docomparison(_record(x), _record(y), screensize=list(SCREEN)), float)
        assert np.all(np.isnan(ref))
        assert np.all(np.isnan(multimatch(x, y, SCREEN)))


# ------------------------------------------------------------------ generated data

_GROUPING = st.sampled_from([GROUPINGS["none"], GROUPINGS["matlab"], GROUPINGS["suite"]])


@st.composite
def float_scanpath(draw, max_fix=120):
    n = draw(st.integers(3, max_fix))
    xy = draw(st.lists(st.tuples(st.floats(0, 1280), st.floats(0, 720)), min_size=n, max_size=n))
    dur = draw(st.lists(st.floats(0.02, 0.8), min_size=n, max_size=n))
    return np.array([[x, y, d] for (x, y), d in zip(xy, dur)])


@st.composite
def grid_scanpath(draw, max_fix=120):
    """Integer coordinates on a small grid and few distinct durations: ties everywhere."""
    n = draw(st.integers(3, max_fix))
    g = draw(st.sampled_from([2, 3, 5, 8, 40]))
    xy = draw(st.lists(st.tuples(st.integers(0, g), st.integers(0, g)), min_size=n, max_size=n))
    dur = draw(st.lists(st.sampled_from([0.04, 0.1, 0.2, 0.4]), min_size=n, max_size=n))
    return np.array([[x * 30.0, y * 30.0, d] for (x, y), d in zip(xy, dur)])


_settings = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_settings
@given(a=float_scanpath(), b=float_scanpath(), kw=_GROUPING)
def test_generated_float_scanpaths(a, b, kw):
    ref, err = reference(a, b, SCREEN, **kw)
    assert_parity(multimatch(a, b, SCREEN, **kw), ref, f"reference raised {err}")


@_settings
@given(a=grid_scanpath(), b=grid_scanpath(), kw=_GROUPING)
def test_generated_grid_scanpaths_with_ties(a, b, kw):
    ref, err = reference(a, b, SCREEN, **kw)
    assert_parity(multimatch(a, b, SCREEN, **kw), ref, f"reference raised {err}")


@_settings
@given(a=grid_scanpath(max_fix=40), data=st.data(), kw=_GROUPING)
def test_generated_near_identical_grid_scanpaths(a, data, kw):
    """A copy with a few fixations moved: long zero-cost runs, the hardest ties."""
    b = a.copy()
    for k in data.draw(st.lists(st.integers(0, len(a) - 1), max_size=3)):
        b[k, :2] += 30.0
    ref, err = reference(a, b, SCREEN, **kw)
    assert_parity(multimatch(a, b, SCREEN, **kw), ref, f"reference raised {err}")
    ref, err = reference(b, a, SCREEN, **kw)
    assert_parity(multimatch(b, a, SCREEN, **kw), ref, f"reference raised {err} (swapped)")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 60), kw=_GROUPING)
def test_identical_scanpaths_score_one(seed, n, kw):
    """Generic float scanpaths (no repeated saccade vectors) compared with themselves."""
    rng = np.random.default_rng(seed)
    a = np.c_[rng.uniform(0, 1280, n), rng.uniform(0, 720, n), rng.uniform(0.02, 0.8, n)]
    np.testing.assert_array_equal(multimatch(a, a, SCREEN, **kw), np.ones(5))
    ref, _ = reference(a, a, SCREEN, **kw)
    np.testing.assert_array_equal(ref, np.ones(5))

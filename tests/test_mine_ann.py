"""Candidate mining (`candidates="ann"`): embeddings, measured recall against brute force, resume, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from mcgip_fast import _core
from mcgip_fast.mining import AnnCandidates, mine
from mcgip_fast.mining.schemes import MultiMatchScheme
from mcgip_fast.mining.score import KILL_AFTER_ENV
from mcgip_fast.mining.synthetic import jittered_replicas, random_archive


@pytest.fixture(scope="module")
def archive():
    return jittered_replicas(random_archive(40, 12, seed=2, spread=3), 240, seed=3)


@pytest.mark.parametrize("grouping", [False, True])
def test_embedding_same_at_any_thread_count(archive, grouping):
    s = MultiMatchScheme(grouping=grouping, tamp=60.0, tdir=30.0, tdur=0.1)
    s.bind(archive)
    state = s.prepare(archive)
    one = _core.mining_scanpath_embedding(state, s.multimatch_params(), (-3.0, 0.0), threads=1)
    two = _core.mining_scanpath_embedding(state, s.multimatch_params(), (-3.0, 0.0), threads=2)
    assert one.shape == (len(archive), sum(w for _, w in _core.mining_embedding_blocks()))
    assert np.array_equal(one, two) and np.abs(one).sum() > 0


def test_embedding_rejects_bad_range(archive):
    s = MultiMatchScheme()
    s.bind(archive)
    with pytest.raises(ValueError, match="log_duration_range"):
        _core.mining_scanpath_embedding(s.prepare(archive), s.multimatch_params(), (0.0, 0.0))


def exact_scores(archive, q, grouping):
    s = MultiMatchScheme(grouping=grouping)
    s.bind(archive)
    n = len(archive)
    j = np.delete(np.arange(n), q)
    return j, s.score_pairs(s.prepare(archive), np.full(n - 1, q), j)


@pytest.mark.parametrize("grouping", [False, True])
def test_measured_recall_matches_brute_force(archive, grouping, tmp_path):
    k, c = 5, 12
    pairs = mine(archive, "multimatch", "topk", k=k, scheme_options={"grouping": grouping},
                 candidates=AnnCandidates(per_item=c, queries=30), seed=1, workdir=tmp_path / "w")
    rec = pairs.report.candidates["recall"]
    assert rec["queries"] == 30 and pairs.report.scored_pairs <= len(archive) * c
    with np.load(tmp_path / "w" / "candidates.npz") as z:
        partners = z["partners"]
    hits = hits_graph = 0
    for q in pairs.report.candidates["eval_queries"]:
        j, exact = exact_scores(archive, q, grouping)
        kth = np.sort(exact)[::-1][k - 1]
        hits += min(k, int((exact[np.isin(j, partners[q])] >= kth).sum()))
        hits_graph += min(k, int((exact[np.isin(j, pairs.neighbours(q)[0])] >= kth).sum()))
    # Brute force over the very candidate lists gives the measured recall; the symmetric graph holds at least as much.
    assert rec["value"] == hits / (k * 30) and rec["found"] == hits
    assert hits_graph >= hits and 0 < rec["value"] < 1 + 1e-12


def test_every_candidate_equals_exact(archive):
    exact = mine(archive, "multimatch", "topk", k=4)
    ann = mine(archive, "multimatch", "topk", k=4, candidates=AnnCandidates(per_item=len(archive) - 1, queries=10))
    assert ann.report.candidates["recall"]["value"] == 1.0
    assert np.array_equal(ann.indptr, exact.indptr) and np.array_equal(ann.indices, exact.indices)
    assert np.array_equal(ann.scores, exact.scores)


def test_target_recall_raises_candidates(archive):
    pairs = mine(archive, "multimatch", "topk", k=5, candidates=AnnCandidates(per_item=2, target_recall=1.0, queries=20))
    cal = pairs.report.candidates["calibration"]
    assert cal[0]["per_item"] == 2 and [c["per_item"] for c in cal] == sorted({c["per_item"] for c in cal})
    assert cal[-1]["recall"] == 1.0 or cal[-1]["per_item"] == len(archive) - 1
    assert pairs.params["candidates_per_item"] == cal[-1]["per_item"]


def test_threshold_rule_reports_recall_of_pairs_above(archive):
    pairs = mine(archive, "multimatch", "threshold", threshold=0.8, candidates=AnnCandidates(per_item=30, queries=20))
    rec = pairs.report.candidates["recall"]
    assert "score > 0.8" in rec["what"] and 0 <= rec["value"] <= 1


def test_auto_uses_exact_on_small_archives(archive):
    auto = mine(archive, "multimatch", "topk", k=3, candidates="auto")
    assert auto == mine(archive, "multimatch", "topk", k=3)
    assert auto.report.candidates["method"] == "exhaustive"


def test_same_output_at_any_thread_count(archive):
    one = mine(archive, "multimatch", "mutual", k=3, candidates=AnnCandidates(per_item=16, queries=10), threads=1)
    two = mine(archive, "multimatch", "mutual", k=3, candidates=AnnCandidates(per_item=16, queries=10), threads=2)
    assert one == two


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 240}, "only 240 items"),
        ({"k": 3, "candidates": AnnCandidates(target_recall=0.0)}, r"target recall must lie in \(0, 1\]"),
        ({"k": 3, "candidates": AnnCandidates(target_recall=1.5)}, r"target recall must lie in \(0, 1\]"),
        ({"k": 3, "candidates": AnnCandidates(per_item=0)}, "per_item"),
        ({"k": 3, "candidates": "nearest"}, "unknown candidates"),
        ({"k": 3, "scheme_options": {"prefilter": 5}}, "choose one"),
    ],
)
def test_bad_parameters(archive, kwargs, message):
    kwargs.setdefault("candidates", "ann")
    with pytest.raises(ValueError, match=message):
        mine(archive, "multimatch", "topk", **kwargs)


def test_empty_archive_is_an_error():
    from mcgip_fast import GazeArchive

    empty = GazeArchive.from_arrays([], np.zeros(1, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), screen=(100, 100))
    with pytest.raises(ValueError, match="empty"):
        mine(empty, "multimatch", "topk", k=1, candidates="ann")


def test_ann_is_for_multimatch_only():
    from mcgip_fast.mining import ItemArrays

    maps = ItemArrays(np.arange(6), np.random.default_rng(0).random((6, 8, 8)))
    with pytest.raises(ValueError, match="multimatch scheme"):
        mine(maps, "hu", "topk", k=1, candidates="ann")


def cli(*args, env_extra=None):
    env = dict(os.environ)
    env.pop(KILL_AFTER_ENV, None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", "mine", *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def table(tmp_path_factory, archive):
    import pandas as pd

    owner = np.repeat(archive.image_ids, archive.lengths)
    path = tmp_path_factory.mktemp("gaze") / "fixations.parquet"
    pd.DataFrame({"image_id": owner, "x": archive.x, "y": archive.y, "duration": archive.duration}).to_parquet(path)
    return path


def test_sigkill_then_resume_in_candidate_mode(tmp_path, table):
    common = ["--gaze", table, "--screen", 1280, 720, "--rule", "topk", "--k", 4, "--candidates", "ann",
              "--candidates-per-item", 20, "--recall-queries", 15, "--tile-rows", 30, "--no-progress"]
    ref = cli(*common, "--out", tmp_path / "ref.npz", "--threads", 1)
    assert ref.returncode == 0, ref.stderr
    wd = tmp_path / "work"
    killed = cli(*common, "--out", tmp_path / "out.npz", "--workdir", wd, "--threads", 2, env_extra={KILL_AFTER_ENV: "3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (wd / "candidates.npz").exists()
    resumed = cli(*common, "--out", tmp_path / "out.npz", "--workdir", wd, "--resume", "--threads", 2)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 reused" in resumed.stderr and "recall@4" in resumed.stderr
    assert (tmp_path / "out.npz").read_bytes() == (tmp_path / "ref.npz").read_bytes()
    import json

    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["report"]["candidates"]["recall"]["queries"] == 15


def test_cli_refuses_faiss_for_multimatch(tmp_path, table):
    r = cli("--gaze", table, "--screen", 1280, 720, "--rule", "topk", "--k", 2, "--candidates", "faiss", "--out", tmp_path / "o.npz")
    assert r.returncode != 0 and "--candidates ann" in r.stderr
    r = cli("--gaze", table, "--screen", 1280, 720, "--rule", "topk", "--k", 2, "--recall", "0.9", "--out", tmp_path / "o.npz")
    assert r.returncode != 0 and "need --candidates ann" in r.stderr


_INDEX_SCRIPT = """
import hashlib, sys, numpy as np
from mcgip_fast.mining.candidates import ann
ann.FLAT_MAX_ITEMS, ann.LARGE_ITEMS = 100, 200  # take the PCA + IVF path on a small archive
rng = np.random.default_rng(0)
centres = rng.normal(size=(150, 40))
v = (centres[rng.integers(0, 150, 3000)] + 0.05 * rng.normal(size=(3000, 40))).astype(np.float32)
idx = ann._Index(v, np.arange(3000), 0, None)
idx.set_probes(20)
lists = idx.search_all(v, 20, False)
sys.stdout.write(idx.describe()["kind"] + " " + hashlib.sha256(lists.tobytes()).hexdigest())
"""


def test_index_lists_do_not_depend_on_the_thread_environment(tmp_path):
    """The candidate index gives the same lists whether OpenMP/BLAS run 1 or 2 threads (at 1M items
    FAISS's BLAS paths changed 106 lists; `_Index` avoids them)."""
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        r = subprocess.run([sys.executable, "-c", _INDEX_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.split())
    assert outs[0][0] == "pca+ivf"
    assert outs[0] == outs[1]


def test_pca_projection_is_faiss_pca_transform():
    """`_Index` projects with the trained PCA itself (y = A x + b), the transform FAISS would apply."""
    import faiss

    from mcgip_fast.mining.candidates import ann

    rng = np.random.default_rng(1)
    v = rng.normal(size=(2000, 30)).astype(np.float32)
    old = ann.FLAT_MAX_ITEMS, ann.LARGE_ITEMS
    ann.FLAT_MAX_ITEMS, ann.LARGE_ITEMS = 100, 200
    try:
        idx = ann._Index(v, np.arange(2000), 0, None)
    finally:
        ann.FLAT_MAX_ITEMS, ann.LARGE_ITEMS = old
    a, b = idx._projection
    pca = faiss.PCAMatrix(30, a.shape[0])
    pca.train(v[np.sort(np.random.default_rng(0).choice(2000, min(2000, 32 * idx.nlist), replace=False))])
    np.testing.assert_allclose(idx._project(v[:50]), pca.apply(v[:50]), rtol=0, atol=1e-4)

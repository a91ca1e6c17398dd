"""mine() with the heatmap schemes (hu, dhash): rules against dense brute force, FAISS candidates."""

from __future__ import annotations

import numpy as np
import pytest

from mcgip_fast.data import load_studyforrest
from mcgip_fast.gaze.heatmaps import render_heatmaps
from mcgip_fast.mining import ItemArrays, mine
from mcgip_fast.similarity.dhash import bit_cosine, dhash, hamming
from mcgip_fast.similarity.hu import hu_moments, match_shapes, mcgip_hu_features, mcgip_hu_similarity


@pytest.fixture(scope="module")
def real():
    return load_studyforrest(by_reader=False)  # one item per reading: these tests compare pairs of readings


@pytest.fixture(scope="module")
def maps(real):
    return render_heatmaps(real, (64, 64), normalise="max")


def edges(p):
    r, c, s = p.edges()
    return {(a, b): x for a, b, x in zip(r.tolist(), c.tolist(), s.tolist())}


def dense_rules(m: np.ndarray, k: int, theta: float, symmetric: bool = True):
    """Expected top-k union and threshold edge sets from a dense similarity matrix."""
    n = len(m)
    top = set()
    for i in range(n):
        order = sorted((-m[i, j], j) for j in range(n) if j != i)
        for _, j in order[:k]:
            top.add((i, j))
            if symmetric:
                top.add((j, i))
    above = {(i, j) for i in range(n) for j in range(n) if i != j and m[i, j] > theta}
    return top, above


@pytest.mark.parametrize(
    "options, dense_fn",
    [
        ({"method": "hamming"}, lambda mp: 1.0 - hamming(dhash(mp)).astype(float) / 64),
        ({"method": "cosine"}, lambda mp: bit_cosine(dhash(mp))),
        ({"method": "hamming", "hash_size": 16}, lambda mp: 1.0 - hamming(dhash(mp, 16)).astype(float) / 256),
    ],
)
def test_dhash_rules_equal_dense(real, maps, options, dense_fn):
    m = dense_fn(maps)
    theta = float(np.quantile(m[np.triu_indices(len(m), 1)], 0.9))
    top, above = dense_rules(m, 3, theta)
    p = mine(real, "dhash", "topk", k=3, scheme_options=options, tile_rows=7)
    assert set(edges(p)) == top
    for (a, b), s in edges(p).items():
        assert s == m[a, b]
    t = mine(real, "dhash", "threshold", threshold=theta, scheme_options=options, tile_rows=11)
    assert set(edges(t)) == above
    assert p.params["method"] == options["method"]


@pytest.mark.parametrize("method", ["I1", "I2", "I3", "official"])
def test_hu_rules_equal_dense(real, maps, method):
    if method == "official":
        f = mcgip_hu_features(maps)
        m = mcgip_hu_similarity(f, f, 0.5)
    else:
        hu = hu_moments(maps)
        m = 1.0 / (1.0 + match_shapes(hu, hu, method))
    symmetric = method != "I3"
    theta = float(np.quantile(m[~np.eye(len(m), dtype=bool)], 0.9))
    top, above = dense_rules(m, 2, theta, symmetric)
    p = mine(real, "hu", "topk", k=2, scheme_options={"method": method}, tile_rows=9)
    assert p.symmetric == symmetric
    assert set(edges(p)) == top
    t = mine(real, "hu", "threshold", threshold=theta, scheme_options={"method": method})
    assert set(edges(t)) == above
    for (a, b), s in edges(t).items():
        assert s == m[a, b]


def test_faiss_candidates_are_exact_scores_with_high_recall(real):
    for scheme, opts in (("dhash", {"method": "hamming"}), ("hu", {"method": "I2"})):
        exact = edges(mine(real, scheme, "topk", k=3, scheme_options=opts))
        approx = edges(mine(real, scheme, "topk", k=3, scheme_options={**opts, "candidates": "faiss"}))
        common = set(exact) & set(approx)
        assert len(common) / len(exact) > 0.8
        for e in common:
            assert approx[e] == exact[e]


def test_codes_input_and_empty_heatmaps_skipped():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (50, 8), dtype=np.uint8)
    items = ItemArrays([f"c{i}" for i in range(50)], codes, "codes")
    p = mine(items, "dhash", "topk", k=2)
    d = 1.0 - hamming(codes).astype(float) / 64
    top, _ = dense_rules(d, 2, 1.0)
    assert set(edges(p)) == top
    p.check_archive(items)

    heat = rng.random((12, 16, 16)).astype(np.float32)
    heat[3] = 0
    heat[7] = 0
    maps = ItemArrays([f"m{i}" for i in range(12)], heat, "heatmaps")
    q = mine(maps, "dhash", "topk", k=2)
    assert len(q.report.skipped) == 2 and "'m3': empty heatmap" in q.report.skipped[0]
    assert q.degrees()[[3, 7]].sum() == 0


@pytest.mark.parametrize(
    "scheme, options, rule, kw, message",
    [
        ("hu", {"method": "I4"}, "topk", {"k": 1}, "hu method must be one of I1, I2, I3, official"),
        ("dhash", {"method": "jaccard"}, "topk", {"k": 1}, "dhash method must be one of hamming, cosine"),
        ("hu", {"method": "official", "candidates": "faiss"}, "topk", {"k": 1}, "I1, I2 and I3 only"),
        ("dhash", {"method": "cosine", "candidates": "faiss"}, "topk", {"k": 1}, "'hamming' only"),
        ("hu", {"method": "I1", "candidates": "faiss"}, "threshold", {"threshold": 0.5}, "method I2 only"),
        ("hu", {"weight": 2.0, "method": "official"}, "topk", {"k": 1}, r"weight must be in \[0, 1\]"),
        ("dhash", {}, "threshold", {"threshold": 1.0}, r"outside the range of the dhash score \[0, 1\)"),
        ("dhash", {"grouping": True}, "topk", {"k": 1}, "takes no option"),
        ("dhash", {"candidates": "annoy"}, "topk", {"k": 1}, "candidates must be 'exact' or 'faiss'"),
    ],
)
def test_bad_feature_arguments(real, scheme, options, rule, kw, message):
    with pytest.raises(ValueError, match=message):
        mine(real, scheme, rule, scheme_options=options, **kw)

"""Shuffled-positives control: same images and degrees, permuted partners, no class information left."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcgip_fast.cli.main import main
from mcgip_fast.mining import PositivePairs, shuffle_positives
from mcgip_fast.report.demo import chance_precision, pair_precision


def class_graph(n: int = 400, degree: int = 20, seed: int = 0) -> tuple[PositivePairs, np.ndarray]:
    """Each image linked to random images of its own class (4 classes): precision 1."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    i, j = [], []
    for k in range(n):
        same = np.flatnonzero(labels == labels[k])
        partners = rng.choice(same, size=degree // 2, replace=False)
        i += [k] * len(partners)
        j += partners.tolist()
    pairs = PositivePairs.from_edges([f"img{k}" for k in range(n)], np.array(i), np.array(j), rng.uniform(0.5, 1, len(i)),
                                     params={"rule": "test"}, archive_hash="abc")
    return pairs, labels


def test_keeps_images_degrees_scores_and_removes_the_class_signal():
    pairs, labels = class_graph()
    shuffled = shuffle_positives(pairs, seed=1)
    assert list(shuffled.ids) == list(pairs.ids) and shuffled.archive_hash == "abc" and shuffled.symmetric
    assert np.array_equal(shuffled.degrees(), pairs.degrees())
    assert np.allclose(np.sort(shuffled.scores), np.sort(pairs.scores))
    rows, cols, _ = shuffled.edges()
    assert not np.any(rows == cols)
    assert shuffled.are_positive(cols, rows).all()  # still symmetric
    assert pair_precision(pairs, labels)[0] == 1.0
    shuffled_precision = pair_precision(shuffled, labels)[0]
    assert abs(shuffled_precision - chance_precision(labels)) < 0.05, shuffled_precision
    density = pairs.n_edges / len(pairs) ** 2
    assert shuffled.params["unchanged_share"] < 3 * density + 0.02
    assert shuffled.params["source_params"] == {"rule": "test"} and shuffled.params["seed"] == 1


def test_deterministic_in_the_seed():
    pairs, _ = class_graph(n=120, degree=8)
    assert shuffle_positives(pairs, seed=3) == shuffle_positives(pairs, seed=3)
    assert shuffle_positives(pairs, seed=3) != shuffle_positives(pairs, seed=4)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 40), n_edges=st.integers(0, 150), symmetric=st.booleans(), seed=st.integers(0, 2**31),
       rounds=st.integers(1, 5))
def test_any_graph_keeps_its_degrees(n, n_edges, symmetric, seed, rounds):
    rng = np.random.default_rng(seed)
    pairs = PositivePairs.from_edges([str(k) for k in range(n)], rng.integers(0, n, n_edges), rng.integers(0, n, n_edges),
                                     rng.random(n_edges), symmetric=symmetric)
    out = shuffle_positives(pairs, seed=seed, rounds=rounds)
    assert np.array_equal(out.degrees(), pairs.degrees())  # out-degrees
    assert np.array_equal(np.bincount(out.indices, minlength=n), np.bincount(pairs.indices, minlength=n))  # in-degrees
    assert out.symmetric == symmetric and out.n_edges == pairs.n_edges
    rows, cols, _ = out.edges()
    assert not np.any(rows == cols)
    if symmetric:
        assert out.are_positive(cols, rows).all()


def test_rejects_bad_rounds():
    pairs, _ = class_graph(n=40, degree=4)
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        shuffle_positives(pairs, rounds=0)


def test_cli_writes_a_trainable_control(tmp_path, capsys):
    pairs, _ = class_graph(n=100, degree=6)
    src = pairs.save(tmp_path / "pairs.parquet")
    out = tmp_path / "shuffled.npz"
    assert main(["shuffle-pairs", "--pairs", str(src), "--seed", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "degrees identical" in err and "of pairs unchanged" in err
    again = PositivePairs.load(out)
    assert again == shuffle_positives(pairs, seed=2)
    assert main(["shuffle-pairs", "--pairs", str(tmp_path / "missing.npz"), "--out", str(out)]) == 2
    assert "missing.npz: no such pairs file" in capsys.readouterr().err
    assert main(["shuffle-pairs", "--pairs", str(src), "--out", str(tmp_path / "x.csv")]) == 2
    with pytest.raises(SystemExit):
        main(["shuffle-pairs", "--help"])
    assert "Examples:" in capsys.readouterr().out

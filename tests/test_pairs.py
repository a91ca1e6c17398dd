"""PositivePairs: CSR building, look-ups, files and archive checks."""

import numpy as np
import pytest

from mcgip_fast import GazeArchive
from mcgip_fast.mining import PairsMismatchError, PositivePairs


def _pairs(**kw):
    ids = ["a", "b", "c", "d"]
    return PositivePairs.from_edges(ids, [0, 2, 1, 3, 0], [1, 1, 1, 2, 1], [0.9, 0.5, 1.0, 0.7, 0.95], **kw)


def test_from_edges_symmetric_dedups_and_drops_self():
    p = _pairs(params={"rule": "test"})
    # (1,1) is a self-pair and is dropped; (0,1) appears twice and keeps the best score.
    assert p.n_pairs == 3
    assert p.indptr.tolist() == [0, 1, 3, 5, 6]
    assert p.indices.tolist() == [1, 0, 2, 1, 3, 2]
    np.testing.assert_array_equal(p.scores, [0.95, 0.95, 0.5, 0.5, 0.7, 0.7])
    assert p.degrees().tolist() == [1, 2, 2, 1]


def test_directed_pairs_keep_direction():
    p = _pairs(symmetric=False)
    assert p.are_positive([0, 1], [1, 0]).tolist() == [True, False]


def test_are_positive_vectorised():
    p = _pairs()
    a = np.array([0, 1, 0, 3, 2, -1, 9])
    b = np.array([1, 0, 2, 2, 3, 0, 0])
    assert p.are_positive(a, b).tolist() == [True, True, False, True, True, False, False]
    empty = PositivePairs.from_edges(["a", "b"], [], [], [])
    assert empty.are_positive([0], [1]).tolist() == [False]


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
def test_save_load_round_trip(tmp_path, suffix):
    p = _pairs(params={"scheme": "dhash", "k": 5}, archive_hash="abc")
    out = p.save(tmp_path / f"pairs{suffix}")
    q = PositivePairs.load(out)
    assert q == p
    assert q.params == {"scheme": "dhash", "k": 5}


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        PositivePairs.load(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="bad.parquet: not a readable"):
        PositivePairs.load(bad)
    with pytest.raises(ValueError, match="end in .parquet or .npz"):
        _pairs().save(tmp_path / "x.csv")


def test_refuses_mismatched_archive():
    sps = [np.array([[1, 1, 0.1], [2, 2, 0.1], [3, 3, 0.1]]) * (k + 1) for k in range(3)]
    arch = GazeArchive.from_scanpaths(sps, ["a", "b", "c"])
    p = PositivePairs.from_edges(arch.keys, [0], [1], [1.0], archive_hash=arch.content_hash())
    p.check_archive(arch)
    with pytest.raises(PairsMismatchError, match="item 0 is 'a' in the pairs file but 'b'"):
        p.check_archive(arch.subset([1, 0, 2]))
    with pytest.raises(PairsMismatchError, match="3 items but the archive has 2"):
        p.check_archive(arch.subset([0, 1]))
    edited = GazeArchive.from_scanpaths([s + 1 for s in sps], ["a", "b", "c"])
    with pytest.raises(PairsMismatchError, match="different content"):
        p.check_archive(edited)


def test_rejects_bad_edges():
    with pytest.raises(ValueError, match="out of range"):
        PositivePairs.from_edges(["a"], [0], [3], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        PositivePairs.from_edges(["a", "b"], [0], [1], [np.nan])

"""Several readers per image: aggregated mining against a brute-force mean over reader pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mcgip_fast.gaze.archive import GazeArchive
from mcgip_fast.mining import mine
from mcgip_fast.mining.aggregate import pooled_archive, resolve_aggregate
from mcgip_fast.mining.schemes import MultiMatchScheme
from mcgip_fast.mining.synthetic import random_archive


def multi_reader_archive(n_images: int, n_readers: int, *, coverage: float = 0.7, seed: int = 0, short: int = 1) -> GazeArchive:
    """Each reader reads a random `coverage` share of the images (every image by at least one reader)."""
    rng = np.random.default_rng(seed)
    read = rng.random((n_images, n_readers)) < coverage
    read[np.arange(n_images), rng.integers(0, n_readers, n_images)] = True
    img, rdr = np.nonzero(read)  # image-major order
    base = random_archive(len(img), 8, seed=seed, spread=3, short=short)
    return GazeArchive.from_arrays(
        [f"{i:03d}" for i in img], base.offsets, base.x, base.y, base.duration,
        readers=[f"r{r}" for r in rdr], screen=base.screen,
    )


def brute_force(archive: GazeArchive, mode: str) -> dict[tuple[str, str], float]:
    """{(image a, image b): aggregated score} from reading-pair scores, one pair at a time."""
    scheme = MultiMatchScheme(screen=archive.screen)
    state = scheme.prepare(archive)
    readings: dict[str, dict[str, int]] = {}
    for k, (img, rdr) in enumerate(zip(archive.image_ids, archive.readers)):
        if state.active[k]:
            readings.setdefault(str(img), {})[str(rdr)] = k
    out = {}
    for a, b in itertools.combinations(sorted(readings), 2):
        if mode == "same-reader":
            pairs = [(readings[a][r], readings[b][r]) for r in sorted(readings[a]) if r in readings[b]]
        else:
            pairs = [(i, j) for i in readings[a].values() for j in readings[b].values()]
        if not pairs:
            continue
        s = scheme.score_pairs(state, np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
        out[(a, b)] = float(np.mean(s))
    return out


def all_scores(pairs) -> dict[tuple[str, str], float]:
    r, c, s = pairs.edges()
    return {(pairs.ids[i], pairs.ids[j]): v for i, j, v in zip(r, c, s) if i < j}


@pytest.fixture(scope="module")
def archive():
    return multi_reader_archive(14, 4, seed=3)


@pytest.mark.parametrize("mode", ["same-reader", "all-pairs"])
def test_aggregate_equals_brute_force_mean(archive, mode):
    want = brute_force(archive, mode)
    # threshold 0: every scored image pair is kept, so the pair file holds every aggregated score.
    got = mine(archive, "multimatch", "threshold", threshold=0.0, aggregate=mode, tile_rows=4)
    assert list(got.ids) == sorted(set(archive.image_ids))  # keyed by image id, first-appearance order
    have = all_scores(got)
    assert have.keys() == want.keys()
    for key, value in want.items():
        assert have[key] == pytest.approx(value, abs=1e-12)
    if mode == "same-reader":
        n = len(got.ids)
        assert got.params["aggregate"]["image_pairs_without_common_reader"] == n * (n - 1) // 2 - len(want)


@pytest.mark.parametrize("mode", ["same-reader", "all-pairs"])
def test_topk_matches_brute_force_and_is_tiling_and_thread_invariant(archive, mode):
    want = brute_force(archive, mode)
    ids = sorted(set(archive.image_ids))
    k = 2
    expected = set()
    for a in ids:
        cand = sorted((-v, b) for (x, y), v in want.items() for b in ((y,) if x == a else (x,) if y == a else ()))
        expected |= {(a, b) for _, b in cand[:k]} | {(b, a) for _, b in cand[:k]}
    ref = mine(archive, "multimatch", "topk", k=k, aggregate=mode, threads=1, tile_rows=20)
    r, c, _ = ref.edges()
    assert {(ref.ids[i], ref.ids[j]) for i, j in zip(r, c)} == expected
    for threads, tile_rows in ((2, 1), (1, 3), (2, None)):
        assert mine(archive, "multimatch", "topk", k=k, aggregate=mode, threads=threads, tile_rows=tile_rows) == ref


def test_pairs_without_common_reader_get_no_score_never_zero():
    # Reader a reads images 0-3, reader b images 3-6: pairs across {0,1,2} x {4,5,6} share no reader.
    base = random_archive(8, 6, seed=1)
    ids = ["0", "1", "2", "3", "3", "4", "5", "6"]
    readers = ["a", "a", "a", "a", "b", "b", "b", "b"]
    arch = GazeArchive.from_arrays(ids, base.offsets, base.x, base.y, base.duration, readers=readers, screen=base.screen)
    p = mine(arch, "multimatch", "threshold", threshold=0.0, aggregate="same-reader")
    scored = set(all_scores(p))
    assert scored == {(a, b) for a, b in itertools.combinations("0123", 2)} | {(a, b) for a, b in itertools.combinations("3456", 2)}
    assert p.params["aggregate"]["image_pairs_without_common_reader"] == 9
    # The percentile rule's sample holds the unscored pairs as NaN, never as 0.
    q = mine(arch, "multimatch", "percentile", percentile=50, aggregate="same-reader")
    assert np.isnan(q.report.sample_scores).sum() == 9


def test_no_shared_reader_at_all_is_a_clear_error():
    base = random_archive(6, 6, seed=2)
    arch = GazeArchive.from_arrays(list("abcdef"), base.offsets, base.x, base.y, base.duration,
                                   readers=[f"r{i}" for i in range(6)], screen=base.screen)
    with pytest.raises(ValueError, match="no two images share a reader.*aggregate=.all-pairs."):
        mine(arch, "multimatch", "topk", k=1, aggregate="same-reader")
    assert resolve_aggregate(arch, "auto") == "all-pairs"
    assert len(mine(arch, "multimatch", "topk", k=1).ids) == 6


def test_auto_mode_and_bad_modes(archive):
    assert resolve_aggregate(archive, "auto") == "same-reader"
    assert resolve_aggregate(random_archive(5, 5), "auto") == "none"
    with pytest.raises(ValueError, match="needs an archive with readers"):
        mine(random_archive(5, 5), "multimatch", "topk", k=1, aggregate="same-reader")
    with pytest.raises(ValueError, match="unknown aggregate .mean.; pass aggregate="):
        mine(archive, "multimatch", "topk", k=1, aggregate="mean")
    with pytest.raises(ValueError, match="heatmap schemes"):
        mine(archive, "multimatch", "topk", k=1, aggregate="pooled")
    # "none" keeps pairs of readings, keyed image|reader.
    assert mine(archive, "multimatch", "topk", k=1, aggregate="none").ids[0] == f"{archive.image_ids[0]}|{archive.readers[0]}"


@pytest.mark.parametrize("scheme", ["hu", "dhash"])
def test_pooled_is_one_heatmap_from_all_readers(archive, scheme):
    got = mine(archive, scheme, "topk", k=2, aggregate="pooled")
    # By hand: concatenate each image's readings' fixations.
    ids = sorted(set(archive.image_ids))
    sps = [np.concatenate([sp.to_array() for sp in archive if sp.image_id == i]) for i in ids]
    want = mine(GazeArchive.from_scanpaths(sps, ids, screen=archive.screen), scheme, "topk", k=2)
    assert list(got.ids) == ids
    assert np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.scores, want.scores)
    assert got.params["aggregate"]["mode"] == "pooled"
    assert len(pooled_archive(archive).x) == len(archive.x)


def test_aggregate_resumes_from_its_workdir(archive, tmp_path):
    wd = tmp_path / "w"
    ref = mine(archive, "multimatch", "topk", k=2, aggregate="same-reader", tile_rows=3, workdir=wd)
    tiles = sorted((wd / "tiles").glob("tile-*.npz"))
    assert len(tiles) == 5
    tiles[2].unlink()
    again = mine(archive, "multimatch", "topk", k=2, aggregate="same-reader", tile_rows=3, workdir=wd, resume=True)
    assert again == ref and again.report.tiles_reused == 4
    # The work directory records the mode: another mode is another run.
    with pytest.raises(ValueError, match="different run"):
        mine(archive, "multimatch", "topk", k=2, aggregate="all-pairs", tile_rows=3, workdir=wd, resume=True)


def test_aggregate_on_dask_equals_local(archive):
    distributed = pytest.importorskip("distributed")
    # Worker processes: the aggregated scheme and state cross a pickle boundary.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            for scheme, mode in (("multimatch", "same-reader"), ("multimatch", "all-pairs"), ("dhash", "pooled")):
                remote = mine(archive, scheme, "topk", k=2, aggregate=mode, tile_rows=4, engine="dask", scheduler=client)
                assert remote == mine(archive, scheme, "topk", k=2, aggregate=mode, tile_rows=4)

"""The gaze-aware batch sampler: determinism, coverage, groups, DDP partition, resume, training."""

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train import TrainConfig, train  # noqa: E402
from mcgip_fast.train.data import GlobalBatchSampler  # noqa: E402
from mcgip_fast.train.samplers import GazeBatchSampler, make_batch_sampler, neighbour_graph  # noqa: E402
from test_train import cfg_for as train_cfg  # noqa: E402
from train_utils import make_dataset, free_port, Killed, kill_at  # noqa: E402


def random_pairs(n: int, n_edges: int, seed: int) -> PositivePairs:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, n_edges), rng.integers(0, n, n_edges)
    return PositivePairs.from_edges([f"im{k}" for k in range(n)], i, j, np.ones(n_edges))


def sampler_for(pairs, batch, m, **kw) -> GazeBatchSampler:
    indptr, indices = neighbour_graph(pairs, np.arange(len(pairs)))
    return GazeBatchSampler(indptr, indices, batch, m, **kw)


def test_same_seed_same_batches_other_seed_or_epoch_differs():
    pairs = random_pairs(200, 2000, 0)
    a, b, c = sampler_for(pairs, 16, 3, seed=5), sampler_for(pairs, 16, 3, seed=5), sampler_for(pairs, 16, 3, seed=6)
    for s in (a, b, c):
        s.set_epoch(2)
    assert list(a) == list(b)
    assert list(a) != list(c)
    first = list(a)
    a.set_epoch(3)
    assert list(a) != first


@settings(max_examples=40, deadline=None)
@given(n=st.integers(8, 120), edges=st.integers(0, 600), m=st.integers(1, 5), groups=st.integers(1, 3),
       world=st.integers(1, 2), seed=st.integers(0, 2**31), epoch=st.integers(0, 50))
def test_every_image_once_per_epoch_except_the_dropped_tail(n, edges, m, groups, world, seed, epoch):
    """The stated tolerance: each image appears exactly once per epoch, except the n mod (B * world)
    images of the incomplete last global batch; never twice."""
    batch = groups * (m + 1)
    if batch * world > n:
        return
    pairs = random_pairs(n, edges, seed)
    ranks = [sampler_for(pairs, batch, m, world_size=world, rank=r, seed=seed) for r in range(world)]
    for s in ranks:
        s.set_epoch(epoch)
    order = ranks[0].epoch_order()
    assert sorted(order.tolist()) == list(range(n))
    seen = [k for s in ranks for b in s for k in b]
    assert len(seen) == len(set(seen)) == n - n % (batch * world)
    assert all(len(b) == batch for s in ranks for b in s)


def test_groups_are_a_seed_and_its_neighbours():
    """Disjoint cliques of m + 1 images: every group is exactly one clique."""
    m, n_cliques = 3, 25
    members = np.arange(n_cliques * (m + 1)).reshape(n_cliques, m + 1)
    i, j = zip(*[(a, b) for row in members for a in row for b in row if a < b])
    pairs = PositivePairs.from_edges([str(k) for k in range(members.size)], np.array(i), np.array(j), np.ones(len(i)))
    s = sampler_for(pairs, 8, m, seed=1)
    groups = s.epoch_order(0).reshape(-1, m + 1)
    assert sorted(tuple(sorted(g)) for g in groups.tolist()) == sorted(tuple(r) for r in members.tolist())
    stats = s.group_stats(0)
    assert stats.full_groups == 1.0 and stats.n_seeds == n_cliques and stats.neighbour_share == m / (m + 1)


def test_neighbours_linked_to_the_group_are_preferred():
    """Seed 0's neighbours: 1, 2, 3 are linked to each other, 4 and 5 only to the seed. After the
    first pick (1, the lowest rank), 2 and 3 come before 4 and 5 whatever their random rank."""
    i = np.array([0, 0, 0, 0, 0, 1, 1, 2])
    j = np.array([1, 2, 3, 4, 5, 2, 3, 3])
    s = sampler_for(PositivePairs.from_edges([str(k) for k in range(8)], i, j, np.ones(len(i))), 4, 3)
    assert s._densest(np.array([1, 4, 5, 2, 3]), 3).tolist() == [1, 2, 3]
    # 4 links to nothing, so rank decides the second pick (1); then 2, linked to 1, beats 5
    assert s._densest(np.array([4, 1, 5, 2, 3]), 3).tolist() == [4, 1, 2]


def test_many_more_in_batch_positives_than_a_random_batch():
    pairs = random_pairs(400, 4000, 2)  # mean degree ~20
    gaze, plain = sampler_for(pairs, 32, 7, seed=0), GlobalBatchSampler(400, 32, seed=0)

    def positives_per_image(sampler):
        hits = [pairs.are_positive(np.repeat(b, len(b)), np.tile(b, len(b))).sum() / len(b) for b in sampler]
        return float(np.mean(hits))

    dense, sparse = positives_per_image(gaze), positives_per_image(plain)
    assert sparse < 2.0  # 31 others x 20 / 400
    # a star per group: the seed has 7 positives, each neighbour the seed and chance links
    assert dense > 2 * sparse
    # the first slot of a group is a seed, followed by its neighbours (all 7 while enough are left)
    groups = gaze.epoch_order(0).reshape(-1, 8)
    full = [pairs.are_positive(np.full(7, g[0]), g[1:]).all() for g in groups]
    assert all(full[:10]) and np.mean(full) == gaze.group_stats(0).full_groups > 0.5  # 0.62: free neighbours run out late


def test_ranks_take_whole_disjoint_groups_of_the_global_batch():
    pairs = random_pairs(100, 800, 3)
    single = sampler_for(pairs, 8, 3, seed=4)
    r0, r1 = (sampler_for(pairs, 4, 3, world_size=2, rank=r, seed=4) for r in range(2))
    for s in (single, r0, r1):
        s.set_epoch(1)
    assert [a + b for a, b in zip(r0, r1)] == list(single)
    groups = single.epoch_order().reshape(-1, 4).tolist()
    for b in r0:
        assert b in groups  # one whole group per rank per step here
    assert not set(k for b in r0 for k in b) & set(k for b in r1 for k in b)


def test_resume_mid_epoch_yields_the_rest():
    s = sampler_for(random_pairs(64, 300, 4), 8, 1, seed=0)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, start_step=3)
    assert len(s) == len(full) - 3 and list(s) == full[3:]
    # a fresh sampler (a resumed process) draws the same epoch
    t = sampler_for(random_pairs(64, 300, 4), 8, 1, seed=0)
    t.set_epoch(2, start_step=3)
    assert list(t) == full[3:]


def test_neighbour_graph_follows_dataset_positions():
    """Dataset positions differ from pairs rows when images were skipped or are outside the graph."""
    pairs = PositivePairs.from_edges(["a", "b", "c", "d"], np.array([0, 1]), np.array([1, 3]), np.ones(2))
    # dataset: c, d, a, an image not in the graph (index 4); b was skipped as unreadable
    indptr, indices = neighbour_graph(pairs, np.array([2, 3, 0, 4]))
    rows = [indices[indptr[k]:indptr[k + 1]].tolist() for k in range(4)]
    assert rows == [[], [], [], []]  # every edge went through b
    indptr, indices = neighbour_graph(pairs, np.array([3, 1, 0, 2]))  # d, b, a, c
    rows = [indices[indptr[k]:indptr[k + 1]].tolist() for k in range(4)]
    assert rows == [[1], [0, 2], [1], []]


def test_bad_options_are_clear_errors():
    pairs = random_pairs(20, 40, 0)
    with pytest.raises(ValueError, match="batch size 6 is not a multiple of positives_per_anchor \\+ 1 = 4"):
        sampler_for(pairs, 6, 3)
    with pytest.raises(ValueError, match="positives_per_anchor must be at least 1"):
        sampler_for(pairs, 4, 0)
    with pytest.raises(ValueError, match="batch size 12 x 2 processes is larger than the dataset \\(20 images\\)"):
        sampler_for(pairs, 12, 2, world_size=2)
    with pytest.raises(ValueError, match="batch_size 6 is not a multiple of positives_per_anchor \\+ 1 = 4"):
        TrainConfig(manifest="m.csv", pairs="p.npz", batch_sampler="gaze", positives_per_anchor=3, batch_size=6).validate()
    with pytest.raises(ValueError, match="gaze batch sampler needs a pairs file"):
        TrainConfig(manifest="m.csv", gaze=False, batch_sampler="gaze", batch_size=4).validate()
    with pytest.raises(ValueError, match="needs a pairs file"):
        make_batch_sampler(TrainConfig(batch_sampler="gaze", batch_size=4), np.arange(10), None)


# ---------------------------------------------------------------- training with the gaze sampler
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("imgs"), n=16, size=24)


def cfg_for(data, out, **kw):
    """test_train's tiny run, with the gaze sampler (groups of 2)."""
    return train_cfg(data, out, **{"batch_sampler": "gaze", "positives_per_anchor": 1, **kw})


def test_gaze_sampler_trains_with_more_positives_and_for_a_baseline(data, tmp_path):
    plain = train(cfg_for(data, tmp_path / "plain", method="simsiam", batch_sampler="random"))
    gaze = train(cfg_for(data, tmp_path / "gaze", method="simsiam"))
    assert gaze.steps == plain.steps == 8
    # every group of 2 is a seed and its neighbour (the graph links k and k + 2; chains are short)
    assert sum(gaze.n_gaze_positives) > sum(plain.n_gaze_positives)
    base = train(cfg_for(data, tmp_path / "base", method="simsiam", gaze=False))
    assert sum(base.n_gaze_positives) == 0 and all(np.isfinite(base.losses))
    with pytest.raises(ValueError, match="options changed.*batch_sampler 'gaze' -> 'random'"):
        train(cfg_for(data, tmp_path / "gaze", method="simsiam", batch_sampler="random", resume=True))


@pytest.mark.parametrize("method", ["byol", "moco"])
def test_resume_mid_epoch_reproduces_the_losses(data, tmp_path, method):
    opts = dict(method=method, epochs=3, drop_positive_p=0.3, checkpoint_every=2)
    full = train(cfg_for(data, tmp_path / "full", **opts))

    # mid-epoch 2 (4 steps per epoch); the last checkpoint is at step 6
    with pytest.raises(Killed):
        train(cfg_for(data, tmp_path / "killed", **opts), on_step=kill_at(7))
    ck = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck["step_in_epoch"]) == (1, 2)
    resumed = train(cfg_for(data, tmp_path / "killed", resume=True, **opts))
    assert len(full.losses) == 12 and resumed.losses == full.losses


# ---------------------------------------------------------------- DDP: 2 processes, gloo on CPU

def _worker(rank: int, world: int, port: int, cfg: dict, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        sampler = make_batch_sampler(TrainConfig(**cfg), np.arange(16), PositivePairs.load(cfg["pairs"]),
                                     world_size=world, rank=rank)
        sampler.set_epoch(1)
        r = train(TrainConfig(**cfg))
        with open(f"{out}/rank{rank}.json", "w") as f:
            json.dump({"losses": r.losses, "gaze": r.n_gaze_positives, "steps": r.steps,
                       "batches": [list(map(int, b)) for b in sampler]}, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawning two processes takes ~10-30 s on a busy 2-core machine
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo")
def test_two_processes_take_disjoint_groups_and_agree_with_one(data, tmp_path):
    cfg = cfg_for(data, tmp_path / "ddp", method="simsiam", batch_size=2, device="cpu").to_dict()
    mp.spawn(_worker, args=(2, free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    single = train(cfg_for(data, tmp_path / "single", method="simsiam", batch_size=4, device="cpu"))
    assert r0["steps"] == r1["steps"] == single.steps == 8
    # each rank holds one whole group per step, the two are disjoint and together make the 1-process batch
    one = make_batch_sampler(TrainConfig(**{**cfg, "batch_size": 4}), np.arange(16), PositivePairs.load(cfg["pairs"]))
    one.set_epoch(1)
    assert [a + b for a, b in zip(r0["batches"], r1["batches"])] == list(one)
    assert all(not set(a) & set(b) for a, b in zip(r0["batches"], r1["batches"]))
    # positives depend only on which images are in each global batch: every process counts the same
    assert r0["gaze"] == r1["gaze"] == single.n_gaze_positives and sum(single.n_gaze_positives) > 0
    assert r0["losses"] == r1["losses"]


def test_cli_trains_with_the_gaze_sampler_and_explains_a_bad_group_size(data, tmp_path, capsys):
    from mcgip_fast.cli.main import main

    manifest, pairs = data
    args = ["train", "--manifest", str(manifest), "--pairs", str(pairs), "--out-dir", str(tmp_path / "r"), "--image-size", "16",
            "--width", "4", "--batch-size", "4", "--queue-size", "16", "--proj-dim", "8", "--hidden-dim", "16", "--epochs", "1",
            "--no-progress", "--device", "cpu", "--method", "simclr", "--batch-sampler", "gaze"]
    assert main([*args, "--positives-per-anchor", "1"]) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    assert main([*args, "--positives-per-anchor", "2"]) == 2
    assert "batch_size 4 is not a multiple of positives_per_anchor + 1 = 3" in capsys.readouterr().err

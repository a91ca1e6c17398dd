"""DDP on CPU (gloo, 2 processes on 127.0.0.1): queue ids, positives and gathered gradients agree
with a single process that sees the same global batches."""

import json
import os

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from mcgip_fast.train import TrainConfig, train  # noqa: E402
from train_utils import make_dataset, free_port, Killed, kill_at  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo")



def _env(rank: int, world: int, port: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)


def _worker(rank: int, world: int, port: int, cfgs: dict, out: str) -> None:
    """One process group for every check (starting processes is the slow part)."""
    _env(rank, world, port)
    from mcgip_fast.train import ddp

    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # gather_with_grad: each rank's loss uses every rank's rows
        g = torch.Generator().manual_seed(0)
        full = torch.randn(world * 3, 4, generator=g)
        x = full[rank * 3 : (rank + 1) * 3].clone().requires_grad_(True)
        z = ddp.gather_with_grad(x)
        ((x @ z.T).exp().sum() / (rank + 1)).backward()
        torch.save({"grad": x.grad, "full": full}, f"{out}/grad{rank}.pt")
        # training: train() joins the existing group
        for name, cfg in cfgs.items():
            r = train(TrainConfig(**cfg))
            with open(f"{out}/{name}_rank{rank}.json", "w") as f:
                json.dump({"losses": r.losses, "gaze": r.n_gaze_positives, "steps": r.steps}, f)
        # resume under DDP: kill every rank at step 7 (last checkpoint at 6, mid-epoch), resume
        killed = {**cfgs["moco"], "drop_positive_p": 0.5, "checkpoint_every": 2, "out_dir": cfgs["moco"]["out_dir"] + "_killed"}
        full = train(TrainConfig(**{**killed, "out_dir": killed["out_dir"] + "_full"}))

        try:
            train(TrainConfig(**killed), on_step=kill_at(7))
        except Killed:
            pass
        resumed = train(TrainConfig(**{**killed, "resume": True}))
        with open(f"{out}/resume_rank{rank}.json", "w") as f:
            json.dump({"full": full.losses, "resumed": resumed.losses}, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    manifest, pairs = make_dataset(tmp / "d", n=16, size=20)
    base = dict(manifest=str(manifest), pairs=str(pairs), image_size=16, width=4, epochs=2, queue_size=8,
                proj_dim=8, hidden_dim=8, progress=False, device="cpu", checkpoint_every=100)
    cfgs = {m: {**base, "method": m, "batch_size": 2, "out_dir": str(tmp / f"ddp_{m}")} for m in ("moco", "simclr")}
    mp.spawn(_worker, args=(2, free_port(), cfgs, str(tmp)), nprocs=2, join=True)
    singles = {m: train(TrainConfig(**{**base, "method": m, "batch_size": 4, "out_dir": str(tmp / f"single_{m}")}))
               for m in ("moco", "simclr")}
    return tmp, singles


def test_gather_with_grad_matches_single_process(two_process_run):
    tmp, _ = two_process_run
    full = torch.load(tmp / "grad0.pt", weights_only=True)["full"].clone().requires_grad_(True)
    total = sum((full[r * 3 : (r + 1) * 3] @ full.T).exp().sum() / (r + 1) for r in range(2))
    total.backward()
    for r in range(2):
        got = torch.load(tmp / f"grad{r}.pt", weights_only=True)["grad"]
        torch.testing.assert_close(got, full.grad[r * 3 : (r + 1) * 3])


@pytest.mark.parametrize("method", ["moco", "simclr"])
def test_two_processes_agree_with_one(two_process_run, method):
    tmp, singles = two_process_run
    single = singles[method]
    r0 = json.loads((tmp / f"{method}_rank0.json").read_text())
    r1 = json.loads((tmp / f"{method}_rank1.json").read_text())
    assert r0["steps"] == r1["steps"] == single.steps == 8
    # positives depend only on which images are in each global batch (and the queue): they must agree
    assert r0["gaze"] == r1["gaze"] == single.n_gaze_positives
    assert sum(single.n_gaze_positives) > 0
    assert r0["losses"] == r1["losses"]  # logged losses are averaged over ranks
    if method == "moco":
        ck_single = torch.load(single.checkpoint_path, weights_only=True)["model"]
        ck_ddp = torch.load(tmp / "ddp_moco" / "checkpoint.pt", weights_only=True)["model"]
        assert torch.equal(ck_ddp["queue.ids"], ck_single["queue.ids"])
        assert (ck_ddp["queue.ids"] >= 0).all()
        assert int(ck_ddp["queue.ptr"]) == int(ck_single["queue.ptr"])


def test_resume_under_ddp_reproduces_losses(two_process_run):
    tmp, _ = two_process_run
    for rank in range(2):
        r = json.loads((tmp / f"resume_rank{rank}.json").read_text())
        assert len(r["full"]) == 8 and r["resumed"] == r["full"]

"""BYOL / SimSiam / SimCLR gaze memory (issue 12): remembered targets of gaze positives from earlier steps."""

import argparse
import json
import os

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train import TrainConfig, train  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.byol import BYOL  # noqa: E402
from mcgip_fast.train.losses import predictive_cosine_loss  # noqa: E402
from mcgip_fast.train.methods import build_method  # noqa: E402
from mcgip_fast.train.positives import PositiveLookup  # noqa: E402
from mcgip_fast.train.simclr import SimCLR  # noqa: E402
from mcgip_fast.train.simsiam import SimSiam  # noqa: E402
from train_utils import make_dataset, tiny_config as cfg_for, free_port, Killed, kill_at  # noqa: E402

torch.set_num_threads(1)

# 0-1, 0-2, 3-4; 5 has no positives
PAIRS = PositivePairs.from_edges([f"img{i}" for i in range(6)], [0, 0, 3], [1, 2, 4], [0.9, 0.4, 0.6])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("imgs"), n=16, size=24)


def _tiny(cls, lookup, **kw):
    torch.manual_seed(0)
    return cls(build_backbone("resnet18", 1, width=4), lookup=lookup, proj_dim=8, hidden_dim=8, **kw)


@pytest.mark.parametrize("cls", [BYOL, SimSiam])
def test_memory_zero_is_the_method_without_memory(cls):
    m = _tiny(cls, PositiveLookup.from_pairs(PAIRS), gaze_memory=0)
    assert m.memory is None and not any(k.startswith("memory.") for k in m.state_dict())
    x1, x2, ids = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 5, 2])
    out = m(x1, x2, ids)
    # the loss as the methods computed it before the memory existed: in-batch candidates only
    with torch.no_grad():
        w = m.positive_weights(ids, ids)
        if cls is BYOL:
            p1, p2 = (m.predictor(m.projector(m.backbone(x))) for x in (x1, x2))
            t1, t2 = (m.target_projector(m.target_backbone(x)) for x in (x1, x2))
            ref = predictive_cosine_loss(p1, t2, w, kind="byol") + predictive_cosine_loss(p2, t1, w, kind="byol")
        else:
            z1, z2 = m.projector(m.backbone(x1)), m.projector(m.backbone(x2))
            p1, p2 = m.predictor(z1), m.predictor(z2)
            ref = 0.5 * (predictive_cosine_loss(p1, z2, w, kind="simsiam") + predictive_cosine_loss(p2, z1, w, kind="simsiam"))
    assert torch.equal(out.loss.detach(), ref)


@pytest.mark.parametrize("method", ["byol", "simsiam", "simclr"])
def test_memory_zero_run_is_unchanged_and_memory_adds_gaze_positives(data, tmp_path, method):
    default = train(cfg_for(data, tmp_path / "default", method=method, max_steps=6))
    zero = train(cfg_for(data, tmp_path / "zero", method=method, max_steps=6, gaze_memory=0))
    assert zero.losses == default.losses and zero.n_gaze_positives == default.n_gaze_positives
    assert not any(k.startswith("memory.") for k in torch.load(zero.checkpoint_path, weights_only=True)["model"])
    mem = train(cfg_for(data, tmp_path / "mem", method=method, max_steps=6, gaze_memory=16))
    ids = torch.load(mem.checkpoint_path, weights_only=True)["model"]["memory.ids"]
    assert ids.shape == (16,) and bool((ids >= 0).all())  # 6 steps of 4 filled all 16 slots
    # step 1 has an empty memory: the same positives; later steps add the remembered ones
    assert mem.n_gaze_positives[0] == default.n_gaze_positives[0]
    assert sum(mem.n_gaze_positives) > sum(default.n_gaze_positives)


@pytest.mark.parametrize("cls", [BYOL, SimSiam])
def test_memory_weights_entries_and_gradients(cls):
    m = _tiny(cls, PositiveLookup.from_pairs(PAIRS), gaze_memory=4)
    m.memory.ids.copy_(torch.tensor([1, 5, -1, 0]))  # a gaze positive of 0, a non-positive, an empty slot, 0 itself
    keys = m.memory.keys.clone()
    x1, x2, ids = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16), torch.tensor([0, 3])
    out = m(x1, x2, ids)
    # columns: in-batch (0, 3), then memory (1, 5, empty, 0); anchor 0's own image in memory counts, as in MoCo's queue
    assert m.last_weights.tolist() == [[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]]
    assert out.n_gaze_positives.item() == 2  # beyond each anchor's own in-batch view
    # the loss is the predictive loss over those candidates, memory keys as remembered
    with torch.no_grad():
        if cls is BYOL:
            p1, p2 = (m.predictor(m.projector(m.backbone(x))) for x in (x1, x2))
            t1, t2 = (m.target_projector(m.target_backbone(x)) for x in (x1, x2))
            kind, scale = "byol", 1.0
        else:
            t1, t2 = m.projector(m.backbone(x1)), m.projector(m.backbone(x2))
            p1, p2 = m.predictor(t1), m.predictor(t2)
            kind, scale = "simsiam", 0.5
        w = m.last_weights
        ref = scale * (predictive_cosine_loss(p1, torch.cat([t2, keys]), w, kind=kind)
                       + predictive_cosine_loss(p2, torch.cat([t1, keys]), w, kind=kind))
    torch.testing.assert_close(out.loss, ref)
    # enqueued after the loss: one entry per image, the normalised mean of its two views' targets
    assert m.memory.ids.tolist() == [0, 3, -1, 0] and int(m.memory.ptr) == 2
    mean = F.normalize(F.normalize(t1, dim=1) + F.normalize(t2, dim=1), dim=1)
    torch.testing.assert_close(m.memory.keys[:2], mean)
    # gradients reach the online network only: targets and memory are constants
    out.loss.backward()
    assert m.predictor[0].weight.grad is not None and m.predictor[0].weight.grad.abs().sum() > 0
    assert m.memory.keys.grad is None and not m.memory.keys.requires_grad
    if cls is BYOL:
        assert all(p.grad is None for p in m.target_projector.parameters())
    p = torch.randn(2, 8, requires_grad=True)
    z = torch.randn(6, 8, requires_grad=True)
    predictive_cosine_loss(p, z, w, kind=kind).backward()
    assert z.grad is None and p.grad.abs().sum() > 0


def test_simclr_memory_adds_positives_only():
    m = _tiny(SimCLR, PositiveLookup.from_pairs(PAIRS), gaze_memory=4)
    plain = _tiny(SimCLR, PositiveLookup.from_pairs(PAIRS))
    m.memory.ids.copy_(torch.tensor([1, 5, -1, 0]))  # a gaze positive of 0, a non-positive, an empty slot, 0 itself
    keys = m.memory.keys.clone()
    x1, x2, ids = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16), torch.tensor([0, 3])
    out = m(x1, x2, ids)
    # rows: views (0, 3, 0, 3); columns: the same views, then memory (1, 5, empty, 0)
    assert m.last_weights.tolist() == [[0, 0, 1, 0, 1, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 0],
                                       [1, 0, 0, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0, 0, 0]]
    assert out.n_gaze_positives.item() == 4  # anchor 0's two views, each: memory's 1 and memory's own 0
    with torch.no_grad():
        z = F.normalize(m.projector(m.backbone(torch.cat([x1, x2]))), dim=1)
        logits = torch.cat([z @ z.T, z @ keys.T], dim=1) / m.temperature
        # kept columns: the other views (not the anchor's own), and only positive memory entries
        keep = torch.ones(4, 8, dtype=torch.bool)
        keep[torch.arange(4), torch.arange(4)] = False
        keep[:, 4:] = m.last_weights[:, 4:] > 0
        log_p = logits.masked_fill(~keep, float("-inf")).log_softmax(dim=1)
        w = m.last_weights
        ref = (-(w * log_p.masked_fill(~keep, 0.0)).sum(1) / w.sum(1)).mean()
    torch.testing.assert_close(out.loss, ref)
    # enqueued after the loss: one entry per image, the normalised mean of its two views' projections
    assert m.memory.ids.tolist() == [0, 3, -1, 0] and int(m.memory.ptr) == 2
    torch.testing.assert_close(m.memory.keys[:2], F.normalize(z[:2] + z[2:], dim=1))
    # the negatives are the in-batch ones with or without the memory: anchors whose memory holds
    # no positive get exactly the plain method's loss
    m.memory.ids.copy_(torch.tensor([5, 5, -1, 2]))
    plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("memory.")})
    x1, x2, ids = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16), torch.tensor([3, 4])
    torch.testing.assert_close(m(x1, x2, ids).loss, plain(x1, x2, ids).loss)
    # gradients reach the network, never the memory
    m(x1, x2, torch.tensor([0, 3])).loss.backward()
    assert m.projector[0].weight.grad.abs().sum() > 0 and m.memory.keys.grad is None


def test_resume_with_memory_reproduces_losses(data, tmp_path):
    kw = dict(method="byol", epochs=3, drop_positive_p=0.3, gaze_memory=8)
    full = train(cfg_for(data, tmp_path / "full", **kw))

    # mid-epoch 2 (4 steps per epoch); the last checkpoint is at step 6
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(cfg_for(data, out, checkpoint_every=2, **kw), on_step=kill_at(7))
    with pytest.raises(ValueError, match="options changed.*gaze_memory 8 -> 16"):
        train(cfg_for(data, out, checkpoint_every=2, resume=True, **{**kw, "gaze_memory": 16}))
    resumed = train(cfg_for(data, out, checkpoint_every=2, resume=True, **kw))
    assert resumed.losses == full.losses and resumed.n_gaze_positives[-1] == full.n_gaze_positives[-1]
    m_full = torch.load(full.checkpoint_path, weights_only=True)["model"]
    m_res = torch.load(resumed.checkpoint_path, weights_only=True)["model"]
    for k in ("memory.ids", "memory.keys", "memory.ptr"):
        assert torch.equal(m_full[k], m_res[k])



def _worker(rank: int, world: int, port: int, cfg: dict, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        r = train(TrainConfig(**cfg))
        ids = torch.load(r.checkpoint_path, weights_only=True)["model"]["memory.ids"].tolist() if rank == 0 else None
        with open(f"{out}/rank{rank}.json", "w") as f:
            json.dump({"gaze": r.n_gaze_positives, "ids": ids}, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawning two processes takes ~10-30 s on a busy 2-core machine
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo")
@pytest.mark.parametrize("method", ["simsiam", "simclr"])
def test_two_processes_share_one_memory(data, tmp_path, method):
    # the memory holds gathered targets: both ranks count the positives of the whole global batch
    cfg = cfg_for(data, tmp_path / "ddp", method=method, batch_size=2, gaze_memory=8, max_steps=5, device="cpu").to_dict()
    mp.spawn(_worker, args=(2, free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    single = train(cfg_for(data, tmp_path / "single", method=method, batch_size=4, gaze_memory=8, max_steps=5))
    assert r0["gaze"] == r1["gaze"] == single.n_gaze_positives
    assert r0["ids"] == torch.load(single.checkpoint_path, weights_only=True)["model"]["memory.ids"].tolist()


@pytest.mark.parametrize("change,message", [
    (dict(gaze_memory=-4), "gaze_memory must be an integer >= 0"),
    (dict(gaze_memory=2.5), "gaze_memory must be an integer >= 0"),
    (dict(gaze_memory=6), "gaze_memory 6 is not a multiple of the batch size 4"),
    (dict(gaze_memory=16, method="moco"), "gaze_memory is for byol, simsiam and simclr; moco .*queue"),
    (dict(gaze_memory=16, method="simclr", gaze=False), "gaze_memory needs gaze positives"),
    (dict(gaze_memory=16, gaze=False), "gaze_memory needs gaze positives"),
])
def test_bad_gaze_memory_is_refused(tmp_path, change, message):
    cfg = TrainConfig(manifest="m.csv", pairs="p.npz", method="byol", batch_size=4, out_dir=str(tmp_path))
    for k, v in change.items():
        setattr(cfg, k, v)
    with pytest.raises(ValueError, match=message):
        cfg.validate()


def test_methods_refuse_bad_memory():
    cfg = TrainConfig(manifest="m.csv", method="moco", gaze_memory=16, proj_dim=8, hidden_dim=8)
    with pytest.raises(ValueError, match="gaze_memory is for byol, simsiam and simclr; moco"):
        build_method(cfg, build_backbone("resnet18", 1, width=4), PositiveLookup.from_pairs(PAIRS))
    with pytest.raises(ValueError, match="gaze_memory needs gaze positives"):
        _tiny(BYOL, None, gaze_memory=4)
    with pytest.raises(ValueError, match="gaze_memory must be an integer >= 0"):
        _tiny(SimSiam, PositiveLookup.from_pairs(PAIRS), gaze_memory=-1)
    m = _tiny(BYOL, PositiveLookup.from_pairs(PAIRS), gaze_memory=6)
    with pytest.raises(ValueError, match="gaze_memory 6 is not a multiple of the global batch size 4"):
        m(torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 3]))


def test_cli_has_gaze_memory_option():
    from mcgip_fast.cli.train import add_config_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_config_arguments(p)
    assert "--gaze-memory" in p.format_help()
    args = p.parse_args(["--manifest", "m.csv", "--method", "byol", "--gaze-memory", "256"])
    assert config_from_args(args).gaze_memory == 256

"""Training loop end to end on tiny synthetic images: methods, resume, determinism, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from mcgip_fast.mining import PairsMismatchError, PositivePairs  # noqa: E402
from mcgip_fast.train import train  # noqa: E402
from mcgip_fast.train.backbones import build_backbone, load_backbone_weights  # noqa: E402
from mcgip_fast.train.data import GlobalBatchSampler, ImageReadError, read_image  # noqa: E402
from mcgip_fast.train.loop import NonFiniteLossError  # noqa: E402
from train_utils import make_dataset, tiny_config as cfg_for, Killed, kill_at  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("imgs"), n=16, size=24)


@pytest.mark.parametrize("method", ["moco", "byol", "simsiam", "simclr"])
@pytest.mark.parametrize("gaze", [True, False])
def test_every_method_trains_with_and_without_gaze(data, tmp_path, method, gaze):
    r = train(cfg_for(data, tmp_path, method=method, gaze=gaze, max_steps=3))
    assert len(r.losses) == r.steps == 3 and all(np.isfinite(r.losses))
    # the synthetic graph links k and k+2: gaze runs see extra positives, baselines none
    assert (sum(r.n_gaze_positives) > 0) == gaze
    state = torch.load(r.encoder_path, weights_only=True)
    enc = build_backbone("resnet18", 1, width=4)
    enc.load_state_dict(state)  # a plain backbone state dict
    rows = [json.loads(x) for x in r.log_path.read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert r.loss_plot_path.exists() and r.loss_plot_path.stat().st_size > 0
    assert json.loads((tmp_path / "encoder.json").read_text())["width"] == 4


def test_same_seed_same_losses_other_seed_differs(data, tmp_path):
    a = train(cfg_for(data, tmp_path / "a", max_steps=3))
    b = train(cfg_for(data, tmp_path / "b", max_steps=3))
    c = train(cfg_for(data, tmp_path / "c", max_steps=3, seed=1))
    assert a.losses == b.losses
    assert a.losses != c.losses


@pytest.mark.parametrize("method", ["moco", "byol"])
def test_resume_reproduces_uninterrupted_losses(data, tmp_path, method):
    full = train(cfg_for(data, tmp_path / "full", method=method, epochs=3, drop_positive_p=0.3))

    # mid-epoch 2 (4 steps per epoch); the last checkpoint is at step 6
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(cfg_for(data, out, method=method, epochs=3, drop_positive_p=0.3, checkpoint_every=2), on_step=kill_at(7))
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (ck["global_step"], ck["epoch"], ck["step_in_epoch"]) == (6, 1, 2)
    resumed = train(cfg_for(data, out, method=method, epochs=3, drop_positive_p=0.3, checkpoint_every=2, resume=True))
    assert resumed.losses == full.losses
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))
    if method == "moco":
        q_full = torch.load(full.checkpoint_path, weights_only=True)["model"]
        q_res = torch.load(resumed.checkpoint_path, weights_only=True)["model"]
        assert torch.equal(q_full["queue.ids"], q_res["queue.ids"])
        assert torch.equal(q_full["queue.keys"], q_res["queue.keys"])


def test_resume_refuses_changed_options_and_missing_checkpoint(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(cfg_for(data, tmp_path, resume=True))
    train(cfg_for(data, tmp_path, max_steps=2))
    with pytest.raises(ValueError, match="options changed.*batch_size 4 -> 8"):
        train(cfg_for(data, tmp_path, batch_size=8, queue_size=16, resume=True))


def test_checkpoint_from_before_an_option_existed_resumes_with_its_default(data, tmp_path):
    train(cfg_for(data, tmp_path, max_steps=2, epochs=2))
    path = tmp_path / "checkpoint.pt"
    ck = torch.load(path, weights_only=True)
    del ck["config"]["pool"]  # written before `pool` was an option: it had the default, "avg"
    torch.save(ck, path)
    with pytest.raises(ValueError, match="options changed.*pool 'avg' -> 'max'"):
        train(cfg_for(data, tmp_path, max_steps=3, epochs=2, pool="max", resume=True))
    resumed = train(cfg_for(data, tmp_path, max_steps=3, epochs=2, resume=True))
    assert resumed.steps == 3


def test_manifest_in_another_order_is_aligned_by_id(data, tmp_path):
    manifest, pairs = data
    df = pd.read_csv(manifest)
    df["path"] = [str(manifest.parent / p) for p in df["path"]]
    shuffled = tmp_path / "shuffled.parquet"
    df.iloc[::-1].to_parquet(shuffled)
    a = train(cfg_for(data, tmp_path / "a", max_steps=2))
    b = train(cfg_for((shuffled, pairs), tmp_path / "b", max_steps=2))
    assert a.losses == b.losses  # same graph index -> same images, views and positives


def test_pairs_id_missing_from_manifest(data, tmp_path):
    manifest, pairs = data
    df = pd.read_csv(manifest)
    df["path"] = [str(manifest.parent / p) for p in df["path"]]
    short = tmp_path / "short.csv"
    df.iloc[1:].to_csv(short, index=False)
    with pytest.raises(PairsMismatchError, match=r"1 of 16 image ids in the pairs file are not in the manifest \(e.g. 'im000'\)"):
        train(cfg_for((short, pairs), tmp_path))


def test_pairs_for_another_archive(data, tmp_path):
    manifest, _ = data
    other = PositivePairs.from_edges([f"x{k}" for k in range(16)], [0], [1], [1.0], archive_hash="abc")
    path = other.save(tmp_path / "other.npz")
    with pytest.raises(PairsMismatchError, match="probably made for another archive"):
        train(cfg_for((manifest, path), tmp_path))
    _, good = data
    hashed = PositivePairs.load(good)
    hashed.archive_hash = "abc"
    hp = hashed.save(tmp_path / "hashed.npz")
    with pytest.raises(PairsMismatchError, match="made for another archive: it records hash abc, expected def"):
        train(cfg_for((manifest, hp), tmp_path, archive_hash="def"))


def test_batch_larger_than_dataset_and_queue_multiple(data, tmp_path):
    with pytest.raises(ValueError, match=r"batch size 32 is larger than the dataset \(16 images\)"):
        train(cfg_for(data, tmp_path, batch_size=32, queue_size=64))
    with pytest.raises(ValueError, match="queue size 10 is not a multiple of the global batch size 4"):
        train(cfg_for(data, tmp_path, queue_size=10))
    with pytest.raises(ValueError, match="gaze positives need a pairs file"):
        train(cfg_for(data, tmp_path, pairs=None))
    with pytest.raises(ValueError, match="method must be one of"):
        train(cfg_for(data, tmp_path, method="dino"))


def test_missing_and_unreadable_images_error_or_skip(data, tmp_path):
    manifest, pairs = data
    df = pd.read_csv(manifest)
    df["path"] = [str(manifest.parent / p) for p in df["path"]]
    df.loc[3, "path"] = str(tmp_path / "gone.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    df.loc[5, "path"] = str(bad)
    m = tmp_path / "m.csv"
    df.to_csv(m, index=False)
    with pytest.raises(ImageReadError, match="checked 16 images: 1 missing, 1 unreadable"):
        train(cfg_for((m, pairs), tmp_path))
    r = train(cfg_for((m, pairs), tmp_path, on_bad_image="skip", max_steps=2))
    assert r.image_report.n_skipped == 2 and "im003" in r.image_report.missing[0]
    assert len(r.losses) == 2
    # a truncated file passes the header check: 'error' stops at load time naming it, 'skip' decodes up front
    good = manifest.parent / "img_007.png"
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:120])
    df2 = pd.read_csv(manifest)
    df2["path"] = [str(manifest.parent / p) for p in df2["path"]]
    df2.loc[7, "path"] = str(cut)
    m2 = tmp_path / "m2.csv"
    df2.to_csv(m2, index=False)
    with pytest.raises(ImageReadError, match="image 'im007': .*cut.png: cannot decode image"):
        train(cfg_for((m2, pairs), tmp_path / "e", epochs=1))
    r = train(cfg_for((m2, pairs), tmp_path / "s", on_bad_image="skip", max_steps=1))
    assert r.image_report.unreadable and "im007" in r.image_report.unreadable[0]


def test_image_read_error_names_file(tmp_path):
    with pytest.raises(ImageReadError, match="image file not found"):
        read_image(tmp_path / "none.png")
    p = tmp_path / "x.dcm"
    p.write_bytes(b"junk")
    try:
        import pydicom  # noqa: F401

        with pytest.raises(ImageReadError, match="cannot decode DICOM"):
            read_image(p)
    except ImportError:
        with pytest.raises(ImageReadError, match="reading DICOM needs pydicom"):
            read_image(p)


def test_read_image_depths(tmp_path):
    a16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(a16).save(tmp_path / "a.tif")
    np.testing.assert_allclose(read_image(tmp_path / "a.tif"), a16 / 65535.0, rtol=1e-6)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 1] = 255
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=100)
    g = read_image(tmp_path / "c.jpg")
    assert g.shape == (8, 8) and 0.5 < g.mean() < 0.65  # ITU-R 601 luma of pure green
    a8 = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(a8).save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_image(tmp_path / "b.png"), a8 / np.float32(255))


def test_nan_loss_stops_with_step(data, tmp_path, monkeypatch):
    from mcgip_fast.train.moco import MoCo

    real = MoCo.forward
    calls = {"n": 0}

    def nan_on_third(self, *a):
        out = real(self, *a)
        calls["n"] += 1
        if calls["n"] == 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(MoCo, "forward", nan_on_third)
    with pytest.raises(NonFiniteLossError, match="loss is nan at step 3 .*last checkpoint is at step 2"):
        train(cfg_for(data, tmp_path, checkpoint_every=2))


def test_sampler_ranks_partition_global_batches():
    single = GlobalBatchSampler(10, 4, seed=3)
    r0 = GlobalBatchSampler(10, 2, world_size=2, rank=0, seed=3)
    r1 = GlobalBatchSampler(10, 2, world_size=2, rank=1, seed=3)
    for s in (single, r0, r1):
        s.set_epoch(1)
    assert [a + b for a, b in zip(r0, r1)] == list(single)
    assert len(single) == 2
    full = list(single)
    single.set_epoch(1, start_step=1)
    assert list(single) == full[1:] and len(single) == 1
    single.set_epoch(2)
    assert list(single) != full  # a new permutation each epoch


def test_pretrained_torchvision_weights_load_into_one_channel(tmp_path):
    from torchvision.models import resnet18

    tv = resnet18()
    path = tmp_path / "r18.pth"
    torch.save(tv.state_dict(), path)
    enc = build_backbone("resnet18", 1, weights=path)
    torch.testing.assert_close(enc.conv1.weight, tv.conv1.weight.sum(1, keepdim=True))
    torch.testing.assert_close(enc.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)
    with pytest.raises(ValueError, match="weights do not fit resnet18 \\(width 8\\)"):
        load_backbone_weights(build_backbone("resnet18", 1, width=8), path)
    with pytest.raises(FileNotFoundError, match="only from a local file"):
        build_backbone("resnet18", 1, weights=tmp_path / "nope.pth")


@pytest.mark.parametrize("opts", [
    {"soft_weights": True, "loss_average": "batch"},
    {"in_batch_keys": False, "drop_positive_p": 0.5, "optimizer": "adamw", "warmup_steps": 2},
    {"method": "simsiam", "loss_average": "batch", "soft_weights": True, "optimizer": "adam"},
])
def test_loss_options_train(data, tmp_path, opts):
    r = train(cfg_for(data, tmp_path, max_steps=2, **opts))
    assert len(r.losses) == 2 and all(np.isfinite(r.losses))


def test_soft_weights_change_the_loss(data, tmp_path):
    hard = train(cfg_for(data, tmp_path / "h", max_steps=2))
    soft = train(cfg_for(data, tmp_path / "s", max_steps=2, soft_weights=True))
    assert hard.losses[0] != soft.losses[0]  # same model and views; only the positive weights differ


def test_tensorboard_needs_package(data, tmp_path):
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs the tensorboard package"):
            train(cfg_for(data, tmp_path, tensorboard=True, max_steps=1))
    else:
        train(cfg_for(data, tmp_path, tensorboard=True, max_steps=1))
        assert (tmp_path / "tensorboard").is_dir()


def test_workers_do_not_change_losses(data, tmp_path):
    a = train(cfg_for(data, tmp_path / "a", max_steps=2))
    b = train(cfg_for(data, tmp_path / "b", max_steps=2, num_workers=2))
    assert a.losses == b.losses  # every view is seeded by (seed, epoch, image, view)

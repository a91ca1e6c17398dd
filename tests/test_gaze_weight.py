"""`gaze_weight` (issue 12): per anchor, its own image's views share weight 1 and its gaze positives
share `gaze_weight`, however many of them the batch and memory hold."""

import json

import pytest

torch = pytest.importorskip("torch")

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.byol import BYOL  # noqa: E402
from mcgip_fast.train.moco import MoCo  # noqa: E402
from mcgip_fast.train.positives import PositiveLookup  # noqa: E402
from mcgip_fast.train.simclr import SimCLR  # noqa: E402
from mcgip_fast.train.simsiam import SimSiam  # noqa: E402
from train_utils import make_dataset, tiny_config  # noqa: E402

torch.set_num_threads(1)

# 0-1, 0-2, 3-4; 5 has no positives
PAIRS = PositivePairs.from_edges([f"img{i}" for i in range(6)], [0, 0, 3], [1, 2, 4], [0.9, 0.4, 0.6])
LOOKUP = PositiveLookup.from_pairs(PAIRS)


def _tiny(cls, lookup, **kw):
    torch.manual_seed(0)
    extra = {"queue_size": 8} if cls is MoCo else {}
    return cls(build_backbone("resnet18", 1, width=4), lookup=lookup, proj_dim=8, hidden_dim=8, **extra, **kw)


def test_balance_gives_own_views_one_and_gaze_positives_the_weight():
    m = _tiny(BYOL, LOOKUP, gaze_weight=0.5, gaze_memory=4)
    anchors = torch.tensor([0, 3, 5])
    candidates = torch.tensor([0, 1, 2, 3, 4, 5, 0, -1, 1, 2])  # batch, then memory with an older 0, an empty slot
    w = m.positive_weights(anchors, candidates)
    own = m.same_image(anchors, candidates)
    assert not own[:, 7].any()  # an empty slot is nobody's own image
    torch.testing.assert_close((w * own).sum(1), torch.ones(3))
    torch.testing.assert_close((w * ~own).sum(1), torch.tensor([0.5, 0.5, 0.0]))
    # anchor 0: two views of itself at 1/2, four gaze columns (1, 2, 1, 2) at 0.5/4
    torch.testing.assert_close(w[0], torch.tensor([0.5, 0.125, 0.125, 0, 0, 0, 0.5, 0, 0.125, 0.125]))
    assert (w[2] > 0).tolist() == (candidates == 5).tolist()  # no gaze positives: its own view only
    unbalanced = _tiny(BYOL, LOOKUP, gaze_memory=4)
    assert torch.equal(unbalanced.positive_weights(anchors, candidates), LOOKUP.weights(anchors, candidates))


def test_balance_keeps_soft_weight_ratios():
    m = _tiny(SimSiam, LOOKUP, gaze_weight=1.0, soft_weights=True)
    w = m.positive_weights(torch.tensor([0]), torch.tensor([0, 1, 2]))
    torch.testing.assert_close(w, torch.tensor([[1.0, 0.9 / 1.3, 0.4 / 1.3]]))


def test_simclr_balances_after_leaving_out_the_anchor_itself():
    m = _tiny(SimCLR, LOOKUP, gaze_weight=1.0)
    x1, x2, ids = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16), torch.tensor([0, 1, 5])
    m(x1, x2, ids)
    w = m.last_weights  # rows and columns: views 1 of (0, 1, 5), then views 2
    assert torch.all(w.diagonal() == 0)
    # view 1 of image 0: its other view weighs 1, its gaze positive 1 (both views) shares 1
    torch.testing.assert_close(w[0], torch.tensor([0, 0.5, 0, 1, 0.5, 0]))
    torch.testing.assert_close(w[2], torch.tensor([0, 0, 0, 0, 0, 1.0]))


@pytest.mark.parametrize("cls", [BYOL, SimSiam, SimCLR])
def test_gaze_weight_zero_is_the_baseline_loss(cls):
    x1, x2, ids = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 3, 4])
    base = _tiny(cls, None)(x1, x2, ids).loss
    zero = _tiny(cls, LOOKUP, gaze_weight=0.0)(x1, x2, ids).loss
    pulled = _tiny(cls, LOOKUP, gaze_weight=1.0)(x1, x2, ids).loss
    torch.testing.assert_close(zero, base)
    assert not torch.allclose(pulled, base)


def test_moco_balances_batch_and_queue_together():
    m = _tiny(MoCo, LOOKUP, gaze_weight=2.0)
    m.queue.ids.copy_(torch.tensor([0, 1, 2, 5, -1, -1, 3, 4]))
    x1, x2, ids = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16), torch.tensor([0, 3])
    m(x1, x2, ids)
    w = m.last_weights  # columns: keys of (0, 3), then the queue
    torch.testing.assert_close(w[0], torch.tensor([0.5, 0, 0.5, 1.0, 1.0, 0, 0, 0, 0, 0]))
    torch.testing.assert_close(w[1], torch.tensor([0, 0.5, 0, 0, 0, 0, 0, 0, 0.5, 2.0]))
    base = _tiny(MoCo, None, gaze_weight=2.0)
    base.queue.ids.copy_(m.queue.ids.roll(2))
    base(x1, x2, ids)
    # the baseline's queue holds only negatives, older keys of its own image too
    assert base.last_weights[:, 2:].sum() == 0 and torch.equal(base.last_weights[:, :2], torch.eye(2))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_config_refuses_bad_gaze_weight(tmp_path, bad):
    data = make_dataset(tmp_path / "imgs", n=4, size=16)
    with pytest.raises(ValueError, match="gaze_weight"):
        tiny_config(data, tmp_path / "run", gaze_weight=bad).validate()
    with pytest.raises(ValueError, match="gaze_weight"):
        _tiny(BYOL, LOOKUP, gaze_weight=bad)


def test_gaze_weight_trains_and_is_saved(tmp_path):
    from mcgip_fast.train import train

    data = make_dataset(tmp_path / "imgs", n=16, size=24)
    res = train(tiny_config(data, tmp_path / "run", method="byol", max_steps=3, gaze_weight=0.5))
    assert len(res.losses) == 3 and all(torch.isfinite(torch.tensor(res.losses)))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["gaze_weight"] == 0.5

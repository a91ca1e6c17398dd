"""`gaze_warmup_epochs` (issue 12): gaze positives' weight ramps from 0 to 1 over the first epochs,
the own image's views keep theirs; the weight is a function of the global step, so resume is exact."""

import pytest

torch = pytest.importorskip("torch")

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train import TrainConfig, train  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.byol import BYOL  # noqa: E402
from mcgip_fast.train.loop import gaze_warmup  # noqa: E402
from mcgip_fast.train.moco import MoCo  # noqa: E402
from mcgip_fast.train.positives import PositiveLookup  # noqa: E402
from train_utils import Killed, kill_at, make_dataset  # noqa: E402
from train_utils import tiny_config as cfg_for  # noqa: E402

torch.set_num_threads(1)

# 0-1, 0-2, 3-4; 5 has no positives
LOOKUP = PositiveLookup.from_pairs(PositivePairs.from_edges([f"img{i}" for i in range(6)], [0, 0, 3], [1, 2, 4],
                                                            [0.9, 0.4, 0.6]))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("imgs"), n=16, size=24)


def test_ramp_rises_linearly_then_stays_at_one():
    f = gaze_warmup(8.0)
    assert [f(s) for s in (0, 2, 4, 8, 100)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert gaze_warmup(0.0)(0) == 1.0  # no warm-up: full weight from the first step


@pytest.mark.parametrize("gaze_weight", [None, 1.0])
def test_scale_multiplies_gaze_positives_only(gaze_weight):
    torch.manual_seed(0)
    m = BYOL(build_backbone("resnet18", 1, width=4), lookup=LOOKUP, proj_dim=8, hidden_dim=8, gaze_weight=gaze_weight)
    anchors, candidates = torch.tensor([0, 3, 5]), torch.tensor([0, 1, 2, 3, 4, 5])
    full = m.unbalanced_weights(anchors, candidates)
    own = m.same_image(anchors, candidates)
    m.gaze_scale = 0.25
    scaled = m.unbalanced_weights(anchors, candidates)
    torch.testing.assert_close(scaled[own], full[own])
    torch.testing.assert_close(scaled[~own], 0.25 * full[~own])
    assert (full[~own] > 0).any()
    m.gaze_scale = 0.0
    assert torch.equal(m.unbalanced_weights(anchors, candidates) > 0, own)


def test_moco_at_scale_zero_sees_its_own_image_only():
    torch.manual_seed(0)
    m = MoCo(build_backbone("resnet18", 1, width=4), lookup=LOOKUP, proj_dim=8, hidden_dim=8, queue_size=6)
    m.gaze_scale = 0.0
    x1, x2, ids = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16), torch.tensor([0, 1, 5])
    out = m(x1, x2, ids)
    assert float(out.n_gaze_positives) == 0.0  # 0 and 1 are gaze positives of each other, weighted 0
    m.gaze_scale = 1.0
    assert float(m(x1, x2, ids).n_gaze_positives) > 0


def test_warmup_changes_training_and_resume_mid_warmup_reproduces_losses(data, tmp_path):
    kw = dict(method="moco", epochs=3, gaze_warmup_epochs=2.5)  # 4 steps per epoch: the ramp ends at step 10
    full = train(cfg_for(data, tmp_path / "full", **kw))
    plain = train(cfg_for(data, tmp_path / "plain", method="moco", epochs=3))
    assert full.losses != plain.losses
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(cfg_for(data, out, checkpoint_every=2, **kw), on_step=kill_at(7))
    with pytest.raises(ValueError, match="gaze_warmup_epochs"):
        train(cfg_for(data, out, checkpoint_every=2, resume=True, **{**kw, "gaze_warmup_epochs": 1.0}))
    resumed = train(cfg_for(data, out, checkpoint_every=2, resume=True, **kw))
    assert resumed.losses == full.losses


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "2"])
def test_bad_warmup_is_refused(data, tmp_path, bad):
    with pytest.raises(ValueError, match="gaze_warmup_epochs"):
        TrainConfig(**{**cfg_for(data, tmp_path).__dict__, "gaze_warmup_epochs": bad}).validate()

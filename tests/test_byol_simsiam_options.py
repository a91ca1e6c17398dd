"""Issue 12's options for the methods without negatives (BYOL, SimSiam): VICReg's variance and
covariance terms (`--variance-weight`, `--covariance-weight`; checked against a direct per-dimension
computation and on the cases whose values are known), a second predictor for gaze positives
(`--gaze-predictor`), centred targets (`--center-targets`) and SimSiam's fixed predictor learning rate
(`--fixed-predictor-lr`)."""

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train import TrainConfig  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.byol import BYOL  # noqa: E402
from mcgip_fast.train.losses import predictive_cosine_loss, variance_covariance_penalty  # noqa: E402
from mcgip_fast.train.methods import build_method  # noqa: E402
from mcgip_fast.train.moco import MoCo  # noqa: E402
from mcgip_fast.train.positives import PositiveLookup  # noqa: E402
from mcgip_fast.train.simsiam import SimSiam  # noqa: E402

torch.set_num_threads(1)


def _direct(z):
    """The same terms written out dimension by dimension (no matrix algebra)."""
    b, d = z.shape
    u = [[float(v) * d ** 0.5 / float(row.norm()) for v in row] for row in z]
    mean = [sum(u[i][k] for i in range(b)) / b for k in range(d)]
    c = [[sum((u[i][k] - mean[k]) * (u[i][m] - mean[m]) for i in range(b)) / (b - 1) for m in range(d)] for k in range(d)]
    variance = sum(max(0.0, 1.0 - (c[k][k] + 1e-4) ** 0.5) for k in range(d)) / d
    covariance = sum(c[k][m] ** 2 for k in range(d) for m in range(d) if k != m) / d
    return variance, covariance


def test_matches_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=g) + torch.tensor([2.0, 0, 0, 0, 0])
    variance, covariance = variance_covariance_penalty(z)
    want_v, want_c = _direct(z)
    assert variance.item() == pytest.approx(want_v, rel=1e-5)
    assert covariance.item() == pytest.approx(want_c, rel=1e-5)
    assert want_v > 0.05 and want_c > 0.05  # the shifted batch is neither spread nor decorrelated


def test_collapsed_batch_has_variance_one_and_scale_does_not_matter():
    z = torch.tensor([[3.0, 4.0, 0.0]]).repeat(8, 1)
    variance, covariance = variance_covariance_penalty(z)
    assert variance.item() == pytest.approx(1.0 - 1e-2, abs=1e-6)  # sqrt(0 + 1e-4) = 0.01
    assert covariance.item() == pytest.approx(0.0, abs=1e-9)
    g = torch.Generator().manual_seed(1)
    w = torch.randn(16, 6, generator=g)
    for a, b in zip(variance_covariance_penalty(w), variance_covariance_penalty(w * 1000.0)):
        assert a.item() == pytest.approx(b.item(), rel=1e-4)  # directions only: scaling z up earns nothing


def test_spread_batch_has_almost_no_variance_term():
    # the 2D signed unit vectors +-e_k: every dimension has std sqrt(8 / 7) > 1 and no covariance
    d = 4
    z = torch.cat([torch.eye(d), -torch.eye(d)])
    variance, covariance = variance_covariance_penalty(z)
    assert variance.item() == pytest.approx(0.0, abs=1e-6)
    assert covariance.item() == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="B >= 2"):
        variance_covariance_penalty(torch.randn(1, 4))


PAIRS = PositivePairs.from_edges([f"img{i}" for i in range(4)], [0, 2], [1, 3], [1.0, 1.0])


@pytest.mark.parametrize("cls", [BYOL, SimSiam])
def test_methods_add_the_weighted_terms_and_zero_weights_change_nothing(cls):
    x1, x2, ids = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 3])

    def loss(**kw):
        torch.manual_seed(0)
        m = cls(build_backbone("resnet18", 1, width=4), lookup=PositiveLookup.from_pairs(PAIRS), proj_dim=8, hidden_dim=8, **kw)
        m.train()
        torch.manual_seed(1)
        return m(x1, x2, ids).loss, m

    plain, m = loss()
    off, _ = loss(variance_weight=0.0, covariance_weight=0.0)
    assert torch.equal(plain, off)
    with_terms, m = loss(variance_weight=2.0, covariance_weight=0.5)
    z1 = m.projector(m.backbone(x1))
    z2 = m.projector(m.backbone(x2))
    v1, c1 = variance_covariance_penalty(z1)
    v2, c2 = variance_covariance_penalty(z2)
    # the same module and inputs give the same projections (BN in train mode, same batch)
    torch.testing.assert_close(with_terms - plain, ((2.0 * v1 + 0.5 * c1) + (2.0 * v2 + 0.5 * c2)) / 2, rtol=1e-4, atol=1e-5)


def test_options_are_checked():
    with pytest.raises(ValueError, match="variance_weight must be a finite number"):
        BYOL(build_backbone("resnet18", 1, width=4), proj_dim=8, hidden_dim=8, variance_weight=-1.0)
    with pytest.raises(ValueError, match="for byol and simsiam; moco has negatives"):
        TrainConfig(manifest="m.csv", gaze=False, method="moco", variance_weight=1.0).validate()
    with pytest.raises(ValueError, match="covariance_weight must be a finite number"):
        TrainConfig(manifest="m.csv", gaze=False, method="byol", covariance_weight=float("nan")).validate()
    cfg = TrainConfig(manifest="m.csv", gaze=False, method="simclr", variance_weight=1.0, proj_dim=8)
    with pytest.raises(ValueError, match="simclr has negatives"):
        build_method(cfg, build_backbone("resnet18", 1, width=4), None)
    ok = TrainConfig(manifest="m.csv", gaze=False, method="simsiam", variance_weight=1.0, covariance_weight=0.04,
                     proj_dim=8, hidden_dim=8).validate()
    m = build_method(ok, build_backbone("resnet18", 1, width=4), None)
    assert isinstance(m, SimSiam) and (m.variance_weight, m.covariance_weight) == (1.0, 0.04)
    assert not isinstance(m, MoCo)


# ------------------------------------------------------------------------- the gaze predictor


@pytest.mark.parametrize("kind", ["byol", "simsiam"])
def test_gaze_predictions_serve_the_other_images_columns(kind):
    g = torch.Generator().manual_seed(2)
    p, q, z = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g), torch.randn(4, 5, generator=g)
    w = torch.tensor([[1.0, 0.5, 0.0, 0.5], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    own = torch.tensor([[True, False, False, False], [False, True, False, False], [False, False, True, False]])
    got = predictive_cosine_loss(p, z, w, kind=kind, gaze_predictions=q, own=own)
    cos = lambda a, b: float(F.normalize(a, dim=0) @ F.normalize(b, dim=0))  # noqa: E731
    pair = (lambda c: 2 - 2 * c) if kind == "byol" else (lambda c: -c)  # noqa: E731
    want = []
    for i in range(3):
        terms = [w[i, j] * pair(cos(p[i] if own[i, j] else q[i], z[j])) for j in range(4) if w[i, j] > 0]
        want.append(sum(terms) / w[i].sum())
    assert got.item() == pytest.approx(float(sum(want) / 3), rel=1e-5)
    # the same predictions for both: the plain loss
    assert torch.allclose(predictive_cosine_loss(p, z, w, kind=kind, gaze_predictions=p, own=own),
                          predictive_cosine_loss(p, z, w, kind=kind))
    with pytest.raises(ValueError, match="go together"):
        predictive_cosine_loss(p, z, w, kind=kind, gaze_predictions=q)


@pytest.mark.parametrize("cls", [BYOL, SimSiam])
def test_gaze_predictor_learns_only_from_gaze_pairs(cls):
    def make(lookup, **kw):
        torch.manual_seed(0)
        return cls(build_backbone("resnet18", 1, width=4), lookup=lookup, proj_dim=8, hidden_dim=8, gaze_weight=1.0, **kw)

    assert make(None, gaze_predictor=True).gaze_predictor is None  # the baseline has no gaze pairs to predict
    lookup = PositiveLookup.from_pairs(PAIRS)
    m = make(lookup, gaze_predictor=True)
    m.train()
    x1, x2 = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16)
    m(x1, x2, torch.tensor([0, 1, 2, 3])).loss.backward()  # 0-1 and 2-3 are gaze pairs
    head_grad = sum(float(p.grad.abs().sum()) for p in m.gaze_predictor.parameters())
    assert head_grad > 0
    m.zero_grad(set_to_none=True)
    # images 0 and 2 are not each other's positives: only own views, so the gaze head gets no gradient
    m(x1[:2], x2[:2], torch.tensor([0, 2])).loss.backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in m.gaze_predictor.parameters())
    with pytest.raises(ValueError, match="gaze_predictor is for byol and simsiam"):
        TrainConfig(manifest="m.csv", gaze=False, method="moco", gaze_predictor=True).validate()


# ------------------------------------------------------------------------- centred targets


@pytest.mark.parametrize("kind", ["byol", "simsiam"])
def test_centring_removes_the_direction_every_target_shares(kind):
    # targets = 10 u + e_j with e_j orthogonal to u, of equal norm and mean zero: after normalising,
    # the mean is the shared part, so the centred targets are exactly the e_j's directions
    u = torch.tensor([1.0, 0, 0, 0])
    e = torch.tensor([[0, 1.0, 0, 0], [0, -1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, -1.0, 0]])
    g = torch.Generator().manual_seed(3)
    p = torch.randn(2, 4, generator=g)
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5]])
    centred = predictive_cosine_loss(p, 10 * u + e, w, kind=kind, center=True)
    torch.testing.assert_close(centred, predictive_cosine_loss(p, e, w, kind=kind))
    plain = predictive_cosine_loss(p, 10 * u + e, w, kind=kind)
    assert not torch.allclose(plain, centred)
    # a mask averages over the chosen candidates only: a fifth, unused row leaves the loss unchanged
    w5 = torch.cat([w, torch.zeros(2, 1)], dim=1)
    z5 = torch.cat([10 * u + e, torch.tensor([[0, 0, 0, 7.0]])])
    mask = torch.tensor([True, True, True, True, False])
    torch.testing.assert_close(predictive_cosine_loss(p, z5, w5, kind=kind, center=mask), centred)
    with pytest.raises(ValueError, match="bool mask"):
        predictive_cosine_loss(p, z5, w5, kind=kind, center=mask[:4])
    # without centring, the shared direction dominates: every target is almost the same one
    torch.testing.assert_close(plain, predictive_cosine_loss(p, u.repeat(4, 1), w, kind=kind), atol=0.05, rtol=0)


@pytest.mark.parametrize("cls", [BYOL, SimSiam])
def test_methods_centre_their_targets_only_when_asked(cls):
    x1, x2, ids = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 3])

    def loss(**kw):
        torch.manual_seed(0)
        m = cls(build_backbone("resnet18", 1, width=4), lookup=PositiveLookup.from_pairs(PAIRS), proj_dim=8, hidden_dim=8,
                gaze_memory=4, **kw)
        m.train()
        torch.manual_seed(1)
        return m(x1, x2, ids).loss

    assert torch.equal(loss(), loss(center_targets=False))
    assert not torch.allclose(loss(), loss(center_targets=True))
    ok = TrainConfig(manifest="m.csv", gaze=False, method="byol", center_targets=True, proj_dim=8, hidden_dim=8).validate()
    assert build_method(ok, build_backbone("resnet18", 1, width=4), None).center_targets
    with pytest.raises(ValueError, match="center_targets is for byol and simsiam"):
        TrainConfig(manifest="m.csv", gaze=False, method="simclr", center_targets=True).validate()


@pytest.mark.parametrize("method", ["byol", "simsiam"])
@pytest.mark.parametrize("gaze_predictor", [False, True])
def test_predictor_groups_split_the_trainable_parameters(method, gaze_predictor):
    from mcgip_fast.train.loop import predictor_param_groups

    cfg = TrainConfig(manifest="m.csv", pairs="p.npz", gaze=True, method=method, gaze_predictor=gaze_predictor, proj_dim=8,
                      hidden_dim=8).validate()
    m = build_method(cfg, build_backbone("resnet18", 1, width=4), PositiveLookup.from_pairs(PAIRS))
    rest, held = predictor_param_groups(m)
    want = list(m.predictor.parameters()) + (list(m.gaze_predictor.parameters()) if gaze_predictor else [])
    assert [id(p) for p in held["params"]] == [id(p) for p in want]
    assert {id(p) for p in rest["params"]} | {id(p) for p in want} == {id(p) for p in m.parameters()}
    assert not {id(p) for p in rest["params"]} & {id(p) for p in want}
    with pytest.raises(ValueError, match="no predictor"):
        predictor_param_groups(MoCo(build_backbone("resnet18", 1, width=4), proj_dim=8, hidden_dim=8, queue_size=8))


def test_fixed_predictor_lr_holds_the_predictor_while_the_rest_decays(tmp_path):
    import json
    import math
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from train_utils import make_dataset, tiny_config

    from mcgip_fast.train import train

    data = make_dataset(tmp_path / "d")
    lr, warmup = 1e-3, 2
    train(tiny_config(data, tmp_path / "r", method="simsiam", fixed_predictor_lr=True, lr=lr, warmup_steps=warmup,
                      gaze=False))
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    steps = len(rows)
    assert steps >= 6
    for r in rows:
        i = r["step"] - 1  # the rates logged after step i's update are the schedule's at step i + 1
        want_held = lr * (min(1.0, (i + 2) / warmup))
        assert r["predictor_lr"] == pytest.approx(want_held)
    assert rows[-1]["lr"] < 0.1 * lr and rows[-1]["predictor_lr"] == pytest.approx(lr)
    assert all(math.isfinite(r["loss"]) for r in rows)
    with pytest.raises(ValueError, match="fixed_predictor_lr is for byol and simsiam"):
        TrainConfig(manifest="m.csv", gaze=False, method="moco", fixed_predictor_lr=True).validate()

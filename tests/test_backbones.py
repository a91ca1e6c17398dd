"""Backbone stems, depths and pooling: small-image options keep spatial detail, and evaluation rebuilds them."""

import json

import pytest

torch = pytest.importorskip("torch")

from mcgip_fast.eval.evaluate import infer_backbone, load_encoder  # noqa: E402
from mcgip_fast.train import TrainConfig  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402


def test_small_stem_keeps_resolution_and_round_trips(tmp_path):
    x = torch.randn(2, 1, 32, 32)
    small = build_backbone("resnet18", 1, 4, stem="small").eval()
    big = build_backbone("resnet18", 1, 4).eval()
    assert small(x).shape == big(x).shape == (2, 32)
    # layer1 sees the full 32x32 grid with the small stem, 8x8 with torchvision's.
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = output.shape[-1]

        return hook

    small.layer1.register_forward_hook(record("small"))
    big.layer1.register_forward_hook(record("big"))
    small(x), big(x)
    assert seen == {"small": 32, "big": 8}

    path = tmp_path / "encoder.pt"
    torch.save(small.state_dict(), path)
    assert infer_backbone(small.state_dict())["stem"] == "small"
    model, _, arch = load_encoder(path)
    assert arch["stem"] == "small" and model.stem == "small"
    torch.testing.assert_close(model.eval()(x), small(x))


def test_bad_stem_is_a_clear_error():
    with pytest.raises(ValueError, match="stem must be one of"):
        build_backbone("resnet18", 1, 4, stem="tiny")
    with pytest.raises(ValueError, match="stem must be 'imagenet', 'small' or 'small-pool'"):
        TrainConfig(manifest="m.csv", gaze=False, stem="tiny").validate()
    with pytest.raises(ValueError, match="pool must be one of"):
        build_backbone("resnet18", 1, 4, pool="sum")
    with pytest.raises(ValueError, match="pool must be 'avg' or 'max'"):
        TrainConfig(manifest="m.csv", gaze=False, pool="sum").validate()
    with pytest.raises(ValueError, match="backbone must be"):
        TrainConfig(manifest="m.csv", gaze=False, backbone="resnet34").validate()


def _layer1_side(model, x):
    seen = []
    handle = model.layer1.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    model(x)
    handle.remove()
    return seen[0]


def test_small_pool_stem_halves_resolution():
    x = torch.randn(2, 1, 32, 32)
    model = build_backbone("resnet10", 1, 4, stem="small-pool").eval()
    assert _layer1_side(model, x) == 16
    assert model(x).shape == (2, 32)


def test_max_pool_keeps_a_small_finding_that_average_pooling_dilutes():
    # The same weights with either pooling: a bright 2x2 spot changes the max-pooled features far
    # more (relative to the features' spread) than the average-pooled ones.
    torch.manual_seed(0)
    avg = build_backbone("resnet10", 1, 4, stem="small", pool="avg").eval()
    mx = build_backbone("resnet10", 1, 4, stem="small", pool="max").eval()
    mx.load_state_dict(avg.state_dict())
    background = 0.1 * torch.randn(1, 1, 64, 64)
    spot = background.clone()
    spot[..., 30:32, 40:42] += 3.0
    with torch.no_grad():
        change = {name: float((m(spot) - m(background)).norm() / m(background).norm()) for name, m in (("avg", avg), ("max", mx))}
    assert change["max"] > 2 * change["avg"], change


@pytest.mark.parametrize("stem,pool", [("small-pool", "max"), ("small", "max"), ("imagenet", "avg")])
def test_resnet10_round_trips_through_encoder_json(tmp_path, stem, pool):
    x = torch.randn(2, 1, 32, 32)
    model = build_backbone("resnet10", 1, 4, stem=stem, pool=pool).eval()
    path = tmp_path / "encoder.pt"
    torch.save(model.state_dict(), path)
    (tmp_path / "encoder.json").write_text(json.dumps({"backbone": "resnet10", "stem": stem, "pool": pool}))
    loaded, _, arch = load_encoder(path)
    assert (arch["backbone"], arch["stem"], arch["pool"]) == ("resnet10", stem, pool)
    torch.testing.assert_close(loaded.eval()(x), model(x))
    # Without the sidecar the weights alone cannot tell the pooling: torchvision's average is assumed.
    (tmp_path / "encoder.json").unlink()
    _, _, arch = load_encoder(path)
    assert arch["pool"] == "avg" and arch["backbone"] == "resnet10"

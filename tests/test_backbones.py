"""Backbone stems: the small-image stem keeps spatial detail, and evaluation rebuilds it from the weights."""

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
    with pytest.raises(ValueError, match="stem must be 'imagenet' or 'small'"):
        TrainConfig(manifest="m.csv", gaze=False, stem="tiny").validate()

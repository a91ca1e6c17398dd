"""TrainConfig validation (no torch needed) and its JSON round trip."""

import pytest

from mcgip_fast.train.config import TrainConfig

BASE = dict(manifest="m.csv", pairs="p.npz")


@pytest.mark.parametrize("change,message", [
    ({"manifest": None}, "a manifest is required"),
    ({"method": "dino"}, "method must be one of"),
    ({"optimizer": "lamb"}, "optimizer must be one of"),
    ({"pairs": None}, "gaze positives need a pairs file"),
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"queue_size": -4}, "queue_size must be at least 1"),
    ({"image_size": 0}, "image_size must be at least 1"),
    ({"max_steps": 0}, "max_steps must be at least 1"),
    ({"drop_positive_p": 1.5}, r"drop_positive_p must be in \[0, 1\], got 1.5"),
    ({"crop_min_scale": 0.0}, "crop_min_scale must be in"),
    ({"loss_average": "mean"}, "loss_average must be 'anchor' or 'batch'"),
    ({"on_bad_image": "ignore"}, "on_bad_image must be 'error' or 'skip'"),
    ({"temperature": 0.0}, "temperature must be positive"),
    ({"momentum": 1.5}, r"momentum must be in \[0, 1\]"),
    ({"lr": -1.0}, "lr must be positive"),
])
def test_validate_messages(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**BASE, **change}).validate()


def test_baseline_needs_no_pairs_and_round_trip(tmp_path):
    cfg = TrainConfig(manifest="m.csv", gaze=False).validate()
    cfg.save(tmp_path / "c.json")
    import json

    assert TrainConfig.from_dict(json.loads((tmp_path / "c.json").read_text())) == cfg
    with pytest.raises(ValueError, match="unknown TrainConfig options"):
        TrainConfig.from_dict({"manifest": "m", "colour_jitter": 1})

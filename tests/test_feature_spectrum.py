"""benchmarks/feature_spectrum.py: the measures the issue-12 diagnosis rests on."""

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("feature_spectrum", Path(__file__).parents[1] / "benchmarks" / "feature_spectrum.py")
feature_spectrum = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(feature_spectrum)


def test_class_points_are_all_between_class_variance():
    y = np.repeat(np.arange(4), 50)
    f = np.eye(4)[y] * 3.0
    s = feature_spectrum.spectrum_stats(f, y)
    assert abs(s["between_class_share"] - 1.0) < 1e-9
    assert abs(s["effective_rank"] - 3.0) < 1e-6  # four centred points span three directions equally


def test_isotropic_noise_has_full_rank_and_no_class_structure():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 500)
    s = feature_spectrum.spectrum_stats(rng.standard_normal((2000, 8)), y)
    assert s["effective_rank"] > 7.8 and s["top1_share"] < 0.15 and s["between_class_share"] < 0.01


def test_one_direction_is_rank_one():
    y = np.repeat(np.arange(2), 10)
    f = np.outer(np.linspace(-1, 1, 20), [1.0, 2.0, 0.0])
    s = feature_spectrum.spectrum_stats(f, y)
    assert abs(s["effective_rank"] - 1.0) < 1e-6 and abs(s["top1_share"] - 1.0) < 1e-9
    assert 0.5 < s["between_class_share"] < 1.0

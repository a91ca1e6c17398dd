"""Report pieces: comparisons and verdicts from probe results, and the PNG plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcgip_fast.report import plots
from mcgip_fast.report.demo import DemoConfig, DemoResult, RunRecord
from mcgip_fast.report.markdown import verdict_lines


def _run(name: str, method: str, gaze: bool, accs: list[float]) -> RunRecord:
    rows = []
    for seed, acc in enumerate(accs):
        rows.append(dict(probe="linear", budget=1.0, seed=seed, eval_seed=seed, n_train=70, n_test=30, accuracy=acc,
                         balanced_accuracy=acc, roc_auc=0.5 + acc / 2))
        rows.append(dict(probe="knn", budget=1.0, seed=seed, eval_seed=seed, n_train=70, n_test=30, accuracy=acc - 0.05,
                         balanced_accuracy=acc - 0.05, roc_auc=0.5))
    return RunRecord(name, method, gaze, None, 0, "enc.pt", [3.0, 2.0, 1.0], 1.0, 1.0, pd.DataFrame(rows))


def _result(gaze_accs, control_accs=None) -> DemoResult:
    r = DemoResult(DemoConfig(eval_seeds=(0, 1, 2)))
    r.runs = [_run("moco baseline", "moco", False, [0.40, 0.42, 0.41]), _run("moco +McGIP", "moco", True, gaze_accs)]
    if control_accs is not None:
        r.runs.append(_run("moco +McGIP (uninformative gaze)", "moco", True, control_accs))
    return r


def test_comparison_paired_gain_and_verdict():
    r = _result([0.50, 0.53, 0.52], control_accs=[0.41, 0.40, 0.42])
    comp = r.comparisons("linear").set_index("run")
    gain = comp.loc["moco +McGIP"]
    assert gain["gain"] == pytest.approx(np.mean([0.10, 0.11, 0.11]))
    assert gain["baseline"] == pytest.approx(0.41) and gain["n"] == 3
    assert gain["seed_std"] == pytest.approx(max(np.std([0.40, 0.42, 0.41], ddof=1), np.std([0.50, 0.53, 0.52], ddof=1)))
    assert bool(gain["beats"])
    assert not bool(comp.loc["moco +McGIP (uninformative gaze)", "beats"])
    lines = verdict_lines(r)
    assert any("beats the baseline by more than" in line for line in lines)
    assert any("gain disappears" in line for line in lines)


def test_verdict_says_so_when_gaze_does_not_help():
    r = _result([0.40, 0.43, 0.41])
    assert not bool(r.comparisons("linear").iloc[0]["beats"])
    assert any("does NOT beat" in line for line in verdict_lines(r))


def test_summary_mean_std():
    r = _result([0.50, 0.53, 0.52])
    s = r.probe_summary().set_index(["run", "probe"])
    assert s.loc[("moco +McGIP", "linear"), "accuracy_mean"] == pytest.approx(np.mean([0.50, 0.53, 0.52]))
    assert s.loc[("moco +McGIP", "linear"), "accuracy_std"] == pytest.approx(np.std([0.50, 0.53, 0.52], ddof=1))
    assert s.loc[("moco +McGIP", "linear"), "n"] == 3


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (32, 32), dtype=np.uint8) for _ in range(3)]
    maps = [rng.random((32, 32)).astype(np.float32) for _ in range(3)]
    sps = [np.column_stack([rng.uniform(0, 256, 5), rng.uniform(0, 256, 5), rng.uniform(0.1, 1, 5)]) for _ in range(3)]
    paths = [
        plots.plot_examples(imgs, maps, sps, ["a", "b", "c"], tmp_path / "ex.png", display=256.0),
        plots.plot_score_distributions({"mm": (rng.random(200), rng.random(200) < 0.3), "empty": (np.full(5, np.nan), np.zeros(5, bool))},
                                       tmp_path / "scores.png"),
        plots.plot_losses({"moco baseline": [3, 2, 1, 1, 1, 1], "moco +McGIP": [4, 3, 2, 2, 2, 1]}, tmp_path / "loss.png"),
        plots.plot_probe_bars(_result([0.5, 0.5, 0.6]).probe_summary(), tmp_path / "bars.png", chance=0.25),
        plots.plot_study(pd.DataFrame(dict(measure=["a", "b"], top1=[0.1, 0.3], auc=[0.6, 0.9])), tmp_path / "study.png", 1 / 59),
    ]
    for p in paths:
        assert p.is_file() and _is_png(p)

"""`mcgip train` and `mcgip eval` end to end on a small generated dataset."""

import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("torch")

from mcgip_fast.cli.main import main  # noqa: E402
from train_utils import make_dataset  # noqa: E402

TINY = ["--image-size", "16", "--width", "4", "--batch-size", "4", "--queue-size", "16", "--proj-dim", "8",
        "--hidden-dim", "16", "--epochs", "1", "--no-progress", "--device", "cpu"]


def test_train_then_eval(tmp_path, capsys):
    manifest, pairs = make_dataset(tmp_path / "d", n=16, size=24, split=True)
    out = tmp_path / "run"
    rc = main(["train", "--manifest", str(manifest), "--pairs", str(pairs), "--method", "simclr", "--out-dir", str(out), *TINY])
    assert rc == 0
    text = capsys.readouterr().out
    assert "trained 4 steps" in text and str(out / "encoder.pt") in text
    for name in ("encoder.pt", "checkpoint.pt", "metrics.jsonl", "loss.png", "config.json"):
        assert (out / name).exists(), name
    rc = main(["eval", "--encoder", str(out / "encoder.pt"), "--manifest", str(manifest), "--budgets", "50%", "1",
               "--seeds", "0", "1", "--knn-k", "3", "--out", str(tmp_path / "res.csv")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "knn@3" in text and "±" in text
    rows = pd.read_csv(tmp_path / "res.csv")
    assert len(rows) == 2 * 2 * 2 and set(rows["budget"]) == {0.5, 1.0}
    summary = pd.read_csv(tmp_path / "res_summary.csv")
    assert {"accuracy_mean", "accuracy_std", "roc_auc_mean", "n_seeds"} <= set(summary.columns)


def test_train_baseline_without_pairs_and_resume(tmp_path):
    manifest, _ = make_dataset(tmp_path / "d", n=12, size=20)
    args = ["train", "--manifest", str(manifest), "--no-gaze", "--method", "byol", "--out-dir", str(tmp_path / "r"), *TINY]
    assert main(args) == 0
    assert main([*args[:-1], "cpu", "--epochs", "2", "--resume"]) == 0


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys):
    manifest, pairs = make_dataset(tmp_path / "d", n=12, size=20)
    rc = main(["train", "--manifest", str(manifest), "--pairs", str(pairs), "--out-dir", str(tmp_path / "r"), *TINY,
               "--queue-size", "10"])
    assert rc == 2
    assert "mcgip train: error: queue size 10 is not a multiple of the global batch size 4" in capsys.readouterr().err
    rc = main(["train", "--manifest", str(manifest), "--out-dir", str(tmp_path / "r"), *TINY])
    assert rc == 2 and "need a pairs file" in capsys.readouterr().err
    rc = main(["eval", "--encoder", str(tmp_path / "missing.pt"), "--manifest", str(manifest)])
    assert rc == 2 and "no such encoder file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--encoder", "x", "--manifest", "y", "--budgets", "150%"])
    assert "label budget must be in (0, 1]" in capsys.readouterr().err


def test_help_explains_every_option():
    import argparse

    from mcgip_fast.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in ("train", "eval"):
        p = sub.choices[cmd]
        for action in p._actions:
            assert action.help and len(action.help) > 10, (cmd, action.dest)
        r = subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "examples:" in r.stdout
    r = subprocess.run([sys.executable, "-c", "import sys, mcgip_fast.cli.main as m; m.build_parser(); import mcgip_fast; "
                        "print('torch' in sys.modules)"], capture_output=True, text=True)
    assert r.stdout.strip() == "False"  # --help and `import mcgip_fast` never load torch

"""`mcgip demo` command line: --help, usage errors, and the real-data section on the embedded sample."""

import subprocess
import sys

import pytest

from mcgip_fast.cli.main import main


def test_help_lists_demo_and_its_options():
    out = subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for option in ("--out", "--quick", "--real-only", "--informativeness", "--methods", "--eval-seeds", "--full", "--archive",
                   "--shuffled-control", "--controls-every-method", "--method-option", "--no-reuse"):
        assert option in out.stdout
    top = subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", "--help"], capture_output=True, text=True)
    assert top.returncode == 0 and "demo" in top.stdout


def test_demo_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--epochs", "many"])
    assert e.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_real_only_demo_writes_the_study_and_maps(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["demo", "--real-only", "--out", str(out), "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "60 scanpaths" in text and "Held out" in text
    study = (out / "study.md").read_text()
    assert "top-1" in study and "AUC" in study.upper()
    maps = sorted((out / "studyforrest_maps").iterdir())
    assert len(maps) == 60, f"expected one gaze map per scanpath, got {len(maps)}"
    assert (out / "study.png").stat().st_size > 0


def test_full_quick_demo_through_the_cli(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "full"
    rc = main(["demo", "--full", "--quick", "--pretrain-seeds", "0,1", "--eval-seeds", "0", "--threads", "1",
               "--method-option", "byol.gaze_memory=16", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    methods = ("moco", "byol", "simsiam", "simclr")
    rows = pd.read_csv(out / "probe_results.csv")
    assert set(rows["run"]) == {f"{m} {kind}" for m in methods for kind in
                                ("baseline", "+McGIP", "+McGIP (uninformative gaze)", "+McGIP (shuffled positives)")}
    assert (rows.groupby("run")["pretrain_seed"].nunique() == 2).all()
    md = (out / "report.md").read_text()
    assert "The issue's test, mammo archive, linear probe" in md
    assert "mcgip demo --full --pretrain-seeds 0,1 --eval-seeds 0 --n-images 96 --epochs 1 --method-option byol.gaze_memory=16" in md
    for m in methods:
        assert f"| {m} | 2 |" in md
        assert f"issue test (mammo, linear) {m}:" in text
    assert "## 4. Real-data study" not in md and "+oracle positives" not in md  # --full leaves these out
    crit = pd.read_csv(out / "issue_criteria.csv")
    assert sorted(crit[crit["probe"] == "linear"]["method"]) == sorted(methods)
    assert set(pd.read_csv(out / "mining.csv")["archive"]) == {"informative", "uninformative", "shuffled"}
    from mcgip_fast.report.demo import METHOD_RECIPES

    assert f"byol also {dict(METHOD_RECIPES['byol'], gaze_memory=16)}" in md  # the option on top of BYOL's recipe


def test_demo_refuses_bad_method_options(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--quick", "--method-option", "byol:gaze_memory=16", "--out", str(tmp_path)])
    assert e.value.code == 2 and "METHOD.OPTION=VALUE" in capsys.readouterr().err
    assert main(["demo", "--quick", "--method-option", "moco.gaze_memory=16", "--out", str(tmp_path)]) == 2
    assert "gaze_memory is for byol, simsiam and simclr" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()  # refused before anything ran

"""`mcgip demo` command line: --help, usage errors, and the real-data section on the embedded sample."""

import subprocess
import sys

import pytest

from mcgip_fast.cli.main import main


def test_help_lists_demo_and_its_options():
    out = subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for option in ("--out", "--quick", "--real-only", "--informativeness", "--methods", "--eval-seeds"):
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

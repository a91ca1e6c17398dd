"""`mcgip demo` (interim): runs on the embedded sample, prints a summary, writes maps; --help works."""

import subprocess
import sys

import numpy as np
import pytest

from mcgip_fast import load_heatmap_images, render_heatmaps
from mcgip_fast.cli.main import main
from mcgip_fast.data import load_studyforrest


def test_help_lists_demo_and_its_options():
    out = subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--out" in out.stdout and "--sigma" in out.stdout and "studyforrest" in out.stdout
    top = subprocess.run([sys.executable, "-m", "mcgip_fast.cli.main", "--help"], capture_output=True, text=True)
    assert top.returncode == 0 and "demo" in top.stdout


def test_demo_writes_maps_equal_to_render_heatmaps(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "out"), "--size", "36", "64", "--sigma", "2", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "60 scanpaths" in text and "60 maps of 36x64" in text and "cosine similarity" in text
    ids, maps = load_heatmap_images(tmp_path / "out" / "heatmaps")
    assert len(ids) == 60 and (tmp_path / "out" / "overview.png").is_file()
    arch = load_studyforrest()
    want = render_heatmaps(arch, (36, 64), 2.0)
    k = list(arch.keys).index("segment_7|sub-19")
    np.testing.assert_allclose(maps[ids.index("segment_7_sub-19")], want[k], atol=0.5 / 255 + 1e-6)


def test_demo_summary_only_writes_nothing(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "x"), "--no-images", "--size", "18", "32"]) == 0
    assert not (tmp_path / "x").exists()


def test_demo_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--sigma", "wide"])
    assert e.value.code == 2
    assert main(["demo", "--no-images", "--sigma", "-1"]) == 2
    assert "sigma must be positive" in capsys.readouterr().err

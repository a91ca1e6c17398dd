"""`mcgip mine` end to end: real embedded data, a generated table, --help, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcgip_fast.cli.main import build_parser, main
from mcgip_fast.data import load_studyforrest
from mcgip_fast.mining import PairsMismatchError, PositivePairs
from mcgip_fast.mining.synthetic import random_archive


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["mine", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    mine_parser = parser._subparsers._group_actions[0].choices["mine"]
    for action in mine_parser._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 15, action.option_strings
    for word in ("resume", "byte-identical", "threshold", "Example"):
        assert word in text


def test_real_data_end_to_end(tmp_path, capsys):
    out = tmp_path / "pairs.parquet"
    rc = main(["mine", "--gaze", "studyforrest", "--scheme", "multimatch", "--rule", "topk", "--k", "3", "--aggregate", "none", "--out", str(out), "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "pairs:" in err and "degree:" in err and "time:" in err
    pairs = PositivePairs.load(out)
    archive = load_studyforrest()
    pairs.check_archive(archive)
    assert pairs.params["rule"] == {"name": "topk", "k": 3} and pairs.params["screen"] == [1280.0, 720.0]
    summary = json.loads((tmp_path / "pairs.summary.json").read_text())
    assert summary["pairs"] == pairs.n_pairs
    assert sum(summary["degree"]["histogram"].values()) == 60
    assert sum(summary["score_histogram"]["counts"]) == pairs.n_edges
    assert summary["report"]["seconds"] > 0
    png = (tmp_path / "pairs.scores.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PairsMismatchError):
        pairs.check_archive(archive.subset(np.arange(59, -1, -1)))


def test_generated_table_threshold_with_short_scanpaths(tmp_path, capsys):
    import pandas as pd

    a = random_archive(40, 10, seed=9, short=2)
    owner = np.repeat(a.image_ids, a.lengths)
    table = tmp_path / "fix.csv"
    pd.DataFrame({"img": owner, "x": a.x, "y": a.y, "duration": a.duration}).to_csv(table, index=False)
    out = tmp_path / "p.npz"
    rc = main(["mine", "--gaze", str(table), "--image-col", "img", "--screen", "1280", "720", "--rule", "threshold",
               "--threshold", "0.7", "--out", str(out), "--summary", str(tmp_path / "s.json"), "--plot", str(tmp_path / "s.png"), "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "2 skipped" in err and "img000038" in err and "threshold: score > 0.7" in err
    s = json.loads((tmp_path / "s.json").read_text())
    assert len(s["report"]["skipped"]) == 2
    assert (tmp_path / "s.png").exists()
    assert PositivePairs.load(out).n_pairs == s["pairs"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scheme", "foo", "--k", "2"], "unknown scheme 'foo'"),
        (["--rule", "foo", "--k", "2"], "unknown rule 'foo'"),
        (["--k", "0"], "k must be a positive integer, got 0"),
        (["--rule", "threshold", "--threshold", "2"], "outside the range"),
        (["--k", "2", "--engine", "dask"], "needs a scheduler"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, args, message):
    rc = main(["mine", "--gaze", "studyforrest", "--out", str(tmp_path / "p.parquet"), "--no-progress", *args])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_bad_paths(tmp_path, capsys):
    assert main(["mine", "--gaze", str(tmp_path / "missing.parquet"), "--k", "2", "--out", str(tmp_path / "p.parquet")]) == 2
    assert "no such gaze file" in capsys.readouterr().err
    assert main(["mine", "--gaze", "studyforrest", "--k", "2", "--out", str(tmp_path / "p.csv")]) == 2
    assert "end in .parquet or .npz" in capsys.readouterr().err


def test_folder_of_fixation_files_and_remodnav(tmp_path, studyforrest_dir, capsys):
    out = tmp_path / "f.parquet"
    assert main(["mine", "--gaze", str(studyforrest_dir / "fixvectors"), "--screen", "1280", "720", "--k", "2", "--out", str(out), "--no-progress"]) == 0
    assert len(PositivePairs.load(out)) == 60
    events = next((studyforrest_dir / "remodnav").glob("*_events.tsv"))
    out2 = tmp_path / "r.npz"
    args = ["mine", "--gaze", str(events), "--screen", "1280", "720", "--segment", "1", "--k", "1", "--out", str(out2), "--no-progress"]
    assert main(args) == 2
    assert "empty scanpath" in capsys.readouterr().err
    assert main(args + ["--short", "drop"]) == 0
    assert len(PositivePairs.load(out2)) >= 2

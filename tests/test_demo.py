"""`mcgip demo --quick`: every stage runs and the report holds every part the issue asks for."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from mcgip_fast.cli.main import main
from mcgip_fast.mining.pairs import PositivePairs
from mcgip_fast.report.demo import DemoConfig, chance_precision, pair_precision


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    rc = main(["demo", "--quick", "--out", str(out)])
    assert rc == 0
    return out


def test_quick_demo_writes_the_whole_report(quick_report, capsys):
    out = quick_report
    for name in ("report.md", "results.json", "probe_results.csv", "probe_summary.csv", "mining.csv", "timings.csv",
                 "study_measures.csv", "examples.png", "score_distributions.png", "loss_curves.png",
                 "probe_accuracy.png", "study.png"):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    for heading in ("## Outcome", "## 1. Synthetic archive", "## 2. Mined positive pairs", "## 3. Pre-training and probes",
                    "## 4. Real-data study", "## Timings"):
        assert heading in md, heading
    for image in ("examples.png", "score_distributions.png", "loss_curves.png", "probe_accuracy.png", "study.png"):
        assert f"({image})" in md


def test_quick_demo_results_are_consistent(quick_report):
    out = quick_report
    cfg = DemoConfig.quick()
    rows = pd.read_csv(out / "probe_results.csv")
    runs = set(rows["run"])
    assert runs == {"moco baseline", "moco +McGIP", "simsiam baseline", "simsiam +McGIP", "moco +McGIP (uninformative gaze)",
                    "moco +oracle positives (labels)"}
    assert set(rows["probe"]) == {"linear", "knn"}
    # every run is probed once per evaluation seed and probe; the headline runs once per pre-training seed too
    counts = rows.groupby(["run", "probe"]).size()
    headline = counts.index.get_level_values("run").isin(["moco baseline", "moco +McGIP"])
    assert len(cfg.pretrain_seeds) > 1
    assert (counts[headline] == len(cfg.eval_seeds) * len(cfg.pretrain_seeds)).all()
    assert (counts[~headline] == len(cfg.eval_seeds)).all()
    seeds = rows.groupby("run")["pretrain_seed"].nunique()
    assert seeds["moco +McGIP"] == len(cfg.pretrain_seeds) and seeds["simsiam +McGIP"] == 1
    assert rows["accuracy"].between(0, 1).all()

    mining = pd.read_csv(out / "mining.csv")
    assert set(mining["scheme"]) == {"multimatch", "hu", "dhash"}
    assert set(mining["archive"]) == {"informative", "uninformative"}
    assert mining["precision"].between(0, 1).all() and mining["pairs"].gt(0).all()

    timings = pd.read_csv(out / "timings.csv")
    assert timings["seconds"].ge(0).all()
    assert any(s.startswith("pre-train") for s in timings["stage"])
    assert "write report" in set(timings["stage"])

    res = json.loads((out / "results.json").read_text())
    assert res["config"]["n_images"] == cfg.n_images
    assert {"linear", "knn"} <= set(res["comparisons"])


def test_mined_precision_is_computed_against_hidden_labels():
    ids = [f"i{k}" for k in range(6)]
    labels = np.array([0, 0, 1, 1, 2, 2])
    pairs = PositivePairs.from_edges(ids, np.array([0, 2, 0]), np.array([1, 3, 4]), np.array([1.0, 1.0, 1.0]))
    prec, n = pair_precision(pairs, labels)
    assert n == 3 and prec == pytest.approx(2 / 3)
    # chance: 3 classes of 2 -> 3 * 2 / 30
    assert chance_precision(labels) == pytest.approx(6 / 30)


def test_oracle_pairs_are_same_class():
    from mcgip_fast.report.demo import oracle_pairs

    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2])
    pairs = oracle_pairs([f"i{k}" for k in range(8)], labels, k=2, seed=0)
    prec, n = pair_precision(pairs, labels)
    assert prec == 1.0 and n > 0
    assert (pairs.degrees() >= 1).all()


def test_bad_demo_config():
    with pytest.raises(ValueError, match="unknown mining scheme"):
        DemoConfig(schemes=("nope",)).validate()
    with pytest.raises(ValueError, match="train_scheme 'hu' must be one of the mined schemes"):
        DemoConfig(schemes=("multimatch",), train_scheme="hu").validate()
    with pytest.raises(ValueError, match="unknown method"):
        DemoConfig(methods=("dino",)).validate()
    with pytest.raises(ValueError, match="at least one evaluation seed"):
        DemoConfig(eval_seeds=()).validate()
    with pytest.raises(ValueError, match="k must be at least 1"):
        DemoConfig(k=0).validate()
    with pytest.raises(ValueError, match="pool must be one of"):
        DemoConfig(pool="sum").validate()
    with pytest.raises(ValueError, match="rule must be 'topk' or 'mutual'"):
        DemoConfig(rule="threshold").validate()
    with pytest.raises(ValueError, match="stem must be one of"):
        DemoConfig(stem="big").validate()


def test_cli_rejects_bad_seed_list(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--eval-seeds", "a,b"])
    assert "comma-separated integers" in capsys.readouterr().err

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
    assert runs == {f"{m} {kind}" for m in ("moco", "byol", "simsiam", "simclr") for kind in ("baseline", "+McGIP")} | {
        "moco +McGIP (uninformative gaze)"}
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
    assert any(s.startswith("pre-train and probe") for s in timings["stage"])
    runs = pd.read_csv(out / "run_timings.csv")
    assert runs["seconds"].gt(0).all() and len(runs) == 2 * len(rows.groupby(["run", "pretrain_seed"]))
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


def test_oracle_runs_for_every_method_whose_controls_run(tmp_path):
    from mcgip_fast.report.demo import MinedPairs, _plan_runs

    class Archive:  # what the planner reads of an archive
        manifest_path = tmp_path / "manifest.csv"

        def manifest(self):
            return pd.DataFrame({"image_id": [f"i{k}" for k in range(8)]})

        def labels(self):
            return pd.DataFrame({"label": [0, 1, 0, 1, 0, 1, 0, 1]})

    mined = MinedPairs(schemes={"multimatch": tmp_path / "pairs.npz"})

    def oracles(oracle=True, **kw):
        cfg = DemoConfig.quick(out=str(tmp_path), methods=("moco", "byol", "simsiam"), k=2, oracle=oracle, **kw)
        plans = _plan_runs(cfg, Archive(), None, mined, tmp_path)
        return [(p.name, p.method, p.pairs) for p in plans if "oracle" in p.name]

    oracle_file = tmp_path / "pairs_oracle_labels.npz"
    assert oracles() == [("moco +oracle positives (labels)", "moco", oracle_file)]
    assert oracles(controls_every_method=True) == [(f"{m} +oracle positives (labels)", m, oracle_file)
                                                   for m in ("moco", "byol", "simsiam")]
    assert pair_precision(PositivePairs.load(oracle_file), np.array([0, 1] * 4))[0] == 1.0
    assert oracles(oracle=False, controls_every_method=True) == []


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


# ------------------------------------------------------------------ --full: controls, options, archives, resume
from mcgip_fast.report.demo import FULL, METHOD_RECIPES, issue_criteria, run_demo, seed_table, train_config  # noqa: E402


def test_full_config_is_the_issue_test():
    cfg = DemoConfig.full()
    assert cfg.methods == ("moco", "byol", "simsiam", "simclr")
    assert cfg.pretrain_seeds == (0, 1, 2, 3, 4) and cfg.all_runs_every_seed
    assert cfg.control and cfg.shuffled_control and cfg.controls_every_method
    assert not cfg.oracle and not cfg.study and not cfg.crowd
    assert cfg.control_methods == cfg.methods
    # overrides win, the rest stays the default recipe
    cfg = DemoConfig.full(pretrain_seeds=(0, 1), archive="chest")
    assert cfg.pretrain_seeds == (0, 1) and cfg.archive == "chest" and cfg.epochs == DemoConfig().epochs
    assert cfg.validate() is cfg
    # the default demo: one control, for the headline method only, no shuffled control; each method its own recipe
    d = DemoConfig()
    assert d.control and not d.shuffled_control and not d.controls_every_method and d.control_methods == ("moco",)
    assert set(d.method_options) == set(FULL["methods"]) and d.method_options["moco"] == {}
    assert d.method_options is not DemoConfig().method_options and d.method_options == METHOD_RECIPES


def test_bad_archive_and_method_options():
    with pytest.raises(ValueError, match="unknown archive 'ct'"):
        DemoConfig(archive="ct").validate()
    with pytest.raises(ValueError, match="unknown method 'dino'"):
        DemoConfig(method_options={"dino": {}}).validate()
    with pytest.raises(ValueError, match=r"unknown TrainConfig options \['gaze_mem'\]"):
        DemoConfig(method_options={"byol": {"gaze_mem": 32}}).validate()
    with pytest.raises(ValueError, match="set by the demo for each run"):
        DemoConfig(method_options={"moco": {"seed": 3}}).validate()
    # refused by TrainConfig for the method's +McGIP runs: found before any run starts
    with pytest.raises(ValueError, match="moco \\+McGIP runs: gaze_memory is for byol, simsiam and simclr"):
        DemoConfig(method_options={"moco": {"gaze_memory": 64}}).validate()
    # an option for a method that does not run is not checked against its runs
    DemoConfig(methods=("simclr",), method_options={"moco": {"gaze_memory": 64}}).validate()


def test_method_options_reach_train_config_for_that_method_only():
    cfg = DemoConfig(methods=("moco", "byol"), method_options={"byol": {"gaze_memory": 64, "gaze_weight": 0.25, "lr": 1e-3}},
                     train_options={"weight_decay": 1e-5}).validate()
    plus = train_config(cfg, "m.csv", "p.npz", "byol", True, 1, "out")
    base = train_config(cfg, "m.csv", None, "byol", False, 1, "out")
    assert (plus.gaze_memory, plus.gaze_weight, plus.lr, plus.weight_decay) == (64, 0.25, 1e-3, 1e-5)
    # the baseline has the same recipe except the gaze memory, which holds gaze positives only
    assert (base.gaze_memory, base.gaze_weight, base.lr, base.weight_decay) == (0, 0.25, 1e-3, 1e-5)
    base.validate()
    moco = train_config(cfg, "m.csv", "p.npz", "moco", True, 1, "out")
    assert (moco.gaze_memory, moco.gaze_weight, moco.lr, moco.weight_decay) == (0, None, cfg.lr, 1e-5)


def _row(**kw):
    row = dict(seeds=5, gain=0.05, seed_std=0.02, positive_seeds=5, uninformative_gain=0.005, uninformative_seed_std=0.02,
               uninformative_seeds=5, shuffled_gain=-0.01, shuffled_seed_std=0.02, shuffled_seeds=5)
    row.update(kw)
    return row


def test_issue_criteria_on_hand_made_rows():
    assert issue_criteria(_row()) == ("met", [])
    assert issue_criteria(_row(positive_seeds=4)) == ("met", [])  # 4 of 5 is enough
    verdict, why = issue_criteria(_row(positive_seeds=3))
    assert verdict == "not met" and why == ["positive on 3 of 5 seeds (needs 4)"]
    verdict, why = issue_criteria(_row(gain=0.02))  # equal to the std is not more than it
    assert verdict == "not met" and "not above seed std" in why[0]
    verdict, why = issue_criteria(_row(shuffled_gain=0.03))
    assert verdict == "not met" and why == ["shuffled positives still gains +0.030 (above its seed std 0.020)"]
    verdict, why = issue_criteria(_row(uninformative_gain=0.021))
    assert verdict == "not met" and why[0].startswith("uninformative gaze still gains")
    # a missing control or too few seeds give no verdict, unless something already failed
    verdict, why = issue_criteria(_row(shuffled_seeds=0, shuffled_gain=float("nan"), shuffled_seed_std=float("nan")))
    assert verdict == "incomplete" and why == ["shuffled positives control on 0 seeds (needs 2)"]
    assert issue_criteria(_row(seeds=1, seed_std=float("nan"), positive_seeds=1))[0] == "incomplete"
    verdict, why = issue_criteria(_row(positive_seeds=0, shuffled_seeds=1))
    assert verdict == "not met" and len(why) == 2
    # 80 % of 3 seeds is 2.4: all 3 are needed; works on pandas rows too
    assert issue_criteria(pd.Series(_row(seeds=3, positive_seeds=2)))[0] == "not met"
    assert issue_criteria(pd.Series(_row(seeds=3, positive_seeds=3)))[0] == "met"


def test_seed_table_pairs_on_pretrain_seed_after_averaging_eval_seeds():
    rows = []

    def add(run, method, gaze, accs):  # accs[pretrain seed][eval seed]
        for ps, per_eval in enumerate(accs):
            for es, acc in enumerate(per_eval):
                rows.append(dict(run=run, method=method, gaze=gaze, pretrain_seed=ps, eval_seed=es, probe="linear", accuracy=acc))

    add("moco baseline", "moco", False, [[0.40, 0.42], [0.50, 0.52], [0.45, 0.47]])
    add("moco +McGIP", "moco", True, [[0.45, 0.47], [0.49, 0.51], [0.55, 0.57]])  # +0.05, -0.01, +0.10
    add("moco +McGIP (shuffled positives)", "moco", True, [[0.40, 0.42], [0.50, 0.52], [0.45, 0.47]])
    t = seed_table(pd.DataFrame(rows)).iloc[0]
    assert t["seeds"] == 3 and t["positive_seeds"] == 2
    assert t["gain"] == pytest.approx((0.05 - 0.01 + 0.10) / 3)
    base, plus = np.array([0.41, 0.51, 0.46]), np.array([0.46, 0.50, 0.56])
    assert t["seed_std"] == pytest.approx(max(np.std(base, ddof=1), np.std(plus, ddof=1)))
    assert t["shuffled_gain"] == pytest.approx(0.0) and t["shuffled_seeds"] == 3
    assert t["uninformative_seeds"] == 0 and np.isnan(t["uninformative_gain"])
    assert t["verdict"] == "not met"  # positive on 2 of 3 seeds; and the uninformative control is missing
    assert "positive on 2 of 3" in t["verdict_reasons"] and "uninformative gaze control on 0 seeds" in t["verdict_reasons"]


@pytest.fixture(scope="module")
def chest_runs(tmp_path_factory):
    """The --full structure at a tiny size on the chest archive, run three times in one work folder:
    fresh, again (everything reused), and with a changed BYOL option (only what it touches re-runs)."""
    out = tmp_path_factory.mktemp("chest")
    cfg = DemoConfig.quick(out=str(out), archive="chest", methods=("moco", "byol"), pretrain_seeds=(0, 1), eval_seeds=(0,),
                           all_runs_every_seed=True, shuffled_control=True, controls_every_method=True, oracle=False,
                           study=False, crowd=False, threads=1)
    runs = []
    byol_changed = {**cfg.method_options, "byol": {**cfg.method_options["byol"], "gaze_memory": 16}}
    for c in (cfg, cfg, DemoConfig.quick(**{**cfg.__dict__, "method_options": byol_changed})):
        logs: list[str] = []
        runs.append((c, run_demo(c, log=logs.append), logs))
    return runs


def test_chest_archive_with_both_controls_for_every_method(chest_runs):
    cfg, result, _ = chest_runs[0]
    work = cfg.work_dir / "chest"
    assert result.archive_root == str(work / "archive")
    from mcgip_fast.synth import SynthArchive

    assert SynthArchive.open(result.archive_root).class_names == ("clear", "nodule", "cavity", "band")
    names = {r.name for r in result.runs}
    assert names == {f"{m} {kind}" for m in ("moco", "byol") for kind in
                     ("baseline", "+McGIP", "+McGIP (uninformative gaze)", "+McGIP (shuffled positives)")}
    assert all(sorted(r.seed for r in result.runs if r.name == n) == [0, 1] for n in names)
    # the shuffled graph: same images, same degree for every image, other partners
    mined = PositivePairs.load(work / "pairs_multimatch.npz")
    shuffled = PositivePairs.load(work / "pairs_multimatch_shuffled.npz")
    assert list(shuffled.ids) == list(mined.ids)
    assert np.array_equal(shuffled.degrees(), mined.degrees())
    assert not np.array_equal(shuffled.keys(), mined.keys())
    assert {r.pairs for r in result.runs if "shuffled" in r.name} == {str(work / "pairs_multimatch_shuffled.npz")}
    m = result.mining.set_index("archive")
    assert set(m.index) == {"informative", "uninformative", "shuffled"}
    labels = SynthArchive.open(result.archive_root).labels()["label"].to_numpy()
    assert m.loc["shuffled", "precision"] == pytest.approx(pair_precision(shuffled, labels)[0])
    assert m.loc["shuffled", "pairs"] == m.loc["informative"].query("scheme == 'multimatch'")["pairs"].iloc[0]
    # the issue's table: one row per method, each with both controls over both seeds
    t = result.seed_table("linear").set_index("method")
    assert list(t.index) == ["moco", "byol"]
    assert (t["seeds"] == 2).all() and (t["uninformative_seeds"] == 2).all() and (t["shuffled_seeds"] == 2).all()
    assert set(t["verdict"]) <= {"met", "not met"}


def test_report_has_the_issue_table(chest_runs, tmp_path):
    from mcgip_fast.report.markdown import write_report

    _, result, _ = chest_runs[0]
    md = write_report(result, tmp_path).read_text()
    assert "The issue's test, chest archive, linear probe" in md
    assert "| moco | 2 |" in md and "| byol | 2 |" in md
    assert "shuffled positives: gain (seed std)" in md
    assert "mcgip demo --full --archive chest --methods moco,byol --pretrain-seeds 0,1 --eval-seeds 0" in md
    crit = pd.read_csv(tmp_path / "issue_criteria.csv")
    assert set(crit["method"]) == {"moco", "byol"} and set(crit["probe"]) == {"linear", "knn"}


def test_rerun_reuses_every_finished_run(chest_runs):
    (_, first, _), (cfg, again, logs) = chest_runs[0], chest_runs[1]
    n = len(first.runs)
    assert f"[demo] runs: 0 trained, {n} of {n} reused from earlier records" in logs
    assert not any(name.startswith("pre-train") for name, _ in again.timings) and not again.run_timings
    pd.testing.assert_frame_equal(first.probe_rows(), again.probe_rows())
    pd.testing.assert_frame_equal(first.seed_table(), again.seed_table())
    assert [r.losses for r in first.runs] == [r.losses for r in again.runs]
    assert any("reused" in note for note in again.notes)
    record = json.loads((cfg.work_dir / "chest" / "runs" / "byol_McGIP_seed1" / "record.json").read_text())
    assert record["key"]["train"]["method"] == "byol" and record["key"]["train"]["seed"] == 1


def test_changed_method_option_reruns_only_the_runs_it_changes(chest_runs):
    (_, first, _), (cfg, changed, logs) = chest_runs[0], chest_runs[2]
    trained = {name.split(" (seed")[0][len("pre-train "):] for name, _ in changed.run_timings if name.startswith("pre-train")}
    # gaze_memory is left out of the BYOL baseline, so only BYOL's gaze runs change
    assert trained == {"byol +McGIP", "byol +McGIP (uninformative gaze)", "byol +McGIP (shuffled positives)"}
    assert "[demo] runs: 6 trained, 10 of 16 reused from earlier records" in logs
    rec = json.loads((cfg.work_dir / "chest" / "runs" / "byol_McGIP_seed0" / "record.json").read_text())
    assert rec["key"]["train"]["gaze_memory"] == 16
    base = json.loads((cfg.work_dir / "chest" / "runs" / "byol_baseline_seed0" / "record.json").read_text())
    assert base["key"]["train"]["gaze_memory"] == 0
    kept = lambda result: {(r.name, r.seed): r.losses for r in result.runs if r.method == "moco" or r.name == "byol baseline"}  # noqa: E731
    assert len(kept(first)) == 10 and kept(first) == kept(changed)


def test_parallel_runs_give_the_numbers_of_runs_one_after_another(chest_runs, tmp_path):
    """Two runs in two spawned worker processes equal the same runs in this process (same thread count),
    each reported under its own index; a failing run's error reaches the caller."""
    from dataclasses import replace

    from mcgip_fast.report.demo import train_config
    from mcgip_fast.report.runs import RunJob, run_jobs
    from mcgip_fast.synth import SynthArchive

    base, result, _ = chest_runs[0]
    archive = SynthArchive.open(result.archive_root)
    pairs = base.work_dir / "chest" / "pairs_multimatch.npz"

    def jobs(folder):
        cfg = replace(base, epochs=1)
        return [RunJob(train_config(cfg, archive.manifest_path, pairs if gaze else None, method, gaze, seed,
                                    tmp_path / folder / f"{method}{seed}"), archive.manifest_path, archive.labels_path)
                for method, gaze, seed in (("moco", True, 0), ("byol", False, 1))]

    side_by_side = dict(run_jobs(jobs("parallel"), replace(base, parallel_runs=2, torch_threads=1)))
    one_by_one = dict(run_jobs(jobs("serial"), replace(base, parallel_runs=1, torch_threads=1)))
    assert sorted(side_by_side) == sorted(one_by_one) == [0, 1]
    for i in (0, 1):
        assert side_by_side[i].losses == one_by_one[i].losses
        pd.testing.assert_frame_equal(side_by_side[i].results, one_by_one[i].results)
    assert side_by_side[0].losses != side_by_side[1].losses

    broken = jobs("broken")
    broken[1] = replace(broken[1], train=replace(broken[1].train, manifest=str(tmp_path / "missing.csv")))
    with pytest.raises(Exception, match="missing.csv"):
        list(run_jobs(broken, replace(base, parallel_runs=2, torch_threads=1)))


def test_parallel_run_options_are_checked(capsys):
    with pytest.raises(ValueError, match="parallel_runs"):
        DemoConfig(parallel_runs=0).validate()
    with pytest.raises(ValueError, match="torch_threads"):
        DemoConfig(torch_threads=0).validate()
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--parallel-runs" in out and "--torch-threads" in out and "--mm-weights" in out


def test_reader_invariant_mining_in_the_demo(tmp_path):
    """--mm-weights reader-invariant: the chest archive's pairs are mined with weights fitted from its
    readers (noted in the report), and purer than with McGIP's weights."""
    cfg = DemoConfig.quick(out=str(tmp_path), archive="chest", methods=("moco",), pretrain_seeds=(0,), eval_seeds=(0,),
                           mm_weights="reader-invariant", study=False, crowd=False, control=False, oracle=False,
                           epochs=1, threads=1)
    logs: list[str] = []
    result = run_demo(cfg, log=logs.append)
    pairs = PositivePairs.load(cfg.work_dir / "chest" / "pairs_multimatch.npz")
    assert pairs.params["weights_from"] == "reader-invariant"
    assert any("fitted reader-invariant" in n for n in result.notes)
    from mcgip_fast.report.markdown import _reproduce_command

    assert "--mm-weights reader-invariant" in _reproduce_command(cfg)
    with pytest.raises(ValueError, match="mm_weights"):
        DemoConfig(mm_weights="equal").validate()


def test_parallel_runs_are_reported_as_each_finishes(tmp_path):
    """A run that finishes first is handed back while the other is still running (so the demo saves its
    record at once and a stopped demo keeps it). The held run waits on a gate file that is opened only after
    the first result arrives, so the order does not hang on how fast the machine is."""
    from _helpers import gated_job

    from mcgip_fast.report.demo import DemoConfig
    from mcgip_fast.report.runs import run_jobs

    gate = tmp_path / "open"
    runs = run_jobs([("held", gate), ("free", None)], DemoConfig(parallel_runs=2, torch_threads=1), gated_job)
    first, name = next(runs)
    assert (first, name) == (1, "free")
    assert not gate.exists()  # so "held" cannot have finished
    gate.touch()
    assert list(runs) == [(0, "held")]

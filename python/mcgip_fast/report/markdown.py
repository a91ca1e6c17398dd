"""Write the demo report: ``report.md`` with tables, PNG plots, CSV/JSON results and a terminal summary."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from mcgip_fast.report import plots
from mcgip_fast.report.demo import MIN_SEEDS, POSITIVE_SHARE, DemoResult, config_dict, headline_method


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _examples(result: DemoResult, out: Path) -> Path | None:
    """Two example images per class, with scanpath and gaze map."""
    import cv2

    from mcgip_fast.gaze.heatmaps import render_heatmaps
    from mcgip_fast.synth import SynthArchive

    arch = SynthArchive.open(result.archive_root)
    labels = arch.labels()
    gaze = arch.gaze()
    picks = []
    for name in arch.class_names:
        picks += list(np.flatnonzero(labels["class_name"].to_numpy() == name)[:2])
    if not picks:
        return None
    size = arch.config.size
    sub = gaze.subset(picks)
    maps = render_heatmaps(sub, (size, size), size / 24.0)
    images = [cv2.imread(str(arch.root / arch.manifest()["path"][i]), cv2.IMREAD_GRAYSCALE) for i in picks]
    truth = arch.truth().set_index("image_id")
    titles = []
    for i in picks:
        iid = labels["image_id"][i]
        behaviour = truth.loc[iid, "gaze_behaviour"]
        behaviour = behaviour.iloc[0] if isinstance(behaviour, pd.Series) else behaviour
        titles.append(f"{labels['class_name'][i]}\n(gaze as: {behaviour})")
    return plots.plot_examples(images, list(maps), [s.to_array() for s in sub], titles, out / "examples.png", arch.config.display)


def write_report(result: DemoResult, out: str | Path | None = None) -> Path:
    """Write everything under `out` (default: the config's `out`); returns the path of report.md."""
    cfg = result.config
    out = Path(out or cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path] = {}

    ex = _examples(result, out)
    if ex is not None:
        figures["examples"] = ex
    if result.score_samples:
        figures["scores"] = plots.plot_score_distributions(result.score_samples, out / "score_distributions.png")
    if result.runs:
        figures["losses"] = plots.plot_losses({f"{r.name} s{r.seed}" if len(cfg.pretrain_seeds) > 1 else r.name: r.losses for r in result.runs},
                                              out / "loss_curves.png")
    summary = result.probe_summary()
    labels_chance = None
    if result.mining is not None and len(result.mining):
        pass
    if not summary.empty:
        n_classes = 4
        labels_chance = 1.0 / n_classes
        figures["probes"] = plots.plot_probe_bars(summary, out / "probe_accuracy.png", labels_chance)
    if result.study is not None:
        figures["study"] = plots.plot_study(result.study.full, out / "study.png", result.study.chance_top1)
    if result.crowd is not None and result.crowd.runs:
        crowd_summary = result.crowd.summary().rename(columns={"mean": "accuracy_mean", "std": "accuracy_std"})
        figures["crowd"] = plots.plot_probe_bars(crowd_summary, out / "crowd_probes.png", 1.0 / 4)

    # machine-readable results
    rows = result.probe_rows()
    if not rows.empty:
        rows.to_csv(out / "probe_results.csv", index=False)
        summary.to_csv(out / "probe_summary.csv", index=False)
    if result.mining is not None:
        result.mining.to_csv(out / "mining.csv", index=False)
    pd.DataFrame(result.timings, columns=["stage", "seconds"]).to_csv(out / "timings.csv", index=False)
    pd.DataFrame(result.run_timings, columns=["run", "seconds"]).to_csv(out / "run_timings.csv", index=False)
    if result.study is not None:
        result.study.full.to_csv(out / "study_measures.csv", index=False)
        result.study.summary.to_csv(out / "study_held_out.csv", index=False)
    comps = {p: result.comparisons(p) for p in ("linear", "knn")}
    criteria = {p: result.seed_table(p) for p in ("linear", "knn")}
    if any(not c.empty for c in criteria.values()):
        pd.concat([c for c in criteria.values() if not c.empty], ignore_index=True).assign(archive=cfg.archive).to_csv(
            out / "issue_criteria.csv", index=False)
    (out / "results.json").write_text(json.dumps({
        "config": config_dict(cfg),
        "timings": result.timings,
        "run_timings": result.run_timings,
        "total_seconds": result.stage_seconds(),
        "checks": result.checks,
        "mining": [] if result.mining is None else result.mining.to_dict(orient="records"),
        "probe_summary": [] if summary.empty else summary.to_dict(orient="records"),
        "comparisons": {p: c.to_dict(orient="records") for p, c in comps.items()},
        "issue_criteria": {"archive": cfg.archive, **{p: c.to_dict(orient="records") for p, c in criteria.items()}},
        "study_verdict": None if result.study is None else result.study.verdict(),
        "crowd": None if result.crowd is None else {
            "mining": result.crowd.mining, "verdict": result.crowd.verdict(),
            "comparisons": result.crowd.comparisons("linear").to_dict(orient="records"),
        },
    }, indent=2, default=float))

    md = _markdown(result, summary, comps, figures, out, criteria)
    path = out / "report.md"
    path.write_text(md)
    return path


def verdict_lines(result: DemoResult) -> list[str]:
    """Plain-language outcome of each +McGIP run against its baseline (linear probe)."""
    comp = result.comparisons("linear")
    lines = []
    informative_gain = {r.method: bool(r.beats) for r in comp.itertuples() if not _is_control(r.run) and "oracle" not in r.run}
    for r in comp.itertuples():
        if "oracle" in r.run:
            lines.append(
                f"{r.run} (diagnostic, uses labels): {r.mcgip:.3f} vs baseline {r.baseline:.3f} (gain {r.gain:+.3f}) -> "
                + ("perfect positives help, so better gaze similarity would pay off." if r.beats else
                   "even perfect positives do not beat the baseline at this budget: the encoder and training budget, "
                   "not the gaze, limit the gain.")
            )
            continue
        if _is_control(r.run):
            if not informative_gain.get(r.method, False):
                lines.append(
                    f"{r.run}: {r.mcgip:.3f} vs baseline {r.baseline:.3f} (gain {r.gain:+.3f}; seed std {r.seed_std:.3f}) -> "
                    "inconclusive: informative gaze gave no gain either, so there is no gain to lose."
                )
                continue
            gone = not r.beats
            without = "without informative gaze" if "uninformative" in r.run else "when the positives are shuffled (same number per image)"
            lines.append(
                f"{r.run}: {r.mcgip:.3f} vs baseline {r.baseline:.3f} (gain {r.gain:+.3f}; seed std {r.seed_std:.3f}) -> "
                + (f"the gain disappears {without}, as it should." if gone else
                   "still beats the baseline: the gain is NOT (only) from gaze information.")
            )
        else:
            lines.append(
                f"{r.run}: linear probe {r.mcgip:.3f} ± {r.mcgip_std:.3f} vs baseline {r.baseline:.3f} ± {r.baseline_std:.3f}; "
                f"gain {r.gain:+.3f} (paired std {r.paired_std:.3f}, n={r.n}) -> "
                + ("beats the baseline by more than the seed-to-seed std." if r.beats else
                   "does NOT beat the baseline by more than the seed-to-seed std.")
            )
    return lines


def _is_control(run: str) -> bool:
    return "(uninformative gaze)" in run or "(shuffled positives)" in run


def criteria_lines(table: pd.DataFrame, archive: str, probe: str = "linear") -> list[str]:
    """The `seed_table` (with the issue's verdict per method) as a Markdown table."""
    if table is None or table.empty:
        return []

    def gain(g, std, n):
        if not n:
            return "not run"
        return f"{g:+.3f}" + (f" ({std:.3f})" if np.isfinite(std) else "") + f", {int(n)} seed{'s' if n != 1 else ''}"

    L = [f"**The issue's test, {archive} archive, {probe} probe** (each run averaged over the evaluation seeds, then "
         "paired with its baseline on the pre-training seed):", "",
         "| method | seeds | baseline | +McGIP | gain | seed std | gain > 0 on | uninformative gaze: gain (seed std) | "
         "shuffled positives: gain (seed std) | verdict |",
         "| --- " * 10 + "|"]
    for r in table.itertuples():
        verdict = r.verdict + (f": {r.verdict_reasons}" if r.verdict_reasons else "")
        L.append(f"| {r.method} | {r.seeds} | {_fmt(r.baseline, r.baseline_std)} | {_fmt(r.mcgip, r.mcgip_std)} | {r.gain:+.3f} | "
                 f"{r.seed_std:.3f} | {r.positive_seeds} of {r.seeds} | "
                 f"{gain(r.uninformative_gain, r.uninformative_seed_std, r.uninformative_seeds)} | "
                 f"{gain(r.shuffled_gain, r.shuffled_seed_std, r.shuffled_seeds)} | {verdict} |")
    L += ["", f"Seed std: the larger of the baseline's and the run's standard deviation over pre-training seeds. Verdict "
          f"(`issue_criteria`): **met** when the gain is above the seed std, positive on at least "
          f"{POSITIVE_SHARE:.0%} of the seeds (4 of 5), and neither control gains more than its own seed std; "
          f"**not met** when a test fails; **incomplete** when a comparison is missing or has fewer than {MIN_SEEDS} seeds.", ""]
    return L


def _archive_text(result: DemoResult) -> str:
    cfg = result.config
    if cfg.archive == "mammo":
        return (f"{cfg.n_images} greyscale images of {cfg.image_px} px, 4 balanced classes (normal, round mass, spiculated mass, "
                f"calcification cluster) on anatomy-like texture; one simulated reading per image from a pool of readers. ")
    classes = ""
    try:
        from mcgip_fast.synth import SynthArchive

        classes = " (" + ", ".join(SynthArchive.open(result.archive_root).class_names) + ")"
    except (OSError, ValueError, TypeError):
        pass
    extra = {"chest": "chest-radiograph-like images (lung fields, ribs, mediastinum; `mcgip_fast/synth/chest.py`), readers "
                      "with personal habits; the class shows in the geometry of one episode of each reading. "}.get(cfg.archive, "")
    return (f"The `{cfg.archive}` archive: {cfg.n_images} greyscale images of {cfg.image_px} px, 4 balanced classes{classes}; "
            + extra)


def _reproduce_command(cfg) -> str:
    """The `mcgip demo` command for this report's main settings (the configuration below has every one)."""
    from mcgip_fast.report.demo import DemoConfig

    full = cfg.shuffled_control and cfg.controls_every_method
    if not full and cfg.archive == "mammo" and cfg.mm_weights == DemoConfig.mm_weights:
        return "make demo            # or: mcgip demo --out report"
    ref = DemoConfig.full() if full else DemoConfig()
    cmd = "mcgip demo" + (" --full" if full else "")
    seq = lambda v: ",".join(map(str, v))  # noqa: E731
    for flag, key, show in (("--archive", "archive", str), ("--methods", "methods", seq),
                            ("--pretrain-seeds", "pretrain_seeds", seq), ("--eval-seeds", "eval_seeds", seq),
                            ("--n-images", "n_images", str), ("--epochs", "epochs", str),
                            ("--mm-weights", "mm_weights", str)):
        if getattr(cfg, key) != getattr(ref, key):
            cmd += f" {flag} {show(getattr(cfg, key))}"
    for m, opts in cfg.method_options.items():
        cmd += "".join(f" --method-option {m}.{k}={v}" for k, v in opts.items())
    return cmd + f" --out {cfg.out}"


def _markdown(result: DemoResult, summary: pd.DataFrame, comps: dict, figures: dict, out: Path,
              criteria: dict | None = None) -> str:
    cfg = result.config
    criteria = criteria or {}
    rel = {k: v.relative_to(out).as_posix() for k, v in figures.items()}
    L: list[str] = []
    L += [
        "# mcgip_fast demo report",
        "",
        "From simulated reader gaze, through mined positive pairs, to pre-trained encoders, compared with their "
        "baselines on a synthetic radiology archive; then a study of gaze similarity on real eye-tracking data.",
        "",
        f"Machine: {platform.machine()}, {_cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"torch {_torch_version()}. Total time of all stages: **{result.stage_seconds() / 60:.1f} min**.",
        "",
        "## Outcome",
        "",
    ]
    L += [f"- {line}" for line in verdict_lines(result)] or ["- (no training runs)"]
    table = criteria.get("linear")
    if table is not None and not table.empty:
        by = {v: [r.method for r in table.itertuples() if r.verdict == v] for v in ("met", "not met", "incomplete")}
        L.append(f"- The issue's test ({cfg.archive} archive, linear probe, over pre-training seeds): "
                 + "; ".join(f"{v} for {', '.join(ms)}" for v, ms in by.items() if ms) + " (table in section 3).")
    if result.study is not None:
        L.append(f"- Real data: {result.study.verdict()}.")
    if result.crowd is not None:
        L.append(f"- Real images with real gaze: {result.crowd.verdict()}.")
    seeds = ", ".join(map(str, cfg.pretrain_seeds))
    if len(cfg.pretrain_seeds) == 1:
        pre = (f"; every encoder was pre-trained once (seed {cfg.pretrain_seeds[0]}), so the std does not include "
               "pre-training variance.")
    elif cfg.all_runs_every_seed:
        pre = f" x {len(cfg.pretrain_seeds)} pre-training seeds ({seeds})."
    else:
        first = headline_method(cfg)
        pre = (f" x {len(cfg.pretrain_seeds)} pre-training seeds ({seeds}) for the headline runs ({first} baseline and "
               f"+McGIP), so their std includes pre-training variance; the other runs were pre-trained once "
               f"(seed {cfg.pretrain_seeds[0]}) and are compared on that seed.")
    std_note = (
        f"Each mean ± std is over {len(cfg.eval_seeds)} evaluation seeds (each its own stratified 70/30 split of the "
        f"{cfg.n_images} images and probe fit)" + pre
    )
    L += ["", std_note, ""]

    # archive
    L += ["## 1. Synthetic archive", ""]
    L += [
        _archive_text(result) +
        f"Gaze informativeness {cfg.informativeness:g} (probability that a reading shows the true class's gaze pattern). "
        f"Files: `{Path(result.archive_root).as_posix()}` (images/, manifest.csv, fixations.csv, labels.csv).",
        "",
        "Can trivial features tell the classes apart? (linear classifiers, 5-fold CV)",
        "",
        "| archive | probe | accuracy | chance |",
        "| --- | --- | --- | --- |",
    ]
    for c in result.checks:
        L.append(f"| {c['archive']} | {c['probe']} | {_fmt(c['accuracy'], c['accuracy_std'])} | {c['chance']:.3f} |")
    if "examples" in rel:
        L += ["", f"![examples]({rel['examples']})"]

    # mining
    L += ["", "## 2. Mined positive pairs", ""]
    if result.mining is not None and len(result.mining):
        L += [
            (f"Rule: pairs of images that are each in the other's top-{cfg.k} most gaze-similar images (mutual). "
             if cfg.rule == "mutual" else
             f"Rule: each image's top-{cfg.k} most gaze-similar images (union, symmetric). ")
            + "Precision = share of mined "
            "pairs that are same-class (hidden labels); chance = the same share for random pairs.",
            "",
            "| gaze | scheme | pairs | precision | chance | lift | time (s) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in result.mining.itertuples():
            L.append(f"| {r.archive} | {r.scheme} | {r.pairs} | {r.precision:.3f} | {r.chance:.3f} | {r.lift:.2f}x | {r.seconds:.2f} |")
        L.append("")
        L.append(f"Pre-training uses the `{cfg.train_scheme}` pairs.")
        kinds = set(result.mining["archive"])
        if "uninformative" in kinds:
            L.append("Uninformative: mined from the twin archive whose gaze ignores the class (same images; control).")
        if "shuffled" in kinds:
            L.append(f"Shuffled: the `{cfg.train_scheme}` pairs after degree-preserving edge swaps (every image keeps its "
                     f"number of positives, its partners are permuted; seed {cfg.archive_seed}; control).")
    if "scores" in rel:
        L += ["", f"![score distributions]({rel['scores']})"]

    # training
    L += ["", "## 3. Pre-training and probes", ""]
    L += [
        f"{cfg.backbone} with base width {cfg.width} (torchvision blocks, 1 input channel, {cfg.stem} stem, global "
        f"{cfg.pool} pooling), {cfg.image_size} px crops "
        f"(random resized crop, min scale {cfg.crop_min_scale}), {cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr}"
        + (f", MoCo queue {cfg.queue_size} and key momentum {cfg.moco_momentum}" if "moco" in cfg.methods else "")
        + (f", BYOL/SimSiam heads of {cfg.head_dim}" if {"byol", "simsiam"} & set(cfg.methods) else "")
        + f", multi-positive loss averaged per {cfg.loss_average}"
        + (f", other options {cfg.train_options}" if cfg.train_options else "")
        + "".join(f"; {m} also {o}" for m, o in cfg.method_options.items() if o and m in cfg.methods)
        + ". Baseline and +McGIP differ only in the gaze positives"
        + (" (a gaze memory holds gaze positives, so baselines run without one)"
           if any(o.get("gaze_memory") for m, o in cfg.method_options.items() if m in cfg.methods) else "") + ".",
        "",
    ]
    if not summary.empty:
        probes_ = list(dict.fromkeys(summary["probe"]))
        L += ["| run | " + " | ".join(f"{p} accuracy" for p in probes_) + " | " + " | ".join(f"{p} bal. acc." for p in probes_) + " | pre-train (s) |"]
        L += ["| --- " * (2 * len(probes_) + 2) + "|"]
        secs = {}
        for r in result.runs:
            secs.setdefault(r.name, []).append(r.seconds)
        for run in dict.fromkeys(summary["run"]):
            s = summary[summary["run"] == run].set_index("probe")
            acc = [_fmt(s.loc[p, "accuracy_mean"], s.loc[p, "accuracy_std"]) if p in s.index else "" for p in probes_]
            bal = [_fmt(s.loc[p, "balanced_accuracy_mean"], s.loc[p, "balanced_accuracy_std"]) if p in s.index else "" for p in probes_]
            L.append(f"| {run} | " + " | ".join(acc) + " | " + " | ".join(bal) + f" | {np.mean(secs.get(run, [np.nan])):.0f} |")
        L.append("")
        for p, comp in comps.items():
            if comp is None or comp.empty:
                continue
            L += [f"**+McGIP minus baseline, {p} probe** (paired on seeds):", "",
                  "| run | baseline | +McGIP | gain | paired std | seed std | gain > seed std |", "| --- | --- | --- | --- | --- | --- | --- |"]
            for r in comp.itertuples():
                L.append(f"| {r.run} | {_fmt(r.baseline, r.baseline_std)} | {_fmt(r.mcgip, r.mcgip_std)} | {r.gain:+.3f} | "
                         f"{r.paired_std:.3f} | {r.seed_std:.3f} | {'yes' if r.beats else 'no'} |")
            L.append("")
        L += criteria_lines(criteria.get("linear"), cfg.archive)
    if "probes" in rel:
        L += [f"![probe accuracy]({rel['probes']})", ""]
    if "losses" in rel:
        L += [f"![loss curves]({rel['losses']})", ""]

    # study
    if result.study is not None:
        L += ["## 4. Real-data study: gaze similarity on studyforrest", ""]
        L += [
            "Two viewers watched the same 30 movie segments. For each of the 60 scanpaths, is the other viewer's "
            "scanpath on the same segment the most similar of the other 59 (retrieval top-1)? And how well does each "
            "score separate same-segment pairs from the rest (ROC-AUC)?",
            "",
            result.study.to_markdown(),
            "",
        ]
        if "study" in rel:
            L += [f"![study]({rel['study']})", ""]

    # crowd
    if result.crowd is not None:
        L += ["## 5. Real images with real gaze: Saliency in Crowd", "", result.crowd.to_markdown()]
        if "crowd" in rel:
            L += [f"![crowd probes]({rel['crowd']})", ""]
        L += [
            "Why this can differ from the synthetic archive and from expert reading: these viewers look freely, so "
            "their scanpaths follow faces, text and each viewer's own habits more than the crowd level the probe asks "
            "about; a radiologist reading for a finding looks where the finding is. Mined precision near chance "
            "means the extra positives are mostly different-level images, which cannot teach the encoder the labels.",
            "",
        ]

    # timings
    L += ["## Timings", "", "| stage | seconds |", "| --- | --- |"]
    for name, s in result.timings:
        L.append(f"| {name} | {s:.1f} |")
    L.append(f"| **total** | **{result.stage_seconds():.1f}** |")
    if result.run_timings:
        at_once = cfg.parallel_runs
        L += ["", f"Each run's own times (`run_timings.csv`; {at_once} run{'s' if at_once != 1 else ''} at a time, so with "
              "more than one they overlap inside the stage above):", "", "| run | seconds |", "| --- | --- |"]
        L += [f"| {name} | {s:.1f} |" for name, s in result.run_timings]
    if result.notes:
        L += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    L += ["", "## Reproduce", "", "```", _reproduce_command(cfg), "```", "",
          "Configuration:", "", "```json", json.dumps(config_dict(cfg), indent=1), "```", ""]
    return "\n".join(L)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _torch_version() -> str:
    try:
        import torch

        return torch.__version__
    except ImportError:
        return "not installed"


def terminal_summary(result: DemoResult, report_path: Path) -> str:
    """A few lines for the terminal."""
    lines = ["", "=== mcgip demo summary ==="]
    if result.mining is not None:
        for r in result.mining.itertuples():
            lines.append(f"mining {r.scheme:<10} ({r.archive} gaze): precision {r.precision:.3f} vs chance {r.chance:.3f}")
    summary = result.probe_summary()
    for run in dict.fromkeys(summary["run"]) if not summary.empty else []:
        s = summary[summary["run"] == run].set_index("probe")
        parts = [f"{p} {_fmt(s.loc[p, 'accuracy_mean'], s.loc[p, 'accuracy_std'])}" for p in s.index]
        lines.append(f"{run:<38} " + ", ".join(parts))
    lines += verdict_lines(result)
    table = result.seed_table("linear")
    for r in table.itertuples() if not table.empty else []:
        lines.append(f"issue test ({result.config.archive}, linear) {r.method}: {r.verdict}"
                     + (f" ({r.verdict_reasons})" if r.verdict_reasons else ""))
    if result.study is not None:
        lines.append("studyforrest: " + result.study.verdict())
    if result.crowd is not None:
        lines.append(result.crowd.verdict())
    lines.append(f"total {result.stage_seconds() / 60:.1f} min; report: {report_path}")
    return "\n".join(lines)

"""`mcgip inspect` and the shared agreement metrics (mcgip_fast.report.agreement)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mcgip_fast.cli.main import main
from mcgip_fast.gaze.archive import GazeArchive
from mcgip_fast.report.agreement import (
    auc,
    RankedScores,
    retrieval_sample,
    retrieval_top1,
    sample_group_pairs,
    top1_on_sample,
)
from mcgip_fast.report.inspect import InspectOptions, read_labels, run_inspect

CROWD = Path("/work/shared/data/crowd")


# --------------------------------------------------------------------------- agreement metrics
@pytest.mark.parametrize("seed", range(4))
def test_ranked_scores_auc_per_category_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(size=3000), 1)  # many ties
    s[rng.random(3000) < 0.05] = np.nan  # NaN ranks last
    y = rng.random(3000) < 0.2 + 0.1 * np.nan_to_num(s, nan=-3)
    cat = rng.integers(0, 3, 3000)
    got = RankedScores(s, y).auc(cat, 3)
    for c in range(3):
        m = cat == c
        assert got[c] == pytest.approx(roc_auc_score(y[m], np.nan_to_num(s[m], nan=-1e9)), abs=1e-12)
    assert auc(s, y) == pytest.approx(roc_auc_score(y, np.nan_to_num(s, nan=-1e9)), abs=1e-12)


def test_sample_group_pairs_exhaustive_and_capped():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 30, 200).astype(str)
    iu, ju = np.triu_indices(200, 1)
    same = groups[iu] == groups[ju]
    full = sample_group_pairs(groups, 10**6, 10**6)
    assert full.exhaustive and full.n_positive == same.sum() and full.n_negative == (~same).sum()
    assert {(a, b) for a, b in zip(full.i, full.j)} == set(zip(iu, ju))
    capped = sample_group_pairs(groups, 100, 500, seed=3)
    again = sample_group_pairs(groups, 100, 500, seed=3)
    assert np.array_equal(capped.i, again.i) and np.array_equal(capped.j, again.j)
    assert capped.n_positive == 100 and capped.n_negative == 500 and not capped.exhaustive
    assert np.all(capped.i < capped.j)
    np.testing.assert_array_equal(capped.positive, groups[capped.i] == groups[capped.j])
    assert "100 of" in capped.describe() and "seed 3" in capped.describe()


def test_sampled_top1_equals_dense_when_the_gallery_is_everything():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(25), 3).astype(str)
    s = rng.normal(size=(75, 75))
    s = np.round(s + s.T, 1)  # symmetric, with ties
    sample = retrieval_sample(g, n_queries=75, gallery=1000)
    top1, chance = top1_on_sample(sample, s[sample.i, sample.j])
    assert sample.n_queries == 75
    assert top1 == pytest.approx(retrieval_top1(s, g), abs=1e-12)
    assert chance == pytest.approx(2 / 74)


# --------------------------------------------------------------------------- generated archives
def _archive(n_images: int, readers: int, informative: bool, seed: int = 0) -> tuple[GazeArchive, dict[str, str]]:
    """Images of two labels; with `informative`, where and how long readers look depends on the label."""
    rng = np.random.default_rng(seed)
    labels = {f"{k:03d}": "ab"[k % 2] for k in range(n_images)}
    ids, readers_col, xs, ys, ds, offsets = [], [], [], [], [], [0]
    for img, lab in labels.items():
        centre = np.array([250.0, 380.0]) if (lab == "a" or not informative) else np.array([780.0, 380.0])
        if not informative:
            centre = rng.uniform([200, 200], [824, 568])
        for r in range(readers):
            n = int(rng.integers(6, 12))
            pts = centre + rng.normal(0, 60, size=(n, 2))
            xs.append(np.clip(pts[:, 0], 0, 1024))
            ys.append(np.clip(pts[:, 1], 0, 768))
            ds.append(rng.uniform(0.1, 0.3, n) * (2.0 if informative and lab == "b" else 1.0))
            ids.append(img)
            readers_col.append(f"r{r}")
            offsets.append(offsets[-1] + n)
    arch = GazeArchive.from_arrays(ids, offsets, np.concatenate(xs), np.concatenate(ys), np.concatenate(ds),
                                   readers=readers_col, screen=(1024, 768))
    return arch, labels


def _opts(**kw):
    return InspectOptions(**{"max_positive_pairs": 3000, "max_negative_pairs": 3000, "queries": 100, "progress": False, **kw})


def test_inspect_tells_informative_from_uninformative_gaze():
    arch, labels = _archive(40, 3, informative=True)
    good = run_inspect(arch, labels, _opts())
    assert good.summary["images"] == 40 and good.summary["readers"] == 3 and good.summary["scanpaths"] == 120
    assert good.verdicts["multimatch"]["verdict"] == "informative"
    assert good.label["mined"]["multimatch"]["precision"] > 0.9
    arch_u, labels_u = _archive(40, 3, informative=False)
    bad = run_inspect(arch_u, labels_u, _opts())
    assert bad.verdicts["multimatch"]["verdict"] == "uninformative"
    # gaze here follows the image (a random centre per image), not the label: readers agree
    reader_auc = {r["measure"]: r["auc"] for r in bad.reader["rows"]}
    assert reader_auc["multimatch.position"] > 0.8


def test_chance_is_the_share_of_same_label_pairs_between_images():
    from mcgip_fast.report.inspect import _chance_same_label

    img = np.array(["1", "1", "2", "2", "3", "3", "4"])
    lab = np.array(["a", "a", "a", "a", "b", "b", "b"])
    brute = [(lab[i] == lab[j]) for i in range(7) for j in range(7) if img[i] != img[j]]
    assert _chance_same_label(img, lab) == pytest.approx(np.mean(brute))


def test_inspect_on_studyforrest_equals_the_study():
    """All 1770 pairs are scored (exhaustive sample), so inspect's MultiMatch numbers are the study's."""
    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.report.study import multimatch_measures, pair_auc

    arch = load_studyforrest()
    res = run_inspect(arch, None, _opts(schemes=("multimatch",)))
    groups = np.asarray(arch.image_ids).astype(str)
    study = {m.name: m.scores for m in multimatch_measures(arch)}
    rows = {r["measure"]: r for r in res.reader["rows"]}
    for d in ("vector", "direction", "length", "position", "duration"):
        assert rows[f"multimatch.{d}"]["auc"] == pytest.approx(pair_auc(study[f"mm_{d}"], groups), abs=1e-12)
        assert rows[f"multimatch.{d}"]["top1"] == pytest.approx(retrieval_top1(study[f"mm_{d}"], groups), abs=1e-12)
    assert rows["multimatch"]["auc"] == pytest.approx(pair_auc(study["mm_mcgip"], groups), abs=1e-9)
    assert res.verdicts["multimatch"]["by"] == "reader agreement"


# --------------------------------------------------------------------------- CLI and bad input
def _write_table(path: Path, arch: GazeArchive) -> Path:
    import pandas as pd

    rows = [dict(image_id=arch.image_ids[k], viewer=arch.readers[k], x=x, y=y, duration=d)
            for k, sp in enumerate(arch) for x, y, d in zip(sp.x, sp.y, sp.duration)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cli_inspect_writes_report(tmp_path, capsys):
    arch, labels = _archive(24, 2, informative=True)
    gaze = _write_table(tmp_path / "fix.csv", arch)
    (tmp_path / "labels.csv").write_text("image_id,level\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))
    rc = main(["inspect", "--gaze", str(gaze), "--reader-col", "viewer", "--screen", "1024", "768",
               "--labels", str(tmp_path / "labels.csv"), "--pairs", "500", "--no-progress", "--out", str(tmp_path / "out")])
    assert rc == 0
    out = tmp_path / "out"
    for f in ("inspect.md", "inspect.json", "summary.png", "reader_agreement.png", "label_agreement.png", "mined_precision.png"):
        assert (out / f).stat().st_size > 0, f
    data = json.loads((out / "inspect.json").read_text())
    assert set(data["verdicts"]) == {"multimatch", "hu", "dhash"}
    md = (out / "inspect.md").read_text()
    assert "## 2. Reader agreement" in md and "## 3. Label agreement" in md and "![mined precision]" in md
    err = capsys.readouterr().err
    assert "multimatch:" in err and "reader habits (same-reader minus cross-reader similarity, in std): vector" in err
    assert "### Reader habits" in md


def test_cli_inspect_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    assert "Examples:" in capsys.readouterr().out


def test_bad_labels(tmp_path):
    ids = np.array(["001", "002", "003"])
    p = tmp_path / "labels.csv"
    p.write_text("id,level\n001,a\n")
    with pytest.raises(ValueError, match=r"labels.csv: no id column 'image_id' \(columns: id, level\)"):
        read_labels(p, ids)
    p.write_text("image_id,level\n001,a\n004,b\n")
    with pytest.raises(ValueError, match=r"labels.csv row 3: image id '004' is not in the gaze archive"):
        read_labels(p, ids)
    p.write_text("image_id,level\n001,a\n001,b\n")
    with pytest.raises(ValueError, match=r"rows 2 and 3: image id '001' labelled twice"):
        read_labels(p, ids)
    p.write_text("image_id,level,other\n001,a,x\n")
    with pytest.raises(ValueError, match="pass --label-col"):
        read_labels(p, ids)
    p.write_text("image_id,level\n001,a\n002,b\n")
    assert read_labels(p, ids)[0] == {"001": "a", "002": "b"}  # ids stay strings


def test_cli_bad_input_names_file_and_row(tmp_path, capsys):
    arch, _ = _archive(6, 2, informative=True)
    gaze = _write_table(tmp_path / "fix.csv", arch)
    lines = gaze.read_text().splitlines()
    parts = lines[5].split(",")
    parts[1] = ""  # a reader column with a gap
    lines[5] = ",".join(parts)
    gap = tmp_path / "gap.csv"
    gap.write_text("\n".join(lines) + "\n")
    rc = main(["inspect", "--gaze", str(gap), "--reader-col", "viewer", "--screen", "1024", "768", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "gap.csv row 6" in err and "viewer" in err
    (tmp_path / "labels.csv").write_text("image_id,level\n999,a\n")
    rc = main(["inspect", "--gaze", str(gaze), "--reader-col", "viewer", "--screen", "1024", "768",
               "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "labels.csv row 2: image id '999' is not in the gaze archive" in err


# --------------------------------------------------------------------------- real data
@pytest.mark.slow
@pytest.mark.skipif(not (CROWD / "fixations.csv").exists(), reason="crowd data not present")
def test_inspect_on_crowd(tmp_path):
    """Real free-viewing data: 500 photos x 16 viewers, crowd-level labels."""
    arch = GazeArchive.from_table(CROWD / "fixations.csv", reader_col="viewer", screen=(1024, 768))
    labels, notes = read_labels(CROWD / "labels.csv", arch.image_ids, label_col="crowd_level")
    assert len(labels) == 500
    res = run_inspect(arch, labels, _opts(mine_max_items=400, max_positive_pairs=2000, max_negative_pairs=2000))
    assert res.summary["images"] == 500 and res.summary["readers"] == 16
    assert res.summary["scanpaths"] == len(arch) > 7900
    assert res.reader["images_with_several_readers"] == 500
    for r in res.reader["rows"] + res.label["rows"]:
        assert 0 <= r["auc"] <= 1
    for v in res.verdicts.values():
        assert v["verdict"] in {"informative", "weak", "uninformative"} and v["by"] == "labels"
    # viewers of the same photo look at the same places far more than viewers of other photos
    reader = {r["measure"]: r for r in res.reader["rows"]}
    assert reader["multimatch.position"]["auc"] > 0.6 and reader["dhash"]["top1"] > 2 * reader["dhash"]["top1_chance"]


def test_inspect_without_readers_or_labels_says_so(tmp_path):
    from mcgip_fast.report.inspect import write_report

    arch, _ = _archive(12, 1, informative=True)
    res = run_inspect(arch, None, _opts(schemes=("dhash",)))
    assert res.reader is None and res.label is None
    assert res.verdicts["dhash"]["verdict"] == "unknown"
    paths = write_report(res, tmp_path)
    md = paths["markdown"].read_text()
    assert "No image was read by two or more readers" in md and "No labels given" in md
    json.loads(paths["json"].read_text())  # strict JSON (NaN written as null)


def test_inspect_measures_reader_habits():
    """Readers who differ only in pace: the duration dimension carries the reader, and inspect says so with
    the weights `mcgip mine --weights reader-invariant` would use (the same fit)."""
    from mcgip_fast.mining.schemes import MultiMatchScheme
    from mcgip_fast.report.inspect import to_markdown
    from test_reader_weights import _habit_archive

    arch = _habit_archive()
    res = run_inspect(arch, None, _opts(schemes=("multimatch",)))
    h = res.reader_habits
    assert h["dimensions"][int(np.argmax(h["reader_effects"]))] == "duration"
    scheme = MultiMatchScheme(weights="reader-invariant")
    scheme.bind(arch)
    assert h["weights"] == list(scheme.weights)
    md = to_markdown(res, {"summary": "summary.png"})
    assert "### Reader habits" in md and "| duration |" in md
    json.loads(res.to_json())
    # without readers the section says why it is missing
    plain = GazeArchive.from_arrays(arch.image_ids, arch.offsets, arch.x, arch.y, arch.duration, screen=(1000.0, 1000.0))
    assert run_inspect(plain, None, _opts(schemes=("multimatch",))).reader_habits is None

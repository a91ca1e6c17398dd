"""REFLACX and EGD-CXR readers, start/end and normalised tables, ids as text, CLI options and messages.

The files are small ones of each data set's documented shape, written here (see mcgip_fast.gaze.formats).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcgip_fast.cli.main import main
from mcgip_fast.gaze import read_egd_cxr, read_reflacx, read_table
from mcgip_fast.gaze.archive import GazeValidationError
from mcgip_fast.mining import PositivePairs


def reflacx_case(folder, n: int, seed: int, shuffle: bool = False):
    rng = np.random.default_rng(seed)
    start = np.cumsum(rng.uniform(0.2, 0.5, n))
    end = start + rng.uniform(0.1, 0.3, n)
    df = pd.DataFrame({
        "timestamp_start_fixation": start, "timestamp_end_fixation": end,
        "x_position": rng.uniform(0, 2000, n), "y_position": rng.uniform(0, 2500, n),
        "pupil_area_normalized": rng.uniform(0.9, 1.1, n), "angular_resolution_x_pixels_per_degree": 94.0,
    })
    folder.mkdir(parents=True)
    (df.sample(frac=1, random_state=seed) if shuffle else df).to_csv(folder / "fixations.csv", index=False)
    return df


@pytest.fixture
def reflacx(tmp_path):
    root = tmp_path / "reflacx"
    cases = {"P102R108753": 6, "P102R915878": 5, "P300R000001": 4, "P300R000002": 7}
    frames = {c: reflacx_case(root / "main_data" / c, n, k, shuffle=k == 1) for k, (c, n) in enumerate(cases.items())}
    meta = pd.DataFrame({
        "id": list(cases), "dicom_id": ["0001a", "0002b", "0001a", "0003c"], "radiologist": ["u1", "u1", "u2", "u2"],
        "eye_tracking_data_discarded": [False, False, False, True],
    })
    meta.to_csv(root / "metadata_phase_3.csv", index=False)
    return root, frames


def test_reflacx_without_metadata_one_scanpath_per_case(reflacx):
    root, frames = reflacx
    a = read_reflacx(root, screen=(2000, 2500))
    assert list(a.image_ids) == sorted(frames) and a.readers is None
    for k, case in enumerate(sorted(frames)):
        df = frames[case]  # written in start order (case 1 was shuffled on disk)
        sp = a[k]
        np.testing.assert_allclose(sp.duration, df["timestamp_end_fixation"] - df["timestamp_start_fixation"])
        np.testing.assert_allclose(sp.x, df["x_position"])
        np.testing.assert_allclose(sp.onset, df["timestamp_start_fixation"])


def test_reflacx_with_metadata_images_readers_and_discarded_cases(reflacx):
    root, frames = reflacx
    a = read_reflacx(root, metadata=root / "metadata_phase_3.csv", reader_col="radiologist", screen=(2000, 2500))
    assert list(a.keys) == ["0001a|u1", "0002b|u1", "0001a|u2"]
    assert any("P300R000002" in s and "discarded" in s for s in a.report.dropped_scanpaths)
    # Without a reader column each case is its own reading (reader = case id).
    b = read_reflacx(root, metadata=root / "metadata_phase_3.csv")
    assert list(b.readers) == ["P102R108753", "P102R915878", "P300R000001"]


def test_reflacx_bad_input_names_file_and_case(reflacx, tmp_path):
    root, _ = reflacx
    pd.DataFrame({"id": ["P102R108753"], "dicom_id": ["x"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ValueError, match="case 'P102R915878'.*not in the metadata"):
        read_reflacx(root, metadata=tmp_path / "m.csv")
    bad = root / "main_data" / "P102R108753" / "fixations.csv"
    pd.read_csv(bad).drop(columns="timestamp_end_fixation").to_csv(bad, index=False)
    with pytest.raises(ValueError, match="P102R108753/fixations.csv: missing column 'timestamp_end_fixation'"):
        read_reflacx(root)


def egd_table(path, ids=("1a2b", "3c4d")):
    rows = []
    for img in ids:
        for f in range(5):
            # Gazepoint's live stream: two records per fixation, FPOGD growing; the last is the fixation.
            for part in (0.5, 1.0):
                rows.append(dict(DICOM_ID=img, CNT=len(rows), TIME=f * 0.4, FPOGX=0.1 + 0.15 * f, FPOGY=0.2 + 0.1 * f,
                                 FPOGS=f * 0.4, FPOGD=0.3 * part, FPOGID=f + 1, FPOGV=1))
    rows.append(dict(DICOM_ID=ids[0], CNT=len(rows), TIME=3.0, FPOGX=0.0, FPOGY=0.0, FPOGS=2.9, FPOGD=0.01, FPOGID=99, FPOGV=0))
    pd.DataFrame(rows).to_csv(path, index=False)


def test_egd_cxr_scales_collapses_and_reports(tmp_path):
    egd_table(tmp_path / "fixations.csv")
    a = read_egd_cxr(tmp_path / "fixations.csv", screen=(1920, 1080))
    assert list(a.image_ids) == ["1a2b", "3c4d"]
    np.testing.assert_allclose(a[0].x, (0.1 + 0.15 * np.arange(5)) * 1920)
    np.testing.assert_allclose(a[0].y, (0.2 + 0.1 * np.arange(5)) * 1080)
    np.testing.assert_allclose(a[0].duration, 0.3)
    assert len(a.report.dropped_fixations) == 1 and "FPOGV = 0" in a.report.dropped_fixations[0]
    assert "row 22" in a.report.dropped_fixations[0]  # source line numbers survive the filtering
    assert any("10 rows were earlier records" in n for n in a.report.notes)
    with pytest.raises(ValueError, match=r"fractions of the screen; pass screen=\.\.\."):
        read_egd_cxr(tmp_path / "fixations.csv")


def test_read_table_start_end_normalised_and_ms(tmp_path):
    df = pd.DataFrame({"img": ["007"] * 4, "t0": [300, 0, 100, 600], "t1": [400, 80, 250, 900],
                       "fx": [0.3, 0.0, 0.1, 0.6], "fy": [0.5, 0.5, 0.5, 0.5]})
    df.to_csv(tmp_path / "t.csv", index=False)
    a = read_table(tmp_path / "t.csv", image_col="img", x_col="fx", y_col="fy", start_col="t0", end_col="t1",
                   time_unit="ms", coords="normalised", screen=(1000, 800))
    assert list(a.image_ids) == ["007"]
    np.testing.assert_allclose(a[0].x, [0, 100, 300, 600])  # ordered by start
    np.testing.assert_allclose(a[0].duration, [0.08, 0.15, 0.1, 0.3])
    np.testing.assert_allclose(a[0].onset, [0, 0.1, 0.3, 0.6])
    with pytest.raises(ValueError, match=r"start_col=\.\.\. needs end_col=\.\.\. too"):
        read_table(tmp_path / "t.csv", image_col="img", start_col="t0")
    with pytest.raises(ValueError, match=r"missing column 'x'.*x_col=\.\.\."):
        read_table(tmp_path / "t.csv", image_col="img", start_col="t0", end_col="t1")


# ------------------------------------------------------------------------------------------ CLI
def crowd_like(path, n_images=12, viewers=3, seed=0, gap_at=None):
    """A fixation CSV like the crowd data: ids 000.., viewers v0.., pixels on 1024x768."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        for v in range(viewers):
            for _ in range(rng.integers(4, 9)):
                rows.append(dict(image_id=f"{i:03d}", viewer=f"v{v}", x=rng.uniform(0, 1024), y=rng.uniform(0, 768), duration=rng.uniform(0.1, 0.5)))
    df = pd.DataFrame(rows)
    if gap_at is not None:
        df.loc[gap_at, "viewer"] = None
    df.to_csv(path, index=False)
    return df


def test_cli_keeps_ids_as_text_and_aggregates_by_image(tmp_path, capsys):
    crowd_like(tmp_path / "fix.csv")
    out = tmp_path / "p.npz"
    rc = main(["mine", "--gaze", str(tmp_path / "fix.csv"), "--screen", "1024", "768", "--reader-col", "viewer",
               "--aggregate", "same-reader", "--k", "2", "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    pairs = PositivePairs.load(out)
    assert list(pairs.ids) == [f"{i:03d}" for i in range(12)]
    assert pairs.params["aggregate"]["mode"] == "same-reader"
    assert "aggregate: same-reader" in capsys.readouterr().err
    # Without --reader-col, rows of one image in separate blocks (here: the file is viewer by viewer) stop
    # with a message naming the fix.
    pd.read_csv(tmp_path / "fix.csv", dtype=str).sort_values("viewer", kind="stable").to_csv(tmp_path / "by_viewer.csv", index=False)
    rc = main(["mine", "--gaze", str(tmp_path / "by_viewer.csv"), "--screen", "1024", "768", "--k", "2", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "pass --reader-col;" in err and "--blocks merge" in err


def test_cli_pairs_align_with_a_text_id_manifest(tmp_path):
    """The pairs' ids are the manifest's text ids, which is what `mcgip train` aligns on."""
    crowd_like(tmp_path / "fix.csv", n_images=16)
    pd.DataFrame({"image_id": [f"{i:03d}" for i in range(16)], "path": [f"img/{i:03d}.png" for i in range(16)]}).to_csv(tmp_path / "manifest.csv", index=False)
    assert main(["mine", "--gaze", str(tmp_path / "fix.csv"), "--screen", "1024", "768", "--reader-col", "viewer",
                 "--k", "2", "--out", str(tmp_path / "p.npz"), "--no-progress"]) == 0
    manifest = pd.read_csv(tmp_path / "manifest.csv", dtype={"image_id": str})  # as train.data.read_manifest reads it
    PositivePairs.load(tmp_path / "p.npz").check_matches(manifest["image_id"], what="manifest")


def test_cli_validation_options_and_messages_spelled_as_flags(tmp_path, capsys):
    df = crowd_like(tmp_path / "fix.csv")
    df.loc[5, "x"] = 1100.0  # off the 1024-wide screen
    df.to_csv(tmp_path / "off.csv", index=False)
    base = ["mine", "--gaze", str(tmp_path / "off.csv"), "--reader-col", "viewer", "--screen", "1024", "768", "--k", "2",
            "--out", str(tmp_path / "p.npz"), "--no-progress"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "off.csv row 7 (image id '000')" in err and "Pass --off-screen clip, drop or keep." in err
    with pytest.raises(GazeValidationError, match="Pass off_screen='clip', 'drop' or 'keep'"):
        read_table(tmp_path / "off.csv", reader_col="viewer", screen=(1024, 768))
    assert main(base + ["--off-screen", "clip"]) == 0
    assert "1 clipped" in capsys.readouterr().err
    # A reader column with gaps: file, row and column.
    crowd_like(tmp_path / "gap.csv", gap_at=3)
    assert main(["mine", "--gaze", str(tmp_path / "gap.csv"), "--reader-col", "viewer", "--screen", "1024", "768",
                 "--k", "2", "--out", str(tmp_path / "p.npz"), "--no-progress"]) == 2
    assert "gap.csv row 5: column 'viewer' is empty" in capsys.readouterr().err
    # A missing column: the flag that names it.
    assert main(["mine", "--gaze", str(tmp_path / "fix.csv"), "--reader-col", "reader", "--screen", "1024", "768",
                 "--k", "2", "--out", str(tmp_path / "p.npz"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "fix.csv: missing column 'reader'" in err and "--reader-col" in err


def test_cli_images_with_no_shared_reader(tmp_path, capsys):
    df = crowd_like(tmp_path / "fix.csv", viewers=1)
    df["viewer"] = "v" + df["image_id"]  # each image its own viewer
    df.to_csv(tmp_path / "own.csv", index=False)
    args = ["mine", "--gaze", str(tmp_path / "own.csv"), "--reader-col", "viewer", "--screen", "1024", "768",
            "--k", "2", "--out", str(tmp_path / "p.npz"), "--no-progress"]
    assert main(args + ["--aggregate", "same-reader"]) == 2
    assert "no two images share a reader" in (err := capsys.readouterr().err) and "--aggregate all-pairs" in err
    assert main(args) == 0  # auto: all-pairs
    assert PositivePairs.load(tmp_path / "p.npz").params["aggregate"]["mode"] == "all-pairs"


def test_cli_reads_egd_cxr_and_reflacx(tmp_path, reflacx, capsys):
    egd_table(tmp_path / "fixations.csv", ids=[f"{i:02d}ab" for i in range(6)])
    out = tmp_path / "p.npz"
    assert main(["mine", "--gaze", str(tmp_path / "fixations.csv"), "--k", "1", "--out", str(out), "--no-progress"]) == 2
    assert "pass --screen" in capsys.readouterr().err
    assert main(["mine", "--gaze", str(tmp_path / "fixations.csv"), "--screen", "1920", "1080", "--k", "1", "--out", str(out), "--no-progress"]) == 0
    assert "FPOGV" not in PositivePairs.load(out).ids[0] and PositivePairs.load(out).ids[0] == "00ab"
    root, _ = reflacx
    assert main(["mine", "--gaze", str(root), "--screen", "2000", "2500", "--metadata", str(root / "metadata_phase_3.csv"),
                 "--reader-col", "radiologist", "--k", "1", "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "1 scanpaths dropped" in err and "aggregate: same-reader" in err
    assert list(PositivePairs.load(out).ids) == ["0001a", "0002b"]

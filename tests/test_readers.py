"""Readers: tables, multimatch-gaze fixation files, REMoDNaV streams, and pymovements fixation detection.

References imported here: multimatch-gaze's REMoDNaV preprocessing (multimatch_gaze.tests.utils)
and pymovements' I-DT / I-VT detectors. Bad input is fed through the readers, and each test checks
that the message names the file, the row (1-based line in files: header = line 1) and the image id.
"""

import shutil

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcgip_fast import GazeArchive, GazeValidationError
import mcgip_fast.data as mcgip_data
from mcgip_fast.data import STUDYFORREST_SCREEN, load_remodnav_sample, load_studyforrest
from mcgip_fast.gaze.readers import fixations_from_samples, read_fixation_files, read_remodnav, read_table

REMODNAV = "remodnav/sub-01_task-movie_run-1_events.tsv"


def _table():
    """Three scanpaths: img a (rows shuffled in time), img b, img c; with onsets and readers."""
    return pd.DataFrame(
        {
            "image_id": ["a", "a", "a", "b", "b", "b", "b", "c", "c", "c"],
            "x": [10.0, 20, 30, 1, 2, 3, 4, 50, 60, 70],
            "y": [5.0, 6, 7, 1, 2, 3, 4, 50, 60, 70],
            "duration": [0.2, 0.3, 0.1, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1],
            "onset": [2.0, 1.0, 3.0, 0, 1, 2, 3, 0, 1, 2],
            "reader": ["r1"] * 10,
        }
    )


# ---------------------------------------------------------------- tables
@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "pandas", "polars"])
def test_read_table_all_formats_agree(tmp_path, fmt):
    df = _table()
    if fmt == "csv":
        src = tmp_path / "f.csv"
        df.to_csv(src, index=False)
    elif fmt == "tsv":
        src = tmp_path / "f.tsv"
        df.to_csv(src, index=False, sep="\t")
    elif fmt == "parquet":
        src = tmp_path / "f.parquet"
        df.to_parquet(src)
    elif fmt == "pandas":
        src = df
    else:
        src = pl.from_pandas(df)
    arch = GazeArchive.from_table(src, onset_col="onset", reader_col="reader", screen=(100, 100))
    assert len(arch) == 3
    assert arch.image_ids.tolist() == ["a", "b", "c"] and arch.readers.tolist() == ["r1"] * 3
    # Ordered by onset within a scanpath.
    np.testing.assert_array_equal(arch[0].x, [20, 10, 30])
    np.testing.assert_array_equal(arch[0].onset, [1, 2, 3])
    np.testing.assert_array_equal(arch[1].duration, [0.5] * 4)


def test_read_table_keeps_file_order_without_onset():
    arch = read_table(_table())
    np.testing.assert_array_equal(arch[0].x, [10, 20, 30])
    assert arch.onset is None and arch.readers is None


def test_read_table_custom_columns_and_readers():
    df = _table().rename(columns={"image_id": "img", "x": "gx", "y": "gy", "duration": "dur"})
    df.loc[7:, "img"] = "a"
    df.loc[7:, "reader"] = "r2"
    arch = read_table(df, image_col="img", x_col="gx", y_col="gy", duration_col="dur", reader_col="reader")
    assert arch.keys.tolist() == ["a|r1", "b|r1", "a|r2"]


def test_missing_column_names_file_column_and_columns_present(tmp_path):
    src = tmp_path / "gaze.csv"
    _table().drop(columns="duration").to_csv(src, index=False)
    with pytest.raises(ValueError, match=r"gaze.csv: missing column 'duration'.*columns present: \['image_id', 'x', 'y', 'onset', 'reader'\]"):
        read_table(src)
    with pytest.raises(ValueError, match=r"gaze.csv: missing column 'when'"):
        read_table(tmp_path / "gaze.csv", duration_col="onset", onset_col="when")


def test_unreadable_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(ValueError, match=r"broken.parquet: cannot read this file"):
        read_table(bad)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"binary.csv"):
        read_table(binary)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty.tsv: cannot read this file"):
        read_table(empty)
    with pytest.raises(ValueError, match=r"nowhere.csv: no such file"):
        read_table(tmp_path / "nowhere.csv")
    odd = tmp_path / "gaze.xlsx"
    odd.write_text("x")
    with pytest.raises(ValueError, match=r"gaze.xlsx: cannot read.*unknown table format"):
        read_table(odd)


def test_non_numeric_value_names_row_and_column(tmp_path):
    src = tmp_path / "g.csv"
    df = _table()
    df["x"] = df["x"].astype(object)
    df.loc[4, "x"] = "left"
    df.to_csv(src, index=False)
    with pytest.raises(GazeValidationError, match=r"g.csv row 6: column 'x' holds 'left', not a number"):
        read_table(src)


def test_empty_id_cell_and_header_only_file(tmp_path):
    src = tmp_path / "ids.csv"
    df = _table()
    df.loc[4, "image_id"] = None
    df.to_csv(src, index=False)
    with pytest.raises(GazeValidationError, match=r"ids.csv row 6: column 'image_id' is empty"):
        read_table(src)
    head = tmp_path / "head.csv"
    head.write_text("image_id,x,y,duration\n")
    assert len(read_table(head)) == 0


@pytest.mark.parametrize(
    "col, value, needle",
    [
        ("x", np.nan, "non-finite coordinate"),
        ("y", np.inf, "non-finite coordinate"),
        ("duration", 0.0, "duration not positive"),
        ("duration", -0.5, "duration not positive"),
    ],
)
def test_invalid_fixations_through_a_file_name_file_row_and_id(tmp_path, col, value, needle):
    src = tmp_path / "fix.csv"
    df = _table()
    df.loc[5, col] = value  # image b, line 7 of the file
    df.to_csv(src, index=False)
    with pytest.raises(GazeValidationError, match=rf"fix.csv row 7 \(image id 'b'\): {needle}"):
        read_table(src)
    dropped = read_table(src, on_invalid="drop")
    assert dropped.lengths.tolist() == [3, 3, 3]
    assert dropped.report.dropped_fixations == [f"fix.csv row 7 (image id 'b'): {needle.replace('not positive', 'not positive and finite')}"]


def test_off_screen_through_a_file_raise_clip_drop(tmp_path):
    src = tmp_path / "fix.tsv"
    df = _table()
    df.loc[8, "x"] = 140.0  # image c, line 10
    df.to_csv(src, index=False, sep="\t")
    with pytest.raises(GazeValidationError, match=r"fix.tsv row 10 \(image id 'c'\): fixation \(140.0, 60.0\) is outside the screen 100x100"):
        read_table(src, screen=(100, 100))
    clipped = read_table(src, screen=(100, 100), off_screen="clip")
    assert clipped[2].x.tolist() == [50, 100, 70]
    assert clipped.report.clipped_fixations == ["fix.tsv row 10 (image id 'c'): outside the screen, clipped"]
    dropped = read_table(src, screen=(100, 100), off_screen="drop")
    assert dropped.lengths.tolist() == [3, 4, 2]
    assert dropped.report.dropped_fixations == ["fix.tsv row 10 (image id 'c'): outside the screen"]
    assert dropped.report.short_scanpaths == ["fix.tsv: image id 'c': 2 fixations (< 3)"]


def test_short_and_empty_scanpaths_through_a_file(tmp_path):
    src = tmp_path / "fix.csv"
    df = _table().iloc[:9]  # image c keeps 2 fixations
    df.to_csv(src, index=False)
    arch = read_table(src)
    assert arch.report.short_scanpaths == ["fix.csv: image id 'c': 2 fixations (< 3)"]
    with pytest.raises(GazeValidationError, match=r"fix.csv: image id 'c': 2 fixations, fewer than 3"):
        read_table(src, short="raise")
    assert read_table(src, short="drop").image_ids.tolist() == ["a", "b"]
    # Every fixation of b invalid: an empty scanpath.
    df = _table()
    df.loc[3:6, "duration"] = 0.0
    df.to_csv(src, index=False)
    with pytest.raises(GazeValidationError, match=r"fix.csv row 5 \(image id 'b'\): duration"):
        read_table(src)
    with pytest.raises(GazeValidationError, match=r"fix.csv: image id 'b': empty scanpath.*short='drop'"):
        read_table(src, on_invalid="drop", short="raise")
    arch = read_table(src, on_invalid="drop", short="drop")
    assert arch.image_ids.tolist() == ["a", "c"]
    assert arch.report.dropped_scanpaths == ["fix.csv: image id 'b': empty scanpath"]
    assert len(arch.report.dropped_fixations) == 4


def test_duplicate_image_ids_in_a_table(tmp_path):
    src = tmp_path / "two_readers.csv"
    df = pd.concat([_table().iloc[:3], _table().iloc[3:7], _table().iloc[:3]])
    df.to_csv(src, index=False)
    with pytest.raises(GazeValidationError, match=r"two_readers.csv: duplicate image id 'a': rows 2 and 9 start separate blocks"):
        read_table(src)
    merged = read_table(src, blocks="merge")
    assert merged.lengths.tolist() == [6, 4]


@settings(max_examples=50, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 8), min_size=1, max_size=6),
    seed=st.integers(0, 2**31),
    fmt=st.sampled_from(["csv", "tsv", "parquet"]),
)
def test_table_round_trip(tmp_path_factory, lengths, seed, fmt):
    """Any archive written as a table (rows shuffled within each scanpath, onsets given) reads back equal."""
    rng = np.random.default_rng(seed)
    sps = [np.column_stack([rng.uniform(0, 640, n), rng.uniform(0, 480, n), rng.uniform(0.01, 2, n), np.cumsum(rng.uniform(0.1, 1, n))]) for n in lengths]
    ids = [f"img{k}" for k in range(len(sps))]
    frames = []
    for i, sp in zip(ids, sps):
        perm = rng.permutation(len(sp))
        frames.append(pd.DataFrame({"image_id": i, "x": sp[perm, 0], "y": sp[perm, 1], "duration": sp[perm, 2], "onset": sp[perm, 3]}))
    df = pd.concat(frames, ignore_index=True)
    path = tmp_path_factory.mktemp("rt") / f"t.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False, sep="," if fmt == "csv" else "\t", float_format="%.17g")
    arch = GazeArchive.from_table(path, "image_id", "x", "y", "duration", onset_col="onset", screen=(640, 480), short="keep")
    assert arch.image_ids.tolist() == ids
    for sp, want in zip(arch, sps):
        np.testing.assert_array_equal(np.column_stack([sp.x, sp.y, sp.duration, sp.onset]), want)


# ---------------------------------------------------------------- fixation files
def test_fixation_files_match_the_files(studyforrest_dir):
    folder = studyforrest_dir / "fixvectors"
    arch = read_fixation_files(folder, screen=STUDYFORREST_SCREEN)
    files = sorted(folder.glob("*.tsv"))
    assert len(arch) == len(files) == 60
    for sp, f in zip(arch, files):
        ref = np.loadtxt(f, skiprows=1)  # multimatch-gaze reads these with recfromcsv, header skipped
        assert sp.image_id == f.stem
        np.testing.assert_array_equal(sp.to_array(), ref)


def test_sp46_csv_is_comma_separated_and_off_screen(studyforrest_dir):
    path = studyforrest_dir / "testdata" / "sp-46.csv"
    with pytest.raises(GazeValidationError, match=r"sp-46.csv row 4 \(image id 'sp-46'\): fixation \(306.5\d+, 747.4\d+\) is outside"):
        read_fixation_files([path], screen=STUDYFORREST_SCREEN)
    arch = read_fixation_files([path], screen=STUDYFORREST_SCREEN, off_screen="keep")
    np.testing.assert_array_equal(arch[0].to_array(), np.loadtxt(path, delimiter=",", skiprows=1))
    clipped = read_fixation_files([path], screen=STUDYFORREST_SCREEN, off_screen="clip")
    assert clipped.y.max() == 720 and len(clipped.report.clipped_fixations) == 1


def test_fixation_files_bad_input(tmp_path, studyforrest_dir):
    src = studyforrest_dir / "testdata" / "segment_10_sub-01.tsv"
    (tmp_path / "a").mkdir()
    shutil.copy(src, tmp_path / "a" / "seg.tsv")
    (tmp_path / "b").mkdir()
    shutil.copy(src, tmp_path / "b" / "seg.tsv")
    with pytest.raises(GazeValidationError, match=r"duplicate image id 'seg': in seg.tsv and in seg.tsv"):
        read_fixation_files([tmp_path / "a" / "seg.tsv", tmp_path / "b" / "seg.tsv"])
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("x\ty\tduration\n1\t2\t0.1\n")
    with pytest.raises(ValueError, match=r"wrong.tsv: missing column 'start_x' \(and \['start_y'\]\); columns present: \['x', 'y', 'duration'\]"):
        read_fixation_files([wrong])
    nan = tmp_path / "nan.tsv"
    nan.write_text("start_x\tstart_y\tduration\n1\t2\t0.1\n3\tnan\t0.1\n5\t6\t0.1\n")
    with pytest.raises(GazeValidationError, match=r"nan.tsv row 3 \(image id 'nan'\): non-finite coordinate"):
        read_fixation_files([src, nan])
    both = read_fixation_files([src, nan], on_invalid="drop")
    assert both.lengths.tolist()[1] == 2 and both.report.short_scanpaths == ["nan.tsv: image id 'nan': 2 fixations (< 3)"]
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match=r"empty_dir: no .tsv or .csv fixation files"):
        read_fixation_files(tmp_path / "empty_dir")
    garbage = tmp_path / "garbage.tsv"
    garbage.write_bytes(b"\xff\xfe\x00\x01" * 100)
    with pytest.raises(ValueError, match=r"garbage.tsv: cannot read this file"):
        read_fixation_files([src, garbage])


def test_embedded_loader(studyforrest_dir):
    arch = load_studyforrest()
    assert len(arch) == 60 and arch.screen == (1280.0, 720.0)
    assert arch.keys[:2].tolist() == ["segment_0|sub-01", "segment_0|sub-19"]
    ref = np.loadtxt(studyforrest_dir / "fixvectors" / "segment_10_sub-19.tsv", skiprows=1)
    np.testing.assert_array_equal(arch[arch.index_of("segment_10|sub-19")].to_array(), ref)
    one = load_studyforrest(subjects=["01"], segments=[3, 4], by_reader=False)
    assert one.image_ids.tolist() == ["segment_3_sub-01", "segment_4_sub-01"] and one.readers is None
    with pytest.raises(ValueError, match="no studyforrest scanpath"):
        load_studyforrest(subjects=["99"])
    assert (mcgip_data.studyforrest_dir() / "fixvectors").is_dir()


# ---------------------------------------------------------------- REMoDNaV
def _multimatch_remodnav(path, pursuits=False):
    """multimatch-gaze's own preprocessing; its read_remodnav uses np.recfromcsv (gone in NumPy 2),
    so the record array is read with genfromtxt and the same dtype."""
    from multimatch_gaze.tests import utils as ut

    data = np.genfromtxt(path, delimiter="\t", dtype=ut.dtype, skip_header=1, encoding="utf-8")
    if pursuits:
        data = ut.pursuits_to_fixations(data)
    return ut.preprocess_remodnav(data, [1280, 720])


@pytest.mark.parametrize("pursuits", ["drop", "fixations"])
def test_remodnav_matches_multimatch_preprocessing(studyforrest_dir, pursuits):
    path = studyforrest_dir / REMODNAV
    arch = read_remodnav(path, screen=STUDYFORREST_SCREEN, pursuits=pursuits)
    ref = _multimatch_remodnav(path, pursuits == "fixations")
    order = np.argsort(ref["onset"], kind="stable")
    assert len(arch) == 1 and arch.image_ids.tolist() == [path.stem]
    np.testing.assert_allclose(arch.onset, ref["onset"][order])
    np.testing.assert_allclose(arch.x, ref["start_x"][order])
    np.testing.assert_allclose(arch.y, ref["start_y"][order])
    np.testing.assert_allclose(arch.duration, ref["duration"][order])


def test_remodnav_segments(studyforrest_dir):
    path = studyforrest_dir / REMODNAV
    whole = read_remodnav(path, screen=STUDYFORREST_SCREEN)
    by_len = read_remodnav(path, 3.0, screen=STUDYFORREST_SCREEN)
    assert by_len.image_ids.tolist() == [f"{path.stem}_seg{k}" for k in range(3)]
    for k, sp in enumerate(by_len):
        assert np.all((sp.onset >= 3.0 * k) & (sp.onset < 3.0 * (k + 1)))
    assert by_len.lengths.sum() == len(whole.x)
    windows = read_remodnav(path, [(0.0, 2.0), (5.0, 8.0)], screen=STUDYFORREST_SCREEN, image_ids=["shot1", "shot2"])
    assert windows.image_ids.tolist() == ["shot1", "shot2"]
    np.testing.assert_array_equal(windows[0].onset, whole.onset[whole.onset < 2.0])
    # A window without fixations is an empty scanpath.
    with pytest.raises(GazeValidationError, match=r"sub-01_task-movie_run-1_events.tsv: image id 'late': empty scanpath"):
        read_remodnav(path, [(0.0, 2.0), (100.0, 101.0)], image_ids=["early", "late"])
    assert read_remodnav(path, [(0.0, 2.0), (100.0, 101.0)], image_ids=["early", "late"], short="drop").image_ids.tolist() == ["early"]
    assert load_remodnav_sample(3.0).content_hash() == by_len.content_hash()


def test_remodnav_bad_input(tmp_path, studyforrest_dir):
    text = (studyforrest_dir / REMODNAV).read_text().splitlines()
    bad = tmp_path / "ev_events.tsv"
    bad.write_text("\n".join([text[0], text[1].replace("0.043", "-0.043", 1), *text[2:]]) + "\n")
    with pytest.raises(GazeValidationError, match=r"ev_events.tsv row 2 \(image id 'ev_events'\): duration not positive"):
        read_remodnav(bad)
    cut = tmp_path / "cut.tsv"
    cut.write_text("onset\tduration\tstart_x\n0\t0.1\t3\n")
    with pytest.raises(ValueError, match=r"cut.tsv: missing column 'label'"):
        read_remodnav(cut)
    with pytest.raises(ValueError, match="segment length must be positive"):
        read_remodnav(studyforrest_dir / REMODNAV, 0.0)
    with pytest.raises(ValueError, match="pursuits must be"):
        read_remodnav(studyforrest_dir / REMODNAV, pursuits="keep")


# ---------------------------------------------------------------- raw samples (pymovements)
def _samples(seed=0, rate_ms=2):
    """Two images; gaze dwells at a few points with small noise, jumping between them."""
    rng = np.random.default_rng(seed)
    frames = []
    for img, n_fix in (("p", 4), ("q", 5)):
        centres = rng.uniform(50, 600, size=(n_fix, 2))
        xy = np.repeat(centres, 60, axis=0) + rng.normal(0, 0.5, size=(60 * n_fix, 2))
        t = np.arange(len(xy)) * rate_ms
        frames.append(pd.DataFrame({"image_id": img, "t": t, "x": xy[:, 0], "y": xy[:, 1]}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("method", ["idt", "ivt"])
def test_fixations_from_samples_use_pymovements(method):
    from pymovements.events.detection import idt, ivt
    from pymovements.transforms.numpy import pos2vel

    df = _samples()
    arch = fixations_from_samples(df, method, minimum_duration=50, dispersion_threshold=10.0, velocity_threshold=2000.0, screen=(800, 800))
    assert arch.image_ids.tolist() == ["p", "q"]
    for sp, (img, g) in zip(arch, df.groupby("image_id", sort=False)):
        xy, t = g[["x", "y"]].to_numpy(), g["t"].to_numpy()
        if method == "idt":
            ev = idt(positions=xy, timesteps=t, minimum_duration=50, dispersion_threshold=10.0).frame
        else:
            ev = ivt(velocities=pos2vel(xy, sampling_rate=500.0, method="smooth"), timesteps=t, minimum_duration=50, velocity_threshold=2000.0).frame
        on, off = ev["onset"].to_numpy(), ev["offset"].to_numpy()
        assert len(sp) == len(on) >= 3
        np.testing.assert_allclose(sp.onset, on / 1000)
        np.testing.assert_allclose(sp.duration, (off - on) / 1000)
        for k in range(len(on)):
            inside = (t >= on[k]) & (t <= off[k])
            np.testing.assert_allclose([sp.x[k], sp.y[k]], xy[inside].mean(axis=0))


def test_fixations_from_samples_seconds_and_order():
    df = _samples(1)
    shuffled = df.sample(frac=1.0, random_state=0)
    shuffled["t"] = shuffled["t"] / 1000.0
    a = fixations_from_samples(df, minimum_duration=50, dispersion_threshold=10.0)
    with pytest.raises(GazeValidationError, match=r"<polars DataFrame>: duplicate image id"):
        fixations_from_samples(pl.from_pandas(shuffled), time_unit="s")
    b = fixations_from_samples(pl.from_pandas(shuffled), time_unit="s", minimum_duration=50, dispersion_threshold=10.0, blocks="merge")
    assert sorted(a.image_ids.tolist()) == sorted(b.image_ids.tolist())
    for img in a.image_ids:
        np.testing.assert_allclose(a[a.index_of(img)].to_array(), b[b.index_of(img)].to_array())


def test_fixations_from_samples_bad_input(tmp_path):
    df = _samples()
    df["t"] = df["t"].astype(float)
    df.loc[3, "t"] = 6.5
    src = tmp_path / "samples.csv"
    df.to_csv(src, index=False)
    with pytest.raises(GazeValidationError, match=r"samples.csv row 5: timestamp 6.5 is not a whole number of milliseconds"):
        fixations_from_samples(src)
    df = _samples()
    df.loc[df.index[df.image_id == "q"][10:], "t"] += 1  # uneven sampling interval in q
    with pytest.raises(ValueError, match=r"<pandas DataFrame>: image id 'q': pymovements idt failed: interval between timesteps must be constant"):
        fixations_from_samples(df)
    with pytest.raises(ValueError, match=r"missing column 'time'"):
        fixations_from_samples(_samples(), t_col="time")
    with pytest.raises(ValueError, match="method must be"):
        fixations_from_samples(_samples(), method="hmm")
    with pytest.raises(GazeValidationError, match=r"image id 'p'.*outside the screen"):
        fixations_from_samples(_samples(), minimum_duration=50, dispersion_threshold=10.0, screen=(100, 100))

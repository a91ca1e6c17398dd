"""The gaze input shared by the commands that read an archive (`mcgip mine`, `mcgip inspect`): one
set of options and one loader, so every command reads a file the same way."""

from __future__ import annotations

from pathlib import Path


def add_gaze_arguments(parser) -> None:
    """Add the "input" option group (--gaze, --screen, column names, validation policies)."""
    inp = parser.add_argument_group("input")
    inp.add_argument(
        "--gaze", required=True, metavar="PATH",
        help="gaze archive: a fixation table (.parquet, .csv, .tsv; one row per fixation, columns set by "
        "--image-col/--x-col/--y-col/--duration-col/--reader-col), a folder of multimatch-gaze fixation "
        "files (start_x, start_y, duration; one scanpath per file), an .npz of items (arrays 'ids' and "
        "'heatmaps' or 'codes', for --scheme hu/dhash), a REMoDNaV events file (*_events.tsv; fixations "
        "cut into scanpaths by --segment), or 'studyforrest' for the embedded real sample",
    )
    inp.add_argument(
        "--format", default="auto", choices=("auto", "table", "reflacx", "egd-cxr", "fixation-files", "remodnav", "items"),
        help="how to read --gaze (default auto: from the path and the header). table: one row per fixation; reflacx: "
        "REFLACX (a folder of case folders with fixations.csv; see --metadata); egd-cxr: EGD-CXR fixations.csv "
        "(DICOM_ID, FPOGX/FPOGY as screen fractions, FPOGS, FPOGD; needs --screen); fixation-files: multimatch-gaze "
        "files; remodnav: a REMoDNaV events file; items: an .npz of heatmaps or codes",
    )
    inp.add_argument("--segment", type=float, metavar="SECONDS", help="REMoDNaV input: cut the event stream into scanpaths of this many seconds (default: the reader's)")
    inp.add_argument("--screen", nargs=2, type=float, metavar=("W", "H"), help="screen size in pixels (needed by multimatch unless the data layer knows it; scales --coords normalised and EGD-CXR positions)")
    inp.add_argument("--image-col", default="image_id", help="table column with the image id, read as text: 001 stays 001 (default: image_id; REFLACX metadata: dicom_id)")
    inp.add_argument("--x-col", default="x", help="table column with x in screen pixels (default: x)")
    inp.add_argument("--y-col", default="y", help="table column with y in screen pixels (default: y)")
    inp.add_argument("--duration-col", default="duration", help="table column with the duration (default: duration)")
    inp.add_argument("--reader-col", default=None, help="column naming the reader; one scanpath per (image, reader) (REFLACX: a column of --metadata)")
    inp.add_argument("--onset-col", default=None, help="table column with fixation onsets; fixations are ordered by it")
    inp.add_argument("--start-col", default=None, help="table column with each fixation's start time (with --end-col: duration = end - start, ordered by start)")
    inp.add_argument("--end-col", default=None, help="table column with each fixation's end time (with --start-col)")
    inp.add_argument("--time-unit", choices=("s", "ms"), default="s", help="unit of durations, onsets and start/end times (default: s)")
    inp.add_argument("--coords", choices=("pixels", "normalised"), default="pixels", help="x, y in screen pixels (default) or as fractions of the screen, scaled by --screen")
    inp.add_argument("--metadata", nargs="+", metavar="CSV", help="REFLACX metadata_phase_*.csv: image id = dicom_id, discarded cases left out, several readings per image")

    val = parser.add_argument_group("validation (what to do with bad fixations; nothing is dropped silently: the run reports counts)")
    val.add_argument("--on-invalid", choices=("raise", "drop"), default="raise", help="fixations with a non-finite coordinate or a duration that is not positive: stop with an error naming the row (default) or drop them")
    val.add_argument("--off-screen", choices=("raise", "clip", "drop", "keep"), default=None, help="fixations outside the --screen: stop (default; REMoDNaV input: drop), clip them to the screen, drop them, or keep them")
    val.add_argument(
        "--short", choices=("keep", "drop", "raise"), default="keep",
        help="scanpaths with fewer than 3 fixations: keep them (multimatch skips and reports them; default), drop them, or raise",
    )
    val.add_argument("--blocks", choices=("raise", "merge"), default="raise", help="table rows of one scanpath split into separate blocks (usually several readers without --reader-col): stop (default) or merge them")


def detect_format(path: Path, image_col: str) -> str:
    """The --format of `path` by its kind and header."""
    if path.is_dir():
        if (path / "main_data").is_dir() or (path / "fixations.csv").is_file() or any((p / "fixations.csv").is_file() for p in path.iterdir()):
            return "reflacx"
        return "fixation-files"
    if path.suffix == ".npz":
        return "items"
    if path.suffix.lower() in (".tsv", ".csv"):
        with path.open() as f:
            header = f.readline().replace(",", "\t").strip().split("\t")
        if "label" in header and "start_x" in header:
            return "remodnav"
        if "start_x" in header and image_col not in header:
            return "fixation-files"
        if "DICOM_ID" in header and "FPOGX" in header:
            return "egd-cxr"
    return "table"


def load_gaze(args):
    """Read --gaze into a GazeArchive (or ItemArrays for an .npz of heatmaps/codes)."""
    import numpy as np

    from mcgip_fast.gaze import formats, readers
    from mcgip_fast.mining.schemes import ItemArrays

    screen = tuple(args.screen) if args.screen else None
    policies = {"short": args.short, "on_invalid": args.on_invalid}
    if args.off_screen is not None:
        policies["off_screen"] = args.off_screen
    if args.gaze == "studyforrest":
        from mcgip_fast.data import load_studyforrest

        return load_studyforrest(**policies)
    path = Path(args.gaze)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such gaze file or folder")
    fmt = detect_format(path, args.image_col) if args.format == "auto" else args.format
    if fmt == "items":
        with np.load(path, allow_pickle=False) as z:
            kind = "codes" if "codes" in z else "heatmaps" if "heatmaps" in z else None
            if kind is None or "ids" not in z:
                raise ValueError(f"{path}: an items .npz holds 'ids' and 'heatmaps' or 'codes'; found {sorted(z.files)}")
            return ItemArrays(z["ids"].astype(str), z[kind], kind)
    if fmt == "reflacx":
        image_col = args.image_col if args.image_col != "image_id" else "dicom_id"
        return formats.read_reflacx(path, metadata=args.metadata, image_col=image_col, reader_col=args.reader_col, screen=screen, **policies)
    if fmt == "egd-cxr":
        return formats.read_egd_cxr(path, screen=screen, **policies)
    if fmt == "remodnav":
        return readers.read_remodnav(path, segments=args.segment, screen=screen, **policies)
    if fmt == "fixation-files":
        return readers.read_fixation_files(path if path.is_dir() else [path], screen=screen, **policies)
    return readers.read_table(
        path, image_col=args.image_col, x_col=args.x_col, y_col=args.y_col, duration_col=args.duration_col,
        reader_col=args.reader_col, onset_col=args.onset_col, screen=screen, start_col=args.start_col, end_col=args.end_col,
        time_unit=args.time_unit, coords=args.coords, blocks=args.blocks, **policies,
    )

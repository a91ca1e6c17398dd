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
    inp.add_argument("--segment", type=float, metavar="SECONDS", help="REMoDNaV input: cut the event stream into scanpaths of this many seconds (default: the reader's)")
    inp.add_argument("--screen", nargs=2, type=float, metavar=("W", "H"), help="screen size in pixels (needed by multimatch unless the data layer knows it)")
    inp.add_argument("--image-col", default="image_id", help="table column with the image id (default: image_id)")
    inp.add_argument("--x-col", default="x", help="table column with x in screen pixels (default: x)")
    inp.add_argument("--y-col", default="y", help="table column with y in screen pixels (default: y)")
    inp.add_argument("--duration-col", default="duration", help="table column with the duration in seconds (default: duration)")
    inp.add_argument("--reader-col", default=None, help="table column naming the reader; one scanpath per (image, reader)")
    inp.add_argument(
        "--short", choices=("keep", "drop", "raise"), default="keep",
        help="scanpaths with fewer than 3 fixations: keep them (multimatch skips and reports them; default), drop them, or raise",
    )


def load_gaze(args):
    """Read --gaze into a GazeArchive (or ItemArrays for an .npz of heatmaps/codes)."""
    import numpy as np

    from mcgip_fast.gaze.archive import GazeArchive
    from mcgip_fast.mining.schemes import ItemArrays

    screen = tuple(args.screen) if args.screen else None
    policies = {"short": args.short}
    if args.gaze == "studyforrest":
        from mcgip_fast.data import load_studyforrest

        return load_studyforrest(**policies)
    path = Path(args.gaze)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such gaze file or folder")
    if path.is_dir():
        from mcgip_fast.gaze.readers import read_fixation_files

        return read_fixation_files(path, screen=screen, **policies)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            kind = "codes" if "codes" in z else "heatmaps" if "heatmaps" in z else None
            if kind is None or "ids" not in z:
                raise ValueError(f"{path}: an items .npz holds 'ids' and 'heatmaps' or 'codes'; found {sorted(z.files)}")
            return ItemArrays(z["ids"], z[kind], kind)
    if path.suffix.lower() in (".tsv", ".csv"):
        header = path.open().readline().replace(",", "\t").strip().split("\t")
        if "label" in header and "start_x" in header:
            from mcgip_fast.gaze.readers import read_remodnav

            return read_remodnav(path, segments=args.segment, screen=screen, **policies)
        if "start_x" in header and args.image_col not in header:
            from mcgip_fast.gaze.readers import read_fixation_files

            return read_fixation_files([path], screen=screen, **policies)
    return GazeArchive.from_table(
        path, image_col=args.image_col, x_col=args.x_col, y_col=args.y_col, duration_col=args.duration_col,
        reader_col=args.reader_col, screen=screen, **policies,
    )

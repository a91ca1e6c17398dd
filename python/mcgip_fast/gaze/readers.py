"""Readers: tables, fixation files, REMoDNaV event streams and raw samples -> `GazeArchive`.

Every reader ends in `GazeArchive.from_arrays`, which validates once; the readers pass the
file name and each fixation's source row so that errors and the `ValidationReport` say where a
bad fixation came from. Row numbers are 1-based line numbers in files (the header is line 1,
the first fixation line 2) and 0-based positions in DataFrames.

Policies (``on_invalid``, ``off_screen``, ``short``) are passed through to `from_arrays`; see
its documentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np

from mcgip_fast.gaze.archive import GazeArchive, GazeValidationError, ValidationReport
from mcgip_fast.gaze.hints import one_of, option

TableSource = Any  # a path (CSV, TSV, Parquet), a pandas DataFrame or a polars DataFrame

_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}
_PARQUET = (".parquet", ".pq")


class _Table:
    """Columns of one source, with the name and row numbering used in messages."""

    def __init__(self, columns: dict[str, np.ndarray], name: str, first_row: int, n: int, row_numbers: np.ndarray | None = None):
        self.columns = columns
        self.name = name
        self.first_row = first_row
        self.n = n
        self.row_numbers = row_numbers  # set once rows were removed (`subset`): each kept row's number

    def subset(self, keep: np.ndarray) -> "_Table":
        """The rows where `keep` is True, still numbered as in the source."""
        keep = np.asarray(keep, dtype=bool)
        return _Table({c: v[keep] for c, v in self.columns.items()}, self.name, self.first_row, int(keep.sum()), self.rows()[keep])

    def with_column(self, name: str, values: np.ndarray) -> "_Table":
        return _Table({**self.columns, name: values}, self.name, self.first_row, self.n, self.row_numbers)

    def row(self, i: int) -> int:
        """The source row number of position i."""
        return int(self.rows()[i])

    def require(self, *names: str | None, options: dict[str, str] | None = None) -> None:
        """Raise naming the file, the missing column, the columns present and (`options`: column ->
        option name) the option that names the column."""
        missing = [c for c in names if c is not None and c not in self.columns]
        if missing:
            which = (options or {}).get(missing[0])
            raise ValueError(
                f"{self.name}: missing column {missing[0]!r}"
                + (f" (and {missing[1:]})" if len(missing) > 1 else "")
                + f"; columns present: {list(self.columns)}"
                + (f". Name the right column with {option(which)}" if which else "")
            )

    def rows(self) -> np.ndarray:
        if self.row_numbers is not None:
            return self.row_numbers
        return np.arange(self.n, dtype=np.int64) + self.first_row

    def numeric(self, name: str) -> np.ndarray:
        """A float64 column; a value that is not a number raises naming file, row and column."""
        import pandas as pd

        raw = self.columns[name]
        if raw.dtype.kind in "fiub":
            return raw.astype(np.float64)
        num = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(num) & ~pd.isna(pd.Series(raw)).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GazeValidationError(
                f"{self.name} row {self.row(i)}: column {name!r} holds {raw[i]!r}, not a number; "
                f"{int(bad.sum())} such rows in all"
            )
        return num

    def text(self, name: str) -> np.ndarray:
        """An id column as strings; an empty cell raises naming file, row and column."""
        import pandas as pd

        col = self.columns[name]
        missing = pd.isna(pd.Series(col, dtype=object)).to_numpy() if len(col) else np.zeros(0, bool)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise GazeValidationError(
                f"{self.name} row {self.row(i)}: column {name!r} is empty; {int(missing.sum())} such rows in all"
            )
        return np.asarray([str(v) for v in col], dtype=object)


def _load(source: TableSource, sep: str | None = None, text_cols: Iterable[str | None] = ()) -> _Table:
    """Read a path or DataFrame into columns. Unreadable files raise ValueError naming the file.

    `text_cols` (image and reader ids) are read from text files as written: ``001`` stays ``001``.
    """
    import pandas as pd

    if isinstance(source, _Table):
        return source
    if isinstance(source, pd.DataFrame):
        return _Table({str(c): source[c].to_numpy() for c in source.columns}, "<pandas DataFrame>", 0, len(source))
    try:
        import polars as pl

        if isinstance(source, pl.DataFrame):
            return _Table({c: source[c].to_numpy() for c in source.columns}, "<polars DataFrame>", 0, source.height)
    except ImportError:  # pragma: no cover - polars is a dependency
        pass
    if not isinstance(source, (str, Path)):
        raise TypeError(f"expected a file path or a pandas/polars DataFrame, got {type(source).__name__}")
    path = Path(source)
    name = path.name
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if suffix in _PARQUET:
            df = pd.read_parquet(path)
            first_row = 0
        else:
            if sep is None:
                if suffix not in _TEXT_FORMATS:
                    raise ValueError(f"unknown table format {suffix!r}; use .csv, .tsv or .parquet")
                sep = _TEXT_FORMATS[suffix]
            df = pd.read_csv(path, sep=sep, dtype={c: str for c in text_cols if c is not None})
            first_row = 2
    except Exception as e:  # parser, decoding, Arrow and OS errors alike: say which file
        raise ValueError(f"{name}: cannot read this file ({e.__class__.__name__}: {e})") from None
    return _Table({str(c).strip(): df[c].to_numpy() for c in df.columns}, name, first_row, len(df))


def _group(keys: np.ndarray, order_by: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scanpaths in order of first appearance; fixations within one by `order_by`, then file order.

    Returns (order, offsets, first_index_of_each_group)."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    pos = np.arange(len(keys))
    sort_keys = (pos, codes) if order_by is None else (pos, order_by, codes)
    order = np.lexsort(sort_keys)
    counts = np.bincount(codes, minlength=len(uniques))
    offsets = np.zeros(len(uniques) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    first = np.full(len(uniques), len(keys), dtype=np.int64)
    np.minimum.at(first, codes, pos)
    return order, offsets, first


def _check_blocks(table: _Table, keys: np.ndarray, ids: np.ndarray, what: str) -> None:
    """A key whose rows form several separate blocks is almost always two scanpaths on one image."""
    if len(keys) < 2:
        return
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], change])
    seen: dict[Any, int] = {}
    for s in starts:
        k = keys[s]
        if k in seen:
            raise GazeValidationError(
                f"{table.name}: duplicate {what} {ids[s]!r}: rows {table.row(seen[k])} and "
                f"{table.row(s)} start separate blocks of it. If several readers read this image, "
                f"pass {option('reader_col')}; to join the blocks into one scanpath pass {one_of('blocks', ['merge'])}."
            )
        seen[k] = int(s)


def _scanpath_keys(
    table: _Table, image_col: str, reader_col: str | None, blocks: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Per row: image id, reader (None without `reader_col`) and scanpath key ("id" or "id|reader");
    applies the `blocks` policy to the keys."""
    ids = table.text(image_col)
    readers = table.text(reader_col) if reader_col else None
    keys = ids if readers is None else np.asarray([f"{i}|{r}" for i, r in zip(ids, readers)], dtype=object)
    if blocks == "raise":
        _check_blocks(table, keys, ids, "image id" if readers is None else "(image id, reader)")
    elif blocks != "merge":
        raise ValueError(f"blocks must be 'raise' or 'merge', got {blocks!r}")
    return ids, readers, keys


def read_table(
    source: TableSource,
    image_col: str = "image_id",
    x_col: str = "x",
    y_col: str = "y",
    duration_col: str = "duration",
    reader_col: str | None = None,
    onset_col: str | None = None,
    screen: tuple[float, float] | None = None,
    *,
    start_col: str | None = None,
    end_col: str | None = None,
    time_unit: Literal["s", "ms"] = "s",
    coords: Literal["pixels", "normalised"] = "pixels",
    blocks: Literal["raise", "merge"] = "raise",
    sep: str | None = None,
    **policies,
) -> GazeArchive:
    """Read one table with one row per fixation (also available as `GazeArchive.from_table`).

    Args:
        source: a CSV, TSV or Parquet file (by suffix; `sep` overrides the delimiter), or a pandas
            or polars DataFrame. Image and reader ids are read as text: ``001`` stays ``001``.
        image_col, x_col, y_col, duration_col: column names (x, y in screen pixels, duration).
        reader_col: column naming who read the image; one scanpath per (image, reader).
        onset_col: fixation onsets; fixations are ordered by onset within a scanpath when given,
            else they keep the table's order.
        screen: (width, height) in pixels, for the off-screen check and heatmap scaling.
        start_col, end_col: for tables that give each fixation's start and end time instead of a
            duration: duration = end - start, and fixations are ordered by start (unless
            `onset_col`). Give both; `duration_col` is then not read.
        time_unit: unit of the duration (or of start and end, and of onsets): "s" (default) or "ms".
        coords: "pixels" (default) or "normalised": x and y are fractions of the screen (0..1,
            as Gazepoint's FPOGX/FPOGY) and are scaled by `screen`, which is then required.
        blocks: one scanpath's rows are expected to be contiguous. If an image id's rows form
            several separate blocks (usually two readers without `reader_col`), "raise" (default)
            or "merge" them.
        **policies: ``on_invalid``, ``off_screen``, ``short`` (see `GazeArchive.from_arrays`).

    Returns:
        A `GazeArchive`; scanpaths appear in order of first appearance in the table.

    Raises:
        ValueError: the file cannot be read, or a column is missing (the message names the file,
            the missing column, the columns present and the option naming it), or validation fails
            (naming file, row and image id).
    """
    table = _load(source, sep, text_cols=(image_col, reader_col))
    x, y, duration, onset = _fixation_columns(
        table, x_col=x_col, y_col=y_col, duration_col=duration_col, image_col=image_col, reader_col=reader_col,
        onset_col=onset_col, start_col=start_col, end_col=end_col, time_unit=time_unit, coords=coords, screen=screen,
    )
    ids, readers, keys = _scanpath_keys(table, image_col, reader_col, blocks)
    order, offsets, first = _group(keys, onset)
    return GazeArchive.from_arrays(
        ids[first],
        offsets,
        x[order],
        y[order],
        duration[order],
        onset=None if onset is None else onset[order],
        readers=None if readers is None else readers[first],
        screen=screen,
        source=table.name,
        rows=table.rows()[order],
        **policies,
    )


def _fixation_columns(
    table: _Table, *, x_col: str, y_col: str, duration_col: str, image_col: str, reader_col: str | None,
    onset_col: str | None, start_col: str | None, end_col: str | None, time_unit: str, coords: str,
    screen: tuple[float, float] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """x, y in screen pixels, duration in seconds and onsets (or None) of every row, as `read_table` documents."""
    if time_unit not in ("s", "ms"):
        raise ValueError(f"time_unit must be 's' or 'ms', got {time_unit!r}")
    if coords not in ("pixels", "normalised"):
        raise ValueError(f"coords must be 'pixels' or 'normalised', got {coords!r}")
    if (start_col is None) != (end_col is None):
        given, needed = ("start_col", "end_col") if end_col is None else ("end_col", "start_col")
        raise ValueError(f"{option(given)} needs {option(needed)} too: duration = end - start")
    timed = start_col is not None
    names = {image_col: "image_col", x_col: "x_col", y_col: "y_col", reader_col: "reader_col", onset_col: "onset_col",
             **({start_col: "start_col", end_col: "end_col"} if timed else {duration_col: "duration_col"})}
    table.require(*[c for c in names if c is not None], options={c: o for c, o in names.items() if c is not None})
    scale = 1e-3 if time_unit == "ms" else 1.0
    x, y = table.numeric(x_col), table.numeric(y_col)
    if coords == "normalised":
        if screen is None:
            raise ValueError(f"{table.name}: normalised coordinates are fractions of the screen; pass {option('screen')} to scale them to pixels")
        x, y = x * float(screen[0]), y * float(screen[1])
    if timed:
        start, end = table.numeric(start_col), table.numeric(end_col)
        duration = (end - start) * scale
        onset = (table.numeric(onset_col) if onset_col else start) * scale
    else:
        duration = table.numeric(duration_col) * scale
        onset = table.numeric(onset_col) * scale if onset_col else None
    return x, y, duration, onset


def _concat(parts: list[tuple[GazeArchive, str]], report: ValidationReport, screen) -> GazeArchive:
    """Join archives validated one source at a time; a key in two sources is a duplicate."""
    where: dict[str, str] = {}
    for arch, src in parts:
        for k in arch.keys:
            if k in where:
                raise GazeValidationError(f"duplicate image id {str(k)!r}: in {where[k]} and in {src}")
            where[str(k)] = src
    archives = [a for a, _ in parts if len(a)]
    if not archives:
        return GazeArchive.from_arrays([], [0], np.zeros(0), np.zeros(0), np.zeros(0), screen=screen, report=report)
    lens = np.concatenate([a.lengths for a in archives])
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    cat = lambda name: np.ascontiguousarray(np.concatenate([getattr(a, name) for a in archives]))  # noqa: E731
    has_onset = all(a.onset is not None for a in archives)
    has_readers = all(a.readers is not None for a in archives)
    return GazeArchive(
        image_ids=np.concatenate([a.image_ids for a in archives]),
        offsets=offsets,
        x=cat("x"),
        y=cat("y"),
        duration=cat("duration"),
        onset=cat("onset") if has_onset else None,
        readers=np.concatenate([a.readers for a in archives]) if has_readers else None,
        screen=archives[0].screen,
        report=report,
    )


def read_fixation_files(
    paths: str | Path | Iterable[str | Path],
    screen: tuple[float, float] | None = None,
    **policies,
) -> GazeArchive:
    """Read one scanpath per file in multimatch-gaze's layout: columns ``start_x start_y duration``.

    Tab-separated (``.tsv``, as multimatch-gaze's fixation vectors) or comma-separated (``.csv``,
    as its ``sp-46.csv``), with a header row. The image id is the file stem.

    Args:
        paths: a folder (every .tsv/.csv in it, sorted by name) or a list of files.
        screen: (width, height) in pixels.
        **policies: ``on_invalid``, ``off_screen``, ``short`` (see `GazeArchive.from_arrays`).

    Raises:
        ValueError: naming the file for unreadable files, missing columns, bad rows, or the same
            stem in two files (duplicate image id).
    """
    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        files = sorted(p for p in Path(paths).iterdir() if p.suffix.lower() in (".tsv", ".csv") and p.is_file())
        if not files:
            raise ValueError(f"{paths}: no .tsv or .csv fixation files")
    elif isinstance(paths, (str, Path)):
        files = [Path(paths)]
    else:
        files = [Path(p) for p in paths]
    report = policies.pop("report", None) or ValidationReport()
    parts = []
    for f in files:
        table = _load(f)
        table.require("start_x", "start_y", "duration")
        n = table.n
        arch = GazeArchive.from_arrays(
            [f.stem],
            [0, n],
            table.numeric("start_x"),
            table.numeric("start_y"),
            table.numeric("duration"),
            screen=screen,
            source=f.name,
            rows=table.rows(),
            report=report,
            **policies,
        )
        parts.append((arch, f.name))
    return _concat(parts, report, screen)


def read_remodnav(
    path: str | Path,
    segments: None | float | Sequence[tuple[float, float]] = None,
    *,
    screen: tuple[float, float] | None = None,
    pursuits: Literal["drop", "fixations"] = "drop",
    image_ids: Sequence[str] | None = None,
    off_screen: str = "drop",
    **policies,
) -> GazeArchive:
    """Read a REMoDNaV event file (BIDS ``*_events.tsv``) and cut its fixations into scanpaths.

    Follows multimatch-gaze's REMoDNaV preprocessing (``multimatch_gaze/tests/utils.py``,
    ``preprocess_remodnav``, used by ``multimatch_gaze.remodnav_reader``): keep ``FIXA`` events,
    position = (``start_x``, ``start_y``), duration = the event's duration, and drop fixations
    outside the screen (our ``off_screen="drop"`` default; pass "raise", "clip" or "keep" to
    change it). Two deliberate differences: multimatch-gaze tests ``end_y <= height`` where it
    means ``start_y``, and we test ``start_y``; and ``pursuits="fixations"`` splits each ``PURS``
    event into two fixations of half its duration at its start and end points, as its
    ``pursuits_to_fixations`` does.

    Args:
        path: the event file (tab-separated, columns ``onset duration label start_x start_y ...``).
        segments: None: the whole stream is one scanpath (id = file stem). A float L: consecutive
            windows ``[kL, (k+1)L)`` covering every fixation onset. A list of (start, end) onset
            windows (seconds), each ``start <= onset < end``. Segment k gets the id
            ``"<stem>_seg<k>"`` unless `image_ids` are given. (multimatch-gaze's studyforrest
            chunking takes ``start < onset <= end``; half-open windows keep a fixation at onset 0.)
        screen: (width, height) in pixels (studyforrest: 1280 x 720).
        pursuits: "drop" (default, as multimatch-gaze's default) or "fixations".
        **policies: ``on_invalid``, ``short`` (see `GazeArchive.from_arrays`). Windows without a
            fixation are empty scanpaths: pass ``short="drop"`` to drop them.
    """
    path = Path(path)
    table = _load(path, sep="\t")
    table.require("onset", "duration", "label", "start_x", "start_y")
    labels = table.text("label")
    onset = table.numeric("onset")
    dur = table.numeric("duration")
    x = table.numeric("start_x")
    y = table.numeric("start_y")
    rows = table.rows()
    keep = labels == "FIXA"
    cols = [onset[keep], x[keep], y[keep], dur[keep], rows[keep]]
    if pursuits == "fixations":
        table.require("end_x", "end_y")
        p = labels == "PURS"
        half = dur[p] / 2
        first = [onset[p], x[p], y[p], half, rows[p]]
        second = [onset[p] + half, table.numeric("end_x")[p], table.numeric("end_y")[p], half, rows[p]]
        cols = [np.concatenate(c) for c in zip(cols, first, second)]
    elif pursuits != "drop":
        raise ValueError(f"pursuits must be 'drop' or 'fixations', got {pursuits!r}")
    on, fx, fy, fd, fr = cols
    order = np.argsort(on, kind="stable")
    on, fx, fy, fd, fr = (c[order] for c in (on, fx, fy, fd, fr))

    if segments is None:
        ids = [path.stem]
        member = [np.arange(len(on))]
    else:
        if np.isscalar(segments):
            length = float(segments)
            if not (np.isfinite(length) and length > 0):
                raise ValueError(f"segment length must be positive, got {segments!r}")
            last = float(np.nanmax(on)) if len(on) else 0.0
            windows = [(k * length, (k + 1) * length) for k in range(int(last // length) + 1)]
        else:
            windows = [(float(a), float(b)) for a, b in segments]
            for a, b in windows:
                if not b > a:
                    raise ValueError(f"segment window ({a}, {b}) must have end > start")
        member = [np.flatnonzero((on >= a) & (on < b)) for a, b in windows]
        ids = [f"{path.stem}_seg{k}" for k in range(len(windows))]
    if image_ids is not None:
        if len(image_ids) != len(member):
            raise ValueError(f"{len(image_ids)} image ids for {len(member)} segments")
        ids = [str(i) for i in image_ids]
    idx = np.concatenate(member) if member else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(m) for m in member])]).astype(np.int64)
    return GazeArchive.from_arrays(
        ids, offsets, fx[idx], fy[idx], fd[idx], onset=on[idx], screen=screen,
        source=path.name, rows=fr[idx], off_screen=off_screen if screen is not None else "keep", **policies,
    )


def fixations_from_samples(
    samples: TableSource,
    method: Literal["idt", "ivt"] = "idt",
    *,
    image_col: str = "image_id",
    t_col: str = "t",
    x_col: str = "x",
    y_col: str = "y",
    reader_col: str | None = None,
    time_unit: Literal["ms", "s"] = "ms",
    minimum_duration: int = 100,
    dispersion_threshold: float = 25.0,
    velocity_threshold: float = 1000.0,
    velocity_method: str = "smooth",
    screen: tuple[float, float] | None = None,
    blocks: Literal["raise", "merge"] = "raise",
    **policies,
) -> GazeArchive:
    """Detect fixations in raw gaze samples with pymovements' I-DT or I-VT, one scanpath per image.

    The detectors are pymovements' own (``pymovements.events.detection.idt`` / ``ivt``; for I-VT
    the velocities come from ``pymovements.transforms.numpy.pos2vel``). They run on pixel
    coordinates, so the thresholds are in pixels: `dispersion_threshold` is the I-DT dispersion
    (x range + y range, px), `velocity_threshold` the I-VT speed (px/s). A fixation's position is
    the mean of its samples (pymovements' ``location`` measure, method "mean"), its onset and
    duration ``offset - onset`` are pymovements' (converted to seconds).

    Args:
        samples: a table (path or DataFrame, as `read_table`) with one row per sample.
        image_col, t_col, x_col, y_col, reader_col: column names; one scanpath per image
            (per (image, reader) with `reader_col`), samples ordered by time within it.
        time_unit: unit of `t_col`: "ms" or "s". pymovements needs whole milliseconds at a constant
            sampling interval.
        minimum_duration: shortest fixation in ms (pymovements: a multiple of the sampling interval).
        velocity_method: pymovements' ``pos2vel`` method for I-VT ("smooth", "neighbors", "preceding").
        screen, blocks, **policies: as `read_table`.
    """
    if method not in ("idt", "ivt"):
        raise ValueError(f"method must be 'idt' or 'ivt', got {method!r}")
    if time_unit not in ("ms", "s"):
        raise ValueError(f"time_unit must be 'ms' or 's', got {time_unit!r}")
    from pymovements.events.detection import idt, ivt
    from pymovements.transforms.numpy import pos2vel

    table = _load(samples, text_cols=(image_col, reader_col))
    table.require(image_col, t_col, x_col, y_col, reader_col)
    ids_all, readers_all, keys = _scanpath_keys(table, image_col, reader_col, blocks)
    t = table.numeric(t_col) * (1000.0 if time_unit == "s" else 1.0)
    t_ms = np.rint(t)
    bad = ~np.isfinite(t) | (np.abs(t - t_ms) > 1e-6 * np.maximum(1.0, np.abs(t)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazeValidationError(
            f"{table.name} row {i + table.first_row}: timestamp {table.columns[t_col][i]} is not a whole number of "
            "milliseconds; pymovements' detectors need integer ms timestamps"
        )
    xs, ys = table.numeric(x_col), table.numeric(y_col)
    rows_all = table.rows()
    order, offsets, first = _group(keys, t_ms)

    out_x, out_y, out_d, out_on, out_rows, lens = [], [], [], [], [], []
    for g in range(len(first)):
        idx = order[offsets[g] : offsets[g + 1]]
        tg = t_ms[idx].astype(np.int64)
        xy = np.stack([xs[idx], ys[idx]], axis=1)
        label = f"{table.name}: image id {ids_all[first[g]]!r}" + (f" reader {readers_all[first[g]]!r}" if readers_all is not None else "")
        try:
            if len(tg) < 2:
                raise ValueError(f"{len(tg)} samples; need at least 2")
            if method == "idt":
                events = idt(positions=xy, timesteps=tg, minimum_duration=int(minimum_duration), dispersion_threshold=float(dispersion_threshold))
            else:
                rate = 1000.0 / float(np.median(np.diff(tg)))
                vel = pos2vel(xy, sampling_rate=rate, method=velocity_method)
                events = ivt(velocities=vel, timesteps=tg, minimum_duration=int(minimum_duration), velocity_threshold=float(velocity_threshold))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{label}: pymovements {method} failed: {e}") from None
        ev_on = events.frame["onset"].to_numpy().astype(np.int64)
        ev_off = events.frame["offset"].to_numpy().astype(np.int64)
        a = np.searchsorted(tg, ev_on, side="left")
        b = np.searchsorted(tg, ev_off, side="right")
        for lo, hi, on, off in zip(a, b, ev_on, ev_off):
            with np.errstate(invalid="ignore"):
                out_x.append(np.nanmean(xy[lo:hi, 0]) if np.isfinite(xy[lo:hi, 0]).any() else np.nan)
                out_y.append(np.nanmean(xy[lo:hi, 1]) if np.isfinite(xy[lo:hi, 1]).any() else np.nan)
            out_d.append((off - on) / 1000.0)
            out_on.append(on / 1000.0)
            out_rows.append(rows_all[idx[lo]])
        lens.append(len(ev_on))
    fix_offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return GazeArchive.from_arrays(
        ids_all[first],
        fix_offsets,
        np.asarray(out_x, dtype=np.float64),
        np.asarray(out_y, dtype=np.float64),
        np.asarray(out_d, dtype=np.float64),
        onset=np.asarray(out_on, dtype=np.float64),
        readers=None if readers_all is None else readers_all[first],
        screen=screen,
        source=table.name,
        rows=np.asarray(out_rows, dtype=np.int64),
        **policies,
    )

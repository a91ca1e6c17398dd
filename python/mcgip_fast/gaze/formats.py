"""Readers for public radiology eye-tracking archives, written from their published documentation.

- **REFLACX** (Bigolin Lanfredi et al., Sci Data 9, 350 (2022); PhysioNet
  ``reflacx-xray-localization``): one folder per case (one reading of one chest x-ray) under
  ``main_data/``, each with a ``fixations.csv`` of ``timestamp_start_fixation``,
  ``timestamp_end_fixation`` (seconds), ``x_position``, ``y_position`` (pixels of the image).
  The ``metadata_phase_*.csv`` tables map a case ``id`` to its image ``dicom_id`` and flag cases
  whose ``eye_tracking_data_discarded`` is true.
- **EGD-CXR** (Karargyris et al., Sci Data 8, 92 (2021), Table 2; PhysioNet ``egd-cxr``):
  ``fixations.csv`` with ``DICOM_ID`` and the Gazepoint fixation columns ``FPOGX``, ``FPOGY``
  (fractions of the screen, (0, 0) top left), ``FPOGS`` (start, s), ``FPOGD`` (duration, s),
  ``FPOGID`` (fixation id) and ``FPOGV`` (valid flag).

Both end in `read_table` and so in `GazeArchive.from_arrays`: the same validation, policies and
messages naming file, row and id as every other reader. Ids are text (``"001"`` stays ``"001"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mcgip_fast.gaze.archive import GazeArchive, GazeValidationError, ValidationReport
from mcgip_fast.gaze.hints import option
from mcgip_fast.gaze.readers import _concat, _load, read_table

REFLACX_COLUMNS = ("timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position")
EGD_CXR_COLUMNS = ("DICOM_ID", "FPOGX", "FPOGY", "FPOGS", "FPOGD")


def reflacx_cases(root: str | Path | Sequence[str | Path]) -> list[Path]:
    """Case folders: the sub-folders of `root` (or of ``root/main_data``) that hold a fixations.csv, by name."""
    if not isinstance(root, (str, Path)):
        return [Path(p) for p in root]
    root = Path(root)
    if (root / "fixations.csv").is_file():
        return [root]
    if (root / "main_data").is_dir():
        root = root / "main_data"
    if not root.is_dir():
        raise ValueError(f"{root}: no such REFLACX folder")
    cases = sorted(p for p in root.iterdir() if (p / "fixations.csv").is_file())
    if not cases:
        raise ValueError(f"{root}: no case folder with a fixations.csv (REFLACX keeps one per case under main_data/)")
    return cases


def read_reflacx(
    root: str | Path | Sequence[str | Path],
    *,
    metadata: str | Path | Iterable[str | Path] | None = None,
    image_col: str = "dicom_id",
    reader_col: str | None = None,
    screen: tuple[float, float] | None = None,
    **policies,
) -> GazeArchive:
    """Read REFLACX fixations: one scanpath per case folder, duration = end - start.

    Args:
        root: the dataset folder (its ``main_data/``), a folder of case folders, or a list of case folders.
        metadata: REFLACX ``metadata_phase_*.csv`` file(s) (columns ``id`` and `image_col`). With
            it the image id is the case's ``dicom_id``, cases flagged ``eye_tracking_data_discarded``
            are left out (and listed in ``archive.report``), and every case is a reading by
            `reader_col` (a metadata column naming the radiologist) or, without one, by its own
            case id. Without metadata the image id is the case folder's name and there are no readers.
        screen: (width, height) of the frame the positions live in (REFLACX gives image pixels: the
            image size), for the off-screen check and heatmaps.
        **policies: ``on_invalid``, ``off_screen``, ``short`` (see `GazeArchive.from_arrays`).
    """
    cases = reflacx_cases(root)
    report = policies.pop("report", None) or ValidationReport()
    meta = _reflacx_metadata(metadata, image_col, reader_col) if metadata is not None else None
    parts = []
    for case in cases:
        image, reader = case.name, None
        if meta is not None:
            if case.name not in meta:
                raise ValueError(f"case {case.name!r} ({case / 'fixations.csv'}) is not in the metadata table(s) {meta['__files__']}")
            image, reader, discarded = meta[case.name]
            if discarded:
                report.dropped_scanpaths.append(f"{case.name}/fixations.csv: eye_tracking_data_discarded is true in the metadata")
                continue
        table = _load(case / "fixations.csv", text_cols=())
        table.name = f"{case.name}/fixations.csv"
        table.require(*REFLACX_COLUMNS)
        table = table.with_column("_image", np.full(table.n, image, dtype=object))
        if reader is not None:
            table = table.with_column("_reader", np.full(table.n, reader, dtype=object))
        arch = read_table(
            table, image_col="_image", x_col="x_position", y_col="y_position", reader_col="_reader" if reader is not None else None,
            start_col="timestamp_start_fixation", end_col="timestamp_end_fixation", screen=screen, report=report, **policies,
        )
        parts.append((arch, table.name))
    return _concat(parts, report, screen)


def _reflacx_metadata(files, image_col: str, reader_col: str | None) -> dict:
    """{case id: (image id, reader, discarded)} from the metadata table(s)."""
    files = [files] if isinstance(files, (str, Path)) else list(files)
    out: dict = {"__files__": [str(f) for f in files]}
    for f in files:
        table = _load(f, text_cols=("id", image_col, reader_col))
        table.require("id", image_col, reader_col)
        ids, images = table.text("id"), table.text(image_col)
        readers = table.text(reader_col) if reader_col else ids
        discarded = np.zeros(table.n, dtype=bool)
        if "eye_tracking_data_discarded" in table.columns:
            discarded = np.asarray([str(v).strip().lower() in ("true", "1") for v in table.columns["eye_tracking_data_discarded"]])
        for k in range(table.n):
            if ids[k] in out:
                raise GazeValidationError(f"{table.name} row {table.row(k)}: case id {ids[k]!r} appears twice in the metadata")
            out[ids[k]] = (images[k], readers[k], bool(discarded[k]))
    return out


def read_egd_cxr(
    path: str | Path,
    screen: tuple[float, float] | None = None,
    **policies,
) -> GazeArchive:
    """Read EGD-CXR ``fixations.csv``: one scanpath per ``DICOM_ID``, positions scaled from screen fractions.

    Rows whose valid flag ``FPOGV`` is 0 are not fixations (Gazepoint sets it false during blinks
    and saccades): they are dropped and listed in ``archive.report``. If a fixation (``FPOGID``)
    has several rows, as in Gazepoint's live record stream where ``FPOGD`` grows until the fixation
    ends, its last row (its final duration) is kept and the merge is noted in the report.
    Fixations are ordered by their start ``FPOGS``.

    Args:
        screen: (width, height) of the display in pixels; required, since FPOGX/FPOGY are fractions of it.
        **policies: ``on_invalid``, ``off_screen``, ``short`` (see `GazeArchive.from_arrays`).
    """
    table = _load(path, text_cols=("DICOM_ID",))
    table.require(*EGD_CXR_COLUMNS)
    if screen is None:
        raise ValueError(f"{table.name}: EGD-CXR positions (FPOGX, FPOGY) are fractions of the screen; pass {option('screen')} to scale them")
    report = policies.pop("report", None) or ValidationReport()
    keep = np.ones(table.n, dtype=bool)
    if "FPOGV" in table.columns:
        invalid = table.numeric("FPOGV") == 0
        ids = table.text("DICOM_ID")
        rows = table.rows()
        report.dropped_fixations.extend(f"{table.name} row {rows[i]} (image id {ids[i]!r}): FPOGV = 0, not a valid fixation" for i in np.flatnonzero(invalid))
        keep &= ~invalid
    if "FPOGID" in table.columns:
        ids = table.text("DICOM_ID")
        fix = table.numeric("FPOGID")
        key = np.asarray([f"{i}\0{f}" for i, f in zip(ids, fix)], dtype=object)
        # The last valid row of each (image, fixation id) carries the fixation's final duration.
        last = np.zeros(table.n, dtype=bool)
        seen: set = set()
        for i in np.flatnonzero(keep)[::-1]:
            if key[i] not in seen:
                seen.add(key[i])
                last[i] = True
        merged = int(keep.sum() - last.sum())
        if merged:
            report.notes.append(f"{table.name}: {merged} rows were earlier records of a fixation (same DICOM_ID and FPOGID); each fixation's last row was kept")
        keep = last
    return read_table(
        table.subset(keep), image_col="DICOM_ID", x_col="FPOGX", y_col="FPOGY", duration_col="FPOGD", onset_col="FPOGS",
        coords="normalised", screen=screen, report=report, **policies,
    )

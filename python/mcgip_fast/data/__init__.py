"""Embedded real sample data (studyforrest; see data/studyforrest/README.md for source and licence).

Real eye movements of two adults (sub-01, sub-19) watching the same 30 segments of the movie
"Forrest Gump", as redistributed by multimatch-gaze (MIT). Screen: 1280 x 720 pixels.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from mcgip_fast.gaze.archive import GazeArchive

#: The movie frame as shown to the participants, in pixels (width, height).
STUDYFORREST_SCREEN = (1280, 720)

_FILE = re.compile(r"segment_(\d+)_sub-(\d+)$")


def studyforrest_dir() -> Path:
    """Folder of the embedded sample (subfolders fixvectors/, testdata/, remodnav/)."""
    return Path(__file__).resolve().parent / "studyforrest"


def load_studyforrest(
    subjects: Sequence[str] | None = None,
    segments: Sequence[int] | None = None,
    *,
    by_reader: bool = True,
    **policies,
) -> GazeArchive:
    """The 60 studyforrest scanpaths (30 movie segments x 2 subjects) as one archive.

    Args:
        subjects: subject numbers to keep, e.g. ``["01"]`` (default: both, "01" and "19").
        segments: segment numbers to keep (default: all, 0-29).
        by_reader: True (default): image id ``"segment_<S>"`` and reader ``"sub-<NN>"``, so each
            movie segment is one image read by two readers. False: image id is the file stem
            (``"segment_<S>_sub-<NN>"``) and there are no readers.
        **policies: passed to `read_fixation_files` (``on_invalid``, ``off_screen``, ``short``).

    Scanpaths are ordered by segment number, then subject. Screen: 1280 x 720.
    """
    from mcgip_fast.gaze.readers import read_fixation_files

    files = []
    for p in (studyforrest_dir() / "fixvectors").glob("*.tsv"):
        m = _FILE.match(p.stem)
        if m is None:
            continue
        seg, sub = int(m.group(1)), m.group(2)
        if (subjects is None or sub in subjects) and (segments is None or seg in segments):
            files.append((seg, sub, p))
    if not files:
        raise ValueError(f"no studyforrest scanpath matches subjects={subjects!r}, segments={segments!r}")
    files.sort()
    archive = read_fixation_files([p for _, _, p in files], screen=STUDYFORREST_SCREEN, **policies)
    if not by_reader:
        return archive
    meta = {p.stem: (f"segment_{seg}", f"sub-{sub}") for seg, sub, p in files}
    return dataclasses.replace(
        archive,
        image_ids=np.asarray([meta[str(i)][0] for i in archive.image_ids], dtype=object),
        readers=np.asarray([meta[str(i)][1] for i in archive.image_ids], dtype=object),
    )


def load_remodnav_sample(segments: None | float | Sequence[tuple[float, float]] = None, **kwargs) -> GazeArchive:
    """The embedded REMoDNaV event stream (sub-01, run 1, first 8.7 s) via `read_remodnav`.

    Args:
        segments: as `read_remodnav` (None: one scanpath; a float: windows of that many seconds).
        **kwargs: passed to `read_remodnav` (``pursuits``, ``image_ids``, policies).
    """
    from mcgip_fast.gaze.readers import read_remodnav

    path = studyforrest_dir() / "remodnav" / "sub-01_task-movie_run-1_events.tsv"
    return read_remodnav(path, segments, screen=STUDYFORREST_SCREEN, **kwargs)


__all__ = ["STUDYFORREST_SCREEN", "load_remodnav_sample", "load_studyforrest", "studyforrest_dir"]

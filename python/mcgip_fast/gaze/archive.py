"""`Scanpath` and `GazeArchive`: the one gaze layout every kernel reads.

A `GazeArchive` packs all fixations of all scanpaths into contiguous float64 columns
(`x`, `y`, `duration`, optional `onset`) plus an int64 `offsets` array of length n + 1:
scanpath i owns rows ``offsets[i]:offsets[i + 1]``. The Rust kernels borrow these columns
without copying, so a whole archive crosses into Rust in one call.

Validation happens once, when an archive is built (`GazeArchive.from_arrays`, which every
reader calls). Bad fixations either raise a `GazeValidationError` (a `ValueError`) naming
the source, row and image id, or, under a drop/clip policy the caller chose, are dropped or
clipped and counted in `archive.report`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Literal, Sequence

import numpy as np

from mcgip_fast.gaze.hints import one_of

#: Fewer fixations than this and MultiMatch is undefined (it returns NaN x 5).
MIN_MULTIMATCH_FIXATIONS = 3

InvalidPolicy = Literal["raise", "drop"]
ScreenPolicy = Literal["raise", "clip", "drop", "keep"]
ShortPolicy = Literal["keep", "drop", "raise"]


class GazeValidationError(ValueError):
    """Bad gaze input. The message names the source, row and image id."""


@dataclass
class ValidationReport:
    """What validation dropped, clipped or flagged, so nothing is lost silently.

    Each list holds human-readable entries (source, row, image id, reason). Counts are
    the lengths of these lists.
    """

    dropped_fixations: list[str] = field(default_factory=list)
    clipped_fixations: list[str] = field(default_factory=list)
    dropped_scanpaths: list[str] = field(default_factory=list)
    short_scanpaths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.dropped_fixations or self.clipped_fixations or self.dropped_scanpaths)

    def merge(self, other: "ValidationReport") -> "ValidationReport":
        for name in ("dropped_fixations", "clipped_fixations", "dropped_scanpaths", "short_scanpaths", "notes"):
            getattr(self, name).extend(getattr(other, name))
        return self

    def summary(self) -> str:
        return (
            f"{len(self.dropped_fixations)} fixations dropped, {len(self.clipped_fixations)} clipped, "
            f"{len(self.dropped_scanpaths)} scanpaths dropped, {len(self.short_scanpaths)} scanpaths "
            f"shorter than {MIN_MULTIMATCH_FIXATIONS} fixations (MultiMatch gives NaN for them)"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        for name in ("dropped_fixations", "clipped_fixations", "dropped_scanpaths", "short_scanpaths", "notes"):
            entries = getattr(self, name)
            if entries:
                lines.append(f"{name}:")
                lines.extend(f"  {e}" for e in entries[:20])
                if len(entries) > 20:
                    lines.append(f"  ... and {len(entries) - 20} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class Scanpath:
    """An ordered sequence of fixations: x, y in pixels, duration in seconds, optional onset (s)."""

    x: np.ndarray
    y: np.ndarray
    duration: np.ndarray
    onset: np.ndarray | None = None
    image_id: str | None = None
    reader: str | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y", "duration"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64))
        if self.onset is not None:
            object.__setattr__(self, "onset", np.ascontiguousarray(self.onset, dtype=np.float64))
        n = len(self.x)
        lens = {len(self.x), len(self.y), len(self.duration)} | ({len(self.onset)} if self.onset is not None else set())
        if len(lens) != 1:
            raise GazeValidationError(f"scanpath {self.image_id!r}: columns differ in length {sorted(lens)}")
        if self.x.ndim != 1:
            raise GazeValidationError(f"scanpath {self.image_id!r}: columns must be 1-D, got shape {self.x.shape}")
        del n

    @classmethod
    def from_array(cls, arr: np.ndarray, image_id: str | None = None) -> "Scanpath":
        """From an (n, 3) array of x, y, duration (or (n, 4) with onset last)."""
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] not in (3, 4):
            raise GazeValidationError(f"scanpath {image_id!r}: expected an (n, 3) array of x, y, duration; got shape {arr.shape}")
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3] if arr.shape[1] == 4 else None, image_id=image_id)

    def __len__(self) -> int:
        return len(self.x)

    def to_array(self) -> np.ndarray:
        """(n, 3) float64 array of x, y, duration."""
        return np.stack([self.x, self.y, self.duration], axis=1)


@dataclass(frozen=True, eq=False)
class GazeArchive:
    """Many scanpaths, packed: `offsets` (n + 1,) int64 and float64 columns.

    Attributes:
        image_ids: (n,) str array, the image each scanpath was read on.
        readers: (n,) str array or None, who read it (several readers may read one image).
        offsets, x, y, duration, onset: the packed layout (see module docs).
        screen: (width, height) in pixels, or None when unknown.
        report: what validation dropped, clipped or flagged.
    """

    image_ids: np.ndarray
    offsets: np.ndarray
    x: np.ndarray
    y: np.ndarray
    duration: np.ndarray
    onset: np.ndarray | None = None
    readers: np.ndarray | None = None
    screen: tuple[float, float] | None = None
    report: ValidationReport = field(default_factory=ValidationReport)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(
        cls,
        image_ids: Sequence[str] | np.ndarray,
        offsets: Sequence[int] | np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        duration: np.ndarray,
        *,
        onset: np.ndarray | None = None,
        readers: Sequence[str] | np.ndarray | None = None,
        screen: tuple[float, float] | None = None,
        on_invalid: InvalidPolicy = "raise",
        off_screen: ScreenPolicy = "raise",
        short: ShortPolicy = "keep",
        source: str | None = None,
        rows: np.ndarray | None = None,
        report: ValidationReport | None = None,
    ) -> "GazeArchive":
        """Validate packed columns and build an archive.

        Args:
            on_invalid: NaN/inf coordinates or non-positive durations: "raise" (default) or "drop" the fixation.
            off_screen: fixations outside ``[0, w] x [0, h]``: "raise" (default), "clip" to the screen,
                "drop", or "keep" as they are. Needs `screen`.
            short: scanpaths with fewer than 3 fixations (MultiMatch is undefined): "keep" (default,
                counted in the report), "drop" or "raise". Empty scanpaths always raise under "raise"
                and are otherwise dropped.
            source: file name used in error messages.
            rows: (total,) source row number of each fixation, used in error messages (default: position).
        """
        report = report if report is not None else ValidationReport()
        src = source or "<arrays>"
        ids = np.asarray([str(i) for i in image_ids], dtype=object)
        rdr = None if readers is None else np.asarray([str(r) for r in readers], dtype=object)
        offsets = np.asarray(offsets, dtype=np.int64)
        cols = [np.ascontiguousarray(c, dtype=np.float64) for c in (x, y, duration)]
        ons = None if onset is None else np.ascontiguousarray(onset, dtype=np.float64)
        n = len(ids)
        if offsets.shape != (n + 1,):
            raise GazeValidationError(f"{src}: offsets must have shape ({n + 1},) for {n} image ids, got {offsets.shape}")
        if n and (offsets[0] != 0 or np.any(np.diff(offsets) < 0)):
            raise GazeValidationError(f"{src}: offsets must start at 0 and never decrease")
        total = int(offsets[-1]) if n else 0
        for name, c in zip(("x", "y", "duration", "onset"), cols + [ons]):
            if c is not None and c.shape != (total,):
                raise GazeValidationError(f"{src}: column {name} has shape {c.shape}, offsets say ({total},)")
        if rdr is not None and len(rdr) != n:
            raise GazeValidationError(f"{src}: {len(rdr)} readers for {n} scanpaths")
        rows = np.arange(total) if rows is None else np.asarray(rows)
        if screen is not None:
            screen = (float(screen[0]), float(screen[1]))
            if not (screen[0] > 0 and screen[1] > 0):
                raise GazeValidationError(f"{src}: screen must be positive (width, height), got {screen}")

        # Duplicate keys: one scanpath per image (per reader, when readers are given).
        keys = ids if rdr is None else np.asarray([f"{i}|{r}" for i, r in zip(ids, rdr)], dtype=object)
        uniq, counts = np.unique(keys.astype(str), return_counts=True) if n else (np.array([]), np.array([]))
        if np.any(counts > 1):
            dup = uniq[counts > 1]
            what = "image id" if rdr is None else "(image id, reader)"
            raise GazeValidationError(f"{src}: duplicate {what} {str(dup[0])!r} ({len(dup)} duplicated in all)")

        owner = np.repeat(np.arange(n), np.diff(offsets)) if n else np.zeros(0, dtype=np.int64)
        keep = np.ones(total, dtype=bool)
        x_, y_, d_ = cols

        def where(i: int) -> str:
            return f"{src} row {rows[i]} (image id {ids[owner[i]]!r})"

        bad_coord = ~(np.isfinite(x_) & np.isfinite(y_))
        bad_dur = ~(np.isfinite(d_) & (d_ > 0))
        for mask, why in ((bad_coord, "non-finite coordinate"), (bad_dur & ~bad_coord, "duration not positive and finite")):
            idx = np.flatnonzero(mask)
            if len(idx) == 0:
                continue
            if on_invalid == "raise":
                i = idx[0]
                raise GazeValidationError(
                    f"{where(i)}: {why} (x={x_[i]}, y={y_[i]}, duration={d_[i]}); {len(idx)} such rows in all. "
                    f"Pass {one_of('on_invalid', ['drop'])} to drop them."
                )
            if on_invalid != "drop":
                raise ValueError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
            keep[idx] = False
            report.dropped_fixations.extend(f"{where(i)}: {why}" for i in idx)

        if screen is not None and off_screen != "keep":
            w, h = screen
            out = keep & ((x_ < 0) | (x_ > w) | (y_ < 0) | (y_ > h))
            idx = np.flatnonzero(out)
            if len(idx):
                if off_screen == "raise":
                    i = idx[0]
                    raise GazeValidationError(
                        f"{where(i)}: fixation ({x_[i]}, {y_[i]}) is outside the screen {w:g}x{h:g}; "
                        f"{len(idx)} such rows in all. Pass {one_of('off_screen', ['clip', 'drop', 'keep'])}."
                    )
                if off_screen == "clip":
                    x_ = np.clip(x_, 0, w)
                    y_ = np.clip(y_, 0, h)
                    report.clipped_fixations.extend(f"{where(i)}: outside the screen, clipped" for i in idx)
                elif off_screen == "drop":
                    keep[idx] = False
                    report.dropped_fixations.extend(f"{where(i)}: outside the screen" for i in idx)
                else:
                    raise ValueError(f"off_screen must be 'raise', 'clip', 'drop' or 'keep', got {off_screen!r}")

        # Re-pack without the dropped fixations.
        new_len = np.bincount(owner[keep], minlength=n) if n else np.zeros(0, dtype=np.int64)
        keep_sp = np.ones(n, dtype=bool)
        for i in np.flatnonzero(new_len < MIN_MULTIMATCH_FIXATIONS):
            label = f"{src}: image id {ids[i]!r}" + (f" reader {rdr[i]!r}" if rdr is not None else "")
            if new_len[i] == 0:
                if short == "raise" or (on_invalid == "raise" and short != "drop"):
                    raise GazeValidationError(f"{label}: empty scanpath (no valid fixations). Pass {one_of('short', ['drop'])} to drop it.")
                keep_sp[i] = False
                report.dropped_scanpaths.append(f"{label}: empty scanpath")
            elif short == "raise":
                raise GazeValidationError(
                    f"{label}: {new_len[i]} fixations, fewer than {MIN_MULTIMATCH_FIXATIONS} (MultiMatch is undefined). "
                    f"Pass {one_of('short', ['keep', 'drop'])}."
                )
            elif short == "drop":
                keep_sp[i] = False
                report.dropped_scanpaths.append(f"{label}: {new_len[i]} fixations (< {MIN_MULTIMATCH_FIXATIONS})")
            elif short == "keep":
                report.short_scanpaths.append(f"{label}: {new_len[i]} fixations (< {MIN_MULTIMATCH_FIXATIONS})")
            else:
                raise ValueError(f"short must be 'keep', 'drop' or 'raise', got {short!r}")
        keep &= keep_sp[owner] if n else keep
        lens = np.bincount(owner[keep], minlength=n)[keep_sp] if n else np.zeros(0, dtype=np.int64)
        new_offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=new_offsets[1:])
        return cls(
            image_ids=ids[keep_sp],
            offsets=new_offsets,
            x=np.ascontiguousarray(x_[keep]),
            y=np.ascontiguousarray(y_[keep]),
            duration=np.ascontiguousarray(d_[keep]),
            onset=None if ons is None else np.ascontiguousarray(ons[keep]),
            readers=None if rdr is None else rdr[keep_sp],
            screen=screen,
            report=report,
        )

    @classmethod
    def from_scanpaths(
        cls,
        scanpaths: Iterable[Scanpath | np.ndarray],
        image_ids: Sequence[str] | None = None,
        *,
        screen: tuple[float, float] | None = None,
        **policies,
    ) -> "GazeArchive":
        """Pack `Scanpath` objects or (n, 3) arrays. Ids default to each scanpath's `image_id`, then "0", "1", ..."""
        sps = [s if isinstance(s, Scanpath) else Scanpath.from_array(s) for s in scanpaths]
        if image_ids is None:
            image_ids = [s.image_id if s.image_id is not None else str(k) for k, s in enumerate(sps)]
        if len(image_ids) != len(sps):
            raise GazeValidationError(f"{len(image_ids)} image ids for {len(sps)} scanpaths")
        lens = np.array([len(s) for s in sps], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        cat = lambda name: np.concatenate([getattr(s, name) for s in sps]) if sps else np.zeros(0)  # noqa: E731
        onset = cat("onset") if sps and all(s.onset is not None for s in sps) else None
        readers = [s.reader for s in sps] if sps and all(s.reader is not None for s in sps) else None
        return cls.from_arrays(
            image_ids, offsets, cat("x"), cat("y"), cat("duration"), onset=onset, readers=readers, screen=screen, **policies
        )

    @classmethod
    def from_table(cls, source, *args, **kwargs) -> "GazeArchive":
        """Read a table with one row per fixation; see `mcgip_fast.gaze.readers.read_table`."""
        from mcgip_fast.gaze.readers import read_table  # lazy: readers imports this module

        return read_table(source, *args, **kwargs)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, i: int) -> Scanpath:
        if not -len(self) <= i < len(self):
            raise IndexError(f"scanpath index {i} out of range for {len(self)} scanpaths")
        i %= len(self)
        a, b = self.offsets[i], self.offsets[i + 1]
        return Scanpath(
            self.x[a:b],
            self.y[a:b],
            self.duration[a:b],
            None if self.onset is None else self.onset[a:b],
            image_id=str(self.image_ids[i]),
            reader=None if self.readers is None else str(self.readers[i]),
        )

    def __iter__(self) -> Iterator[Scanpath]:
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> np.ndarray:
        """Fixations per scanpath."""
        return np.diff(self.offsets)

    @property
    def keys(self) -> np.ndarray:
        """Unique key of each scanpath: the image id, or "image_id|reader" when readers are set."""
        if self.readers is None:
            return self.image_ids
        return np.asarray([f"{i}|{r}" for i, r in zip(self.image_ids, self.readers)], dtype=object)

    def index_of(self, key: str) -> int:
        hits = np.flatnonzero(self.keys == key)
        if len(hits) == 0:
            raise KeyError(f"no scanpath with key {key!r}")
        return int(hits[0])

    def subset(self, indices: Sequence[int] | np.ndarray) -> "GazeArchive":
        """A new archive of the given scanpaths, in the given order."""
        idx = np.asarray(indices, dtype=np.int64)
        lens = self.lengths[idx]
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in idx]) if len(idx) else np.zeros(0, np.int64)
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return GazeArchive(
            image_ids=self.image_ids[idx],
            offsets=offsets,
            x=self.x[rows],
            y=self.y[rows],
            duration=self.duration[rows],
            onset=None if self.onset is None else self.onset[rows],
            readers=None if self.readers is None else self.readers[idx],
            screen=self.screen,
            report=self.report,
        )

    def packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, x, y, duration), contiguous, ready for the Rust kernels."""
        return self.offsets, self.x, self.y, self.duration

    def content_hash(self) -> str:
        """SHA-256 over ids, readers, screen and the packed columns: changes if anything is reordered or edited."""
        h = hashlib.sha256()
        for s in self.keys:
            h.update(str(s).encode())
            h.update(b"\0")
        h.update(repr(self.screen).encode())
        for a in (self.offsets, self.x, self.y, self.duration):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (
            f"GazeArchive({len(self)} scanpaths, {len(self.x)} fixations, screen={self.screen}, "
            f"readers={'yes' if self.readers is not None else 'no'})"
        )

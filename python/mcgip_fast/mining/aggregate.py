"""Several readers per image: reading-level gaze similarities reduced to image-level scores.

Mining sees *items*. Without aggregation an item is a reading (one scanpath, key
``"image|reader"``); the trainer, which knows only image ids, cannot use such pairs. With an
aggregation mode the items are **images** (key: the image id) and a tile scores the image pair
(a, b) as a reduction over pairs of readings, so rules, tiles, resume and Dask stay as they are:

- ``same-reader``: the mean, over the readers who read both a and b, of that reader's scanpath
  similarity ``s(a_r, b_r)``. Each reader's personal habits cancel (as in McGIP's one-radiologist
  setting). Cost: about R x the single-reader cost (one kernel call per (pair, common reader)).
  A pair with no common reader gets **no score** (it is never selected and never counts as 0);
  how many such pairs there are is recorded in ``params["aggregate"]``.
- ``all-pairs``: the mean over every pair of readings (reading of a, reading of b): R^2 cost, for
  archives whose readers do not overlap.
- ``pooled`` (``hu`` and ``dhash`` only): one heatmap per image from all readers' fixations.

The reading-pair scores come from the wrapped scheme's `score_pairs` (the Rust kernels); this
module only chooses which readings to pair and averages. Each image pair's mean adds its terms in
one fixed order (reader order, or reading order for ``all-pairs``), whatever the tiling, the
engine or the thread count, so results are identical across all of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from ..gaze.hints import one_of, option
from .schemes import TileResult

AGGREGATES = ("none", "same-reader", "all-pairs", "pooled")
#: Heatmap schemes, for which pooling every reader's fixations into one map is meaningful.
POOLABLE = ("hu", "dhash")
#: Reading pairs one tile may score (bounds a tile's temporaries to a few tens of MB).
TILE_READING_PAIRS = 1_000_000


def resolve_aggregate(archive, aggregate: str | None) -> str:
    """The aggregation mode to use: "auto" (or None) picks "same-reader" when readers overlap.

    "auto": archives without readers (or `ItemArrays`) are not aggregated; with readers, images are
    the items, scored "same-reader" when at least one reader read two images, else "all-pairs".
    """
    has_readers = getattr(archive, "readers", None) is not None
    if aggregate in (None, "auto"):
        if not has_readers:
            return "none"
        _, readings_per_reader = np.unique(archive.readers.astype(str), return_counts=True)
        # One reading per (image, reader), so a reader with two readings read two images.
        return "same-reader" if readings_per_reader.max(initial=0) >= 2 else "all-pairs"
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; pass {one_of('aggregate', ('auto',) + AGGREGATES)}")
    if aggregate != "none" and not has_readers:
        raise ValueError(
            f"{option('aggregate', aggregate)} needs an archive with readers (several readings per image); this one has "
            f"none: pass {option('reader_col')} when reading the table, or {option('aggregate', 'none')}"
        )
    return aggregate


def aggregate_readers(archive, scheme, aggregate: str | None):
    """(items, scheme) that `mine` runs on: the archive and scheme unchanged for "none", else images as items."""
    mode = resolve_aggregate(archive, aggregate)
    if mode == "none":
        return archive, scheme
    if getattr(scheme, "prefilter", None) is not None or getattr(scheme, "candidates", "exact") == "faiss":
        raise ValueError(
            f"{option('aggregate', mode)} scores every image pair exactly; it cannot be combined with approximate candidates "
            f"({option('prefilter')} / {option('candidates', 'faiss')})"
        )
    if mode == "pooled":
        if scheme.name not in POOLABLE:
            raise ValueError(
                f"{option('aggregate', 'pooled')} renders one heatmap per image, for the heatmap schemes {', '.join(POOLABLE)}; "
                f"{scheme.name} compares scanpaths, which cannot be pooled: pass {one_of('aggregate', ['same-reader', 'all-pairs'])}"
            )
        return pooled_archive(archive), PooledScheme(scheme)
    return ImageItems(archive, mode), AggregateScheme(scheme, mode)


def _images_by_first_appearance(archive) -> tuple[np.ndarray, np.ndarray]:
    """(image index of each reading, image ids): images numbered in order of first appearance."""
    ids, first, image_of = np.unique(archive.image_ids.astype(str), return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    return rank[image_of].astype(np.int64), np.asarray(ids[np.argsort(rank)], dtype=object)


# ---------------------------------------------------------------------------------------- pooled
def pooled_archive(archive):
    """One scanpath per image: the fixations of all its readings, readings in archive order."""
    from mcgip_fast.gaze.archive import GazeArchive

    image_of, ids = _images_by_first_appearance(archive)
    order = np.argsort(image_of, kind="stable")
    lens = np.bincount(image_of, weights=archive.lengths, minlength=len(ids)).astype(np.int64)
    rows = np.concatenate([np.arange(archive.offsets[i], archive.offsets[i + 1]) for i in order]) if len(order) else np.zeros(0, np.int64)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return GazeArchive(
        image_ids=ids,
        offsets=offsets,
        x=np.ascontiguousarray(archive.x[rows]),
        y=np.ascontiguousarray(archive.y[rows]),
        duration=np.ascontiguousarray(archive.duration[rows]),
        onset=None if archive.onset is None else np.ascontiguousarray(archive.onset[rows]),
        readers=None,
        screen=archive.screen,
        report=archive.report,
    )


class PooledScheme:
    """The wrapped heatmap scheme on pooled maps; only its recorded parameters differ."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        if name == "inner":  # during unpickling, before __dict__ is filled
            raise AttributeError(name)
        return getattr(self.inner, name)

    def params(self) -> dict[str, Any]:
        return {**self.inner.params(), "aggregate": {"mode": "pooled", "items": "images (one heatmap from all readers' fixations)"}}


# ------------------------------------------------------------------------------- image items
class ImageItems:
    """Images as mining items over a reading-level archive: keys are image ids, first appearance order."""

    def __init__(self, archive, mode: str) -> None:
        self.archive = archive
        self.mode = mode
        self.reading_image, self.ids = _images_by_first_appearance(archive)
        names, self.reading_reader = np.unique(archive.readers.astype(str), return_inverse=True)
        self.reader_names = np.asarray(names, dtype=object)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def keys(self) -> np.ndarray:
        return self.ids

    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(self.archive.content_hash().encode())
        h.update(f"aggregate={self.mode}".encode())
        return h.hexdigest()


@dataclass
class AggregateState:
    """The wrapped scheme's reading-level state plus who read what (active readings only)."""

    inner: Any
    n_images: int
    n_readers: int
    active: np.ndarray  # (n_images,) images with at least one scorable reading
    # readings sorted by (image, reader): image CSR
    image_ptr: np.ndarray
    image_reader: np.ndarray
    image_reading: np.ndarray
    # readings sorted by (reader, image): reader CSR
    reader_ptr: np.ndarray
    reader_image: np.ndarray
    reader_reading: np.ndarray
    skipped: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.n_images


def _csr(major: np.ndarray, minor: np.ndarray, reading: np.ndarray, n_major: int):
    order = np.lexsort((minor, major))
    ptr = np.zeros(n_major + 1, dtype=np.int64)
    np.cumsum(np.bincount(major, minlength=n_major), out=ptr[1:])
    return ptr, np.ascontiguousarray(minor[order]), np.ascontiguousarray(reading[order])


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value): for each k, the values starts[k]..ends[k]-1, tagged with k."""
    counts = np.maximum(ends - starts, 0)
    owner = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
    offsets = np.cumsum(counts) - counts
    value = np.arange(counts.sum(), dtype=np.int64) - np.repeat(offsets, counts) + np.repeat(starts, counts)
    return owner, value


class AggregateScheme:
    """A scheme over images that scores (a, b) as the mean of the wrapped scheme over reader pairs."""

    def __init__(self, inner, mode: str) -> None:
        if mode not in ("same-reader", "all-pairs"):
            raise ValueError(f"AggregateScheme mode must be 'same-reader' or 'all-pairs', got {mode!r}")
        self.inner = inner
        self.mode = mode
        self.name = inner.name
        self.symmetric = inner.symmetric
        self.candidates = "exhaustive over image pairs"
        self._summary: dict[str, Any] = {}
        self._pairs_per_row = 1.0

    def score_range(self) -> tuple[float, float]:
        return self.inner.score_range()

    def params(self) -> dict[str, Any]:
        how = (
            "mean over the readers who read both images of that reader's score; pairs with no common reader get no score"
            if self.mode == "same-reader" else "mean over every pair of readings (reading of a, reading of b)"
        )
        return {**self.inner.params(), "aggregate": {"mode": self.mode, "items": "images", "score": how, **self._summary}}

    def bind(self, items: ImageItems) -> None:
        if not isinstance(items, ImageItems):
            raise ValueError("an aggregated scheme mines ImageItems (see aggregate_readers)")
        self.inner.bind(items.archive)

    # ------------------------------------------------------------------ prepare
    def prepare(self, items: ImageItems) -> AggregateState:
        inner = self.inner.prepare(items.archive)
        usable = np.flatnonzero(inner.active)
        image, reader = items.reading_image[usable], items.reading_reader[usable]
        n, r = len(items), len(items.reader_names)
        image_ptr, image_reader, image_reading = _csr(image, reader, usable, n)
        reader_ptr, reader_image, reader_reading = _csr(reader, image, usable, r)
        active = np.diff(image_ptr) > 0
        skipped = [f"image {items.ids[i]!r}: no scorable reading" for i in np.flatnonzero(~active)]
        skipped += [f"reading {s}" for s in inner.skipped]
        state = AggregateState(inner, n, r, active, image_ptr, image_reader, image_reading,
                               reader_ptr, reader_image, reader_reading, skipped)
        if self.mode == "same-reader":
            lonely, without = _without_common_reader(state)
            if not (active.sum() - len(lonely) >= 2):
                raise ValueError(
                    f"no two images share a reader, so {option('aggregate', 'same-reader')} can score no pair ({n} images, {r} readers): "
                    f"pass {option('aggregate', 'all-pairs')} to compare readings of different readers"
                )
            state.skipped += [f"image {items.ids[i]!r}: shares no reader with any other image (no score under same-reader)" for i in lonely]
            self._summary = {"image_pairs_without_common_reader": int(without), "images_without_common_reader": len(lonely)}
            per_reader = np.diff(reader_ptr).astype(np.float64)
            self._pairs_per_row = float((per_reader * per_reader).sum() / max(1, 2 * n))
        else:
            readings = float(len(usable))
            self._pairs_per_row = readings * readings / max(1, 2 * n)
        return state

    # ------------------------------------------------------------------ tiles
    def tile_rows_hint(self, n: int) -> int:
        return int(max(1, min(n, TILE_READING_PAIRS // max(1.0, self._pairs_per_row))))

    def tile_work(self, state: AggregateState, start: int, end: int) -> int:
        if self.symmetric:
            return int(_core.mining_tile_pairs(state.n, start, end))
        return (end - start) * max(0, state.n - 1)

    def _tile_reading_pairs(self, state: AggregateState, start: int, end: int):
        """(image a, image b, reading of a, reading of b) of every reading pair owned by rows start..end.

        The owner of an unordered image pair is its smaller image (symmetric schemes); a directed
        scheme pairs each row with every other image.
        """
        parts = []
        if self.mode == "same-reader":
            for r in range(state.n_readers):
                lo, hi = state.reader_ptr[r], state.reader_ptr[r + 1]
                images, readings = state.reader_image[lo:hi], state.reader_reading[lo:hi]
                p0, p1 = np.searchsorted(images, [start, end])
                if p0 == p1:
                    continue
                rows = np.arange(p0, p1, dtype=np.int64)
                if self.symmetric:
                    owner, q = _ranges(rows + 1, np.full(len(rows), len(images), np.int64))
                else:
                    owner, q = _ranges(np.zeros(len(rows), np.int64), np.full(len(rows), len(images), np.int64))
                p = rows[owner]
                keep = p != q
                p, q = p[keep], q[keep]
                parts.append((images[p], images[q], readings[p], readings[q]))
        else:
            total = int(state.image_ptr[-1])
            pos_image = np.repeat(np.arange(state.n, dtype=np.int64), np.diff(state.image_ptr))
            rows = np.arange(state.image_ptr[start], state.image_ptr[end], dtype=np.int64)
            first = state.image_ptr[pos_image[rows] + 1] if self.symmetric else np.zeros(len(rows), np.int64)
            owner, q = _ranges(first, np.full(len(rows), total, np.int64))
            p = rows[owner]
            keep = pos_image[p] != pos_image[q]
            p, q = p[keep], q[keep]
            parts.append((pos_image[p], pos_image[q], state.image_reading[p], state.image_reading[q]))
        if not parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, empty
        return tuple(np.concatenate([part[c] for part in parts]) for c in range(4))

    def _means(self, state, pair_of: np.ndarray, ri: np.ndarray, rj: np.ndarray, n_pairs: int, threads):
        """Mean reading-pair score per pair index (NaN where none), and how many pairs only scored NaN."""
        scores = np.asarray(self.inner.score_pairs(state.inner, ri, rj, threads), dtype=np.float64)
        finite = np.isfinite(scores)
        total = np.bincount(pair_of[finite], weights=scores[finite], minlength=n_pairs)
        count = np.bincount(pair_of[finite], minlength=n_pairs)
        tried = np.bincount(pair_of, minlength=n_pairs)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return mean, int(((tried > 0) & (count == 0)).sum())

    def tile(self, state: AggregateState, start: int, end: int, select: tuple[str, float], threads: int | None = None) -> TileResult:
        a, b, ri, rj = self._tile_reading_pairs(state, start, end)
        key = a * state.n + b
        pairs, pair_of = np.unique(key, return_inverse=True)
        mean, nan_pairs = self._means(state, pair_of.reshape(-1), ri, rj, len(pairs), threads)
        scored = np.isfinite(mean)
        pa, pb, s = pairs[scored] // state.n, pairs[scored] % state.n, mean[scored]
        kind, value = select
        if kind == "above":
            hit = s > float(value)
            return TileResult(pa[hit], pb[hit], s[hit], int(scored.sum()), nan_pairs)
        if self.symmetric:
            pa, pb, s = np.concatenate([pa, pb]), np.concatenate([pb, pa]), np.concatenate([s, s])
        row, col, score = _core.mining_merge_topk(state.n, int(value), pa, pb, s, threads=threads)
        return TileResult(row, col, score, int(scored.sum()), nan_pairs)

    # ------------------------------------------------------------------ explicit pairs
    def score_pairs(self, state: AggregateState, i: np.ndarray, j: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Aggregated scores of explicit image pairs; NaN for a pair with no common reader (same-reader)."""
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        if self.symmetric:  # score (min, max), in the order a tile does
            i, j = np.minimum(i, j), np.maximum(i, j)
        counts = np.diff(state.image_ptr)
        if self.mode == "same-reader":
            keys = np.repeat(np.arange(state.n, dtype=np.int64), counts) * state.n_readers + state.image_reader
            owners, ris, rjs = [], [], []
            for slot in range(int(counts.max(initial=0))):
                has = np.flatnonzero(counts[i] > slot)
                at = state.image_ptr[i[has]] + slot
                want = j[has] * state.n_readers + state.image_reader[at]
                pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
                found = keys[pos] == want if len(keys) else np.zeros(len(want), bool)
                owners.append(has[found])
                ris.append(state.image_reading[at[found]])
                rjs.append(state.image_reading[pos[found]])
            # Slots follow reader order, so each pair's terms are added in reader order, as in a tile.
            owner, ri, rj = (np.concatenate(c) if c else np.zeros(0, np.int64) for c in (owners, ris, rjs))
        else:
            cj = counts[j]
            owner, u = _ranges(np.zeros(len(i), np.int64), counts[i] * cj)
            ri = state.image_reading[state.image_ptr[i[owner]] + u // np.maximum(cj[owner], 1)]
            rj = state.image_reading[state.image_ptr[j[owner]] + u % np.maximum(cj[owner], 1)]
        mean, _ = self._means(state, owner, ri, rj, len(i), threads)
        return mean


def _without_common_reader(state: AggregateState) -> tuple[np.ndarray, int]:
    """(active images that share no reader with another image, unordered image pairs with no common reader).

    Images are grouped by their set of readers; two groups share a reader iff their reader sets
    intersect, so the count needs groups x groups set tests, never images x images.
    """
    sets: dict[tuple[int, ...], list[int]] = {}
    for img in np.flatnonzero(state.active):
        sets.setdefault(tuple(state.image_reader[state.image_ptr[img]:state.image_ptr[img + 1]].tolist()), []).append(int(img))
    groups = list(sets)
    size = np.array([len(sets[g]) for g in groups], dtype=np.int64)
    incidence = np.zeros((len(groups), state.n_readers), dtype=np.float32)
    for g, readers in enumerate(groups):
        incidence[g, list(readers)] = 1.0
    sharing = 0
    partners = np.zeros(len(groups), dtype=np.int64)  # other images sharing a reader, per group
    for lo in range(0, len(groups), 1024):
        hit = (incidence[lo:lo + 1024] @ incidence.T) > 0  # (block, groups)
        partners[lo:lo + 1024] = hit.astype(np.int64) @ size - 1
        sharing += int((hit.astype(np.int64) @ size * size[lo:lo + 1024]).sum())
    sharing = (sharing - int(size.sum())) // 2  # ordered pairs incl. self -> unordered distinct pairs
    m = int(size.sum())
    lonely = [img for g, key in enumerate(groups) if partners[g] == 0 for img in sets[key]]
    return np.asarray(sorted(lonely), dtype=np.int64), m * (m - 1) // 2 - sharing

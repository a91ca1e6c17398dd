"""`prepare_cache`: decode every image of a manifest once into a memory-mapped S x S array.

Geometry: every image is resized (area interpolation, not cropped) to S x S, and its original
height and width are kept in the index. Crop boxes are drawn in the original's geometry as
fractions (see `augment`), so what the network sees has the original aspect ratio; the long side
is stored at S / long-side resolution. S x S (not "short side S") keeps one dense array, so a
batch is one fancy-index of the memory map and one tensor on the GPU.

Layout of a cache folder:

- ``images.npy``: (N, S, S) uint8, or uint16 when any source is deeper than 8 bits (a ``.npy``
  file opened with ``mmap_mode="r"``). Values are `read_image`'s [0, 1] scaled to the dtype.
- ``index.parquet``: one row per manifest row, in manifest order: id (as the manifest spells it,
  "001" stays "001"), path, height, width, file size, mtime_ns, sha256 of the file, status
  (ok / missing / unreadable) and the error.
- ``meta.json``: size, dtype, the manifest hash (ordered ids and paths) and ``complete``.
- ``progress.jsonl`` (while running): one line per finished image, written after its pixels
  are flushed, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from mcgip_fast.train.data import DICOM_SUFFIXES, ImageCheckReport, ImageReadError, read_image, read_manifest

__all__ = ["prepare_cache", "ImageCache", "CacheMismatchError", "PrepareResult", "CACHE_FORMAT", "default_cache_size"]

CACHE_FORMAT = 1


class CacheMismatchError(ValueError):
    """The cache was made from another manifest, or an image changed since."""


def default_cache_size(image_size: int) -> int:
    """8/7 of the network's input side (256 for 224): the usual resize-then-crop margin."""
    return int(round(image_size * 8 / 7))


def manifest_hash(manifest: pd.DataFrame) -> str:
    """sha256 of the ordered (id, path) rows."""
    h = hashlib.sha256()
    for i, p in zip(manifest["id"], manifest["path"]):
        h.update(f"{i}\t{p}\n".encode())
    return h.hexdigest()


def _is_deep(path: str) -> bool:
    """More than 8 bits per sample, from the header only (False if unreadable: decoding reports it)."""
    try:
        if Path(path).suffix.lower() in DICOM_SUFFIXES:
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return int(getattr(ds, "BitsStored", 8)) > 8
        from PIL import Image

        with Image.open(path) as im:
            return im.mode.startswith("I") or im.mode == "F"
    except Exception:
        return False


def _prepare_one(task: tuple[int, str, int, int]) -> dict:
    """Worker: hash, decode and resize one image. Never raises: failures come back as a status."""
    row, path, size, maxval = task
    out = {"row": row, "path": path, "height": 0, "width": 0, "file_size": 0, "mtime_ns": 0, "sha256": "", "error": ""}
    p = Path(path)
    if not p.is_file():
        return {**out, "status": "missing", "error": "image file not found"}
    st = p.stat()
    out.update(file_size=st.st_size, mtime_ns=st.st_mtime_ns)
    try:
        out["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
        a = read_image(p)
    except (ImageReadError, OSError) as e:
        return {**out, "status": "unreadable", "error": str(e)}
    import cv2

    out.update(height=a.shape[0], width=a.shape[1], status="ok")
    small = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
    out["pixels"] = np.clip(np.rint(small * maxval), 0, maxval)
    return out


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one decode per process; the pool is the parallelism


@dataclass
class PrepareResult:
    cache: "ImageCache"
    report: ImageCheckReport
    n_done_before: int
    n_decoded: int


def prepare_cache(manifest: str | Path | pd.DataFrame, out: str | Path, size: int = 256, *, dtype: str = "auto",
                  workers: int | None = None, on_bad_image: str = "error", progress: bool = True,
                  overwrite: bool = False, on_image=None) -> PrepareResult:
    """Decode, resize to size x size and store every manifest image (see the module doc).

    Resumable: a killed run continues with the images not yet written, as long as the manifest,
    size and dtype are unchanged (otherwise `CacheMismatchError`, unless `overwrite`). Missing or
    undecodable images are recorded in the index; with on_bad_image="error" (default) the run then
    raises `ImageReadError` listing them, as `train` does; "skip" keeps them out and reports them.
    `on_image(n_done)` is called after each stored image (tests use it to kill a run).
    """
    if on_bad_image not in ("error", "skip"):
        raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
    if size < 8:
        raise ValueError(f"cache size must be at least 8 pixels, got {size}")
    if dtype not in ("auto", "uint8", "uint16"):
        raise ValueError(f"dtype must be auto, uint8 or uint16, got {dtype!r}")
    df = manifest.copy() if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    out = Path(out)
    m_hash = manifest_hash(df)
    meta_path, progress_path, images_path = out / "meta.json", out / "progress.jsonl", out / "images.npy"
    if overwrite and out.exists():
        for name in ("meta.json", "progress.jsonl", "images.npy", "index.parquet"):
            (out / name).unlink(missing_ok=True)
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("manifest_hash") != m_hash:
            raise CacheMismatchError(f"{out} was prepared from another manifest (its ids or paths differ); "
                                     "choose a new --out, or pass --overwrite to rebuild it")
        if meta["size"] != size or (dtype != "auto" and meta["dtype"] != dtype):
            raise CacheMismatchError(f"{out} holds {meta['size']}x{meta['size']} {meta['dtype']} images, "
                                     f"asked for {size}x{size} {dtype}; choose a new --out or pass --overwrite")
        dtype = meta["dtype"]
    else:
        if dtype == "auto":
            dtype = "uint16" if any(_is_deep(p) for p in df["path"]) else "uint8"
        out.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(images_path, mode="w+", dtype=dtype, shape=(len(df), size, size)).flush()
        meta = {"format": CACHE_FORMAT, "size": size, "dtype": dtype, "n": len(df), "manifest_hash": m_hash,
                "geometry": "each image resized to size x size (area interpolation); original height/width in the index",
                "complete": False}
        meta_path.write_text(json.dumps(meta, indent=2))
    done = _read_progress(progress_path)
    todo = [k for k in range(len(df)) if k not in done]
    maxval = 255 if dtype == "uint8" else 65535
    images = np.load(images_path, mmap_mode="r+")
    tasks = [(k, df["path"].iat[k], size, maxval) for k in todo]
    n_before = len(done)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(df), initial=n_before, desc="prepare", unit="img")
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    pending: list[dict] = []

    def commit() -> None:  # pixels reach the file before the progress lines that vouch for them
        images.flush()
        with open(progress_path, "a") as f:
            for r in pending:
                f.write(json.dumps(r) + "\n")
        pending.clear()

    def store(r: dict) -> None:
        px = r.pop("pixels", None)
        if px is not None:
            images[r["row"]] = px.astype(dtype)
        done[r["row"]] = r
        pending.append(r)
        if bar is not None:
            bar.update(1)
        if len(pending) >= 32:
            commit()
        if on_image is not None:
            on_image(len(done))

    try:
        if workers == 1:
            for t in tasks:
                store(_prepare_one(t))
        else:
            import multiprocessing as mp

            # spawn, not fork: forking a process whose threads (torch, OpenMP, BLAS) hold locks can
            # deadlock the child; it hung `mcgip prepare` inside the full test suite
            with mp.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
                for r in pool.imap_unordered(_prepare_one, tasks, chunksize=1):
                    store(r)
    finally:
        commit()
        if bar is not None:
            bar.close()
        del images
    _write_index(df, done, out)
    meta["complete"] = True
    meta_path.write_text(json.dumps(meta, indent=2))
    progress_path.unlink(missing_ok=True)
    cache = ImageCache(out)
    report = cache.report()
    if report.n_skipped and on_bad_image == "error":
        raise ImageReadError(f"{report.summary()}; the cache records them: fix the manifest, or pass --on-bad-image skip "
                             f"to keep them out ({out})")
    return PrepareResult(cache, report, n_before, len(tasks))


def _read_progress(path: Path) -> dict[int, dict]:
    done: dict[int, dict] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill: that image is done again
            continue
        done[int(r["row"])] = r
    return done


def _write_index(df: pd.DataFrame, done: dict[int, dict], out: Path) -> pd.DataFrame:
    rows = [done[k] for k in range(len(df))]
    index = pd.DataFrame({
        "id": df["id"].astype(str).to_numpy(), "path": df["path"].to_numpy(),
        **{c: [r[c] for r in rows] for c in ("height", "width", "file_size", "mtime_ns", "sha256", "status", "error")},
    })
    tmp = out / "index.parquet.tmp"
    index.to_parquet(tmp, index=False)
    tmp.replace(out / "index.parquet")
    return index


class ImageCache:
    """A prepared cache, opened read-only (memory-mapped; cheap to pickle into DataLoader workers)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.path}: not an image cache (no meta.json); make one with `mcgip prepare`")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"{self.path}: cache format {self.meta.get('format')}, this version reads {CACHE_FORMAT}")
        if not self.meta.get("complete"):
            raise ValueError(f"{self.path}: the cache is incomplete (its `mcgip prepare` was stopped); run it again to finish")
        self.size, self.dtype = int(self.meta["size"]), np.dtype(self.meta["dtype"])
        self.maxval = float(np.iinfo(self.dtype).max)
        self.index = pd.read_parquet(self.path / "index.parquet")
        self.index["id"] = self.index["id"].astype(str)
        self._shapes = self.index[["height", "width"]].to_numpy()
        self._images = None

    @property
    def images(self) -> np.ndarray:
        if self._images is None:  # opened lazily, so each worker process maps it itself
            self._images = np.load(self.path / "images.npy", mmap_mode="r")
        return self._images

    def __getstate__(self):
        return {**self.__dict__, "_images": None}

    def __len__(self) -> int:
        return len(self.index)

    def report(self, rows: Iterable[int] | None = None) -> ImageCheckReport:
        idx = self.index if rows is None else self.index.iloc[list(rows)]
        rep = ImageCheckReport(n_checked=len(idx))
        for i, p, s, e in zip(idx["id"], idx["path"], idx["status"], idx["error"]):
            if s == "missing":
                rep.missing.append(f"{i}: {p}")
            elif s == "unreadable":
                rep.unreadable.append(f"{i}: {p} ({e})")
        return rep

    def rows_for(self, manifest: pd.DataFrame) -> np.ndarray:
        """Cache row of each manifest row, after checking the manifest matches the cache: every
        id present with the same path, and each file's size and mtime unchanged (a stat, not a
        re-read; `verify` re-hashes the contents). Raises `CacheMismatchError` naming the ids."""
        pos = pd.Series(np.arange(len(self.index)), index=self.index["id"].to_numpy())
        ids = manifest["id"].astype(str)
        missing = ids[~ids.isin(pos.index)]
        if len(missing):
            raise CacheMismatchError(
                f"{self.path}: {len(missing)} of {len(ids)} manifest ids are not in the cache (e.g. "
                f"{', '.join(repr(m) for m in missing[:3])}); the manifest changed since `mcgip prepare`: run it again with a new --out")
        rows = pos.loc[ids.to_numpy()].to_numpy()
        rec = self.index.iloc[rows]
        changed = []
        for i, p_now, p_rec, size, mtime, status in zip(ids, manifest["path"], rec["path"], rec["file_size"], rec["mtime_ns"], rec["status"]):
            if p_now != p_rec:
                changed.append(f"{i!r} (path {p_rec} -> {p_now})")
                continue
            try:
                st = os.stat(p_now)
            except OSError:
                if status == "missing":
                    continue  # missing then and now: reported as a bad image
                changed.append(f"{i!r} (file gone: {p_now})")
                continue
            if status == "ok" and (st.st_size != size or st.st_mtime_ns != mtime):
                changed.append(f"{i!r} ({p_now} changed since it was cached)")
            elif status == "missing":
                changed.append(f"{i!r} ({p_now} appeared since the cache was made)")
        if changed:
            raise CacheMismatchError(f"{self.path}: {len(changed)} images differ from the cache: {', '.join(changed[:3])}; "
                                     "run `mcgip prepare` again with a new --out")
        return rows

    def verify(self, rows: Iterable[int] | None = None) -> list[str]:
        """Ids whose file content no longer has the recorded sha256 (reads every file)."""
        idx = self.index if rows is None else self.index.iloc[list(rows)]
        bad = []
        for i, p, sha, s in zip(idx["id"], idx["path"], idx["sha256"], idx["status"]):
            if s == "ok" and (not Path(p).is_file() or hashlib.sha256(Path(p).read_bytes()).hexdigest() != sha):
                bad.append(i)
        return bad

    def shapes(self, rows: np.ndarray) -> np.ndarray:
        """Original (height, width) of each row."""
        return self._shapes[rows]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), S, S) in the cache dtype (one fancy-index of the memory map, rows sorted for locality)."""
        rows = np.asarray(rows)
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.size, self.size), dtype=self.dtype)
        out[order] = self.images[rows[order]]
        return out

"""The resumable work directory: a manifest plus one file per finished tile.

Layout::

    DIR/manifest.json        what run this is: scheme, rule, tiling, archive ids and content hash
    DIR/tiles/tile-000042.npz one finished tile: candidate edges (row, col, score), counters, checksum

Every file is written atomically (temporary file, fsync, rename, fsync of the directory), so a
run killed at any moment, SIGKILL included, leaves only complete tiles behind. `--resume` checks
that the manifest describes the same run, validates each tile file and skips finished tiles.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .pairs import npz_bytes
from .schemes import TileResult

WORKDIR_VERSION = 1


class WorkdirMismatchError(ValueError):
    """The work directory belongs to a different run."""


class CorruptTileError(ValueError):
    """A tile file in the work directory is unreadable or fails its checksum."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes so that `path` is either absent or complete, whatever happens to the process."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _checksum(row: np.ndarray, col: np.ndarray, score: np.ndarray, counts: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (row, col, score, counts):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Workdir:
    """A work directory for one mining run (see module docs)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tiles = self.path / "tiles"
        self.manifest_path = self.path / "manifest.json"

    def tile_path(self, tile_id: int) -> Path:
        return self.tiles / f"tile-{tile_id:06d}.npz"

    # ------------------------------------------------------------------ manifest
    def start(self, manifest: dict[str, Any], resume: bool) -> None:
        """Create the directory for a new run, or check that it holds this run when resuming.

        A fresh run refuses a directory that already holds a manifest (pass resume to continue it).
        """
        manifest = {"workdir_version": WORKDIR_VERSION, **manifest}
        if self.manifest_path.exists():
            try:
                old = json.loads(self.manifest_path.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise WorkdirMismatchError(f"{self.manifest_path}: unreadable manifest ({e})") from e
            if not resume:
                raise WorkdirMismatchError(
                    f"{self.path} already holds a mining run; pass --resume (resume=True) to continue it, "
                    "or choose an empty work directory"
                )
            if old != manifest:
                diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
                raise WorkdirMismatchError(
                    f"{self.path}: work directory from a different run (differs in: {', '.join(diff)}); "
                    "use another --workdir or delete this one"
                )
        else:
            if self.path.exists() and any(p.name != "tiles" for p in self.path.iterdir()):
                raise WorkdirMismatchError(f"{self.path} is not empty and holds no mining manifest; choose an empty work directory")
            self.tiles.mkdir(parents=True, exist_ok=True)
            write_atomic(self.manifest_path, json.dumps(manifest, sort_keys=True, indent=1).encode())
        self.tiles.mkdir(parents=True, exist_ok=True)
        # A run killed while writing leaves a hidden temporary file: never a tile, safe to remove.
        for leftover in self.tiles.glob(".tile-*.tmp*"):
            leftover.unlink(missing_ok=True)

    # ------------------------------------------------------------------ tiles
    def write_tile(self, tile_id: int, start: int, end: int, result: TileResult) -> None:
        counts = np.array([start, end, result.scored_pairs, result.nan_pairs], dtype=np.int64)
        row = np.ascontiguousarray(result.row, dtype=np.int64)
        col = np.ascontiguousarray(result.col, dtype=np.int64)
        score = np.ascontiguousarray(result.score, dtype=np.float64)
        checksum = np.frombuffer(_checksum(row, col, score, counts).encode(), dtype=np.uint8)
        data = npz_bytes({"row": row, "col": col, "score": score, "counts": counts, "checksum": checksum})
        write_atomic(self.tile_path(tile_id), data)

    def has_tile(self, tile_id: int) -> bool:
        return self.tile_path(tile_id).exists()

    def read_tile(self, tile_id: int, start: int, end: int) -> TileResult:
        """Read and validate a finished tile; a damaged file raises `CorruptTileError` naming it."""
        path = self.tile_path(tile_id)
        try:
            with np.load(path, allow_pickle=False) as z:
                row, col, score, counts = z["row"], z["col"], z["score"], z["counts"]
                checksum = z["checksum"].tobytes().decode()
        except Exception as e:  # any unreadable file is corrupt, whatever numpy/zipfile raised
            raise CorruptTileError(f"{path}: corrupt tile file ({type(e).__name__}: {e}); delete it and resume to recompute it") from e
        if checksum != _checksum(row, col, score, counts):
            raise CorruptTileError(f"{path}: corrupt tile file (checksum mismatch); delete it and resume to recompute it")
        if counts.shape != (4,) or counts[0] != start or counts[1] != end:
            raise CorruptTileError(f"{path}: tile file is for rows {counts[:2].tolist()}, expected [{start}, {end}]")
        return TileResult(row, col, score, int(counts[2]), int(counts[3]))

    def finished(self, n_tiles: int) -> list[int]:
        return [t for t in range(n_tiles) if self.has_tile(t)]

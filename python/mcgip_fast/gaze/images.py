"""Gaze maps stored as images (PNG or JPEG, one file per image id), as McGIP distributed them."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

#: Suffixes `load_heatmap_images` looks for, in this order, when given a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read_one(path: Path) -> np.ndarray:
    """One map as float in [0, 1] (8-bit / 255, 16-bit / 65535; float images as stored)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(img, dtype=np.float32) / 65535.0
            if mode in ("I", "F"):
                return np.asarray(img, dtype=np.float32)
            # Colour maps become luminance; McGIP wrote single-channel JPEGs, for which this is exact.
            return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read as an image ({e.__class__.__name__}: {e})") from None


def _resolve(folder_or_paths: str | Path | Sequence[str | Path], ids: Sequence[str] | None) -> tuple[list[str], list[Path]]:
    if isinstance(folder_or_paths, (str, Path)):
        folder = Path(folder_or_paths)
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder (pass a folder or a list of image files)")
        if ids is None:
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not paths:
                raise ValueError(f"{folder}: no {'/'.join(IMAGE_SUFFIXES)} files")
            return [p.stem for p in paths], paths
        paths = []
        for i in ids:
            hits = [folder / f"{i}{s}" for s in IMAGE_SUFFIXES if (folder / f"{i}{s}").is_file()]
            if not hits:
                raise ValueError(f"{folder}: no image for id {i!r} (looked for {', '.join(str(i) + s for s in IMAGE_SUFFIXES)})")
            paths.append(hits[0])
        return [str(i) for i in ids], paths
    paths = [Path(p) for p in folder_or_paths]
    if ids is None:
        ids = [p.stem for p in paths]
    elif len(ids) != len(paths):
        raise ValueError(f"{len(ids)} ids for {len(paths)} image files")
    return [str(i) for i in ids], paths


def load_heatmap_images(
    folder_or_paths: str | Path | Sequence[str | Path], ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Load gaze maps stored as images.

    Args:
        folder_or_paths: a folder (every .png/.jpg/.jpeg in it, sorted by name, or the files named
            ``<id>.<suffix>`` for the given ids) or a list of files.
        ids: the image id of each map. Default: file stems.

    Returns:
        (ids, maps): maps is (N, H, W) float32 in [0, 1] for 8- and 16-bit images (colour images
        are converted to luminance).

    Raises:
        ValueError: naming the file, when one is missing, unreadable, or not the size of the first.
    """
    ids, paths = _resolve(folder_or_paths, ids)
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"duplicate image id {dup!r} among the heatmap images")
    maps = None
    for k, p in enumerate(paths):
        if not p.is_file():
            raise ValueError(f"{p}: no such file")
        arr = _read_one(p)
        if maps is None:
            maps = np.empty((len(paths),) + arr.shape, dtype=np.float32)
        elif arr.shape != maps.shape[1:]:
            raise ValueError(
                f"{p}: size {arr.shape[1]}x{arr.shape[0]} differs from {paths[0].name}'s "
                f"{maps.shape[2]}x{maps.shape[1]}; all heatmaps must have one size"
            )
        maps[k] = arr
    if maps is None:
        return [], np.zeros((0, 0, 0), dtype=np.float32)
    return ids, maps


def save_heatmap_images(
    maps: np.ndarray, ids: Sequence[str], folder: str | Path, suffix: str = ".png"
) -> list[Path]:
    """Write each (H, W) map as an 8-bit grayscale image ``<folder>/<id><suffix>``.

    Values are scaled by 255 / max of each map (so a max-normalised map round-trips to within
    1/255 through `load_heatmap_images`). Returns the written paths.
    """
    from PIL import Image

    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (N, H, W), got shape {maps.shape}")
    if len(ids) != len(maps):
        raise ValueError(f"{len(ids)} ids for {len(maps)} maps")
    if suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"suffix must be one of {IMAGE_SUFFIXES}, got {suffix!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, m in zip(ids, maps):
        peak = float(np.max(m)) if m.size else 0.0
        img = np.zeros(m.shape, np.uint8) if peak <= 0 else np.clip(np.rint(m * (255.0 / peak)), 0, 255).astype(np.uint8)
        path = folder / f"{i}{suffix}"
        Image.fromarray(img).save(path)
        out.append(path)
    return out

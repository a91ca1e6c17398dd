"""Image manifests, image reading, alignment with the pairs graph, the two-view dataset and
the rank-aware batch sampler."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from mcgip_fast.train.augment import GreyAugment, centre_box, crop_pixels, crop_resize, eval_transform, sample_seed

__all__ = [
    "ImageReadError", "ImageCheckReport", "read_manifest", "align_to_pairs", "check_images", "read_image",
    "FileImages", "CachedImages", "ImageDataset", "EvalImageDataset", "GlobalBatchSampler", "keep_batch", "to_views",
]

ID_COLUMNS = ("id", "image_id")
DICOM_SUFFIXES = (".dcm", ".dicom")


class ImageReadError(ValueError):
    """An image is missing or cannot be decoded."""


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet manifest into columns id (str), path (absolute), and label/split if present."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".tab") else ",", dtype={"id": str, "image_id": str})
    except Exception as e:
        raise ValueError(f"{path}: cannot read manifest ({e})") from e
    id_col = next((c for c in ID_COLUMNS if c in df.columns), None)
    if id_col is None or "path" not in df.columns:
        raise ValueError(f"{path}: manifest needs an id (or image_id) column and a path column, has {list(df.columns)}")
    df = df.rename(columns={id_col: "id"})
    df["id"] = df["id"].astype(str)
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise ValueError(f"{path}: {len(dup)} duplicate image ids in the manifest (e.g. {dup.iloc[0]!r})")
    if len(df) == 0:
        raise ValueError(f"{path}: manifest has no images")
    base = path.resolve().parent
    df["path"] = [str(p if Path(p).is_absolute() else base / p) for p in df["path"].astype(str)]
    return df.reset_index(drop=True)


def align_to_pairs(manifest: pd.DataFrame, pairs, archive_hash: str | None = None) -> pd.DataFrame:
    """Reorder manifest rows so row k is the image of pairs item k; extra manifest images follow.

    Raises `PairsMismatchError` if a pairs id is not in the manifest (the pairs were mined for
    another archive or the manifest is incomplete) or the archive hashes differ.
    """
    from mcgip_fast.mining.pairs import PairsMismatchError

    if archive_hash is not None and pairs.archive_hash is not None and archive_hash != pairs.archive_hash:
        raise PairsMismatchError(
            f"pairs file was made for another archive: it records hash {pairs.archive_hash}, expected {archive_hash}"
        )
    pos = pd.Series(np.arange(len(manifest)), index=manifest["id"].to_numpy())
    pair_ids = pd.Index([str(i) for i in pairs.ids])
    missing = pair_ids[~pair_ids.isin(pos.index)]
    if len(missing):
        hint = " — the pairs file was probably made for another archive" if len(missing) > len(pair_ids) // 2 else ""
        raise PairsMismatchError(
            f"{len(missing)} of {len(pair_ids)} image ids in the pairs file are not in the manifest "
            f"(e.g. {', '.join(repr(m) for m in missing[:3])}){hint}"
        )
    order = pos.loc[pair_ids].to_numpy()
    rest = np.setdiff1d(np.arange(len(manifest)), order)
    return manifest.iloc[np.concatenate([order, rest])].reset_index(drop=True)


def read_image(path: str | Path) -> np.ndarray:
    """Read one image as a float32 (H, W) array in [0, 1]: PNG, JPEG, (16-bit) TIFF, DICOM.

    8-bit images are divided by 255, 16-bit by 65535, other depths and DICOM are min-max scaled.
    Colour images are converted to grey. DICOM needs the optional pydicom package.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: image file not found")
    if path.suffix.lower() in DICOM_SUFFIXES:
        try:
            import pydicom
        except ImportError as e:
            raise ImageReadError(f"{path}: reading DICOM needs pydicom (pip install 'mcgip_fast[dicom]')") from e
        try:
            ds = pydicom.dcmread(path)
            a = ds.pixel_array.astype(np.float32)
            a = a * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
            if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
                a = a.max() - a
        except Exception as e:
            raise ImageReadError(f"{path}: cannot decode DICOM ({e})") from e
        return _minmax(a if a.ndim == 2 else a.mean(axis=-1))
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGB", "RGBA", "P", "CMYK", "LA", "1", "YCbCr"):
                im = im.convert("L")
            a = np.asarray(im)
    except Exception as e:
        raise ImageReadError(f"{path}: cannot decode image ({e})") from e
    if a.ndim == 3:
        a = a.mean(axis=-1)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype in (np.uint16, np.dtype(">u2"), np.dtype("<u2")):
        return a.astype(np.float32) / 65535.0
    return _minmax(a.astype(np.float32))


def _minmax(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


@dataclass
class ImageCheckReport:
    """Images that were missing or undecodable; with on_bad="skip" they were dropped."""

    n_checked: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.missing) + len(self.unreadable)

    def summary(self) -> str:
        return (f"checked {self.n_checked} images: {len(self.missing)} missing, {len(self.unreadable)} unreadable"
                + (f" (e.g. {(self.missing + self.unreadable)[:3]})" if self.n_skipped else ""))


def _readable(path: str, full: bool) -> bool:
    """Header check (cheap), or a full decode when `full`."""
    if full:
        try:
            read_image(path)
            return True
        except ImageReadError:
            return False
    try:
        if Path(path).suffix.lower() in DICOM_SUFFIXES:
            import pydicom

            pydicom.dcmread(path, stop_before_pixels=True)
        else:
            from PIL import Image

            with Image.open(path) as im:  # reads the header only
                im.size
        return True
    except Exception:
        return False


def check_images(manifest: pd.DataFrame, on_bad: str = "error") -> tuple[pd.DataFrame, ImageCheckReport]:
    """Check every image exists and is readable. 'error' raises (after a header check; a file that
    fails to decode later stops training with its id and path), 'skip' fully decodes each image
    once and drops the bad ones."""
    report = ImageCheckReport(n_checked=len(manifest))
    keep = np.ones(len(manifest), dtype=bool)
    for k, (i, p) in enumerate(zip(manifest["id"], manifest["path"])):
        if not Path(p).is_file():
            report.missing.append(f"{i}: {p}")
            keep[k] = False
        elif not _readable(p, full=on_bad == "skip"):
            report.unreadable.append(f"{i}: {p}")
            keep[k] = False
    if report.n_skipped and on_bad == "error":
        raise ImageReadError(f"{report.summary()}; fix the manifest or pass on_bad_image='skip' (--on-bad-image skip)")
    return manifest[keep].reset_index(drop=True), report


def _to_tensor(a: np.ndarray, in_channels: int) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None]
    return t.expand(in_channels, -1, -1) if in_channels > 1 else t


class FileImages:
    """Images decoded from their files at full size on every access (no cache)."""

    def __init__(self, paths: Sequence[str], ids: Sequence[str] | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.ids = [str(i) for i in ids] if ids is not None else [str(k) for k in range(len(self.paths))]

    def __len__(self) -> int:
        return len(self.paths)

    def decode(self, k: int) -> np.ndarray:
        try:
            return read_image(self.paths[k])
        except ImageReadError as e:
            raise ImageReadError(f"image {self.ids[k]!r}: {e}") from None


class CachedImages:
    """Rows of an `ImageCache` (see `mcgip prepare`): S x S arrays plus each original's shape."""

    def __init__(self, cache, rows: Sequence[int], ids: Sequence[str] | None = None) -> None:
        self.cache, self.rows = cache, np.asarray(rows, dtype=np.int64)
        self.ids = [str(i) for i in ids] if ids is not None else cache.index["id"].iloc[self.rows].tolist()

    def __len__(self) -> int:
        return len(self.rows)


class ImageDataset(Dataset):
    """Two augmented views of each image, and its index (the row in the pairs graph). One
    interface for both image sources; the expensive half of the augmentation runs on the device.

    Each item (or batch, via `__getitems__`) is a dict: ``params`` (B, 2, P), one parameter vector
    per view drawn from ``sample_seed(seed, epoch, position, view)``; ``index``; and either
    ``images`` (B, 1, S, S) uint8/uint16 whole cached images (`CachedImages`: crop on the device),
    or ``views`` (B, 2, 1, size, size) float32 crops cut from the full-size file (`FileImages`).
    `to_views` finishes the augmentation on the training device.

    Args:
        source: `FileImages` / `CachedImages`, or a list of image paths.
        image_size: output side.
        in_channels: grey is repeated when >1 (on the device).
        seed: run seed; with `set_epoch`, fixes every view.
        augment: the augmentation pipeline (default `GreyAugment(image_size)`).
        ids: image ids, for error messages (with a list of paths).
        graph_index: index returned with each image (default: its position).
    """

    def __init__(self, source, image_size: int, in_channels: int = 1, seed: int = 0,
                 augment: GreyAugment | None = None, ids: Sequence[str] | None = None,
                 graph_index: Sequence[int] | None = None) -> None:
        self.source = source if isinstance(source, (FileImages, CachedImages)) else FileImages(source, ids)
        self.in_channels = in_channels
        self.augment = augment or GreyAugment(image_size)
        self.seed = seed
        self.epoch = 0
        self.graph_index = np.arange(len(self.source)) if graph_index is None else np.asarray(graph_index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def _params(self, k: int, height: int, width: int) -> torch.Tensor:
        return torch.stack([
            self.augment.draw(torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, k, v)), height, width)
            for v in (0, 1)])

    def __getitems__(self, positions: Sequence[int]) -> dict:
        positions = [int(k) for k in positions]
        batch = {"index": torch.as_tensor(self.graph_index[positions], dtype=torch.long)}
        if isinstance(self.source, CachedImages):
            rows = self.source.rows[positions]
            shapes = self.source.cache.shapes(rows)
            batch["params"] = torch.stack([self._params(k, int(h), int(w)) for k, (h, w) in zip(positions, shapes)])
            batch["images"] = torch.from_numpy(self.source.cache.read(rows))[:, None]
            return batch
        params, views = [], []
        for k in positions:
            img = _to_tensor(self.source.decode(k), 1)
            p = self._params(k, img.shape[-2], img.shape[-1])
            params.append(p)
            views.append(torch.stack([crop_pixels(img, p[v], self.augment.size) for v in (0, 1)]))
        batch["params"], batch["views"] = torch.stack(params), torch.stack(views)
        return batch

    def __getitem__(self, k: int) -> dict:
        return {key: v[0] for key, v in self.__getitems__([k]).items()}


def keep_batch(batch):
    """DataLoader collate_fn: `ImageDataset.__getitems__` already returns a collated batch."""
    return batch


def to_views(batch: dict, augment: GreyAugment, device: torch.device, *, in_channels: int = 1,
             non_blocking: bool = False, channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move a batch to `device` and finish its augmentation there: (view1, view2, index)."""
    params = batch["params"]  # apply() moves it after reading which steps are needed on the host
    if "images" in batch:
        raw = batch["images"].to(device, non_blocking=non_blocking)
        x = _unit_float(raw)
        views = [augment.apply(x, params[:, v]) for v in (0, 1)]
    else:
        x = batch["views"].to(device, non_blocking=non_blocking)
        views = [augment.apply(x[:, v], params[:, v]) for v in (0, 1)]
    if in_channels > 1:
        views = [v.expand(-1, in_channels, -1, -1) for v in views]
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    views = [v.contiguous(memory_format=memory_format) for v in views]
    return views[0], views[1], batch["index"].to(device, non_blocking=non_blocking)


def _unit_float(raw: torch.Tensor) -> torch.Tensor:
    """uint8 / uint16 -> float32 in [0, 1]. uint16 goes through an int16 view: torch supports few
    uint16 kernels on every device, while int16 casts exist everywhere."""
    if raw.dtype == torch.uint16:
        x = raw.view(torch.int16).float()
        return torch.where(x < 0, x + 65536.0, x).div_(65535.0)
    return raw.float().div_(float(torch.iinfo(raw.dtype).max))


class EvalImageDataset(Dataset):
    """One deterministic view per image (for feature extraction): the centred square, resized."""

    def __init__(self, source, image_size: int, in_channels: int = 1) -> None:
        self.source = source if isinstance(source, (FileImages, CachedImages)) else FileImages(source)
        self.image_size, self.in_channels = image_size, in_channels

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        if isinstance(self.source, CachedImages):
            row = self.source.rows[index : index + 1]
            h, w = self.source.cache.shapes(row)[0]
            x = torch.from_numpy(self.source.cache.read(row)[:, None].astype(np.float32) / self.source.cache.maxval)
            box = torch.tensor([centre_box(int(h), int(w))], dtype=torch.float32)
            view = crop_resize(x, box, self.image_size)[0]
            return (view.expand(self.in_channels, -1, -1) if self.in_channels > 1 else view).contiguous(), index
        return eval_transform(_to_tensor(self.source.decode(index), self.in_channels), self.image_size), index


class GlobalBatchSampler(Sampler):
    """Seeded per-epoch permutation cut into global batches; each rank takes its slice.

    Global batch t of epoch e is ``perm_e[t*B*W : (t+1)*B*W]`` and rank r gets
    ``[r*B : (r+1)*B]`` of it, so W processes see exactly the images one process with batch B*W
    would see, in the same order. The last incomplete global batch is dropped. `start_step`
    skips batches already trained (resume mid-epoch) without loading them.
    """

    def __init__(self, n: int, batch_size: int, *, world_size: int = 1, rank: int = 0, seed: int = 0) -> None:
        self.n, self.batch_size, self.world_size, self.rank, self.seed = n, batch_size, world_size, rank, seed
        self.global_batch = batch_size * world_size
        if self.global_batch > n:
            raise ValueError(
                f"batch size {batch_size}" + (f" x {world_size} processes" if world_size > 1 else "")
                + f" is larger than the dataset ({n} images)"
            )
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.global_batch

    def __len__(self) -> int:
        return self.steps_per_epoch - self.start_step

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        for t in range(self.start_step, self.steps_per_epoch):
            lo = t * self.global_batch + self.rank * self.batch_size
            yield perm[lo : lo + self.batch_size]

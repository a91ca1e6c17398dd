"""`evaluate_encoder`: probe a saved encoder on a labelled manifest, per label budget and seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["evaluate_encoder", "summarise", "format_summary", "infer_backbone", "load_encoder", "extract_features",
           "label_budget_indices", "split_indices", "PROBES", "METRICS"]

PROBES = ("linear", "knn", "finetune")
METRICS = ("accuracy", "balanced_accuracy", "roc_auc")


def infer_backbone(state: Mapping) -> dict:
    """backbone name, base width, input channels and stem from a ResNet state dict.

    The global pooling has no weights: it is read from the encoder.json written beside a trained
    encoder (see `load_encoder`), else torchvision's average pooling is assumed.
    """
    if "conv1.weight" not in state:
        raise ValueError("not a ResNet backbone state dict (no conv1.weight)")
    w = state["conv1.weight"]
    if "layer1.0.conv3.weight" in state:
        name = "resnet50"
    else:
        name = "resnet18" if "layer1.1.conv1.weight" in state else "resnet10"
    return {"backbone": name, "width": int(w.shape[0]), "in_channels": int(w.shape[1]),
            "stem": "small" if w.shape[-1] == 3 else "imagenet", "pool": "avg"}


def load_encoder(encoder_path: str | Path, backbone: str | None = None, width: int | None = None,
                 in_channels: int | None = None, pool: str | None = None):
    """Build the backbone the state dict describes (explicit arguments must agree) and load it.

    What the weights cannot tell (global pooling; "small" vs "small-pool" stem) is read from the
    encoder.json that `train` writes beside them; `pool` overrides it.
    """
    from mcgip_fast.train.backbones import build_backbone
    from mcgip_fast.train.checkpoint import load_encoder_state

    state = load_encoder_state(encoder_path)
    found = infer_backbone(state)
    meta = Path(encoder_path).with_suffix(".json")
    if meta.is_file():
        recorded = json.loads(meta.read_text())
        found["pool"] = recorded.get("pool", "avg")
        if found["stem"] == "small" and recorded.get("stem") == "small-pool":  # same weights, one more pool
            found["stem"] = "small-pool"
    if pool is not None:
        found["pool"] = pool
    for key, given in (("backbone", backbone), ("width", width), ("in_channels", in_channels)):
        if given is not None and given != found[key]:
            raise ValueError(f"{encoder_path}: encoder has {key} {found[key]!r}, but {given!r} was asked for")
    model = build_backbone(found["backbone"], found["in_channels"], found["width"], stem=found["stem"], pool=found["pool"])
    model.load_state_dict(state)
    return model, state, found


def extract_features(model, paths, image_size: int, in_channels: int, *, batch_size: int = 64,
                     device: str = "cpu", num_workers: int = 0, return_images: bool = False):
    """Frozen-encoder features (eval mode, centre view) as a float32 (n, d) array.

    `paths`: image files, or an image source (`FileImages`, `CachedImages` from an `ImageCache`)."""
    import torch

    from mcgip_fast.train.data import EvalImageDataset

    ds = EvalImageDataset(paths, image_size, in_channels)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    model = model.to(device).eval()
    feats, imgs = [], []
    with torch.no_grad():
        for x, _ in loader:
            feats.append(model(x.to(device)).float().cpu())
            if return_images:
                imgs.append(x)
    f = torch.cat(feats).numpy()
    return (f, torch.cat(imgs)) if return_images else f


def _labels(manifest: pd.DataFrame, labels) -> pd.Series:
    if labels is None:
        if "label" not in manifest.columns:
            raise ValueError("no labels: the manifest has no label column and no labels were given")
        return manifest.set_index("id")["label"]
    if isinstance(labels, (str, Path)):
        path = Path(labels)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such label file")
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"id": str, "image_id": str})
        id_col = "id" if "id" in df.columns else "image_id"
        if id_col not in df.columns or "label" not in df.columns:
            raise ValueError(f"{path}: label file needs columns id (or image_id) and label")
        return df.assign(id=df[id_col].astype(str)).set_index("id")["label"]
    return pd.Series(dict(labels))


def split_indices(y: np.ndarray, split: np.ndarray | None, test_fraction: float = 0.3, seed: int = 0):
    """Train / test positions: from a split column ('train' vs anything else) or a seeded stratified split."""
    idx = np.arange(len(y))
    if split is not None:
        is_train = np.asarray([str(s).lower() == "train" for s in split])
        if is_train.all() or not is_train.any():
            raise ValueError("the split column must mark some rows 'train' and some others (e.g. 'test')")
        return idx[is_train], idx[~is_train]
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    return np.sort(tr), np.sort(te)


def label_budget_indices(y_train: np.ndarray, budget: float, seed: int) -> np.ndarray:
    """A stratified subset holding `budget` of the training labels (at least one per class)."""
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"label budgets are fractions in (0, 1], got {budget}")
    if budget == 1.0:
        return np.arange(len(y_train))
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y_train):
        members = np.flatnonzero(y_train == c)
        keep.append(rng.choice(members, size=max(1, int(round(budget * len(members)))), replace=False))
    return np.sort(np.concatenate(keep))


def evaluate_encoder(
    encoder_path: str | Path,
    manifest: str | Path | pd.DataFrame,
    labels=None,
    probes: Sequence[str] = ("linear", "knn"),
    budgets: Sequence[float] = (1.0,),
    seeds: Sequence[int] = (0, 1, 2),
    image_size: int | None = None,
    backbone: str | None = None,
    width: int | None = None,
    in_channels: int | None = None,
    device: str = "cpu",
    finetune: bool = False,
    knn_k: Sequence[int] = (20, 200),
    knn_temperature: float = 0.1,
    test_fraction: float = 0.3,
    split_seed: int = 0,
    finetune_epochs: int = 10,
    batch_size: int = 64,
    num_workers: int = 0,
    cache: str | Path | None = None,
) -> pd.DataFrame:
    """Probe an encoder. One row per (probe, budget, seed) with accuracy, balanced_accuracy, roc_auc.

    Args:
        encoder_path: plain backbone state dict (`TrainResult.encoder_path`). Its architecture,
            width and channels are read from the weights; `image_size` defaults to the training
            run's (encoder.json beside the file), else 224.
        manifest: image manifest (path or DataFrame with id, path). Its `split` column, if any,
            gives train/test; otherwise a stratified split with `split_seed`.
        labels: None (the manifest's `label` column), a CSV/Parquet file (id, label), or a mapping.
        probes: "linear" (logistic regression), "knn" (weighted kNN at each of `knn_k`, reported
            as knn@k), "finetune" (full fine-tuning; also enabled by `finetune=True`).
        budgets: fractions of the training labels used (stratified, seeded per seed).
        seeds: repeat each (probe, budget) per seed; the test set stays fixed.
        cache: an image cache from `mcgip prepare` to read the images from (checked against the manifest).
    """
    from mcgip_fast.train.data import check_images, read_manifest

    probes = list(probes) + (["finetune"] if finetune and "finetune" not in probes else [])
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probes {unknown}; choose from {PROBES}")
    encoder_path = Path(encoder_path)
    model, state, arch = load_encoder(encoder_path, backbone, width, in_channels)
    if image_size is None:
        meta = encoder_path.with_suffix(".json")
        image_size = json.loads(meta.read_text()).get("image_size", 224) if meta.is_file() else 224
    df = manifest.copy() if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    lab = _labels(df, labels)
    df = df[df["id"].isin(lab.index)].copy()
    df["label"] = lab.loc[df["id"]].to_numpy()
    df = df[df["label"].notna()]
    if len(df) < 4:
        raise ValueError(f"only {len(df)} labelled images: too few to evaluate")
    df = df.reset_index(drop=True)
    if cache is not None:
        images = _cached_images(cache, df)
    else:
        df, _ = check_images(df, "error")
        images = df["path"].tolist()
    classes, y = np.unique(df["label"].astype(str).to_numpy(), return_inverse=True)
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError("evaluation needs at least two label classes")
    tr, te = split_indices(y, df["split"].to_numpy() if "split" in df.columns else None, test_fraction, split_seed)
    want_images = "finetune" in probes
    out = extract_features(model, images, image_size, arch["in_channels"], batch_size=batch_size,
                           device=device, num_workers=num_workers, return_images=want_images)
    feats, imgs = out if want_images else (out, None)

    from mcgip_fast.eval.metrics import classification_metrics
    from mcgip_fast.eval.probes import finetune_probe, knn_probe, linear_probe
    from mcgip_fast.train.backbones import build_backbone

    rows = []
    for budget in budgets:
        for seed in seeds:
            sub = tr[label_budget_indices(y[tr], float(budget), int(seed))]
            runs = []
            if "linear" in probes:
                runs.append(("linear", lambda: linear_probe(feats[sub], y[sub], feats[te], n_classes, seed)))
            if "knn" in probes:
                for k in knn_k:
                    runs.append((f"knn@{k}", lambda k=k: knn_probe(feats[sub], y[sub], feats[te], n_classes, k, knn_temperature)))
            if "finetune" in probes:
                runs.append(("finetune", lambda: finetune_probe(
                    state, lambda: build_backbone(arch["backbone"], arch["in_channels"], arch["width"], stem=arch["stem"], pool=arch["pool"]),
                    imgs[sub], y[sub], imgs[te], n_classes, seed=seed, epochs=finetune_epochs, device=device)))
            for name, run in runs:
                m = classification_metrics(y[te], run(), n_classes)
                rows.append({"probe": name, "budget": float(budget), "seed": int(seed), "n_train": len(sub), "n_test": len(te), **m})
    return pd.DataFrame(rows, columns=["probe", "budget", "seed", "n_train", "n_test", *METRICS])


def _cached_images(cache, df: pd.DataFrame):
    """The cache rows of df's images, checked against the cache; bad images stop evaluation, as without a cache."""
    from mcgip_fast.train.cache import ImageCache
    from mcgip_fast.train.data import CachedImages, ImageReadError

    cache = ImageCache(cache)
    rows = cache.rows_for(df)
    report = cache.report(rows)
    if report.n_skipped:
        raise ImageReadError(f"{report.summary()}; fix the manifest or the labels")
    return CachedImages(cache, rows, df["id"].tolist())


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds for each (probe, budget): columns <metric>_mean, <metric>_std, n_seeds."""
    g = results.groupby(["probe", "budget"], sort=False)
    out = g[list(METRICS)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["n_seeds"] = g.size()
    return out.reset_index()


def format_summary(results: pd.DataFrame, digits: int = 3) -> str:
    """A plain-text table of 'mean ± std' per (probe, budget)."""
    s = summarise(results)
    table = pd.DataFrame({"probe": s["probe"], "budget": [f"{b:.0%}" for b in s["budget"]]})
    for m in METRICS:
        table[m] = [f"{mu:.{digits}f} ± {0.0 if np.isnan(sd) else sd:.{digits}f}" for mu, sd in zip(s[f"{m}_mean"], s[f"{m}_std"])]
    return table.to_string(index=False)

"""Records of finished demo runs, so a long demo (`mcgip demo --full`: about 120 runs) can be stopped and resumed.

Every finished pre-training run leaves ``record.json`` (and ``probe_results.csv``, for reading) in its run
folder, ``<work>/runs/<run>_seed<seed>/``. The record holds the run's probe results, losses and timings and
a *key*: everything that decides its numbers. A later demo reuses the record, instead of training and probing
again, only when the key it would write is equal:

* the run's whole `TrainConfig` (except ``progress``, which changes no number), so any recipe change, a
  ``method_options`` entry included, re-runs the runs it touches;
* the content of the images it trains on and of the labels it is probed with (a hash of the manifest, every
  image file and the label file), and of its pairs file (ids, graph and scores; not the mining timings);
* the probe settings (evaluation seeds, kNN k, input size);
* the torch thread count of the run (CPU float sums are ordered by the thread split, so 1 and 2 threads give
  slightly different numbers);
* the source of `mcgip_fast.train` and `mcgip_fast.eval` and the torch version, so numbers from older
  training or probe code are never mixed with new ones.

A run that starts training first deletes its old record, so an interrupted run is never taken for a finished one.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RECORD = "record.json"
RECORD_VERSION = 1
#: TrainConfig fields that change no number of the run.
NEUTRAL_FIELDS = ("progress",)


def _hash_files(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def data_fingerprint(manifest: str | Path) -> str:
    """A hash of a manifest and of every image it lists (paths relative to the manifest's folder)."""
    manifest = Path(manifest)
    table = pd.read_csv(manifest, dtype=str)
    root = manifest.parent
    images = [Path(p) if Path(p).is_absolute() else root / p for p in table["path"]]
    return _hash_files([manifest, *images])


def file_fingerprint(path: str | Path | None) -> str | None:
    return None if path is None else _hash_files([path])


def pairs_fingerprint(path: str | Path | None) -> str | None:
    """A hash of a pairs file's ids, graph and scores (its params may hold timings, so they are left out)."""
    if path is None:
        return None
    from mcgip_fast.mining.pairs import PositivePairs

    pairs = PositivePairs.load(path)
    h = hashlib.sha256()
    h.update("\0".join(str(i) for i in pairs.ids).encode())
    h.update(b"symmetric" if pairs.symmetric else b"directed")
    for arr in (pairs.indptr, pairs.indices, pairs.scores):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> dict[str, str]:
    """The source of the training and probing code, and the torch version."""
    import mcgip_fast

    pkg = Path(mcgip_fast.__file__).parent
    files = sorted(list((pkg / "train").glob("*.py")) + list((pkg / "eval").glob("*.py")))
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - the demo needs torch
        torch_version = "none"
    return {"train_eval_source": _hash_files(files), "torch": torch_version}


def run_key(name: str, train_config, *, data: str, pairs: str | None, eval_data: str, labels: str | None,
            eval_seeds, knn_k: int, image_size: int, torch_threads: int) -> dict[str, Any]:
    """Everything that decides a run's numbers (see the module docs), as plain JSON types."""
    train = {k: v for k, v in train_config.to_dict().items() if k not in NEUTRAL_FIELDS}
    key = dict(version=RECORD_VERSION, name=name, train=train, data=data, pairs=pairs, torch_threads=int(torch_threads),
               eval=dict(data=eval_data, labels=labels, seeds=[int(s) for s in eval_seeds], knn_k=int(knn_k),
                         image_size=int(image_size)),
               code=code_fingerprint())
    return _plain(key)


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def clear(run_dir: str | Path) -> None:
    """Delete a run folder's record (before training it again)."""
    (Path(run_dir) / RECORD).unlink(missing_ok=True)


def save(run_dir: str | Path, key: dict[str, Any], record) -> Path:
    """Write `record` (a `RunRecord`) and its key to ``run_dir/record.json``; its probe results also as CSV."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    res = record.results
    doc = dict(key=key, name=record.name, method=record.method, gaze=bool(record.gaze), pairs=record.pairs,
               seed=int(record.seed), encoder_path=str(record.encoder_path), losses=[float(v) for v in record.losses],
               seconds=float(record.seconds), eval_seconds=float(record.eval_seconds),
               results=dict(columns=[str(c) for c in res.columns], rows=res.to_numpy(dtype=object).tolist()))
    res.to_csv(run_dir / "probe_results.csv", index=False)
    path = run_dir / RECORD
    tmp = path.with_name(RECORD + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=_json_default))
    tmp.replace(path)
    return path


def load(run_dir: str | Path, key: dict[str, Any]):
    """The `RunRecord` saved in ``run_dir`` if its key equals `key`, else None (no record, another key, unreadable)."""
    from mcgip_fast.report.demo import RunRecord

    path = Path(run_dir) / RECORD
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("key") != key:
            return None
        res = doc["results"]
        results = pd.DataFrame(res["rows"], columns=res["columns"]).infer_objects()
        return RunRecord(doc["name"], doc["method"], bool(doc["gaze"]), doc["pairs"], int(doc["seed"]), doc["encoder_path"],
                         [float(v) for v in doc["losses"]], float(doc["seconds"]), float(doc["eval_seconds"]), results)
    except (ValueError, KeyError, TypeError):
        return None

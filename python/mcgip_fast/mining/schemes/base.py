"""What every scheme shares: the tile result, array inputs, and the registry schemes add themselves to.

Schemes are registered in one direction: each scheme module imports this one and calls
`register`; nothing here imports a scheme. `make_scheme` builds one by its name.

A scheme turns the input (a `GazeArchive`, or `ItemArrays` of heatmaps / dHash codes) into a
picklable *state* once (`prepare`), then scores tiles of rows against all items (`tile`) and
explicit pairs (`score_pairs`). Engines ship the state to workers once and call `tile` per tile.

Every scheme reports **similarities, higher = more similar**:

| scheme | score | range |
| --- | --- | --- |
| ``multimatch`` | ``sum(w[d] * dim[d])`` over (vector, direction, length, position, duration) | [0, sum(w)] |
| ``dhash`` hamming | ``1 - hamming / bits`` | [0, 1] |
| ``dhash`` cosine (official) | ``popcount(a & b) / sqrt(popcount(a) popcount(b))`` (0 if a code is all zero) | [0, 1] |
| ``hu`` I1 / I2 / I3 | ``1 / (1 + matchShapes distance)`` | [0, 1] |
| ``hu`` official | ``1 - (w d(Hu1) + (1 - w) d(M00))``, ``d(a, b) = |a - b| / max(|a|, |b|)`` | [0, 1] |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Scheme classes by name, in registration order (filled by the scheme modules).
REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make a scheme buildable by `make_scheme(cls.name)`."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"two schemes are called {cls.name!r}")
    REGISTRY[cls.name] = cls
    return cls


@dataclass
class TileResult:
    """Candidate edges of one tile (see `mcgip_core::tiles`) and its counters."""

    row: np.ndarray
    col: np.ndarray
    score: np.ndarray
    scored_pairs: int = 0
    nan_pairs: int = 0


@dataclass
class ItemArrays:
    """Items given as arrays instead of scanpaths: heatmaps (N, H, W) or dHash codes (N, bytes) uint8."""

    ids: np.ndarray
    data: np.ndarray
    kind: str = "heatmaps"

    def __post_init__(self) -> None:
        self.ids = np.asarray([str(i) for i in self.ids], dtype=object)
        self.data = np.ascontiguousarray(self.data)
        if self.kind not in ("heatmaps", "codes"):
            raise ValueError(f"kind must be 'heatmaps' or 'codes', got {self.kind!r}")
        if len(self.ids) != len(self.data):
            raise ValueError(f"{len(self.ids)} ids for {len(self.data)} {self.kind}")
        if len(set(self.ids.tolist())) != len(self.ids):
            raise ValueError("item ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def keys(self) -> np.ndarray:
        return self.ids

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for s in self.ids:
            h.update(str(s).encode() + b"\0")
        h.update(f"{self.kind}{self.data.dtype}{self.data.shape}".encode())
        h.update(self.data.tobytes())
        return h.hexdigest()


def _aligned(state):
    """Arrays unpickled by Dask can be unaligned views of a network buffer; Rust needs aligned, contiguous ones."""
    for name, value in vars(state).items():
        if isinstance(value, np.ndarray) and not (value.flags.c_contiguous and value.flags.aligned):
            setattr(state, name, np.require(value, requirements=["C", "A"]).copy())
    return state


def make_scheme(scheme: str | Any, **options: Any):
    """Build a scheme from its name; options not meant for it raise a clear error."""
    if not isinstance(scheme, str):
        return scheme
    cls = REGISTRY.get(scheme)
    if cls is None:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(REGISTRY)}")
    import inspect

    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    extra = {k for k, v in options.items() if v is not None} - allowed
    if extra:
        raise ValueError(f"scheme {scheme!r} takes no option(s) {sorted(extra)}; it takes {sorted(allowed)}")
    return cls(**{k: v for k, v in options.items() if v is not None})

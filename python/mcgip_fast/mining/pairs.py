"""`PositivePairs`: the sparse positive-pair graph that mining writes and the trainer reads.

Rows are items (scanpaths / images) in archive index order. Row i's positives are
``indices[indptr[i]:indptr[i + 1]]`` (sorted ascending) with ``scores`` beside them. The file
records the ids in index order, the archive's content hash and the parameters that made it, so
pairs are never applied to a reordered or different archive without an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

FORMAT_VERSION = 1
_META_KEY = b"mcgip_fast.pairs"


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An `.npz` with fixed timestamps: equal arrays give byte-identical files (`np.savez` stamps the clock)."""
    import zipfile
    from io import BytesIO

    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with z.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


class PairsMismatchError(ValueError):
    """The pairs were made for another archive or manifest (ids or content differ)."""


class PositivePairs:
    """A sparse, row-sorted positive graph in CSR form.

    Attributes:
        ids: (n,) str array, item ids in index order.
        indptr: (n + 1,) int64 row pointers.
        indices: (nnz,) int64 column indices, ascending within each row, no self-pairs.
        scores: (nnz,) float64 similarity of each pair.
        symmetric: whether (i, j) present implies (j, i) present with the same score.
        params: how the pairs were made (scheme, rule, thresholds...), JSON-serialisable.
        archive_hash: content hash of the source archive (`GazeArchive.content_hash()`), or None.
    """

    def __init__(
        self,
        ids: Sequence[str] | np.ndarray,
        indptr: np.ndarray,
        indices: np.ndarray,
        scores: np.ndarray,
        *,
        symmetric: bool,
        params: dict[str, Any] | None = None,
        archive_hash: str | None = None,
    ) -> None:
        self.ids = np.asarray([str(i) for i in ids], dtype=object)
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)
        self.scores = np.ascontiguousarray(scores, dtype=np.float64)
        self.symmetric = bool(symmetric)
        self.params = dict(params or {})
        self.archive_hash = archive_hash
        n = len(self.ids)
        if self.indptr.shape != (n + 1,) or self.indptr[0] != 0 or np.any(np.diff(self.indptr) < 0):
            raise ValueError(f"indptr must be non-decreasing of shape ({n + 1},) starting at 0")
        if self.indices.shape != self.scores.shape or len(self.indices) != self.indptr[-1]:
            raise ValueError("indices and scores must both have indptr[-1] entries")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n):
            raise ValueError(f"pair index out of range for {n} items")
        self._keys: np.ndarray | None = None
        #: What the mining run did (`MiningReport`), when these pairs come from `mine()`; never saved.
        self.report = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_edges(
        cls,
        ids: Sequence[str] | np.ndarray,
        i: np.ndarray,
        j: np.ndarray,
        scores: np.ndarray,
        *,
        symmetric: bool = True,
        params: dict[str, Any] | None = None,
        archive_hash: str | None = None,
    ) -> "PositivePairs":
        """Build from an edge list. Self-pairs are removed; with `symmetric`, each edge is mirrored.

        Duplicate (i, j) edges keep the highest score, so the result does not depend on edge order.
        """
        n = len(ids)
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        s = np.asarray(scores, dtype=np.float64)
        if not (i.shape == j.shape == s.shape) or i.ndim != 1:
            raise ValueError(f"i, j and scores must be 1-D of equal length, got {i.shape}, {j.shape}, {s.shape}")
        if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
            raise ValueError(f"edge index out of range for {n} items")
        if np.any(np.isnan(s)):
            raise ValueError(f"{int(np.isnan(s).sum())} edges have a NaN score")
        off = i != j
        # One int64 key per edge (i * n + j sorts like (i, j)) keeps the big temporaries few:
        # mining can hand over tens of millions of edges.
        if off.all():
            key = i * n + j
            mirror = j * n + i if symmetric else None
        else:
            key = i[off] * n + j[off]
            mirror = j[off] * n + i[off] if symmetric else None
            s = s[off]
        del i, j, off
        if symmetric:
            key = np.concatenate([key, mirror])
            s = np.concatenate([s, s])
        del mirror
        # Sort by (key, -score) and keep the first of each key: the best score.
        order = np.lexsort((-s, key))
        key = key[order]
        s = s[order]
        del order
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        key = key[first]
        s = s[first]
        del first
        i = key // max(n, 1)
        j = key - i * n
        del key
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(i, minlength=n), out=indptr[1:])
        return cls(ids, indptr, j, s, symmetric=symmetric, params=params, archive_hash=archive_hash)

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_edges(self) -> int:
        """Stored directed edges (a symmetric pair counts twice)."""
        return int(len(self.indices))

    @property
    def n_pairs(self) -> int:
        """Distinct unordered pairs for symmetric graphs, directed edges otherwise."""
        return self.n_edges // 2 if self.symmetric else self.n_edges

    def degrees(self) -> np.ndarray:
        return np.diff(self.indptr)

    def neighbours(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.indices[a:b], self.scores[a:b]

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, score) of every stored edge, sorted by (i, j)."""
        rows = np.repeat(np.arange(len(self), dtype=np.int64), self.degrees())
        return rows, self.indices, self.scores

    def keys(self) -> np.ndarray:
        """Sorted int64 keys ``i * n + j`` of every edge: the trainer's vectorised look-up table."""
        if self._keys is None:
            rows, cols, _ = self.edges()
            self._keys = rows * len(self) + cols  # already sorted: rows then ascending cols
        return self._keys

    def are_positive(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Vectorised membership test: bool array, True where (a[k], b[k]) is a stored edge."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        q = a * len(self) + b
        keys = self.keys()
        pos = np.searchsorted(keys, q)
        pos = np.minimum(pos, max(len(keys) - 1, 0))
        valid = (a >= 0) & (b >= 0) & (a < len(self)) & (b < len(self))
        return valid & (keys[pos] == q) if len(keys) else np.zeros(q.shape, dtype=bool)

    def check_matches(self, ids: Sequence[str] | np.ndarray, archive_hash: str | None = None, what: str = "archive") -> None:
        """Raise `PairsMismatchError` unless `ids` (and, if both known, the content hash) match."""
        ids = np.asarray([str(i) for i in ids], dtype=object)
        if len(ids) != len(self.ids):
            raise PairsMismatchError(f"pairs were made for {len(self.ids)} items but the {what} has {len(ids)}")
        diff = np.flatnonzero(ids != self.ids)
        if len(diff):
            k = diff[0]
            raise PairsMismatchError(
                f"pairs were made for another {what}: item {k} is {self.ids[k]!r} in the pairs file but {ids[k]!r} here "
                f"({len(diff)} positions differ; reordered or different data)"
            )
        if archive_hash is not None and self.archive_hash is not None and archive_hash != self.archive_hash:
            raise PairsMismatchError(f"pairs were made for an {what} with the same ids but different content (hash differs)")

    def check_archive(self, archive) -> None:
        """Refuse an archive that is not the one the pairs were mined from."""
        self.check_matches(archive.keys, archive.content_hash(), "archive")

    # ------------------------------------------------------------------ files
    def _meta(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "ids": [str(i) for i in self.ids],
            "symmetric": self.symmetric,
            "params": self.params,
            "archive_hash": self.archive_hash,
        }

    def save(self, path: str | Path) -> Path:
        """Write `.parquet` (edge list i, j, score plus metadata) or `.npz` (CSR arrays plus metadata)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            rows, cols, scores = self.edges()
            table = pa.table({"i": rows, "j": cols, "score": scores})
            table = table.replace_schema_metadata({_META_KEY: json.dumps(self._meta(), sort_keys=True).encode()})
            pq.write_table(table, tmp)
        elif path.suffix == ".npz":
            meta = np.frombuffer(json.dumps(self._meta(), sort_keys=True).encode(), dtype=np.uint8)
            tmp.write_bytes(npz_bytes({"indptr": self.indptr, "indices": self.indices, "scores": self.scores, "meta": meta}))
        else:
            raise ValueError(f"{path}: pairs files end in .parquet or .npz")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PositivePairs":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such pairs file")
        try:
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                raw = (table.schema.metadata or {}).get(_META_KEY)
                if raw is None:
                    raise ValueError("no mcgip_fast metadata in the file")
                meta = json.loads(raw)
                i = table.column("i").to_numpy().astype(np.int64)
                j = table.column("j").to_numpy().astype(np.int64)
                s = table.column("score").to_numpy().astype(np.float64)
                n = len(meta["ids"])
                if np.any(np.diff(i * n + j) <= 0):
                    raise ValueError("edges are not sorted by (i, j)")
                indptr = np.zeros(n + 1, dtype=np.int64)
                np.cumsum(np.bincount(i, minlength=n), out=indptr[1:])
                indices, scores = j, s
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    meta = json.loads(z["meta"].tobytes())
                    indptr, indices, scores = z["indptr"], z["indices"], z["scores"]
            else:
                raise ValueError("pairs files end in .parquet or .npz")
        except (OSError, KeyError, json.JSONDecodeError, ValueError) as e:
            raise ValueError(f"{path}: not a readable mcgip_fast pairs file ({e})") from e
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: pairs format version {meta.get('format_version')}, expected {FORMAT_VERSION}")
        return cls(
            meta["ids"],
            indptr,
            indices,
            scores,
            symmetric=meta["symmetric"],
            params=meta.get("params"),
            archive_hash=meta.get("archive_hash"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PositivePairs):
            return NotImplemented
        return (
            np.array_equal(self.ids, other.ids)
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
            and np.array_equal(self.scores, other.scores)
            and self.symmetric == other.symmetric
            and self.params == other.params
            and self.archive_hash == other.archive_hash
        )

    def __repr__(self) -> str:
        deg = self.degrees()
        return (
            f"PositivePairs({len(self)} items, {self.n_pairs} {'pairs' if self.symmetric else 'edges'}, "
            f"mean degree {deg.mean() if len(deg) else 0:.2f}, params={self.params})"
        )

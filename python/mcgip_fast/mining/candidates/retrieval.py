"""Neighbour retrieval over millions of heatmap signatures, built on faiss-cpu.

Three indexes share one small interface::

    index = BinaryIndex(exact=True).build(codes)     # dHash codes, Hamming distance
    i, j, dist = index.knn(10)                       # every item's 10 nearest (self excluded)
    i, j, dist = index.radius(5)                     # all pairs within distance 5
    index.save("codes.faissidx"); index = BinaryIndex.load("codes.faissidx")

- :class:`BinaryIndex`: packed binary codes. ``exact=True`` is ``IndexBinaryFlat``; approximate
  kinds are ``"multihash"`` (``IndexBinaryMultiHash``; exact for radius below ``bits / nhash``),
  ``"ivf"`` (``IndexBinaryIVF``) and ``"hnsw"`` (``IndexBinaryHNSW``, k-NN only: FAISS has no
  radius search for it).
- :class:`FloatIndex`: float vectors under L1 or L2 (``IndexFlat``, or ``IndexHNSWFlat`` when
  approximate).
- :class:`HuIndex`: Hu vectors. Candidates come from a :class:`FloatIndex` under L1 over
  ``sign·log10|h|`` features (:func:`mcgip_fast.similarity.hu.hu_log_features`), which equals
  ``matchShapes`` I2 on the components that count; candidates are then re-ranked exactly with
  :func:`mcgip_fast.similarity.hu.match_shapes`.

Results are always sparse ``(i, j, score)`` arrays, never a dense N×N:

- ``knn(k)`` returns ``k`` rows per query, ``i`` ascending, each query's neighbours sorted by
  (score, j). With ``queries=None`` the base is queried against itself and each item is excluded
  from its own list.
- ``radius(r)`` returns every pair within ``r``. With ``queries=None`` each unordered pair appears
  once, with ``i < j``. Hamming radii are **inclusive** (``dist <= r``, like
  :func:`mcgip_fast.similarity.dhash.hamming_within`; FAISS itself is strict, so ``r + 1`` is passed
  to it). Float radii follow FAISS: strict ``dist < r``, in the index's own (not squared) units.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal

import numpy as np

_QUERY_BATCH = 16384


def _faiss():
    import faiss

    return faiss


def _set_threads(threads: int | None) -> None:
    if threads:
        _faiss().omp_set_num_threads(int(threads))


def _sort_rows(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (distance, index) so ties always go to the lower index."""
    order = np.lexsort((idx, dist), axis=-1)
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)


def _drop_self(idx: np.ndarray, dist: np.ndarray, offset: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From (n, k+1) self-query results, drop each row's own id (or the last entry if absent)."""
    n = idx.shape[0]
    own = (np.arange(n) + offset)[:, None]
    is_self = idx == own
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True
    keep = ~is_self
    return idx[keep].reshape(n, k), dist[keep].reshape(n, k)


def _check_k(k, available: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer between 1 and {available}, got {k!r}")
    return int(k)


class _Base:
    _kind_name = "base"

    def __init__(self) -> None:
        self._index = None
        self.n = 0

    def _require_built(self) -> None:
        if self._index is None:
            raise ValueError(f"{type(self).__name__} is empty: call build(features) first")

    def _knn_rows(self, queries: np.ndarray | None, k: int, search) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run `search(q, kk) -> (dist, idx)` in batches; return sparse (i, j, dist)."""
        self_join = queries is None
        q_all = self._base_data if self_join else queries
        nq = q_all.shape[0]
        kk = k + 1 if self_join else k
        kk = min(kk, self.n)
        out_i, out_d = [], []
        for s in range(0, nq, _QUERY_BATCH):
            q = q_all[s : s + _QUERY_BATCH]
            dist, idx = search(q, kk)
            if self_join:
                idx, dist = _drop_self(idx, dist, s, k)
            idx, dist = _sort_rows(idx, dist)
            out_i.append(idx)
            out_d.append(dist)
        idx = np.concatenate(out_i)
        dist = np.concatenate(out_d)
        ii = np.repeat(np.arange(nq, dtype=np.int64), k)
        return ii, idx.reshape(-1).astype(np.int64), dist.reshape(-1)

    def _range_rows(self, queries: np.ndarray | None, faiss_radius, search_range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self_join = queries is None
        q_all = self._base_data if self_join else queries
        out_i, out_j, out_d = [], [], []
        for s in range(0, q_all.shape[0], _QUERY_BATCH):
            q = q_all[s : s + _QUERY_BATCH]
            lims, dist, idx = search_range(q, faiss_radius)
            ii = np.repeat(np.arange(s, s + q.shape[0], dtype=np.int64), np.diff(lims.astype(np.int64)))
            idx = idx.astype(np.int64)
            if self_join:
                keep = idx > ii
                ii, idx, dist = ii[keep], idx[keep], dist[keep]
            order = np.lexsort((idx, ii))
            out_i.append(ii[order])
            out_j.append(idx[order])
            out_d.append(dist[order])
        return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)

    # ------------------------------------------------------------------ persistence
    def _meta(self) -> dict:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        """Write the index, its parameters and its base data to one ``.npz`` file at ``path``."""
        self._require_built()
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=np.frombuffer(json.dumps({"class": type(self).__name__, **self._meta()}).encode(), dtype=np.uint8),
            index=self._serialize(),
            base=self._base_data,
            **self._extra_arrays(),
        )
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path):
        """Read an index written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.pop("class") != cls.__name__:
                raise ValueError(f"{path} does not hold a {cls.__name__}")
            obj = cls(**meta)
            obj._restore(z)
        return obj

    def _extra_arrays(self) -> dict:
        return {}


class BinaryIndex(_Base):
    """FAISS index over packed binary codes (e.g. dHash), Hamming distance.

    Args:
        exact: True for ``IndexBinaryFlat`` (exact k-NN and radius). False picks ``kind``.
        kind: approximate index when ``exact`` is False: ``"multihash"`` (default), ``"ivf"`` or
            ``"hnsw"`` (no radius search).
        nhash: sub-hashes of ``IndexBinaryMultiHash`` (default: ``bits // 8`` below 65,536 codes,
            ``bits // 16`` from there on). Any pair closer than ``nhash`` bits shares a sub-hash
            and is always found, so radius search is exact for ``r < nhash``.
        nlist, nprobe: ``IndexBinaryIVF`` lists (default ``min(sqrt(N), 1024)``, trained on 40 codes
            per list) and lists probed (default 16).
        hnsw_m, ef_search: ``IndexBinaryHNSW`` parameters.
        threads: OpenMP threads FAISS uses (None: FAISS's default).
    """

    def __init__(
        self,
        exact: bool = True,
        kind: Literal["flat", "multihash", "ivf", "hnsw"] | None = None,
        *,
        nhash: int | None = None,
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 16,
        ef_search: int = 64,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in (None, "flat", "multihash", "ivf", "hnsw"):
            raise ValueError(f"kind must be 'flat', 'multihash', 'ivf' or 'hnsw', got {kind!r}")
        if exact and kind not in (None, "flat"):
            raise ValueError(f"exact=True uses kind='flat'; pass exact=False for kind={kind!r}")
        kind = "flat" if exact else (kind or "multihash")
        self.exact = exact
        self.kind = kind
        self.nhash, self.nlist, self.nprobe = nhash, nlist, nprobe
        self.hnsw_m, self.ef_search, self.threads = hnsw_m, ef_search, threads
        self._base_data = None

    def _meta(self) -> dict:
        return dict(exact=self.exact, kind=self.kind, nhash=self.nhash, nlist=self.nlist, nprobe=self.nprobe,
                    hnsw_m=self.hnsw_m, ef_search=self.ef_search, threads=self.threads)

    def _serialize(self) -> np.ndarray:
        return _faiss().serialize_index_binary(self._index)

    def _restore(self, z) -> None:
        self._index = _faiss().deserialize_index_binary(z["index"])
        self._base_data = np.ascontiguousarray(z["base"])
        self.n = self._base_data.shape[0]
        self._tune()

    def _tune(self) -> None:
        if self.kind == "ivf":
            self._index.nprobe = self.nprobe
        elif self.kind == "hnsw":
            self._index.hnsw.efSearch = self.ef_search

    @staticmethod
    def _codes(codes, name: str) -> np.ndarray:
        arr = np.asarray(codes)
        if arr.dtype != np.uint8:
            raise ValueError(f"{name} must be packed uint8 codes, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(f"{name} must be (N, n_bytes), got {arr.ndim} dimensions")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{name} is empty (shape {arr.shape})")
        return np.ascontiguousarray(arr)

    def build(self, codes: np.ndarray) -> "BinaryIndex":
        """Index (N, n_bytes) uint8 codes; returns self."""
        faiss = _faiss()
        _set_threads(self.threads)
        codes = self._codes(codes, "codes")
        n, nb = codes.shape
        bits = nb * 8
        if self.kind == "flat":
            index = faiss.IndexBinaryFlat(bits)
        elif self.kind == "multihash":
            # 8-bit sub-hashes make buckets of n/256 codes: fine for small sets, far too big at a
            # million; 16-bit ones keep buckets small there (and find every pair closer than nhash).
            sub_bits = 8 if n < 1 << 16 else 16
            nhash = self.nhash or max(1, bits // sub_bits)
            index = faiss.IndexBinaryMultiHash(bits, nhash, bits // nhash)
        elif self.kind == "ivf":
            nlist = self.nlist or max(1, min(n // 39, int(np.sqrt(n)), 1024))
            # The Python object must outlive the index (FAISS does not own it here).
            self._quantizer = faiss.IndexBinaryFlat(bits)
            index = faiss.IndexBinaryIVF(self._quantizer, bits, nlist)
            # k-means on a sample (40 codes per list) keeps training to seconds at a million codes.
            sample = codes
            if n > 40 * nlist:
                pick = np.random.default_rng(0).choice(n, 40 * nlist, replace=False)
                sample = codes[np.sort(pick)]
            index.train(sample)
        else:
            index = faiss.IndexBinaryHNSW(bits, self.hnsw_m)
        index.add(codes)
        self._index = index
        self._base_data = codes
        self.n = n
        self._tune()
        return self

    def knn(self, k: int, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k nearest codes per query as sparse ``(i, j, dist)`` (int64, int64, uint32).

        ``queries=None`` queries every indexed code against the others (self excluded). Rows are
        sorted by (distance, j). Approximate kinds may return fewer true neighbours (j = -1 is
        dropped, so a query can have fewer than k rows).
        """
        self._require_built()
        q = None if queries is None else self._codes(queries, "queries")
        if q is not None and q.shape[1] != self._base_data.shape[1]:
            raise ValueError(f"queries have {q.shape[1]} bytes per code, the index {self._base_data.shape[1]}")
        k = _check_k(k, self.n - 1 if q is None else self.n)
        _set_threads(self.threads)
        i, j, d = self._knn_rows(q, k, lambda qq, kk: self._index.search(qq, kk))
        keep = j >= 0
        return i[keep], j[keep], d[keep].astype(np.uint32)

    def radius(self, r: int, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs with Hamming distance ``<= r`` (inclusive) as sparse ``(i, j, dist)``.

        ``queries=None``: pairs within the indexed codes, each once with ``i < j``.
        """
        self._require_built()
        if self.kind == "hnsw":
            raise ValueError("IndexBinaryHNSW has no radius search; use exact=True or kind='multihash'/'ivf'")
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
            raise ValueError(f"r must be a non-negative integer, got {r!r}")
        q = None if queries is None else self._codes(queries, "queries")
        _set_threads(self.threads)
        i, j, d = self._range_rows(q, int(r) + 1, lambda qq, rr: self._index.range_search(qq, rr))
        return i, j, d.astype(np.uint32)


class FloatIndex(_Base):
    """FAISS index over float vectors under L1 or L2.

    Args:
        exact: True for ``IndexFlat``; False for ``IndexHNSWFlat`` (approximate; FAISS's HNSW
            range search is approximate too).
        metric: ``"l1"`` or ``"l2"``. Distances and radii are in the metric's own units (L2 is
            not squared; the squaring FAISS wants is done here).
        hnsw_m, ef_search: HNSW parameters.
        threads: OpenMP threads FAISS uses.
    """

    def __init__(self, exact: bool = True, metric: Literal["l1", "l2"] = "l1", *, hnsw_m: int = 32,
                 ef_search: int = 128, threads: int | None = None) -> None:
        super().__init__()
        if metric not in ("l1", "l2"):
            raise ValueError(f"metric must be 'l1' or 'l2', got {metric!r}")
        self.exact, self.metric = exact, metric
        self.hnsw_m, self.ef_search, self.threads = hnsw_m, ef_search, threads
        self._base_data = None

    def _meta(self) -> dict:
        return dict(exact=self.exact, metric=self.metric, hnsw_m=self.hnsw_m, ef_search=self.ef_search, threads=self.threads)

    def _serialize(self) -> np.ndarray:
        return _faiss().serialize_index(self._index)

    def _restore(self, z) -> None:
        self._index = _faiss().deserialize_index(z["index"])
        self._base_data = np.ascontiguousarray(z["base"])
        self.n = self._base_data.shape[0]
        if not self.exact:
            self._index.hnsw.efSearch = self.ef_search

    @staticmethod
    def _vectors(x, name: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be (N, d), got {arr.ndim} dimensions")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{name} is empty (shape {arr.shape})")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or infinity")
        return arr

    def build(self, features: np.ndarray) -> "FloatIndex":
        """Index (N, d) float vectors (stored as float32, FAISS's type); returns self."""
        faiss = _faiss()
        _set_threads(self.threads)
        x = self._vectors(features, "features")
        metric = faiss.METRIC_L1 if self.metric == "l1" else faiss.METRIC_L2
        if self.exact:
            index = faiss.IndexFlat(x.shape[1], metric)
        else:
            index = faiss.IndexHNSWFlat(x.shape[1], self.hnsw_m, metric)
            index.hnsw.efSearch = self.ef_search
        index.add(x)
        self._index, self._base_data, self.n = index, x, x.shape[0]
        return self

    def _check_queries(self, queries):
        if queries is None:
            return None
        q = self._vectors(queries, "queries")
        if q.shape[1] != self._base_data.shape[1]:
            raise ValueError(f"queries have dimension {q.shape[1]}, the index {self._base_data.shape[1]}")
        return q

    def _unsquare(self, d):
        return np.sqrt(np.maximum(d, 0)) if self.metric == "l2" else d

    def knn(self, k: int, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k nearest vectors per query as sparse ``(i, j, dist)`` (int64, int64, float32)."""
        self._require_built()
        q = self._check_queries(queries)
        k = _check_k(k, self.n - 1 if q is None else self.n)
        _set_threads(self.threads)
        i, j, d = self._knn_rows(q, k, lambda qq, kk: self._index.search(qq, kk))
        keep = j >= 0
        return i[keep], j[keep], self._unsquare(d[keep])

    def radius(self, r: float, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs with distance ``< r`` (strict, as FAISS) as sparse ``(i, j, dist)``."""
        self._require_built()
        if not np.isfinite(r) or r < 0:
            raise ValueError(f"r must be a finite non-negative number, got {r!r}")
        q = self._check_queries(queries)
        _set_threads(self.threads)
        rr = float(r) ** 2 if self.metric == "l2" else float(r)
        i, j, d = self._range_rows(q, rr, lambda qq, rad: self._index.range_search(qq, rad))
        return i, j, self._unsquare(d)


class HuIndex(_Base):
    """Retrieval over Hu vectors by ``matchShapes`` distance: FAISS candidates, exact re-rank.

    Each Hu vector is mapped to ``sign·log10|h|`` and indexed under L1 by a :class:`FloatIndex`.
    For two vectors whose seven components all count (``|h| > 1e-5``), L1 equals ``matchShapes``
    I2. A vector with a component that does not count (e.g. a round blob, whose higher invariants
    vanish) is *closer* to everything under matchShapes, which simply drops that component, than
    any L1 embedding can express. So:

    - vectors whose components all count go in the FAISS index; ``oversample·k`` candidates per
      query come from it;
    - the other ("deficient") vectors are kept aside and re-scored for every query;
    - a deficient query is compared with every item (brute force, in Rust).

    Every candidate is then scored exactly with :func:`~mcgip_fast.similarity.hu.match_shapes_pairs`
    (``method``) and the best ``k`` kept, ties to the lower index. With ``exact=True`` and method I2
    this is the exact I2 k-NN (up to float32 rounding of FAISS's L1 inside the oversampled pool);
    with HNSW, or with I1/I3, it is a candidate search with exact scores.

    Cost: each query also scores all deficient vectors, so this suits archives where they are a
    small fraction (``n_deficient`` tells how many).

    Args:
        method: matchShapes method for the re-rank: ``"I1"``, ``"I2"`` or ``"I3"`` (I3 with the
            query as OpenCV's first argument).
        exact: exact (flat) or approximate (HNSW) L1 candidate search.
        oversample: candidates per wanted neighbour (≥ 1).
        threads: threads for FAISS and the re-rank.
    """

    def __init__(self, method: Literal["I1", "I2", "I3"] = "I2", exact: bool = True, oversample: int = 4,
                 *, hnsw_m: int = 32, ef_search: int = 128, threads: int | None = None) -> None:
        super().__init__()
        if method not in ("I1", "I2", "I3"):
            raise ValueError(f"method must be 'I1', 'I2' or 'I3', got {method!r}")
        if oversample < 1:
            raise ValueError(f"oversample must be at least 1, got {oversample}")
        self.method, self.exact, self.oversample = method, exact, int(oversample)
        self.hnsw_m, self.ef_search, self.threads = hnsw_m, ef_search, threads
        self._float = FloatIndex(exact, "l1", hnsw_m=hnsw_m, ef_search=ef_search, threads=threads)
        self._base_data = None
        self._full_ids = np.zeros(0, np.int64)
        self._deficient_ids = np.zeros(0, np.int64)

    @property
    def n_deficient(self) -> int:
        """Indexed vectors with a component at or below 1e-5 (re-scored for every query)."""
        return int(self._deficient_ids.size)

    def _meta(self) -> dict:
        return dict(method=self.method, exact=self.exact, oversample=self.oversample, hnsw_m=self.hnsw_m,
                    ef_search=self.ef_search, threads=self.threads)

    def _serialize(self) -> np.ndarray:
        if self._float._index is None:
            return np.zeros(0, np.uint8)
        return self._float._serialize()

    def _extra_arrays(self) -> dict:
        feats = self._float._base_data if self._float._base_data is not None else np.zeros((0, 7), np.float32)
        return {"features": feats, "full_ids": self._full_ids, "deficient_ids": self._deficient_ids}

    def _restore(self, z) -> None:
        self._base_data = np.ascontiguousarray(z["base"])
        self._full_ids = np.ascontiguousarray(z["full_ids"])
        self._deficient_ids = np.ascontiguousarray(z["deficient_ids"])
        self.n = self._base_data.shape[0]
        if self._full_ids.size:
            self._float._index = _faiss().deserialize_index(z["index"])
            self._float._base_data = np.ascontiguousarray(z["features"])
            self._float.n = self._full_ids.size
            if not self.exact:
                self._float._index.hnsw.efSearch = self.ef_search
        self._index = self._base_data

    def _require_built(self) -> None:
        if self._base_data is None:
            raise ValueError("HuIndex is empty: call build(features) first")

    def build(self, hu: np.ndarray) -> "HuIndex":
        """Index (N, 7) Hu vectors (from :func:`~mcgip_fast.similarity.hu.hu_moments`); returns self."""
        from mcgip_fast.similarity.hu import _as_hu, hu_log_features

        self._base_data = _as_hu(hu, "hu")
        full = (np.abs(self._base_data) > 1e-5).all(axis=1)
        self._full_ids = np.flatnonzero(full).astype(np.int64)
        self._deficient_ids = np.flatnonzero(~full).astype(np.int64)
        if self._full_ids.size:
            self._float.build(hu_log_features(self._base_data[self._full_ids]))
        self.n = self._base_data.shape[0]
        self._index = self._base_data
        return self

    def _candidates(self, q_hu: np.ndarray, search) -> tuple[np.ndarray, np.ndarray]:
        """Candidate pairs (query, item): FAISS hits + deficient items + brute force for deficient queries.

        ``search(features)`` runs the FAISS search for the fully-counting queries' log-Hu features
        and returns (query row, position among the fully-counting items) of each hit.
        """
        from mcgip_fast.similarity.hu import hu_log_features

        q_full = (np.abs(q_hu) > 1e-5).all(axis=1)
        parts_i, parts_j = [], []
        fq = np.flatnonzero(q_full)
        if fq.size and self._full_ids.size:
            rows, positions = search(np.ascontiguousarray(hu_log_features(q_hu[fq]), dtype=np.float32))
            parts_i.append(fq[rows])
            parts_j.append(self._full_ids[positions])
        if fq.size and self._deficient_ids.size:
            parts_i.append(np.repeat(fq, self._deficient_ids.size))
            parts_j.append(np.tile(self._deficient_ids, fq.size))
        dq = np.flatnonzero(~q_full)
        if dq.size:
            parts_i.append(np.repeat(dq, self.n))
            parts_j.append(np.tile(np.arange(self.n, dtype=np.int64), dq.size))
        if not parts_i:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(parts_i).astype(np.int64), np.concatenate(parts_j).astype(np.int64)

    def knn(self, k: int, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k nearest Hu vectors per query by matchShapes as sparse ``(i, j, score)`` (score float64).

        ``queries=None`` queries the indexed vectors against each other (self excluded).
        """
        from mcgip_fast.similarity.hu import _as_hu, match_shapes_pairs

        self._require_built()
        self_join = queries is None
        q_hu = self._base_data if self_join else _as_hu(queries, "queries")
        k = _check_k(k, self.n - 1 if self_join else self.n)
        kc = min(k * self.oversample + (1 if self_join else 0), self._full_ids.size)

        def search(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            _, idx = self._float._index.search(features, kc)
            keep = idx >= 0
            return np.repeat(np.arange(len(features)), kc).reshape(-1, kc)[keep], idx[keep]

        out_i, out_j, out_s = [], [], []
        for s in range(0, q_hu.shape[0], 4096):
            block = q_hu[s : s + 4096]
            ci, cj = self._candidates(block, search)
            if self_join:
                keep = cj != ci + s
                ci, cj = ci[keep], cj[keep]
            score = match_shapes_pairs(block, self._base_data, ci, cj, self.method, self.threads)
            order = np.lexsort((cj, score, ci))
            ci, cj, score = ci[order], cj[order], score[order]
            # A pair can be both a FAISS candidate and a deficient one only if ids repeat: drop repeats.
            dup = np.zeros(ci.size, bool)
            dup[1:] = (ci[1:] == ci[:-1]) & (cj[1:] == cj[:-1])
            ci, cj, score = ci[~dup], cj[~dup], score[~dup]
            rank = np.arange(ci.size) - np.searchsorted(ci, ci, side="left")
            keep = rank < k
            out_i.append(ci[keep] + s)
            out_j.append(cj[keep])
            out_s.append(score[keep])
        return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)

    def radius(self, r: float, queries: np.ndarray | None = None, *, l1_radius: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs with matchShapes score ``<= r`` as sparse ``(i, j, score)``.

        Candidates: FAISS L1 range search within ``l1_radius`` over the fully-counting vectors,
        plus every deficient vector, plus brute force for deficient queries. For method I2 the
        default ``l1_radius`` is ``r`` (plus a rounding margin), which makes the result exact.
        For I1/I3 pass ``l1_radius`` explicitly (they are on other scales).
        ``queries=None``: pairs within the index, each once with ``i < j``.
        """
        from mcgip_fast.similarity.hu import _as_hu, match_shapes_pairs

        self._require_built()
        if not np.isfinite(r) or r < 0:
            raise ValueError(f"r must be a finite non-negative number, got {r!r}")
        if l1_radius is None:
            if self.method != "I2":
                raise ValueError("radius with method I1/I3 needs an explicit l1_radius for the candidate search")
            l1_radius = r * (1 + 1e-5) + 1e-6
        self_join = queries is None
        q_hu = self._base_data if self_join else _as_hu(queries, "queries")

        def search(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lims, _, idx = self._float._index.range_search(features, float(l1_radius))
            return np.repeat(np.arange(len(features)), np.diff(lims.astype(np.int64))), idx.astype(np.int64)

        ci, cj = self._candidates(q_hu, search)
        if self_join:
            keep = cj > ci
            ci, cj = ci[keep], cj[keep]
        order = np.lexsort((cj, ci))
        ci, cj = ci[order], cj[order]
        dup = np.zeros(ci.size, bool)
        dup[1:] = (ci[1:] == ci[:-1]) & (cj[1:] == cj[:-1])
        ci, cj = ci[~dup], cj[~dup]
        if ci.size == 0:
            return ci, cj, np.zeros(0)
        score = match_shapes_pairs(q_hu, self._base_data, ci, cj, self.method, self.threads)
        keep = score <= r
        return ci[keep], cj[keep], score[keep]


__all__ = ["BinaryIndex", "FloatIndex", "HuIndex"]

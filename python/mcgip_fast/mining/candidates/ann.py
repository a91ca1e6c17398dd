"""``candidates="ann"``: each item's C nearest scanpath embeddings, scored exactly afterwards.

Steps (`AnnCandidates.build`), all deterministic in the plan's seed:

1. **embed**: one Rust pass (`mcgip_core::embedding`) gives per-dimension blocks (log-duration
   histogram, quantiles and profile; saccade amplitude and direction histograms after the same
   simplification as MultiMatch; a coarse position map; saccade-vector statistics);
2. **fit**: block weights fitted in seconds by non-negative least squares so that the weighted
   squared L2 distance tracks ``sum(weights) - score`` on exact scores of sampled pairs;
3. **index**: FAISS over the weighted embeddings: exact flat L2 up to `FLAT_MAX_ITEMS` items,
   IVF-flat beyond (nlist ~ 2 sqrt(N), nprobe from C and N);
4. **calibrate**: `queries` random items are scored exactly one-vs-all; their recall with C
   candidates is measured and, with `target_recall`, C doubles until it is reached;
5. **search**: every item's C nearest become its listed partners (kept in the work directory,
   so a resumed run scores the very same pairs).

Each row's top-k is taken from its own C candidates (complete rows), so the recall the
calibration measures is the recall of the mined top-k; `measure` checks it again on the mined
edges. For threshold rules the recall is that of pairs above θ among the queries' candidates.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _core
from . import Exhaustive, Listed

#: Up to this many items the index is exact (flat L2); beyond, IVF.
FLAT_MAX_ITEMS = 50_000
#: Beyond this many items: PCA to PCA_DIMS dimensions before the IVF (see `_Index`).
LARGE_ITEMS = 200_000
PCA_DIMS = 48
#: Listed pairs per tile (rows per tile = this / C).
PAIRS_PER_TILE = 2_000_000
_SEARCH_BATCH = 16_384


@dataclass
class AnnCandidates:
    """Options of the ann candidate stage (see the module docs).

    Args:
        per_item: candidates per item C (default: ``max(8 k, 64)`` for top-k rules, 256 for thresholds).
        target_recall: raise C (doubling, up to `max_per_item`) until the measured recall reaches this, in (0, 1].
        queries: random items scored exactly one-vs-all to measure recall.
        fit_queries, fit_items: the sample of exact scores the block weights are fitted on.
        max_per_item: the largest C the recall target may ask for.
        auto: with ``candidates="auto"``: exact all-pairs when that scores fewer pairs.
    """

    per_item: int | None = None
    target_recall: float | None = None
    queries: int = 100
    fit_queries: int = 40
    fit_items: int = 2000
    max_per_item: int = 4096
    auto: bool = False
    # Filled by build():
    partners: np.ndarray | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    name = "ann"
    complete_rows = True

    # ------------------------------------------------------------------ plan
    def bind(self, plan):
        """Check the options against the plan; return the source to use (self, or exhaustive for auto)."""
        for name in ("queries", "fit_queries", "fit_items", "max_per_item"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.per_item is not None and (isinstance(self.per_item, bool) or not isinstance(self.per_item, int) or self.per_item < 1):
            raise ValueError(f"per_item (candidates per item) must be a positive integer, got {self.per_item!r}")
        if self.target_recall is not None and not (isinstance(self.target_recall, (int, float)) and 0 < self.target_recall <= 1):
            raise ValueError(f"target recall must lie in (0, 1], got {self.target_recall!r}")
        m = plan.report.n_scorable
        kind, value = plan.select
        if kind == "topk" and int(value) >= m:
            raise ValueError(f"k={int(value)} but only {m} items can be scored: each has at most {m - 1} partners")
        self.k = int(value) if kind == "topk" else None
        self.c0 = min(self.per_item or (max(8 * self.k, 64) if self.k else 256), m - 1)
        if self.auto:
            exact_cost = m * (m - 1) // 2
            ann_cost = m * self.c0 + min(self.queries, m) * m + self.fit_queries * self.fit_items
            if exact_cost <= ann_cost:
                plan.report.candidates = {"method": "exhaustive", "chosen_by": f"auto: all {exact_cost} pairs cost less than about {ann_cost} for ann"}
                return Exhaustive(plan)
        plan.params["candidates"] = "ann: scanpath embedding (Rust) + FAISS nearest neighbours, exact multimatch re-rank"
        plan.params["candidate_options"] = {
            "per_item": self.per_item, "target_recall": self.target_recall, "queries": self.queries,
            "fit_queries": self.fit_queries, "fit_items": self.fit_items, "max_per_item": self.max_per_item, "seed": plan.seed,
        }
        return self

    def tile_rows_hint(self, plan) -> int:
        return int(max(64, PAIRS_PER_TILE // self.c0))

    # ------------------------------------------------------------------ build
    def build(self, plan, workdir, tiles, threads, progress) -> None:
        saved = _load(workdir)
        if saved is not None:
            self.partners, self.info = saved
        else:
            self._build(plan, threads, progress)
            _save(workdir, self.partners, self.info)
        plan.params["candidates_per_item"] = self.info["per_item"]
        plan.report.candidates = self._report(plan)

    def _build(self, plan, threads, progress) -> None:
        import time

        scheme, state = plan.scheme, plan.state
        timings = {}
        t = time.perf_counter()
        blocks = embed_blocks(plan.archive, scheme, state, threads)
        block_names = list(blocks)
        timings["embed_s"] = time.perf_counter() - t
        rng = np.random.default_rng(plan.seed)
        active = np.flatnonzero(state.active)
        n_queries = min(self.queries, len(active))
        eval_queries = np.sort(rng.choice(active, n_queries, replace=False))
        t = time.perf_counter()
        weights = fit_block_weights(scheme, state, blocks, rng, self.fit_queries, self.fit_items, threads)
        # Blocks fitted to weight 0 add nothing to any distance: leave them out of the index.
        vectors = np.hstack([np.sqrt(w) * b for w, b in zip(weights, blocks.values()) if w > 0]).astype(np.float32)
        del blocks
        timings["fit_s"] = time.perf_counter() - t
        t = time.perf_counter()
        truth = exact_truth(scheme, state, eval_queries, plan.select, threads, progress)
        timings["exact_queries_s"] = time.perf_counter() - t
        t = time.perf_counter()
        index = _Index(vectors, active, plan.seed, threads)
        timings["index_s"] = time.perf_counter() - t
        t = time.perf_counter()
        c, trials = self.c0, []
        while True:
            index.set_probes(c)
            rec = recall_of(scheme, state, eval_queries, index.search(vectors[eval_queries], eval_queries, c), truth, plan.select, threads)
            trials.append({"per_item": c, "recall": rec["value"], "nprobe": index.nprobe})
            if self.target_recall is None or rec["value"] >= self.target_recall or c >= min(self.max_per_item, len(active) - 1):
                break
            c = min(2 * c, self.max_per_item, len(active) - 1)
        timings["calibrate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        self.partners = index.search_all(vectors, c, progress)
        timings["search_s"] = time.perf_counter() - t
        self.info = {
            "per_item": int(c), "index": index.describe(), "block_weights": dict(zip(block_names, map(float, weights))),
            "calibration": trials, "eval_queries": eval_queries.tolist(), "truth": truth, "timings": timings,
            "reached_target": self.target_recall is None or trials[-1]["recall"] >= self.target_recall,
            # Exact scores outside the tiles: the fit sample, the recall queries and the calibration lists.
            "extra_exact_pairs": int(self.fit_queries * self.fit_items + n_queries * (len(active) - 1)
                                     + sum(t["per_item"] for t in trials) * n_queries),
        }

    def _report(self, plan) -> dict[str, Any]:
        n = plan.report.n_scorable
        info = self.info
        return {
            "method": "ann",
            "per_item": info["per_item"],
            "index": info["index"],
            "exact_fraction": (n * info["per_item"]) / max(1, n * (n - 1) // 2),
            "exact_fraction_with_recall_queries": (n * info["per_item"] + info.get("extra_exact_pairs", 0)) / max(1, n * (n - 1) // 2),
            "block_weights": info["block_weights"],
            "calibration": info["calibration"],
            "reached_target": info["reached_target"],
            "extra_exact_pairs": info.get("extra_exact_pairs"),
            "target_recall": self.target_recall,
            "timings": {k: round(v, 3) for k, v in info["timings"].items()},
            "eval_queries": info["eval_queries"],
            "recall": None,
        }

    # ------------------------------------------------------------------ score stage
    def tile_work(self, plan, start: int, end: int) -> int:
        return (end - start) * self.partners.shape[1]

    def listed(self, start: int, end: int) -> Listed:
        return Listed(start, self.partners[start:end], mirror=False)

    # ------------------------------------------------------------------ after selection
    def measure(self, plan, row, col, score, threads) -> None:
        """Recall of the mined rows of the sampled queries against their exact one-vs-all scores."""
        queries = np.asarray(self.info["eval_queries"], dtype=np.int64)
        truth = self.info["truth"]
        order = np.argsort(row, kind="stable")
        row, col, score = row[order], col[order], score[order]
        found = []
        for q in queries:
            a, b = np.searchsorted(row, [q, q + 1])
            found.append(score[a:b])
        plan.report.candidates["recall"] = _recall_value(found, truth, plan.select)


# ---------------------------------------------------------------------- embedding and fit
def embed_blocks(archive, scheme, state, threads) -> dict[str, np.ndarray]:
    """The Rust embedding split into its blocks, each centred and scaled to unit mean squared norm."""
    act = state.active
    logd = np.log(np.maximum(state.duration, 1e-12))
    lo, hi = np.quantile(logd, [0.005, 0.995]) if len(logd) else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    e = _core.mining_scanpath_embedding(state, scheme.multimatch_params(), (float(lo), float(hi)), threads=threads)
    out, at = {}, 0
    for name, width in _core.mining_embedding_blocks():
        b = e[:, at:at + width].astype(np.float64)
        at += width
        b -= b[act].mean(axis=0)
        scale = math.sqrt(float((b[act] ** 2).sum(axis=1).mean()))
        out[name] = b / scale if scale > 0 else b
    return out


def fit_block_weights(scheme, state, blocks, rng, fit_queries: int, fit_items: int, threads) -> np.ndarray:
    """Non-negative block weights w with ``sum(w_b |Δe_b|²) + c ≈ sum(weights) - score`` on sampled pairs.

    Pairs are each fit query against random items; the best-scoring tenth count five times, since
    the nearest neighbours are what the index must rank well.
    """
    from scipy.optimize import nnls

    active = np.flatnonzero(state.active)
    qs = rng.choice(active, min(fit_queries, len(active)), replace=False)
    rows, target, weight = [], [], []
    top = float(sum(scheme.weights))
    for q in qs:
        items = rng.choice(active, min(fit_items, len(active)), replace=False)
        items = items[items != q]
        s = scheme.score_pairs(state, np.full(len(items), q), items, threads)
        ok = ~np.isnan(s)
        items, s = items[ok], s[ok]
        if len(s) == 0:
            continue
        rows.append(np.stack([((b[items] - b[q]) ** 2).sum(axis=1) for b in blocks.values()], axis=1))
        target.append(top - s)
        weight.append(np.where(s >= np.quantile(s, 0.9), 5.0, 1.0))
    if not rows:
        return np.ones(len(blocks))
    a = np.vstack(rows)
    a = np.hstack([a, np.ones((len(a), 1))])
    sw = np.sqrt(np.concatenate(weight))
    w, _ = nnls(a * sw[:, None], np.concatenate(target) * sw)
    w = w[:-1]
    return w if w.sum() > 0 else np.ones(len(blocks))


# ---------------------------------------------------------------------- exact truth and recall
def exact_truth(scheme, state, queries: np.ndarray, select, threads, progress) -> dict[str, list]:
    """Per query, from exact one-vs-all scores: the k-th best score (top-k) or the count above θ."""
    others = np.flatnonzero(state.active).astype(np.int64)
    kind, value = select
    out = {"kth": [], "above": []}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(queries), desc="exact one-vs-all (recall queries)", unit="query")
    # Several queries per call, so the archive is prepared once per batch, not once per query.
    per_call = max(1, 4_000_000 // max(1, len(others)))
    for a in range(0, len(queries), per_call):
        batch = np.asarray(queries[a:a + per_call], dtype=np.int64)
        scores = scheme.score_pairs(state, np.repeat(batch, len(others)), np.tile(others, len(batch)), threads).reshape(len(batch), -1)
        for q, s in zip(batch, scores):
            s = s[(others != q) & ~np.isnan(s)]
            if kind == "topk":
                kk = min(int(value), len(s))
                out["kth"].append(float(np.partition(s, len(s) - kk)[len(s) - kk]) if kk else float("inf"))
            else:
                out["above"].append(int((s > value).sum()))
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return out


def recall_of(scheme, state, queries, partners: np.ndarray, truth, select, threads) -> dict[str, Any]:
    """Recall of each query's candidate list: score the listed pairs exactly, keep the rule's best."""
    found = []
    kind, value = select
    for q, cand in zip(queries, partners):
        cand = cand[cand >= 0].astype(np.int64)
        s = scheme.score_pairs(state, np.full(len(cand), q, dtype=np.int64), cand, threads) if len(cand) else np.zeros(0)
        s = s[~np.isnan(s)]
        found.append(np.sort(s)[::-1][: int(value)] if kind == "topk" else s[s > value])
    return _recall_value(found, truth, select)


def _recall_value(found: list[np.ndarray], truth, select) -> dict[str, Any]:
    """Top-k: share of each query's exact top-k found (a found score tied with the k-th counts); θ: share of pairs above θ found."""
    kind, value = select
    if kind == "topk":
        k = int(value)
        hits = sum(min(k, int((f >= kth).sum())) for f, kth in zip(found, truth["kth"]))
        total = k * len(found)
        what = f"recall@{k} of each query's top-{k} (ties at the k-th score count as found)"
    else:
        hits = sum(int((f > value).sum()) for f in found)
        total = int(sum(truth["above"]))
        what = f"share of the queries' pairs with score > {value:.6g} that were found"
    p = hits / total if total else 1.0
    return {"what": what, "value": p, "queries": len(found), "found": hits, "of": total, "ci95": list(_wilson(hits, total))}


def _wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    if total == 0:
        return (1.0, 1.0)
    p = hits / total
    den = 1 + z * z / total
    mid = (p + z * z / (2 * total)) / den
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


# ---------------------------------------------------------------------- FAISS
@contextmanager
def _per_vector_distances():
    """FAISS computes distances through BLAS for batches of `distance_compute_blas_threshold`
    queries or more (20 in older releases, 128,000 in faiss 1.15), and BLAS rounds differently
    at different thread counts. Below it, each query's distances are summed whole by one thread:
    the same at any thread count. Raised for our calls only, then put back."""
    import faiss

    before = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 2**31 - 1
    try:
        yield
    finally:
        faiss.cvar.distance_compute_blas_threshold = before


def _train_pca_one_thread(pca, sample: np.ndarray) -> None:
    """FAISS trains a PCA through BLAS (covariance, eigenvectors): on one thread it is the same at
    any thread count. A small share of the index cost."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        pca.train(sample)
    finally:
        faiss.omp_set_num_threads(before)


class _Index:
    """FAISS L2 over the active items' vectors: flat (exact) up to `FLAT_MAX_ITEMS`, IVF-flat beyond.

    Lists are the same at any thread count: distances are computed per vector, never through
    BLAS (`_per_vector_distances`), and the PCA projection is applied here with `np.einsum`
    (fixed order), not by FAISS through BLAS. With BLAS, 1M items gave 106-126 different
    candidate lists at 1 and 2 threads.
    """

    def __init__(self, vectors: np.ndarray, active: np.ndarray, seed: int, threads) -> None:
        import faiss

        if threads:
            faiss.omp_set_num_threads(int(threads))
        with _per_vector_distances():
            self._build(faiss, vectors, active, seed)
        self.nprobe = 0

    def _build(self, faiss, vectors: np.ndarray, active: np.ndarray, seed: int) -> None:
        d = vectors.shape[1]
        self.n_items = len(vectors)
        m = len(active)
        ids = active.astype(np.int64)
        self.pca, self._projection = 0, None
        rng = np.random.default_rng(seed)
        if m <= FLAT_MAX_ITEMS:
            self.kind, self.nlist = "flat", 0
            self.index = faiss.IndexIDMap(faiss.IndexFlatL2(d))
        elif m <= LARGE_ITEMS:
            self.kind = "ivf"
            self.nlist = int(min(16384, max(64, 2 * math.sqrt(m))))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, self.nlist)
            self.index.cp.seed = int(seed)
            self.index.train(vectors[np.sort(rng.choice(ids, min(m, 64 * self.nlist), replace=False))])
        else:
            # Beyond LARGE_ITEMS the index costs more than the re-ranking: PCA to PCA_DIMS and
            # nlist ~ sqrt(8 m) (assigning and scanning cost about the same), 10 k-means rounds.
            self.kind, self.pca = "pca+ivf", min(PCA_DIMS, d)
            self.nlist = int(min(16384, max(64, math.sqrt(8 * m))))
            sample = vectors[np.sort(rng.choice(ids, min(m, 32 * self.nlist), replace=False))]
            pca = faiss.PCAMatrix(d, self.pca)
            _train_pca_one_thread(pca, sample)
            self._projection = (faiss.vector_to_array(pca.A).reshape(self.pca, d), faiss.vector_to_array(pca.b))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(self.pca), self.pca, self.nlist)
            self.index.cp.seed, self.index.cp.niter = int(seed), 10
            self.index.train(self._project(sample))
        for a in range(0, m, _SEARCH_BATCH):  # in batches: the projected copy stays small
            part = ids[a:a + _SEARCH_BATCH]
            self.index.add_with_ids(self._project(vectors[part]), part)
        self.m = m

    def _project(self, x: np.ndarray) -> np.ndarray:
        """The vectors the index holds: PCA-projected (y = A x + b, as FAISS's PCAMatrix) or as given."""
        if self._projection is None:
            return np.ascontiguousarray(x, dtype=np.float32)
        a, b = self._projection
        return np.ascontiguousarray(np.einsum("nd,kd->nk", x, a) + b, dtype=np.float32)

    def set_probes(self, c: int) -> None:
        """Probe enough lists to scan about 16 C vectors (at least 8 lists)."""
        if self.kind != "flat":
            self.nprobe = int(min(self.nlist, max(8, math.ceil(16 * c * self.nlist / self.m))))
            self.index.nprobe = self.nprobe

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "items": self.m, "nlist": self.nlist, "nprobe": self.nprobe, "pca_dims": self.pca, "metric": "L2"}

    def search(self, queries: np.ndarray, query_ids: np.ndarray, c: int) -> np.ndarray:
        """(len(queries), c) nearest ids without the query itself, -1 where fewer."""
        with _per_vector_distances():
            _, nbr = self.index.search(self._project(queries), c + 1)
        out = np.full((len(queries), c), -1, dtype=np.int64)
        for r in range(len(queries)):
            row = nbr[r][(nbr[r] >= 0) & (nbr[r] != query_ids[r])][:c]
            out[r, : len(row)] = row
        return out

    def search_all(self, vectors: np.ndarray, c: int, progress: bool) -> np.ndarray:
        """Every item's c nearest (int32 when ids fit), in batches."""
        n = self.n_items
        dtype = np.int32 if n < 2**31 else np.int64
        out = np.full((n, c), -1, dtype=dtype)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"candidates ({self.kind}, {c} per item)", unit="item", unit_scale=True)
        for a in range(0, n, _SEARCH_BATCH):
            b = min(a + _SEARCH_BATCH, n)
            with _per_vector_distances():
                _, nbr = self.index.search(self._project(vectors[a:b]), c + 1)
            own = np.arange(a, b)[:, None]
            is_self = nbr == own
            # Drop each row's own id, or its last entry when it is absent.
            missing = ~is_self.any(axis=1)
            is_self[missing, -1] = True
            out[a:b] = nbr[~is_self].reshape(b - a, c)
            if bar is not None:
                bar.update(b - a)
        if bar is not None:
            bar.close()
        return out


# ---------------------------------------------------------------------- work directory
def _load(workdir):
    if workdir is None:
        return None
    meta_path = workdir.path / "candidates.json"
    if not meta_path.exists():
        return None
    from ..workdir import CorruptTileError

    try:
        info = json.loads(meta_path.read_text())
        with np.load(workdir.path / "candidates.npz", allow_pickle=False) as z:
            partners = z["partners"]
    except Exception as e:
        raise CorruptTileError(f"{workdir.path}: unreadable candidate lists ({type(e).__name__}: {e}); delete candidates.* and resume") from e
    import hashlib

    if hashlib.sha256(partners.tobytes()).hexdigest() != info.get("partners_sha256"):
        raise CorruptTileError(f"{workdir.path / 'candidates.npz'}: checksum mismatch; delete candidates.* and resume")
    return partners, info


def _save(workdir, partners: np.ndarray, info: dict) -> None:
    if workdir is None:
        return
    import hashlib

    from ..pairs import npz_bytes
    from ..workdir import write_atomic

    write_atomic(workdir.path / "candidates.npz", npz_bytes({"partners": partners}))
    info["partners_sha256"] = hashlib.sha256(partners.tobytes()).hexdigest()
    write_atomic(workdir.path / "candidates.json", json.dumps(info, default=float).encode())

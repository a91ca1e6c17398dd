"""Pairwise gaze measures over an archive, and how well they agree with groups or labels.

One home for the metrics that the real-data study (`mcgip_fast.report.study`) and
`mcgip inspect` (`mcgip_fast.report.inspect`) both report:

* **pair AUC**: ROC-AUC of "same group" (same image, or same label) over pairs, ties counted
  half, NaN ranked last;
* **retrieval top-1**: for a query, is the highest-scoring other item a same-group item? Ties at
  the top count fractionally (the expected top-1 under a random tie-break);
* **hub correction** (CSLS): ``2 s(i, j) - r_i - r_j``, discounting items close to everything.

Two ways to feed them:

* **dense** (N x N score matrices; the study, N <= a few thousand): `retrieval_top1`,
  `pair_auc`, `hub_corrected`, and `RankedScores` to score many subsets of the same pairs
  (cross-validation folds) in O(pairs) each, without re-sorting;
* **sampled pairs** (archives too large for N x N; `mcgip inspect`): `sample_group_pairs`
  draws every within-group pair (up to a cap) and random between-group pairs, and says what it
  drew; `auc` scores them; `retrieval_sample` + `top1_on_sample` retrieve each sampled query's
  partners among a random gallery of the same size for every query.

Memory: no function here allocates more than O(pairs) plus fixed-size chunks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: Largest (rows x pairs) block ranked at once by `auc_rows` (bounds its memory to ~100 MB).
AUC_ROWS_CHUNK_ELEMENTS = 1 << 21
#: Query rows scored at once by the chunked dense helpers.
ROW_CHUNK = 256


# --------------------------------------------------------------------------- ranking and AUC
def clean_scores(scores: np.ndarray) -> np.ndarray:
    """A float64 copy with NaN and +-inf set to -inf (they rank last)."""
    s = np.array(scores, dtype=np.float64, copy=True)
    s[~np.isfinite(s)] = -np.inf
    return s


class RankedScores:
    """One fixed score per pair, sorted once, so that the ROC-AUC of "positive" within any
    categories of the pairs (e.g. a cross-validation fold's training and held-out pairs) costs
    one gather and one cumulative sum, not a sort.

    Ties count half and non-finite scores tie below every finite score; the AUC equals ranking
    each category's scores with ``scipy.stats.rankdata`` (average ranks are half-integers, so the
    sums are exact). Memory: one int32 index per pair plus three per positive.
    """

    def __init__(self, scores: np.ndarray, positive: np.ndarray) -> None:
        s = clean_scores(np.asarray(scores).ravel())
        positive = np.asarray(positive, dtype=bool)
        self.order = np.argsort(s, kind="stable").astype(np.int32 if len(s) < 2**31 - 1 else np.int64)
        sv = s[self.order]
        new_group = np.ones(len(sv), dtype=bool)
        new_group[1:] = sv[1:] != sv[:-1]
        starts = np.flatnonzero(new_group)
        ends = np.append(starts[1:], len(sv))  # exclusive
        where = np.flatnonzero(positive[self.order])  # sorted positions of the positives
        group = np.searchsorted(starts, where, side="right") - 1
        self.pos_pair = self.order[where]
        self.pos_start, self.pos_end = starts[group], ends[group]

    def auc(self, category: np.ndarray | None = None, n_categories: int = 1) -> np.ndarray:
        """AUC within each category (`category[k]` in 0..n_categories-1 for pair k; default one
        category of every pair); NaN for a category without both classes."""
        if category is None:
            category = np.zeros(len(self.order), dtype=np.int8)
        cat_sorted = category[self.order]
        pos_cat = category[self.pos_pair]
        out = np.full(n_categories, np.nan)
        for c in range(n_categories):
            seen = np.zeros(len(cat_sorted) + 1, dtype=np.int64)  # seen[k]: category-c pairs among the k lowest
            np.cumsum(cat_sorted == c, out=seen[1:])
            sel = pos_cat == c
            n_pos = int(sel.sum())
            n_neg = int(seen[-1]) - n_pos
            if n_pos == 0 or n_neg == 0:
                continue
            below = seen[self.pos_start[sel]]
            tied = seen[self.pos_end[sel]] - below
            rank_sum = float(below.sum()) + float((tied + 1).sum()) / 2.0  # average ranks, 1-based
            out[c] = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return out


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC of `positive` against the rest over 1-D `scores`; ties half, NaN ranks last."""
    return float(RankedScores(scores, positive).auc()[0])


def auc_rows(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of `scores` (W, P) against labels `positive` (P,), ties half, e.g. for
    a grid of weight vectors. Counts, for every positive, the negatives below it (sorted negatives
    + binary search), in chunks of rows so that memory stays bounded for any W."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    out = np.full(len(scores), np.nan)
    if n_pos == 0 or n_neg == 0:
        return out
    step = max(1, AUC_ROWS_CHUNK_ELEMENTS // max(1, scores.shape[1]))
    for a in range(0, len(scores), step):
        block = scores[a:a + step]
        negs = np.sort(block[:, ~positive], axis=1)
        poss = block[:, positive]
        for k in range(len(block)):
            lo = np.searchsorted(negs[k], poss[k], side="left")
            hi = np.searchsorted(negs[k], poss[k], side="right")
            out[a + k] = (lo.sum() + (hi - lo).sum() / 2) / (n_pos * n_neg)
    return out


# --------------------------------------------------------------------------- dense N x N
def upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair (i < j) in row-major order, as int32 arrays (int64 past 46k items)."""
    dtype = np.int32 if n < 46_000 else np.int64
    i, j = np.triu_indices(n, 1)
    return i.astype(dtype), j.astype(dtype)


def top1_of_rows(block: np.ndarray, queries: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Top-1 of each query from its score row: `block[a]` scores query `queries[a]` against all N
    items (higher = more alike). The query itself never counts; ties at the top score p / t
    (t tied, p of them same-group). NaN for a query without a same-group partner."""
    s = clean_scores(block)
    q = np.asarray(queries)
    rows = np.arange(len(q))
    s[rows, q] = -np.inf
    same = groups[q][:, None] == groups[None, :]
    same[rows, q] = False
    top = s == s.max(axis=1, keepdims=True)
    out = (same & top).sum(axis=1) / top.sum(axis=1)
    out[~same.any(axis=1)] = np.nan
    return out


def retrieval_top1(scores: np.ndarray, groups: np.ndarray, queries: np.ndarray | None = None) -> float:
    """Mean top-1 retrieval of a same-group item over `queries` (default: all items).

    `scores` is (N, N), higher = more similar; the diagonal is ignored. A query whose top score
    is shared by t candidates, p of them same-group, scores p / t. NaN scores rank last.
    Queries without any same-group partner are skipped.
    """
    groups = np.asarray(groups)
    q = np.arange(len(scores)) if queries is None else np.asarray(queries, dtype=np.int64)
    vals = np.concatenate(
        [top1_of_rows(scores[q[a:a + ROW_CHUNK]], q[a:a + ROW_CHUNK], groups) for a in range(0, len(q), ROW_CHUNK)]
    ) if len(q) else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    return float(np.mean(vals)) if len(vals) else float("nan")


def pair_auc(scores: np.ndarray, groups: np.ndarray, rows: np.ndarray | None = None) -> float:
    """ROC-AUC of "same group" over unordered pairs (i < j), ties counted half; NaN ranks last.

    With `rows`, only pairs with at least one item in `rows` count.
    """
    groups = np.asarray(groups)
    iu, ju = upper_pairs(len(groups))
    if rows is not None:
        member = np.zeros(len(groups), dtype=bool)
        member[np.asarray(rows)] = True
        keep = member[iu] | member[ju]
        iu, ju = iu[keep], ju[keep]
    return auc(np.asarray(scores)[iu, ju], groups[iu] == groups[ju])


def hub_means(scores: np.ndarray, k: int = 5) -> np.ndarray:
    """r_i: the mean of item i's k highest similarities to other items (NaN ignored; 0 if none)."""
    n = len(scores)
    k = max(1, min(k, n - 1))
    r = np.empty(n)
    for a in range(0, n, ROW_CHUNK):
        t = clean_scores(scores[a:a + ROW_CHUNK])
        t[np.arange(len(t)), np.arange(a, a + len(t))] = -np.inf
        # the k largest, in ascending order (so the mean sums them in a fixed order)
        top = np.sort(np.partition(t, n - k, axis=1)[:, n - k:], axis=1)
        top[~np.isfinite(top)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row gets r = 0 below
            r[a:a + len(t)] = np.nan_to_num(np.nanmean(top, axis=1), nan=0.0)
    return r


def hub_correct_at(scores: np.ndarray, r: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """CSLS scores ``2 s(i, j) - r_i - r_j`` of the pairs (i, j) (NaN where s is not finite)."""
    s = clean_scores(scores[i, j])
    out = 2 * s - r[i] - r[j]
    out[~np.isfinite(s)] = np.nan
    return out


def hub_corrected(scores: np.ndarray, k: int = 5) -> np.ndarray:
    """Cross-domain similarity local scaling (CSLS): ``2 s(i, j) - r_i - r_j``, where r_i is the mean
    of item i's k highest similarities to other items.

    An item that is close to everything (a "hub": e.g. a scanpath that stays near the screen
    centre) is discounted, so it stops winning every query. Uses no labels.
    """
    r = hub_means(scores, k)
    s = clean_scores(scores)
    out = 2 * s - r[:, None] - r[None, :]
    out[~np.isfinite(s)] = np.nan
    return out


# --------------------------------------------------------------------------- sampled pairs
@dataclass
class PairSample:
    """Pairs drawn from an archive for agreement metrics, with what was drawn (to state it)."""

    i: np.ndarray
    j: np.ndarray
    positive: np.ndarray  # same group (same image / same label)
    positive_total: int  # same-group pairs in the whole archive
    negative_total: int  # different-group pairs in the whole archive
    seed: int

    @property
    def n_positive(self) -> int:
        return int(self.positive.sum())

    @property
    def n_negative(self) -> int:
        return int(len(self.positive) - self.positive.sum())

    @property
    def exhaustive(self) -> bool:
        return self.n_positive == self.positive_total and self.n_negative == self.negative_total

    def describe(self) -> str:
        if self.exhaustive:
            return f"all {self.positive_total:,} same-group and {self.negative_total:,} different-group pairs"
        return (
            f"{self.n_positive:,} of {self.positive_total:,} same-group pairs and {self.n_negative:,} of "
            f"{self.negative_total:,} different-group pairs, drawn uniformly at random with replacement (seed {self.seed})"
        )


def _group_codes(groups: np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.int64)


def sample_group_pairs(groups: np.ndarray, max_positive: int, max_negative: int, seed: int = 0) -> PairSample:
    """Unordered pairs (i < j) of items: same-group pairs (every one, or a uniform sample of
    `max_positive`) and a uniform sample of `max_negative` different-group pairs (every one if
    there are fewer). Deterministic in `seed`; memory O(max_positive + max_negative + N) once the
    archive has more pairs than the caps."""
    codes = _group_codes(groups)
    n = len(codes)
    rng = np.random.default_rng(seed)
    sizes = np.bincount(codes)
    pos_total = int((sizes * (sizes - 1) // 2).sum())
    neg_total = n * (n - 1) // 2 - pos_total

    # same-group pairs: enumerate group by group unless there are too many
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    if pos_total <= max_positive:
        blocks = []
        for g in np.flatnonzero(sizes > 1):
            members = order[starts[g]:starts[g + 1]]
            a, b = np.triu_indices(len(members), 1)
            blocks.append(np.stack([members[a], members[b]], axis=1))
        pos = np.concatenate(blocks) if blocks else np.zeros((0, 2), np.int64)
    else:
        # pick a group with probability proportional to its pair count, then two distinct members
        weights = (sizes * (sizes - 1) / 2) / pos_total
        g = rng.choice(len(sizes), size=max_positive, p=weights)
        a = rng.integers(0, sizes[g])
        b = rng.integers(0, sizes[g] - 1)
        b = b + (b >= a)
        pos = np.stack([order[starts[g] + a], order[starts[g] + b]], axis=1)
    # different-group pairs: rejection sampling (exhaustive when small)
    if neg_total <= max_negative:
        iu, ju = upper_pairs(n)
        keep = codes[iu] != codes[ju]
        neg = np.stack([iu[keep], ju[keep]], axis=1).astype(np.int64)
    else:
        chunks, have = [], 0
        while have < max_negative:
            a = rng.integers(0, n, size=2 * (max_negative - have) + 16)
            b = rng.integers(0, n, size=len(a))
            ok = codes[a] != codes[b]
            chunks.append(np.stack([a[ok], b[ok]], axis=1))
            have += int(ok.sum())
        neg = np.concatenate(chunks)[:max_negative]
    pairs = np.concatenate([pos, neg]).astype(np.int64)
    pairs.sort(axis=1)
    positive = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    return PairSample(pairs[:, 0], pairs[:, 1], positive, pos_total, neg_total, seed)


@dataclass
class RetrievalSample:
    """Sampled top-1 retrieval: each query's candidates are all of its same-group partners and a
    random gallery of different-group items; candidate pair k is (i[k], j[k]) of query owner[k]."""

    i: np.ndarray
    j: np.ndarray
    owner: np.ndarray
    is_partner: np.ndarray
    n_queries: int


def retrieval_sample(groups: np.ndarray, n_queries: int, gallery: int, seed: int = 0) -> RetrievalSample:
    """Up to `n_queries` random queries (items with a same-group partner), each with every partner
    and `gallery` distinct random different-group items (all of them if there are no more) as candidates. For archives too large to score
    every pair; score the pairs (i, j) with any measure and pass them to `top1_on_sample`."""
    codes = _group_codes(groups)
    n = len(codes)
    sizes = np.bincount(codes)
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(sizes[codes] > 1)
    if len(eligible) == 0:
        z = np.zeros(0, np.int64)
        return RetrievalSample(z, z, z, np.zeros(0, bool), 0)
    queries = np.sort(rng.choice(eligible, size=min(n_queries, len(eligible)), replace=False))
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    qi, cj, owner, partner = [], [], [], []
    for a, q in enumerate(queries):
        g = codes[q]
        partners = order[starts[g]:starts[g + 1]]
        partners = partners[partners != q]
        if n - sizes[g] <= gallery:  # small archive: every other-group item
            others = np.flatnonzero(codes != g)
        else:  # distinct random other-group items
            others = np.zeros(0, np.int64)
            while len(others) < gallery:
                draw = rng.integers(0, n, size=2 * gallery + 16)
                others = np.concatenate([others, draw[codes[draw] != g]])
                others = others[np.sort(np.unique(others, return_index=True)[1])]
            others = others[:gallery]
        cand = np.concatenate([partners, others])
        qi.append(np.full(len(cand), q))
        cj.append(cand)
        owner.append(np.full(len(cand), a))
        partner.append(np.arange(len(cand)) < len(partners))
    cat = lambda v: np.concatenate(v)  # noqa: E731
    return RetrievalSample(cat(qi), cat(cj), cat(owner), cat(partner), len(queries))


def top1_on_sample(sample: RetrievalSample, scores: np.ndarray) -> tuple[float, float]:
    """(mean top-1, chance top-1) of a `retrieval_sample` scored by `scores` (one per candidate
    pair, higher = more alike). A query whose top score is shared by t candidates, p of them
    partners, scores p / t; NaN ranks last. Chance is the mean of partners / candidates."""
    if sample.n_queries == 0:
        return float("nan"), float("nan")
    s = clean_scores(scores)
    q = sample.n_queries
    best = np.full(q, -np.inf)
    np.maximum.at(best, sample.owner, s)
    top = s == best[sample.owner]
    hits = np.bincount(sample.owner, weights=top & sample.is_partner, minlength=q)
    ties = np.bincount(sample.owner, weights=top, minlength=q)
    cands = np.bincount(sample.owner, minlength=q)
    partners = np.bincount(sample.owner, weights=sample.is_partner, minlength=q)
    return float(np.mean(hits / ties)), float(np.mean(partners / cands))

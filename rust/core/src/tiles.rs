//! Tiled all-pairs scoring with bounded memory, shared by every symmetric measure.
//!
//! Mining needs, for every item, its best partners (top-k) or every partner above a threshold,
//! without ever holding an N x N matrix. Work is split into *tiles*: a tile is a range of rows.
//!
//! **Each unordered pair is scored exactly once** (the measures are symmetric), using the balanced
//! "circulant" split: row `i` owns the columns `i+1, i+2, ... (mod n)` up to half the circle, so every
//! row does the same amount of work and tiles of equal row count cost the same. The score of a pair is
//! always computed as `score(min(i, j), max(i, j))`, so it does not depend on which row owns the pair.
//!
//! A tile returns *candidate edges*: with [`Select::TopK`], the k best partners each row found among
//! the pairs the tile scored, in both directions (for the tile's own rows and for every column the
//! tile touched); with [`Select::Above`], every owned pair scoring above the threshold once, as
//! `(min, max)`. A row's global top-k is the top-k of the union of its candidates over all tiles
//! (see [`merge_topk`]), so tiles can be computed in any order, on any machine, and resumed.
//!
//! Order: higher score first, ties broken by the smaller partner index. NaN scores are never
//! selected; they are counted so the caller can report them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use rayon::prelude::*;

use crate::error::Result;
use crate::invalid;

/// What a tile keeps of the scores it computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Select {
    /// The k best partners per item (k >= 1).
    TopK(usize),
    /// Every pair with score strictly above the threshold (McGIP's `sim > theta`).
    Above(f64),
}

/// Sparse output of one tile: directed candidate edges plus counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TileEdges {
    pub row: Vec<i64>,
    pub col: Vec<i64>,
    pub score: Vec<f64>,
    /// Pairs whose score was computed (both items active).
    pub scored_pairs: u64,
    /// Scored pairs whose score came out NaN (never selected).
    pub nan_pairs: u64,
}

impl TileEdges {
    fn push(&mut self, row: usize, col: usize, score: f64) {
        self.row.push(row as i64);
        self.col.push(col as i64);
        self.score.push(score);
    }
}

/// Number of columns row `i` owns in the circulant split of `n` items.
///
/// Rows own `(n - 1) / 2` columns each; when `n` is even, the pair at distance `n / 2` is owned by
/// the smaller index, so rows `i < n / 2` own one more.
pub fn circulant_width(n: usize, i: usize) -> usize {
    if n < 2 {
        return 0;
    }
    let half = (n - 1) / 2;
    if n % 2 == 0 && i < n / 2 {
        half + 1
    } else {
        half
    }
}

/// The `d`-th column owned by row `i` (`d < circulant_width(n, i)`).
#[inline]
pub fn circulant_col(n: usize, i: usize, d: usize) -> usize {
    (i + 1 + d) % n
}

/// Unordered pairs owned by rows `rows` (the work of that tile).
pub fn circulant_pairs(n: usize, rows: Range<usize>) -> u64 {
    rows.map(|i| circulant_width(n, i) as u64).sum()
}

/// A candidate partner: `better` means higher score, then smaller index.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f64,
    index: usize,
}

impl Candidate {
    fn better_than(&self, other: &Candidate) -> bool {
        self.score > other.score || (self.score == other.score && self.index < other.index)
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// The heap's maximum is the *worst* candidate, so it is the one evicted.
    fn cmp(&self, other: &Self) -> Ordering {
        if self.better_than(other) {
            Ordering::Less
        } else if other.better_than(self) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }
}

/// Bounded best-k collection with deterministic tie-breaking (scores must not be NaN).
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    pub fn push(&mut self, score: f64, index: usize) {
        let c = Candidate { score, index };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(worst) = self.heap.peek() {
            if c.better_than(worst) {
                self.heap.pop();
                self.heap.push(c);
            }
        }
    }

    /// (index, score), best first.
    pub fn into_sorted(self) -> Vec<(usize, f64)> {
        self.heap.into_sorted_vec().into_iter().map(|c| (c.index, c.score)).collect()
    }
}

/// Score the pairs owned by `rows` and keep what `select` asks for.
///
/// `active[i] == false` marks items the measure cannot score (e.g. scanpaths with fewer than 3
/// fixations for MultiMatch): their pairs are neither scored nor counted. `score(a, b)` is called
/// with `a < b` only. Memory: one score buffer of `rows.len() * ceil((n - 1) / 2)` values, plus
/// `n * k` candidates for top-k. The result does not depend on the thread count.
pub fn circulant_tile<F>(n: usize, rows: Range<usize>, active: &[bool], select: Select, score: F) -> Result<TileEdges>
where
    F: Fn(usize, usize) -> f64 + Sync,
{
    if rows.start > rows.end || rows.end > n {
        return invalid!("tile rows {}..{} are out of range for {n} items", rows.start, rows.end);
    }
    if active.len() != n {
        return invalid!("active mask has {} entries for {n} items", active.len());
    }
    match select {
        Select::TopK(0) => return invalid!("k must be at least 1, got 0"),
        Select::Above(t) if t.is_nan() => return invalid!("threshold must not be NaN"),
        _ => {}
    }
    let width = circulant_width(n, 0);
    let start = rows.start;
    let n_rows = rows.len();
    let mut buffer = vec![f64::NAN; n_rows * width.max(1)];
    let counts: Vec<(u64, u64)> = buffer
        .par_chunks_mut(width.max(1))
        .enumerate()
        .map(|(r, out)| {
            let i = start + r;
            let (mut scored, mut nan) = (0u64, 0u64);
            if !active[i] {
                return (0, 0);
            }
            for (d, slot) in out.iter_mut().enumerate().take(circulant_width(n, i)) {
                let j = circulant_col(n, i, d);
                if !active[j] {
                    continue;
                }
                let s = score(i.min(j), i.max(j));
                scored += 1;
                if s.is_nan() {
                    nan += 1;
                }
                *slot = s;
            }
            (scored, nan)
        })
        .collect();
    let mut edges = TileEdges {
        scored_pairs: counts.iter().map(|c| c.0).sum(),
        nan_pairs: counts.iter().map(|c| c.1).sum(),
        ..Default::default()
    };
    if width == 0 {
        return Ok(edges);
    }
    let row_scores = |r: usize| {
        let i = start + r;
        let w = circulant_width(n, i);
        buffer[r * width..r * width + w].iter().enumerate().map(move |(d, &s)| (circulant_col(n, i, d), s))
    };

    match select {
        Select::Above(theta) => {
            for r in 0..n_rows {
                let i = start + r;
                for (j, s) in row_scores(r) {
                    if s > theta {
                        edges.push(i.min(j), i.max(j), s);
                    }
                }
            }
        }
        Select::TopK(k) => {
            // Each tile row's best partners among the columns it owns.
            let by_row: Vec<Vec<(usize, f64)>> = (0..n_rows)
                .into_par_iter()
                .map(|r| {
                    let mut top = TopK::new(k);
                    for (j, s) in row_scores(r) {
                        if !s.is_nan() {
                            top.push(s, j);
                        }
                    }
                    top.into_sorted()
                })
                .collect();
            // Each column's best partners among the tile's rows that own it.
            let by_col: Vec<Vec<(usize, f64)>> = (0..n)
                .into_par_iter()
                .map(|j| {
                    let mut top = TopK::new(k);
                    for r in 0..n_rows {
                        let i = start + r;
                        let d = (j + n - i - 1) % n;
                        if i != j && d < circulant_width(n, i) {
                            let s = buffer[r * width + d];
                            if !s.is_nan() {
                                top.push(s, i);
                            }
                        }
                    }
                    top.into_sorted()
                })
                .collect();
            for (r, cands) in by_row.into_iter().enumerate() {
                for (j, s) in cands {
                    edges.push(start + r, j, s);
                }
            }
            for (j, cands) in by_col.into_iter().enumerate() {
                for (i, s) in cands {
                    edges.push(j, i, s);
                }
            }
        }
    }
    Ok(edges)
}

/// Merge candidate edges into each row's top-k: returns edges sorted by row, best first.
///
/// Duplicate (row, col) candidates are allowed (they carry the same score) and kept once.
pub fn merge_topk(n: usize, k: usize, row: &[i64], col: &[i64], score: &[f64]) -> Result<TileEdges> {
    if k == 0 {
        return invalid!("k must be at least 1, got 0");
    }
    if row.len() != col.len() || row.len() != score.len() {
        return invalid!("row, col and score differ in length: {}, {}, {}", row.len(), col.len(), score.len());
    }
    let mut per_row: Vec<Vec<Candidate>> = vec![Vec::new(); n];
    for ((&r, &c), &s) in row.iter().zip(col).zip(score) {
        if r < 0 || c < 0 || r as usize >= n || c as usize >= n {
            return invalid!("candidate edge ({r}, {c}) is out of range for {n} items");
        }
        if !s.is_nan() {
            per_row[r as usize].push(Candidate { score: s, index: c as usize });
        }
    }
    let kept: Vec<Vec<Candidate>> = per_row
        .into_par_iter()
        .map(|mut cands| {
            cands.sort();
            cands.dedup_by_key(|c| c.index);
            // dedup only removes adjacent duplicates; equal (score, index) pairs are adjacent after sorting.
            cands.truncate(k);
            cands
        })
        .collect();
    let mut out = TileEdges::default();
    for (r, cands) in kept.into_iter().enumerate() {
        for c in cands {
            out.push(r, c.index, c.score);
        }
    }
    Ok(out)
}

/// Select from a dense block of scores: rows `row_start..row_start + block.len() / n` against all
/// `n` columns (a tile of a measure that scores whole rows at once, e.g. `matchShapes` or bit
/// cosine). Self-pairs and inactive items are skipped; `upper_only` keeps only `j > i` (each
/// unordered pair once, for symmetric measures under a threshold). Top-k is per row.
pub fn select_block(block: &[f64], n: usize, row_start: usize, active: &[bool], select: Select, upper_only: bool) -> Result<TileEdges> {
    if n == 0 || block.len() % n != 0 {
        return invalid!("block of {} scores is not a whole number of rows of {n}", block.len());
    }
    let n_rows = block.len() / n;
    if row_start + n_rows > n || active.len() != n {
        return invalid!("block rows {row_start}..{} or active mask ({}) do not fit {n} items", row_start + n_rows, active.len());
    }
    match select {
        Select::TopK(0) => return invalid!("k must be at least 1, got 0"),
        Select::Above(t) if t.is_nan() => return invalid!("threshold must not be NaN"),
        _ => {}
    }
    let rows: Vec<(Vec<(usize, f64)>, u64, u64)> = block
        .par_chunks(n)
        .enumerate()
        .map(|(r, scores)| {
            let i = row_start + r;
            let (mut kept, mut scored, mut nan) = (Vec::new(), 0u64, 0u64);
            if !active[i] {
                return (kept, 0, 0);
            }
            let mut top = match select {
                Select::TopK(k) => Some(TopK::new(k)),
                Select::Above(_) => None,
            };
            let from = if upper_only { i + 1 } else { 0 };
            for (j, &s) in scores.iter().enumerate().skip(from) {
                if j == i || !active[j] {
                    continue;
                }
                scored += 1;
                if s.is_nan() {
                    nan += 1;
                    continue;
                }
                match (&mut top, select) {
                    (Some(t), _) => t.push(s, j),
                    (None, Select::Above(theta)) if s > theta => kept.push((j, s)),
                    _ => {}
                }
            }
            if let Some(t) = top {
                kept = t.into_sorted();
            }
            (kept, scored, nan)
        })
        .collect();
    let mut out = TileEdges::default();
    for (r, (kept, scored, nan)) in rows.into_iter().enumerate() {
        out.scored_pairs += scored;
        out.nan_pairs += nan;
        for (j, s) in kept {
            out.push(row_start + r, j, s);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- exact Hamming top-k by multi-index hashing

/// Bits per substring table of [`MultiIndex`].
const SUB_BITS: usize = 16;

/// Exact Hamming k-nearest-neighbour search over binary codes by multi-index hashing
/// (Norouzi et al., 2012): the code is cut into `m` substrings of 16 bits, each with its own table
/// of bucket -> items. If two codes differ in `d <= m (r + 1) - 1` bits, some substring differs in at
/// most `r` bits (pigeonhole), so probing every bucket within substring radius `r` finds every code
/// within distance `m (r + 1) - 1`. A query grows `r` until its k-th best distance is covered, so
/// the result equals a full scan, ties included (lower index first); a query whose neighbours are
/// far falls back to scanning all codes. Clustered codes such as gaze-map dHashes rarely need it.
pub struct MultiIndex {
    codes: crate::hamming::PackedCodes,
    m: usize,
    /// Per table: bucket offsets (65537) and item ids sorted by bucket.
    offsets: Vec<Vec<u32>>,
    ids: Vec<Vec<u32>>,
    /// Substring masks grouped by popcount: `masks[r]` flips exactly r bits.
    masks: Vec<Vec<u16>>,
}

#[inline]
fn substring(row: &[u64], t: usize) -> usize {
    ((row[t / 4] >> (SUB_BITS * (t % 4))) & 0xFFFF) as usize
}

impl MultiIndex {
    pub fn new(codes: &[u8], n_bytes: usize) -> Result<Self> {
        let codes = crate::hamming::PackedCodes::new(codes, n_bytes)?;
        if codes.n > u32::MAX as usize {
            return invalid!("too many codes for one index ({})", codes.n);
        }
        let m = (n_bytes * 8).div_ceil(SUB_BITS);
        let buckets = 1usize << SUB_BITS;
        let (offsets, ids): (Vec<Vec<u32>>, Vec<Vec<u32>>) = (0..m)
            .into_par_iter()
            .map(|t| {
                let mut off = vec![0u32; buckets + 1];
                for i in 0..codes.n {
                    off[substring(codes.row(i), t) + 1] += 1;
                }
                for b in 0..buckets {
                    off[b + 1] += off[b];
                }
                let mut next = off.clone();
                let mut ids = vec![0u32; codes.n];
                for i in 0..codes.n {
                    let b = substring(codes.row(i), t);
                    ids[next[b] as usize] = i as u32;
                    next[b] += 1;
                }
                (off, ids)
            })
            .unzip();
        let mut masks = vec![Vec::new(); SUB_BITS + 1];
        for v in 0..buckets {
            masks[(v as u32).count_ones() as usize].push(v as u16);
        }
        Ok(MultiIndex { codes, m, offsets, ids, masks })
    }

    pub fn len(&self) -> usize {
        self.codes.n
    }

    pub fn is_empty(&self) -> bool {
        self.codes.n == 0
    }

    #[inline]
    fn distance(&self, i: usize, j: usize) -> u32 {
        self.codes.row(i).iter().zip(self.codes.row(j)).map(|(a, b)| (a ^ b).count_ones()).sum()
    }

    /// The k nearest active codes of query `i` (itself excluded), sorted by (distance, index).
    /// `seen`/`stamp` is a per-thread scratch of `len()` generation marks.
    fn query(&self, i: usize, k: usize, active: &[bool], seen: &mut [u32], stamp: &mut u32) -> Vec<(usize, u32)> {
        *stamp = stamp.wrapping_add(1);
        if *stamp == 0 {
            seen.fill(0);
            *stamp = 1;
        }
        let mark = *stamp;
        let n = self.codes.n;
        let mut top = TopK::new(k);
        let mut examined = 0usize;
        let q = self.codes.row(i);
        let push = |j: usize, top: &mut TopK| {
            if j != i && active[j] {
                top.push(-(self.distance(i, j) as f64), j);
            }
        };
        let mut covered_all = false;
        'radius: for r in 0..=SUB_BITS {
            for t in 0..self.m {
                let base = substring(q, t);
                for &mask in &self.masks[r] {
                    let b = base ^ mask as usize;
                    let (lo, hi) = (self.offsets[t][b] as usize, self.offsets[t][b + 1] as usize);
                    for &j in &self.ids[t][lo..hi] {
                        let j = j as usize;
                        if seen[j] != mark {
                            seen[j] = mark;
                            examined += 1;
                            push(j, &mut top);
                        }
                    }
                }
                // Probing is getting as dear as a scan: finish with one.
                if examined > n / 2 {
                    break 'radius;
                }
            }
            // Every code within m (r + 1) - 1 bits has been seen.
            let guaranteed = (self.m * (r + 1) - 1) as f64;
            let full = top.heap.len() == k;
            if full && top.heap.peek().is_some_and(|worst| -worst.score <= guaranteed) {
                covered_all = true;
                break;
            }
        }
        if !covered_all {
            for j in 0..n {
                if seen[j] != mark {
                    seen[j] = mark;
                    push(j, &mut top);
                }
            }
        }
        top.into_sorted().into_iter().map(|(j, s)| (j, (-s) as u32)).collect()
    }

    /// Exact top-k of queries `rows` (indices into the indexed codes) among the other active
    /// codes; rows with fewer than k active partners get what there is. Returns (row, col, dist).
    pub fn topk(&self, rows: Range<usize>, k: usize, active: &[bool]) -> Result<(Vec<i64>, Vec<i64>, Vec<u32>)> {
        if k == 0 {
            return invalid!("k must be at least 1, got 0");
        }
        if rows.start > rows.end || rows.end > self.codes.n || active.len() != self.codes.n {
            return invalid!("rows {}..{} or active mask ({}) do not fit {} codes", rows.start, rows.end, active.len(), self.codes.n);
        }
        let n = self.codes.n;
        // One scratch per chunk of queries (map_init would allocate one per rayon split).
        let queries: Vec<usize> = rows.clone().collect();
        let results: Vec<Vec<(usize, u32)>> = queries
            .par_chunks(256)
            .flat_map_iter(|chunk| {
                let (mut seen, mut stamp) = (vec![0u32; n], 0u32);
                chunk
                    .iter()
                    .map(|&i| if active[i] { self.query(i, k, active, &mut seen, &mut stamp) } else { Vec::new() })
                    .collect::<Vec<_>>()
            })
            .collect();
        let (mut r, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new());
        for (i, res) in rows.zip(results) {
            for (j, dist) in res {
                r.push(i as i64);
                c.push(j as i64);
                d.push(dist);
            }
        }
        Ok((r, c, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_score(a: usize, b: usize) -> f64 {
        // Symmetric, with plenty of ties, and NaN for one pair.
        if (a, b) == (1, 4) {
            return f64::NAN;
        }
        (((a * 7 + b * 7) % 5) as f64) / 4.0
    }

    fn dense_topk(n: usize, k: usize, active: &[bool]) -> Vec<Vec<(usize, f64)>> {
        (0..n)
            .map(|i| {
                let mut c: Vec<(usize, f64)> = (0..n)
                    .filter(|&j| j != i && active[i] && active[j])
                    .map(|j| (j, toy_score(i.min(j), i.max(j))))
                    .filter(|p| !p.1.is_nan())
                    .collect();
                c.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
                c.truncate(k);
                c
            })
            .collect()
    }

    #[test]
    fn circulant_covers_each_pair_once() {
        for n in 0..12 {
            let mut seen = vec![vec![0; n]; n];
            for i in 0..n {
                for d in 0..circulant_width(n, i) {
                    let j = circulant_col(n, i, d);
                    assert_ne!(i, j);
                    seen[i.min(j)][i.max(j)] += 1;
                }
            }
            for a in 0..n {
                for b in a + 1..n {
                    assert_eq!(seen[a][b], 1, "n={n} pair ({a},{b})");
                }
            }
            assert_eq!(circulant_pairs(n, 0..n), (n * n.saturating_sub(1) / 2) as u64);
        }
    }

    #[test]
    fn tiled_topk_equals_dense_for_any_tiling_and_threads() {
        for n in [1usize, 2, 5, 8, 13] {
            let mut active = vec![true; n];
            if n > 6 {
                active[6] = false;
            }
            for k in [1usize, 3, 20] {
                let want = dense_topk(n, k, &active);
                for tile in [1usize, 3, n.max(1)] {
                    for threads in [1usize, 2] {
                        let (mut r, mut c, mut s) = (vec![], vec![], vec![]);
                        let mut start = 0;
                        while start < n {
                            let end = (start + tile).min(n);
                            let e = crate::parallel::with_threads(Some(threads), || {
                                circulant_tile(n, start..end, &active, Select::TopK(k), toy_score)
                            })
                            .unwrap()
                            .unwrap();
                            r.extend(e.row);
                            c.extend(e.col);
                            s.extend(e.score);
                            start = end;
                        }
                        let m = merge_topk(n, k, &r, &c, &s).unwrap();
                        let mut got = vec![vec![]; n];
                        for ((&a, &b), &x) in m.row.iter().zip(&m.col).zip(&m.score) {
                            got[a as usize].push((b as usize, x));
                        }
                        assert_eq!(got, want, "n={n} k={k} tile={tile} threads={threads}");
                    }
                }
            }
        }
    }

    #[test]
    fn threshold_hits_and_counts() {
        let n = 9;
        let active = vec![true; n];
        let (mut hits, mut scored, mut nan) = (vec![], 0, 0);
        for start in (0..n).step_by(4) {
            let e = circulant_tile(n, start..(start + 4).min(n), &active, Select::Above(0.5), toy_score).unwrap();
            scored += e.scored_pairs;
            nan += e.nan_pairs;
            hits.extend(e.row.iter().zip(&e.col).map(|(&a, &b)| (a as usize, b as usize)));
        }
        hits.sort();
        let mut want = vec![];
        for a in 0..n {
            for b in a + 1..n {
                if toy_score(a, b) > 0.5 {
                    want.push((a, b));
                }
            }
        }
        assert_eq!(hits, want);
        assert_eq!(scored, 36);
        assert_eq!(nan, 1);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let active = vec![true; 4];
        assert!(circulant_tile(4, 2..5, &active, Select::TopK(1), toy_score).is_err());
        assert!(circulant_tile(4, 0..2, &active, Select::TopK(0), toy_score).is_err());
        assert!(circulant_tile(4, 0..2, &active, Select::Above(f64::NAN), toy_score).is_err());
        assert!(circulant_tile(5, 0..2, &active, Select::TopK(1), toy_score).is_err());
        assert!(merge_topk(3, 1, &[0], &[3], &[1.0]).is_err());
        assert!(merge_topk(3, 0, &[], &[], &[]).is_err());
    }

    #[test]
    fn block_selection_equals_dense_rules() {
        let n = 7;
        let mut active = vec![true; n];
        active[4] = false;
        let block: Vec<f64> = (2..5).flat_map(|i| (0..n).map(move |j| if i == j { 9.0 } else { toy_score(i.min(j), i.max(j)) })).collect();
        let want = dense_topk(n, 2, &active);
        let e = select_block(&block, n, 2, &active, Select::TopK(2), false).unwrap();
        for r in 2..5 {
            let got: Vec<(usize, f64)> =
                e.row.iter().zip(&e.col).zip(&e.score).filter(|((&a, _), _)| a as usize == r).map(|((_, &b), &s)| (b as usize, s)).collect();
            assert_eq!(got, want[r], "row {r}");
        }
        let t = select_block(&block, n, 2, &active, Select::Above(0.5), true).unwrap();
        for ((&a, &b), &s) in t.row.iter().zip(&t.col).zip(&t.score) {
            assert!(b > a && s > 0.5 && active[b as usize]);
        }
        assert_eq!(t.scored_pairs, 3 + 2 + 0);
        assert!(select_block(&block, 5, 0, &active, Select::TopK(1), false).is_err());
        assert!(select_block(&block, n, 5, &active, Select::TopK(1), false).is_err());
    }

    #[test]
    fn multi_index_topk_equals_full_scan() {
        // Clustered codes with many ties, several widths, some inactive items.
        let mut s = 12345u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as u8
        };
        for nb in [2usize, 5, 8, 16] {
            let n = 400;
            let protos: Vec<Vec<u8>> = (0..7).map(|_| (0..nb).map(|_| rnd()).collect()).collect();
            let mut codes = Vec::new();
            for _ in 0..n {
                let p = &protos[rnd() as usize % protos.len()];
                let flip = rnd() as usize % (nb * 8);
                for (b, &v) in p.iter().enumerate() {
                    codes.push(if b == flip / 8 { v ^ (1 << (flip % 8)) } else { v });
                }
            }
            let mut active = vec![true; n];
            active[3] = false;
            active[10] = false;
            let idx = MultiIndex::new(&codes, nb).unwrap();
            for k in [1usize, 5, 40] {
                let (r, c, d) = idx.topk(0..n, k, &active).unwrap();
                for i in 0..n {
                    let mut want: Vec<(u32, usize)> = (0..n)
                        .filter(|&j| j != i && active[j] && active[i])
                        .map(|j| ((0..nb).map(|t| (codes[i * nb + t] ^ codes[j * nb + t]).count_ones()).sum(), j))
                        .collect();
                    want.sort();
                    want.truncate(k);
                    let got: Vec<(u32, usize)> =
                        (0..r.len()).filter(|&e| r[e] as usize == i).map(|e| (d[e], c[e] as usize)).collect();
                    assert_eq!(got, want, "nb={nb} k={k} i={i}");
                }
            }
        }
    }

    #[test]
    fn topk_ties_prefer_smaller_index() {
        let mut t = TopK::new(2);
        for (s, i) in [(1.0, 5), (1.0, 3), (1.0, 9), (0.5, 0)] {
            t.push(s, i);
        }
        assert_eq!(t.into_sorted(), vec![(3, 1.0), (5, 1.0)]);
    }
}

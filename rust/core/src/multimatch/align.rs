//! Alignment: the shortest path through the saccade-difference matrix M, chosen exactly as
//! multimatch-gaze's `scipy.sparse.csgraph.dijkstra` call chooses it (scipy >= 1.16).
//!
//! # The reference's graph
//! Node `(i, j)` (index `i*m + j`) has edges right, down and diagonal, each weighted by M of the cell
//! it enters; so every edge into a cell carries the same weight. The source `(0, 0)` starts at 0
//! (M[0, 0] is never added). Dijkstra's distances therefore equal the dynamic programme
//! `D[v] = fl(min(D[left], D[up], D[diag]) + M[v])`, because rounding is monotone:
//! `fl(min(a, b, c) + w) = min(fl(a + w), fl(b + w), fl(c + w))`.
//!
//! # Ties
//! scipy's heap pops the smallest distance first and, among equal distances, the larger node index
//! first; a distance and its predecessor change only on strict improvement. So the predecessor of
//! `v` is the *first popped* of its candidates `u` that attain `fl(D[u] + M[v]) == D[v]`:
//! - attaining candidates with a smaller `D` pop first (Dijkstra finalises in distance order);
//! - among attaining candidates with the same `D = d`: if each is a *seed* of level `d` (it has a
//!   predecessor strictly below `d`, i.e. `D[u] > min(D of u's candidates)`), all of them sit in the
//!   heap before any node of level `d` pops, and the larger index pops first: left, then up, then
//!   diagonal;
//! - otherwise a candidate reached level `d` through a zero-cost edge (`fl(d + M) == d`, e.g. two
//!   identical saccade vectors), its entry appears mid-level, and the order depends on the heap's
//!   history. Only then do we replay the reference's Dijkstra exactly ([`exact_path`]).
//!
//! The replay is also used when a distance is NaN, which validated input never produces.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::vectorise::Saccades;

/// Reusable buffers for one thread: no allocation per pair once warm.
#[derive(Debug, Default)]
pub struct Workspace {
    cost: Vec<f64>,
    /// M in the same anti-diagonal layout as `cost`, kept so the walk back need not recompute it.
    diffs: Vec<f64>,
    mrow: Vec<f64>,
    pub(crate) path: Vec<(u32, u32)>,
    pub(crate) values: [Vec<f64>; 5],
    dist: Vec<f64>,
    pred: Vec<u32>,
    done: Vec<bool>,
    heap: BinaryHeap<(Reverse<u64>, u32)>,
    /// Pairs whose path needed the exact Dijkstra replay (for profiling and tests).
    pub exact_replays: u64,
    /// Pairs aligned.
    pub alignments: u64,
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }
}

/// M[i, j]: Euclidean distance between saccade vectors, as `cal_vectordifferences` computes it.
#[inline(always)]
pub fn vector_difference(a: &Saccades, b: &Saccades, i: usize, j: usize) -> f64 {
    let dx = a.lenx[i] - b.lenx[j];
    let dy = a.leny[i] - b.leny[j];
    (dx * dx + dy * dy).sqrt()
}

/// `min` as one `minsd`/`vminpd`: the costs are never NaN here (inputs are finite), so we do not
/// need `f64::min`'s NaN handling, which costs extra instructions and blocks vectorisation.
#[inline(always)]
fn fmin(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// The cost table, stored by anti-diagonals: cell `(i, j)` lives in row `i + j + 1`, column
/// `i + 1`, of a `(n + m) x row_width(n)` array. Row 0 and the cells around each diagonal's
/// stretch hold +inf, so every cell reads its three inputs without bounds checks.
#[derive(Clone, Copy)]
struct Costs<'a> {
    buf: &'a [f64],
    width: usize,
}

impl Costs<'_> {
    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f64 {
        self.buf[(i + j + 1) * self.width + i + 1]
    }
}

/// M of cell `(i, j)` as stored by the last fill (same layout as [`Costs`]).
#[inline(always)]
pub(crate) fn stored_difference(ws: &Workspace, n: usize, i: usize, j: usize) -> f64 {
    ws.diffs[(i + j + 1) * row_width(n) + i + 1]
}

/// Fill the cumulative cost table D.
///
/// Each cell is `fl(min(up, diagonal, left) + M)`, which equals the reference's Dijkstra
/// distance. The cells of one anti-diagonal do not depend on each other, so a diagonal is one
/// vectorisable loop: M (with its square roots) and the minima go several cells at a time.
#[inline(always)]
fn fill_costs_generic(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    const LANES: usize = 4;
    let (n, m) = (a.len(), b.len());
    let width = row_width(n);
    let rows = n + m;
    if ws.cost.len() < rows * width {
        ws.cost.resize(rows * width, 0.0);
        ws.diffs.resize(rows * width, 0.0);
    }
    // a's vectors, and b's reversed (so that b[k - i] runs forwards as i does), each padded with
    // LANES - 1 zeros: every diagonal then runs whole vectors, and the extra lanes land on cells
    // that nothing reads (see `row_width`).
    let pad = [0.0; LANES - 1];
    ws.mrow.clear();
    ws.mrow.extend(a.lenx.iter().chain(&pad));
    ws.mrow.extend(a.leny.iter().chain(&pad));
    ws.mrow.extend(b.lenx.iter().rev().chain(&pad));
    ws.mrow.extend(b.leny.iter().rev().chain(&pad));
    let (alx, rest) = ws.mrow.split_at(n + LANES - 1);
    let (aly, rest) = rest.split_at(n + LANES - 1);
    let (brx, bry) = rest.split_at(m + LANES - 1);
    let cost = &mut ws.cost[..rows * width];
    let diffs = &mut ws.diffs[..rows * width];
    let inf = f64::INFINITY;

    cost[..width].fill(inf);
    cost[width] = inf;
    cost[width + 1] = 0.0;
    cost[width + 2] = inf;
    diffs[width + 1] = vector_difference(a, b, 0, 0);
    for k in 1..n + m - 1 {
        let lo = k.saturating_sub(m - 1);
        let hi = k.min(n - 1);
        // Whole vectors: `len` rounded up to a multiple of LANES.
        let len = (hi - lo + 1).div_ceil(LANES) * LANES;
        let (before, after) = cost.split_at_mut((k + 1) * width);
        let diag_row = &before[(k - 1) * width..k * width];
        let prev_row = &before[k * width..(k + 1) * width];
        let out = &mut after[..width];
        // Cells lo..=hi read prev_row[lo..=hi + 1] (up, left) and diag_row[lo..=hi].
        let up = &prev_row[lo..lo + len];
        let left = &prev_row[lo + 1..lo + 1 + len];
        let dg = &diag_row[lo..lo + len];
        let ax = &alx[lo..lo + len];
        let ay = &aly[lo..lo + len];
        // b index k - i = m - 1 - r for r = m - 1 - k + i.
        let r0 = m - 1 - k + lo;
        let bx = &brx[r0..r0 + len];
        let by = &bry[r0..r0 + len];
        let dst = &mut out[lo + 1..lo + 1 + len];
        let mdst = &mut diffs[(k + 1) * width + lo + 1..(k + 1) * width + lo + 1 + len];
        for c in 0..len {
            let dx = ax[c] - bx[c];
            let dy = ay[c] - by[c];
            let w = (dx * dx + dy * dy).sqrt();
            mdst[c] = w;
            dst[c] = fmin(fmin(up[c], left[c]), dg[c]) + w;
        }
        out[lo] = inf;
        out[hi + 2] = inf;
    }
}

/// Row length of the anti-diagonal tables for `n` rows of saccades: column `i + 1` holds cell
/// `i`, columns `lo` and `hi + 2` the +inf sentinels around a diagonal's stretch `lo..=hi`, and
/// 3 more columns take the spare lanes of the last vector (at most `hi + 4 <= n + 3`). Later
/// diagonals read a row only within `lo..=hi + 2`, so what the spare lanes write is never read.
#[inline(always)]
fn row_width(n: usize) -> usize {
    n + 5
}

/// The same compiled for AVX2: 4 cells per instruction. Rust never fuses `dx * dx + dy * dy`
/// into an FMA, so the results are bit-identical to the generic build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_costs_avx2(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    fill_costs_generic(ws, a, b)
}

fn fill_costs(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { fill_costs_avx2(ws, a, b) };
        }
    }
    fill_costs_generic(ws, a, b)
}

/// Smallest D among the candidate predecessors of `(i, j)` (not the source).
#[inline]
fn min_pred(cost: Costs, i: usize, j: usize) -> f64 {
    match (i, j) {
        (0, _) => cost.at(0, j - 1),
        (_, 0) => cost.at(i - 1, 0),
        _ => cost.at(i, j - 1).min(cost.at(i - 1, j)).min(cost.at(i - 1, j - 1)),
    }
}

/// Whether `(i, j)`'s heap entry at its final distance exists before any node of that distance pops.
#[inline]
fn is_seed(cost: Costs, i: usize, j: usize) -> bool {
    (i == 0 && j == 0) || cost.at(i, j) > min_pred(cost, i, j)
}

/// Walk back from the last cell using the cost table; `false` when a tie needs the exact replay.
fn backtrack_fast(ws: &mut Workspace, a: &Saccades, b: &Saccades) -> bool {
    let (n, m) = (a.len(), b.len());
    let cost = Costs { buf: &ws.cost, width: row_width(n) };
    let diffs = Costs { buf: &ws.diffs, width: row_width(n) };
    let path = &mut ws.path;
    path.clear();
    let (mut i, mut j) = (n - 1, m - 1);
    path.push((i as u32, j as u32));
    while i > 0 || j > 0 {
        if i == 0 {
            j -= 1;
        } else if j == 0 {
            i -= 1;
        } else {
            let dv = cost.at(i, j);
            let w = diffs.at(i, j);
            let left = cost.at(i, j - 1) + w == dv;
            let up = cost.at(i - 1, j) + w == dv;
            let diag = cost.at(i - 1, j - 1) + w == dv;
            // Almost always exactly one candidate attains: step without an unpredictable branch.
            if (left as u8) + (up as u8) + (diag as u8) == 1 {
                i -= (up | diag) as usize;
                j -= (left | diag) as usize;
                path.push((i as u32, j as u32));
                continue;
            }
            // Pop priority among equal distances: larger index first.
            let cands = [(i, j - 1), (i - 1, j), (i - 1, j - 1)];
            let mut attaining = [(0usize, 0usize, 0.0f64); 3];
            let mut k = 0;
            let mut lowest = f64::INFINITY;
            for &(p, q) in &cands {
                let du = cost.at(p, q);
                if du + w == dv {
                    attaining[k] = (p, q, du);
                    k += 1;
                    lowest = lowest.min(du);
                }
            }
            let mut chosen: Option<(usize, usize)> = None;
            let mut level = 0;
            for &(p, q, du) in &attaining[..k] {
                if du == lowest {
                    level += 1;
                    chosen = chosen.or(Some((p, q)));
                }
            }
            if level > 1 && attaining[..k].iter().any(|&(p, q, du)| du == lowest && !is_seed(cost, p, q)) {
                return false;
            }
            match chosen {
                Some((p, q)) => {
                    i = p;
                    j = q;
                }
                None => return false,
            }
        }
        path.push((i as u32, j as u32));
    }
    true
}

/// Replay the reference's Dijkstra (binary heap, larger index first among equal distances,
/// strict improvement only) and backtrack its predecessors.
pub fn exact_path(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    let (n, m) = (a.len(), b.len());
    let nodes = n * m;
    const NONE: u32 = u32::MAX;
    ws.dist.clear();
    ws.dist.resize(nodes, f64::INFINITY);
    ws.pred.clear();
    ws.pred.resize(nodes, NONE);
    ws.done.clear();
    ws.done.resize(nodes, false);
    ws.heap.clear();
    ws.dist[0] = 0.0;
    ws.heap.push((Reverse(0.0f64.to_bits()), 0));
    while let Some((Reverse(bits), u)) = ws.heap.pop() {
        let u = u as usize;
        if ws.done[u] {
            continue;
        }
        ws.done[u] = true;
        let du = f64::from_bits(bits);
        let (i, j) = (u / m, u % m);
        let succ: [Option<usize>; 3] = if i == n - 1 && j == m - 1 {
            [None, None, None]
        } else if i == n - 1 {
            [Some(u + 1), None, None]
        } else if j == m - 1 {
            [Some(u + m), None, None]
        } else {
            [Some(u + 1), Some(u + m), Some(u + m + 1)]
        };
        for v in succ.into_iter().flatten() {
            if ws.done[v] {
                continue;
            }
            let nv = du + vector_difference(a, b, v / m, v % m);
            if nv < ws.dist[v] {
                ws.dist[v] = nv;
                ws.pred[v] = u as u32;
                ws.heap.push((Reverse(nv.to_bits()), v as u32));
            }
        }
    }
    ws.path.clear();
    let mut v = nodes - 1;
    loop {
        ws.path.push(((v / m) as u32, (v % m) as u32));
        if v == 0 || ws.pred[v] == NONE {
            break;
        }
        v = ws.pred[v] as usize;
    }
}

/// The reference's alignment path (from the last cell back to the first) into `ws.path`.
pub fn align(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    debug_assert!(!a.is_empty() && !b.is_empty());
    ws.alignments += 1;
    fill_costs(ws, a, b);
    if !backtrack_fast(ws, a, b) {
        ws.exact_replays += 1;
        exact_path(ws, a, b);
    }
}


/// [`fill_costs`] alone, for the profiling test.
#[doc(hidden)]
pub fn fill_costs_for_profile(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    fill_costs(ws, a, b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs<'a>(ws: &'a Workspace, a: &Saccades) -> Costs<'a> {
        Costs { buf: &ws.cost, width: row_width(a.len()) }
    }

    /// Saccades with the given displacement vectors (positions and durations irrelevant here).
    fn sac(v: &[(f64, f64)]) -> Saccades {
        let mut s = Saccades::default();
        for &(x, y) in v {
            s.push(0.0, 0.0, x, y);
        }
        s
    }

    /// Small deterministic generator (no dev-dependencies).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, k: u64) -> u64 {
            self.next() % k
        }
    }

    #[test]
    fn costs_match_dijkstra_distances() {
        let mut rng = Lcg(7);
        let mut ws = Workspace::new();
        for _ in 0..600 {
            let n = 1 + rng.below(15) as usize;
            let m = 1 + rng.below(15) as usize;
            let a = sac(&(0..n).map(|_| (rng.below(5) as f64 * 0.7, rng.below(5) as f64)).collect::<Vec<_>>());
            let b = sac(&(0..m).map(|_| (rng.below(5) as f64 * 0.7, rng.below(5) as f64)).collect::<Vec<_>>());
            fill_costs(&mut ws, &a, &b);
            let view = costs(&ws, &a);
            let costs: Vec<f64> = (0..n * m).map(|v| view.at(v / m, v % m)).collect();
            exact_path(&mut ws, &a, &b);
            assert_eq!(costs, ws.dist, "n={n} m={m}");
        }
    }

    #[test]
    fn fast_backtrack_agrees_with_replay_when_it_answers() {
        let mut rng = Lcg(11);
        let mut ws = Workspace::new();
        let (mut answered, mut deferred) = (0, 0);
        for round in 0..3000 {
            let n = 1 + rng.below(10) as usize;
            let m = 1 + rng.below(10) as usize;
            let k = if round % 2 == 0 { 3 } else { 6 };
            let a = sac(&(0..n).map(|_| (rng.below(k) as f64, rng.below(k) as f64)).collect::<Vec<_>>());
            let b = sac(&(0..m).map(|_| (rng.below(k) as f64, rng.below(k) as f64)).collect::<Vec<_>>());
            fill_costs(&mut ws, &a, &b);
            if backtrack_fast(&mut ws, &a, &b) {
                answered += 1;
                let fast = ws.path.clone();
                exact_path(&mut ws, &a, &b);
                assert_eq!(fast, ws.path, "n={n} m={m} a={:?} b={:?}", a.lenx, b.lenx);
            } else {
                deferred += 1;
            }
        }
        // Integer grids tie constantly: both branches must have been exercised.
        assert!(answered > 1000 && deferred > 50, "answered {answered}, deferred {deferred}");
    }

    #[test]
    fn ties_prefer_left_then_up_then_diagonal() {
        // M is all 1: D = [[0, 1, 2], [1, 1, 2]]. Cell (1, 2) ties between left (1, 1) and
        // diagonal (0, 1), both seeds at distance 1: the larger index, left, pops first.
        let a = sac(&[(0.0, 0.0), (0.0, 0.0)]);
        let b = sac(&[(1.0, 0.0); 3]);
        let mut ws = Workspace::new();
        align(&mut ws, &a, &b);
        assert_eq!(ws.path, vec![(1, 2), (1, 1), (0, 0)]);
        assert_eq!(ws.exact_replays, 0);
        // 1 x 3 against 3 x 1 shapes: straight lines.
        let c = sac(&[(0.0, 0.0); 3]);
        align(&mut ws, &c, &sac(&[(1.0, 1.0)]));
        assert_eq!(ws.path, vec![(2, 0), (1, 0), (0, 0)]);
    }

    #[test]
    fn single_cell() {
        let mut ws = Workspace::new();
        let a = sac(&[(3.0, 4.0)]);
        align(&mut ws, &a, &a);
        assert_eq!(ws.path, vec![(0, 0)]);
    }
}

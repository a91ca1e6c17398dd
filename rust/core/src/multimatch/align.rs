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

/// Fill the cumulative cost table D (row-major, n x m).
fn fill_costs(ws: &mut Workspace, a: &Saccades, b: &Saccades) {
    let (n, m) = (a.len(), b.len());
    let cost = &mut ws.cost;
    cost.clear();
    cost.resize(n * m, 0.0);
    ws.mrow.clear();
    ws.mrow.resize(m, 0.0);
    let mrow = &mut ws.mrow[..];
    let (blx, bly) = (&b.lenx[..m], &b.leny[..m]);

    for j in 1..m {
        cost[j] = cost[j - 1] + vector_difference(a, b, 0, j);
    }
    for i in 1..n {
        let (ax, ay) = (a.lenx[i], a.leny[i]);
        for ((mv, &bx), &by) in mrow.iter_mut().zip(blx).zip(bly) {
            let dx = ax - bx;
            let dy = ay - by;
            *mv = (dx * dx + dy * dy).sqrt();
        }
        let (done, rest) = cost.split_at_mut(i * m);
        let prev = &done[(i - 1) * m..];
        let cur = &mut rest[..m];
        cur[0] = prev[0] + mrow[0];
        // Up and diagonal do not depend on this row: vectorisable.
        for j in 1..m {
            cur[j] = prev[j].min(prev[j - 1]) + mrow[j];
        }
        // Left is a serial chain.
        let mut left = cur[0];
        for j in 1..m {
            let c = (left + mrow[j]).min(cur[j]);
            cur[j] = c;
            left = c;
        }
    }
}

/// Smallest D among the candidate predecessors of `(i, j)` (not the source).
#[inline]
fn min_pred(cost: &[f64], m: usize, i: usize, j: usize) -> f64 {
    let v = i * m + j;
    match (i, j) {
        (0, _) => cost[v - 1],
        (_, 0) => cost[v - m],
        _ => cost[v - 1].min(cost[v - m]).min(cost[v - m - 1]),
    }
}

/// Whether `(i, j)`'s heap entry at its final distance exists before any node of that distance pops.
#[inline]
fn is_seed(cost: &[f64], m: usize, i: usize, j: usize) -> bool {
    (i == 0 && j == 0) || cost[i * m + j] > min_pred(cost, m, i, j)
}

/// Walk back from the last cell using the cost table; `false` when a tie needs the exact replay.
fn backtrack_fast(ws: &mut Workspace, a: &Saccades, b: &Saccades) -> bool {
    let (n, m) = (a.len(), b.len());
    let cost = &ws.cost;
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
            let dv = cost[i * m + j];
            let w = vector_difference(a, b, i, j);
            // Pop priority among equal distances: larger index first.
            let cands = [(i, j - 1), (i - 1, j), (i - 1, j - 1)];
            let mut attaining = [(0usize, 0usize, 0.0f64); 3];
            let mut k = 0;
            let mut lowest = f64::INFINITY;
            for &(p, q) in &cands {
                let du = cost[p * m + q];
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
            if level > 1 && attaining[..k].iter().any(|&(p, q, du)| du == lowest && !is_seed(cost, m, p, q)) {
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

/// The cost table of the last [`align`] call (row-major), for tests.
pub fn last_costs(ws: &Workspace) -> &[f64] {
    &ws.cost
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for _ in 0..300 {
            let n = 1 + rng.below(9) as usize;
            let m = 1 + rng.below(9) as usize;
            let a = sac(&(0..n).map(|_| (rng.below(5) as f64 * 0.7, rng.below(5) as f64)).collect::<Vec<_>>());
            let b = sac(&(0..m).map(|_| (rng.below(5) as f64 * 0.7, rng.below(5) as f64)).collect::<Vec<_>>());
            fill_costs(&mut ws, &a, &b);
            let costs = ws.cost.clone();
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

//! MultiMatch scanpath similarity, in exact parity with `multimatch-gaze` 0.1.3 (`docomparison`).
//!
//! The pipeline, one module per step:
//! - [`vectorise`]: fixations to saccade vectors (`gen_scanpath_structure`);
//! - [`simplify`]: optional grouping by direction and length (`simplify_scanpath`);
//! - [`align`]: the shortest path through the vector-difference matrix, with scipy's tie-breaking;
//! - [`measures`]: medians of the five differences along the path, normalised.
//!
//! Steps 1 and 2 depend on one scanpath only: [`prepare`] runs them once per scanpath, and
//! [`multimatch_prepared`] scores a pair of prepared scanpaths without allocating (a per-thread
//! [`align::Workspace`] is reused).
//!
//! Scores come in multimatch-gaze's order: vector, direction, length, position, duration. Pairs
//! where either scanpath has fewer than 3 fixations score NaN x 5, as in the reference. Where the
//! reference crashes, we do not (see [`simplify`]). Non-finite coordinates or durations also give
//! NaN x 5 (the Python layer rejects them first).
//!
//! Memory: scoring a pair of `n` and `m` saccades uses about `16 (n + m) (n + 5)` bytes of the
//! thread's workspace (80 kB at 50 x 50, 8 MB at 500 x 500), kept for the next pair.
//!
//! Symmetry: swapping the scanpaths transposes the difference matrix, so the scores are the same
//! except where the alignment path is tied; the reference breaks such ties by node index, which
//! is not transpose-invariant. All-pairs functions compute each unordered pair once, as
//! `multimatch(archive[min(i, j)], archive[max(i, j)])`.

pub mod align;
pub mod measures;
pub mod simplify;
pub mod vectorise;

use std::cell::RefCell;

use rayon::prelude::*;

use crate::error::Result;
use crate::invalid;
use crate::scanpath::{PackedScanpaths, Scanpath};

pub use align::Workspace;
pub use vectorise::Saccades;

/// Fewer fixations than this and the scores are NaN x 5.
pub const MIN_FIXATIONS: usize = 3;

/// The largest archive [`matrix`] accepts: an N x N x 5 float64 result is 8·5·N² bytes (160 MB at 2000).
pub const MATRIX_MAX_N: usize = 2000;

/// Settings of `docomparison`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiMatchParams {
    /// Screen size in pixels; only its diagonal `hypot`-like `sqrt(w² + h²)` is used, so the order
    /// of the two numbers does not matter.
    pub screen: (f64, f64),
    /// Simplify both scanpaths before comparing them.
    pub grouping: bool,
    /// Direction threshold in degrees.
    pub tdir: f64,
    /// Duration threshold, in the unit of the durations (seconds for multimatch-gaze).
    pub tdur: f64,
    /// Amplitude (length) threshold in pixels.
    pub tamp: f64,
}

impl MultiMatchParams {
    /// No grouping, on a screen of `screen` pixels.
    pub fn new(screen: (f64, f64)) -> Self {
        MultiMatchParams { screen, grouping: false, tdir: 0.0, tdur: 0.0, tamp: 0.0 }
    }

    /// Check what the kernels cannot check cheaply per pair.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = self.screen;
        if !(w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
            return invalid!("screen must be two positive finite numbers (width, height), got ({w}, {h})");
        }
        for (name, v) in [("tdir", self.tdir), ("tdur", self.tdur), ("tamp", self.tamp)] {
            if v.is_nan() {
                return invalid!("{name} must be a number, got NaN");
            }
        }
        Ok(())
    }
}

/// A scanpath vectorised (and simplified, if the params ask for grouping) once, ready to score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// Fixations before simplification: the reference checks length >= 3 on these.
    pub n_fixations: usize,
    /// All coordinates and durations finite.
    pub finite: bool,
    pub saccades: Saccades,
}

/// Vectorise (and, if `p.grouping`, simplify) one scanpath.
pub fn prepare(s: &Scanpath, p: &MultiMatchParams) -> Prepared {
    let n = s.len();
    let finite = s.x.iter().chain(s.y).chain(s.duration).all(|v| v.is_finite());
    if n < MIN_FIXATIONS || !finite {
        return Prepared { n_fixations: n, finite, saccades: Saccades::default() };
    }
    let mut sac = vectorise::vectorise(s);
    if p.grouping {
        sac = simplify::simplify(sac, p.tamp, p.tdir, p.tdur);
    }
    Prepared { n_fixations: n, finite, saccades: sac }
}

/// Score two prepared scanpaths, reusing the given workspace. Both must be prepared with the same
/// grouping settings; only `p.screen` is read here.
pub fn multimatch_prepared_in(ws: &mut Workspace, a: &Prepared, b: &Prepared, p: &MultiMatchParams) -> [f64; 5] {
    if a.n_fixations < MIN_FIXATIONS || b.n_fixations < MIN_FIXATIONS || !a.finite || !b.finite {
        return [f64::NAN; 5];
    }
    align::align(ws, &a.saccades, &b.saccades);
    measures::normalise(measures::unnormalised(ws, &a.saccades, &b.saccades), p.screen)
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::new());
}

/// Score two prepared scanpaths with this thread's workspace.
pub fn multimatch_prepared(a: &Prepared, b: &Prepared, p: &MultiMatchParams) -> [f64; 5] {
    WORKSPACE.with(|ws| multimatch_prepared_in(&mut ws.borrow_mut(), a, b, p))
}

/// `docomparison(a, b, screensize, grouping, TDir, TDur, TAmp)`: five similarities in [0, 1]-ish
/// (vector, direction, length, position, duration); NaN x 5 below 3 fixations.
pub fn multimatch(a: &Scanpath, b: &Scanpath, p: &MultiMatchParams) -> [f64; 5] {
    multimatch_prepared(&prepare(a, p), &prepare(b, p), p)
}

impl Prepared {
    /// Ask the CPU to start loading this scanpath's arrays: explicit pairs from a large archive
    /// are cache misses, and the next pair's loads can overlap the current pair's arithmetic.
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            let s = &self.saccades;
            for v in [&s.lenx, &s.leny, &s.x, &s.y, &s.theta, &s.rho, &s.dur] {
                let bytes = std::mem::size_of_val(v.as_slice());
                let base = v.as_ptr() as *const i8;
                for off in (0..bytes).step_by(64) {
                    // SAFETY: prefetching is a hint; the address is inside the vector's allocation.
                    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(base.add(off)) };
                }
            }
        }
    }
}

/// Prepare every scanpath of an archive, in parallel.
pub fn prepare_all(archive: &PackedScanpaths, p: &MultiMatchParams) -> Vec<Prepared> {
    (0..archive.len()).into_par_iter().map(|i| prepare(&archive.get(i), p)).collect()
}

/// Pairs per rayon task: big enough to amortise scheduling, small enough to balance.
const PAIRS_PER_TASK: usize = 256;

/// Scores of explicit index pairs; `pairs` is flat `[i0, j0, i1, j1, ...]`. Returns `5 * P` values.
pub fn pairs(archive: &PackedScanpaths, pairs: &[i64], p: &MultiMatchParams) -> Result<Vec<f64>> {
    p.validate()?;
    if pairs.len() % 2 != 0 {
        return invalid!("pairs must hold an even number of indices (P x 2), got {}", pairs.len());
    }
    // Vectorise only the scanpaths the pairs name: a few pairs from a large archive stay cheap.
    let mut needed = vec![false; archive.len()];
    for &k in pairs {
        needed[archive.check_index(k)?] = true;
    }
    let prepared: Vec<Prepared> = needed
        .par_iter()
        .enumerate()
        .map(|(i, &need)| if need { prepare(&archive.get(i), p) } else { Prepared::default() })
        .collect();
    let mut out = vec![0.0; pairs.len() / 2 * 5];
    out.par_chunks_mut(5 * PAIRS_PER_TASK).zip(pairs.par_chunks(2 * PAIRS_PER_TASK)).for_each(|(o, ps)| {
        for (k, (slot, ij)) in o.chunks_exact_mut(5).zip(ps.chunks_exact(2)).enumerate() {
            if let Some(next) = ps.get(2 * k + 2..2 * k + 4) {
                prepared[next[0] as usize].prefetch();
                prepared[next[1] as usize].prefetch();
            }
            let r = multimatch_prepared(&prepared[ij[0] as usize], &prepared[ij[1] as usize], p);
            slot.copy_from_slice(&r);
        }
    });
    Ok(out)
}

/// Scores of scanpath `i` against every scanpath (in archive order, `i` itself included): `5 * N` values.
pub fn one_vs_many(archive: &PackedScanpaths, i: i64, p: &MultiMatchParams) -> Result<Vec<f64>> {
    p.validate()?;
    let i = archive.check_index(i)?;
    let prepared = prepare_all(archive, p);
    let mut out = vec![0.0; prepared.len() * 5];
    out.par_chunks_mut(5 * PAIRS_PER_TASK).enumerate().for_each(|(t, o)| {
        for (k, slot) in o.chunks_exact_mut(5).enumerate() {
            slot.copy_from_slice(&multimatch_prepared(&prepared[i], &prepared[t * PAIRS_PER_TASK + k], p));
        }
    });
    Ok(out)
}

/// Tile edge for [`matrix`]: a tile's scanpaths stay in cache while it is scored.
const TILE: usize = 32;

/// All pairs of a small archive, `N * N * 5` values row-major; each unordered pair is scored once
/// (as `(min, max)`) and mirrored. Refuses `N > MATRIX_MAX_N`.
pub fn matrix(archive: &PackedScanpaths, p: &MultiMatchParams) -> Result<Vec<f64>> {
    p.validate()?;
    let n = archive.len();
    if n > MATRIX_MAX_N {
        return invalid!(
            "multimatch_matrix is for small archives (N <= {MATRIX_MAX_N}); this one has {n} scanpaths. \
             Use multimatch_pairs / multimatch_one_vs_many, or mine positive pairs in tiles (mcgip_fast.mining)."
        );
    }
    let prepared = prepare_all(archive, p);
    let nt = n.div_ceil(TILE);
    let tiles: Vec<(usize, usize)> = (0..nt).flat_map(|a| (a..nt).map(move |b| (a, b))).collect();
    let scored: Vec<Vec<[f64; 5]>> = tiles
        .par_iter()
        .map(|&(ta, tb)| {
            let mut out = Vec::with_capacity(TILE * TILE);
            for i in ta * TILE..((ta + 1) * TILE).min(n) {
                for j in (tb * TILE).max(i)..((tb + 1) * TILE).min(n) {
                    out.push(multimatch_prepared(&prepared[i], &prepared[j], p));
                }
            }
            out
        })
        .collect();
    let mut out = vec![0.0; n * n * 5];
    for (&(ta, tb), tile) in tiles.iter().zip(&scored) {
        let mut it = tile.iter();
        for i in ta * TILE..((ta + 1) * TILE).min(n) {
            for j in (tb * TILE).max(i)..((tb + 1) * TILE).min(n) {
                let r = it.next().expect("tile sizes agree");
                out[(i * n + j) * 5..(i * n + j) * 5 + 5].copy_from_slice(r);
                out[(j * n + i) * 5..(j * n + i) * 5 + 5].copy_from_slice(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

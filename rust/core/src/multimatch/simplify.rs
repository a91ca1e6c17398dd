//! Scanpath grouping (`grouping=True`): multimatch-gaze's `simdir`, `simlen` and
//! `simplify_scanpath`, quirks included, with two documented departures where the reference crashes.
//!
//! Quirks kept for parity:
//! - a merged saccade keeps the first saccade's start point and duration; the middle fixation's
//!   duration is dropped, not added;
//! - `simlen` handles the last saccade apart: it overwrites the previous *output* saccade's vector
//!   with the sum of the last two *input* vectors, and appends one extra duration, so `dur` can hold
//!   `len() + 2` entries;
//! - the loop stops when the number of durations stops changing, not when nothing merged.
//!
//! Departures (the reference raises):
//! - the cosine between two saccades is clamped to [-1, 1] before `acos`: rounding can push it past 1
//!   for collinear saccades, where `math.acos` raises `ValueError`. MATLAB's `acos` returns a complex
//!   number whose real part (what its comparison uses) is the clamped angle, so this matches the
//!   original toolbox;
//! - a single remaining saccade is never length-merged: the reference's last-saccade rule merges it
//!   with a previous saccade that does not exist (`IndexError`).

use super::vectorise::{cart2pol, Saccades};

/// Angle in degrees between two saccade vectors, as `calcangle` computes it.
///
/// `numpy.dot` and `numpy.linalg.norm` of two-element vectors go through OpenBLAS `ddot`, whose
/// kernel on FMA-capable x86-64 computes `fma(x1, x2, x0 * y0)`: we do the same so that angles sit
/// on the same side of `TDir` as the reference's. Zero-length saccades give NaN, which never merges.
#[inline]
pub fn saccade_angle(ax: f64, ay: f64, bx: f64, by: f64) -> f64 {
    let dot = ay.mul_add(by, ax * bx);
    let na = ay.mul_add(ay, ax * ax).sqrt();
    let nb = by.mul_add(by, bx * bx).sqrt();
    let cos = dot / (na * nb);
    // NaN (a zero-length saccade) stays NaN.
    let cos = cos.clamp(-1.0, 1.0);
    cos.acos() * (180.0 / std::f64::consts::PI)
}

fn keep(out: &mut Saccades, path: &Saccades, i: usize) {
    out.push_from(path, i);
    out.dur.push(path.dur[i]);
}

fn merge_pair(out: &mut Saccades, path: &Saccades, i: usize) {
    out.push(path.x[i], path.y[i], path.lenx[i] + path.lenx[i + 1], path.leny[i] + path.leny[i + 1]);
    out.dur.push(path.dur[i]);
}

/// One pass of direction grouping: merge saccades `i`, `i + 1` when the angle between them is
/// below `tdir` degrees and fixation `i + 1` is shorter than `tdur`.
pub fn simdir(path: &Saccades, tdir: f64, tdur: f64) -> Saccades {
    let s = path.len();
    if s < 1 {
        return path.clone();
    }
    let mut out = Saccades::with_capacity(s);
    let mut i = 0;
    while i < s {
        let mergeable = i + 1 < s
            && saccade_angle(path.lenx[i], path.leny[i], path.lenx[i + 1], path.leny[i + 1]) < tdir
            && path.dur[i + 1] < tdur;
        if mergeable {
            merge_pair(&mut out, path, i);
            i += 2;
        } else {
            keep(&mut out, path, i);
            i += 1;
        }
    }
    out.dur.push(*path.dur.last().expect("a scanpath with saccades has durations"));
    out
}

/// One pass of length grouping: merge saccade `i` (shorter than `tamp`) with the next one when
/// fixation `i` or `i + 1` is shorter than `tdur`; the last saccade merges into the previous output.
pub fn simlen(path: &Saccades, tamp: f64, tdur: f64) -> Saccades {
    let s = path.len();
    if s < 1 {
        return path.clone();
    }
    let nd = path.dur.len();
    let mut out = Saccades::with_capacity(s);
    let mut i = 0;
    while i < s {
        if i == s - 1 {
            let short = path.rho[i] < tamp && (path.dur[nd - 1] < tdur || path.dur[nd - 2] < tdur);
            // s == 1: the reference raises IndexError; a lone saccade has nothing to merge with.
            if short && s >= 2 {
                let vx = path.lenx[s - 2] + path.lenx[s - 1];
                let vy = path.leny[s - 2] + path.leny[s - 1];
                let (rho, theta) = cart2pol(vx, vy);
                let k = out.len() - 1;
                out.lenx[k] = vx;
                out.leny[k] = vy;
                out.theta[k] = theta;
                out.rho[k] = rho;
                out.dur.push(path.dur[i - 1]);
            } else {
                keep(&mut out, path, i);
            }
            i += 1;
        } else if path.rho[i] < tamp && (path.dur[i + 1] < tdur || path.dur[i] < tdur) {
            merge_pair(&mut out, path, i);
            i += 2;
        } else {
            keep(&mut out, path, i);
            i += 1;
        }
    }
    out.dur.push(path.dur[nd - 1]);
    out
}

/// Alternate `simdir` and `simlen` until the number of durations stops changing.
pub fn simplify(mut path: Saccades, tamp: f64, tdir: f64, tdur: f64) -> Saccades {
    let mut prev = path.dur.len();
    loop {
        path = simlen(&simdir(&path, tdir, tdur), tamp, tdur);
        let len = path.dur.len();
        if len == prev {
            return path;
        }
        prev = len;
    }
}

#[cfg(test)]
mod tests {
    use super::super::vectorise::vectorise;
    use super::*;
    use crate::scanpath::Scanpath;

    fn sacc(x: &[f64], y: &[f64], d: &[f64]) -> Saccades {
        vectorise(&Scanpath::new(x, y, d).unwrap())
    }

    #[test]
    fn angle_basics_and_clamp() {
        assert_eq!(saccade_angle(1.0, 0.0, 0.0, 1.0), 90.0);
        assert_eq!(saccade_angle(1.0, 0.0, -2.0, 0.0), 180.0);
        assert!(saccade_angle(0.0, 0.0, 1.0, 1.0).is_nan());
        // Collinear vectors whose rounded cosine exceeds 1 (math.acos raises on these).
        let (ax, ay, bx, by): (f64, f64, f64, f64) = (0.1, 0.6, 0.2, 1.2);
        let raw = ay.mul_add(by, ax * bx) / (ay.mul_add(ay, ax * ax).sqrt() * by.mul_add(by, bx * bx).sqrt());
        assert!(raw > 1.0, "test vectors should overflow the cosine, got {raw}");
        assert_eq!(saccade_angle(ax, ay, bx, by), 0.0);
    }

    #[test]
    fn simdir_merges_collinear_short() {
        // Three saccades to the right, middle fixations short: first two merge, third kept.
        let s = sacc(&[0.0, 10.0, 20.0, 30.0], &[0.0; 4], &[0.5, 0.01, 0.5, 0.5]);
        let out = simdir(&s, 45.0, 0.1);
        assert_eq!(out.lenx, vec![20.0, 10.0]);
        assert_eq!(out.dur, vec![0.5, 0.5, 0.5]);
        assert_eq!(out.x, vec![0.0, 20.0]);
    }

    #[test]
    fn simlen_last_saccade_quirk_adds_duration() {
        // Last saccade short with a short fixation: merged into the previous output.
        let s = sacc(&[0.0, 500.0, 505.0], &[0.0; 3], &[0.5, 0.5, 0.01]);
        let out = simlen(&s, 100.0, 0.1);
        assert_eq!(out.len(), 1);
        assert_eq!(out.lenx, vec![505.0]);
        assert_eq!(out.dur, vec![0.5, 0.5, 0.01]);
    }

    #[test]
    fn simlen_single_short_saccade_is_kept() {
        let s = sacc(&[0.0, 5.0], &[0.0; 2], &[0.01, 0.01]);
        let out = simlen(&s, 100.0, 0.1);
        assert_eq!(out, s);
    }

    #[test]
    fn simplify_terminates_and_shrinks() {
        let x: Vec<f64> = (0..40).map(|k| (k as f64 * 7.0) % 50.0).collect();
        let y: Vec<f64> = (0..40).map(|k| (k as f64 * 3.0) % 20.0).collect();
        let d = vec![0.01; 40];
        let out = simplify(sacc(&x, &y, &d), 100.0, 30.0, 0.05);
        assert!(!out.is_empty() && out.len() < 39);
        assert!(out.dur.len() > out.len());
    }
}

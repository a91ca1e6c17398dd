//! The five differences along the alignment path, their medians, and the normalisation
//! (`cal_*difference`, `getunnormalised`, `normaliseresults`).

use std::f64::consts::PI;

use super::align::{stored_difference, Workspace};
use super::vectorise::Saccades;

/// `numpy.median`: NaN if any value is NaN; the mean of the two middle values for even counts.
///
/// The values here are never negative (absolute differences, lengths, ratios), so their bit
/// patterns sort like the numbers; selecting on integers is cheaper than on `f64::total_cmp`.
/// Negative input is still handled exactly, by the slower float path.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 || v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let k = n / 2;
    if v.iter().all(|x| x.is_sign_positive()) {
        let by_bits = |x: &f64, y: &f64| x.to_bits().cmp(&y.to_bits());
        let (lower, hi, _) = v.select_nth_unstable_by(k, by_bits);
        let hi = *hi;
        if n % 2 == 1 {
            return hi;
        }
        let lo = f64::from_bits(lower.iter().map(|x| x.to_bits()).max().expect("k >= 1 for even n >= 2"));
        return (lo + hi) / 2.0;
    }
    let (lower, hi, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// Angle difference of `cal_angulardifference`: angles mapped to [0, 2pi), then the shorter way round.
#[inline]
pub fn direction_difference(t1: f64, t2: f64) -> f64 {
    // Both sides computed, then selected: the signs are random, so branches would mispredict.
    let wrap = |t: f64| {
        let wrapped = PI + (PI + t);
        if t < 0.0 {
            wrapped
        } else {
            t
        }
    };
    let d = (wrap(t1) - wrap(t2)).abs();
    let other = 2.0 * PI - d;
    if d > PI {
        other
    } else {
        d
    }
}

/// `|d1 - d2| / |max(d1, d2)|`, with Python's `max` (first argument on equality).
#[inline]
pub fn duration_difference(d1: f64, d2: f64) -> f64 {
    let mx = if d2 > d1 { d2 } else { d1 };
    (d1 - d2).abs() / mx.abs()
}

/// Medians of the five differences along `ws.path` (vector, direction, length, position, duration).
pub fn unnormalised(ws: &mut Workspace, a: &Saccades, b: &Saccades) -> [f64; 5] {
    for v in ws.values.iter_mut() {
        v.clear();
    }
    let n = a.len();
    let mut values = std::mem::take(&mut ws.values);
    let [vec, dir, len, pos, dur] = &mut values;
    for &(i, j) in &ws.path {
        let (i, j) = (i as usize, j as usize);
        // M as the alignment computed it: the same expression, so the same bits.
        vec.push(stored_difference(ws, n, i, j));
        dir.push(direction_difference(a.theta[i], b.theta[j]));
        len.push((a.rho[i] - b.rho[j]).abs());
        let dx = a.x[i] - b.x[j];
        let dy = a.y[i] - b.y[j];
        pos.push((dx * dx + dy * dy).sqrt());
        dur.push(duration_difference(a.dur[i], b.dur[j]));
    }
    let out = [median(vec), median(dir), median(len), median(pos), median(dur)];
    ws.values = values;
    out
}

/// `normaliseresults`: vector by twice the screen diagonal, direction by pi, length and position by
/// the diagonal; duration is already relative. Only the diagonal depends on the screen, so
/// `(w, h)` and `(h, w)` give the same scores.
pub fn normalise(u: [f64; 5], screen: (f64, f64)) -> [f64; 5] {
    let diag = (screen.0 * screen.0 + screen.1 * screen.1).sqrt();
    [1.0 - u[0] / (2.0 * diag), 1.0 - u[1] / PI, 1.0 - u[2] / diag, 1.0 - u[3] / diag, 1.0 - u[4]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_like_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0]), 5.0);
        assert!(median(&mut [1.0, f64::NAN, 0.0]).is_nan());
        assert!(median(&mut []).is_nan());
        assert_eq!(median(&mut [-1.0, 2.0, -3.0, 0.5]), -0.25);
        let mut big: Vec<f64> = (0..301).rev().map(|k| k as f64 * 0.5).collect();
        assert_eq!(median(&mut big), 75.0);
        let mut small: Vec<f64> = (0..100).rev().map(|k| k as f64 * 0.25).collect();
        assert_eq!(median(&mut small), (12.25 + 12.5) / 2.0);
    }

    #[test]
    fn direction_wraps() {
        assert_eq!(direction_difference(0.0, 0.0), 0.0);
        assert!((direction_difference(-3.0, 3.0) - (2.0 * PI - 6.0)).abs() < 1e-15);
        assert_eq!(direction_difference(PI, 0.0), PI);
        assert!((direction_difference(-PI / 2.0, PI / 2.0) - PI).abs() < 1e-15);
    }

    #[test]
    fn duration_relative() {
        assert_eq!(duration_difference(0.2, 0.1), 0.5);
        assert_eq!(duration_difference(0.1, 0.2), 0.5);
        assert!(duration_difference(0.0, 0.0).is_nan());
    }

    #[test]
    fn normalisation_uses_diagonal_only() {
        let u = [10.0, 0.5, 3.0, 7.0, 0.25];
        assert_eq!(normalise(u, (1280.0, 720.0)), normalise(u, (720.0, 1280.0)));
        let n = normalise([0.0; 5], (3.0, 4.0));
        assert_eq!(n, [1.0; 5]);
        assert_eq!(normalise([10.0, PI, 5.0, 5.0, 1.0], (3.0, 4.0)), [0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}

//! The five differences along the alignment path, their medians, and the normalisation
//! (`cal_*difference`, `getunnormalised`, `normaliseresults`).

use std::f64::consts::PI;

use super::align::{vector_difference, Workspace};
use super::vectorise::Saccades;

/// `numpy.median`: NaN if any value is NaN; the mean of the two middle values for even counts.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 || v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let k = n / 2;
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
    let wrap = |t: f64| if t < 0.0 { PI + (PI + t) } else { t };
    let d = (wrap(t1) - wrap(t2)).abs();
    if d > PI {
        2.0 * PI - d
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
    let [vec, dir, len, pos, dur] = &mut ws.values;
    for &(i, j) in &ws.path {
        let (i, j) = (i as usize, j as usize);
        vec.push(vector_difference(a, b, i, j));
        dir.push(direction_difference(a.theta[i], b.theta[j]));
        len.push((a.rho[i] - b.rho[j]).abs());
        let dx = a.x[i] - b.x[j];
        let dy = a.y[i] - b.y[j];
        pos.push((dx * dx + dy * dy).sqrt());
        dur.push(duration_difference(a.dur[i], b.dur[j]));
    }
    [median(vec), median(dir), median(len), median(pos), median(dur)]
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

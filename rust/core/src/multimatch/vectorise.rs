//! Fixations to saccade vectors, as multimatch-gaze's `gen_scanpath_structure` does.

use crate::scanpath::Scanpath;

/// A vector-based scanpath: saccade `k` starts at (`x[k]`, `y[k]`) and moves by (`lenx[k]`, `leny[k]`).
///
/// `dur` is kept apart from the saccades because the reference's length grouping can leave it one
/// entry longer than usual (see [`super::simplify`]); the measures read only its first `len()` entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saccades {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub lenx: Vec<f64>,
    pub leny: Vec<f64>,
    pub theta: Vec<f64>,
    pub rho: Vec<f64>,
    pub dur: Vec<f64>,
}

impl Saccades {
    pub fn len(&self) -> usize {
        self.lenx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lenx.is_empty()
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        let v = || Vec::with_capacity(n);
        Saccades { x: v(), y: v(), lenx: v(), leny: v(), theta: v(), rho: v(), dur: Vec::with_capacity(n + 2) }
    }

    /// Append a saccade by its start and displacement; length and angle follow.
    pub(crate) fn push(&mut self, x: f64, y: f64, lenx: f64, leny: f64) {
        let (rho, theta) = cart2pol(lenx, leny);
        self.x.push(x);
        self.y.push(y);
        self.lenx.push(lenx);
        self.leny.push(leny);
        self.rho.push(rho);
        self.theta.push(theta);
    }

    /// Copy saccade `k` of `other` unchanged.
    pub(crate) fn push_from(&mut self, other: &Saccades, k: usize) {
        self.x.push(other.x[k]);
        self.y.push(other.y[k]);
        self.lenx.push(other.lenx[k]);
        self.leny.push(other.leny[k]);
        self.rho.push(other.rho[k]);
        self.theta.push(other.theta[k]);
    }
}

/// `numpy.sqrt(x**2 + y**2)` and `numpy.arctan2(y, x)`: not `hypot`, whose rounding differs.
#[inline]
pub fn cart2pol(x: f64, y: f64) -> (f64, f64) {
    ((x * x + y * y).sqrt(), y.atan2(x))
}

/// Saccade `k` joins fixation `k` to fixation `k + 1`; every fixation keeps its duration.
pub fn vectorise(s: &Scanpath) -> Saccades {
    let n = s.len();
    let mut out = Saccades::with_capacity(n.saturating_sub(1));
    for k in 1..n {
        out.push(s.x[k - 1], s.y[k - 1], s.x[k] - s.x[k - 1], s.y[k] - s.y[k - 1]);
    }
    out.dur.extend_from_slice(s.duration);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_and_polar() {
        let (x, y, d) = ([0.0, 3.0, 3.0], [0.0, 4.0, 0.0], [0.1, 0.2, 0.3]);
        let s = vectorise(&Scanpath::new(&x, &y, &d).unwrap());
        assert_eq!(s.len(), 2);
        assert_eq!(s.lenx, vec![3.0, 0.0]);
        assert_eq!(s.leny, vec![4.0, -4.0]);
        assert_eq!(s.rho, vec![5.0, 4.0]);
        assert_eq!(s.theta[1], -std::f64::consts::FRAC_PI_2);
        assert_eq!(s.x, vec![0.0, 3.0]);
        assert_eq!(s.dur, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn empty_and_single() {
        let s = vectorise(&Scanpath::new(&[1.0], &[1.0], &[0.2]).unwrap());
        assert!(s.is_empty());
        assert_eq!(s.dur.len(), 1);
    }
}

//! Scanpath embeddings for MultiMatch candidate search: one fixed-length vector per scanpath,
//! computed in one pass, whose distances track the weighted MultiMatch score.
//!
//! Every block mirrors one MultiMatch dimension and reads the saccades MultiMatch compares: the
//! output of [`multimatch::prepare`] (vectorised and, with grouping, simplified by the same code).
//!
//! | block | size | for the dimension |
//! | --- | --- | --- |
//! | `duration_hist` | 16 | duration: soft histogram of log durations over `log_duration_range` |
//! | `duration_quantiles` | 9 | duration: log-duration deciles 0.1..0.9 |
//! | `duration_profile` | 8 | duration: log duration along the scanpath (8 points) |
//! | `amplitude_hist` | 8 | length: soft histogram of saccade amplitude / screen diagonal over [0, 0.5] |
//! | `direction_hist` | 8 | direction: circular soft histogram of saccade angles |
//! | `position_map` | 16 | position: 4 x 4 bilinear map of saccade starts on the screen |
//! | `vector_stats` | 12 | vector: mean and std of the saccade vector, and its mean in 4 segments |
//! | `duration_sequence` | 24 | duration: log duration read at 24 points along the scanpath |
//! | `saccade_sequence` | 32 | vector, direction, length: saccade (dx, dy) / diagonal at 16 points |
//! | `position_sequence` | 16 | position: saccade start (x / width, y / height) at 8 points |
//!
//! The `*_sequence` blocks compare scanpaths position by position, as MultiMatch's alignment
//! does when it runs near the diagonal; they separate near-copies that the histograms cannot.
//!
//! Histograms and maps are fractions (they sum to 1). Scanpaths MultiMatch cannot score (fewer
//! than 3 fixations, non-finite values) get all zeros. Rows are independent, so the output is the
//! same at any thread count. The weighting of the blocks is fitted elsewhere (Python), per archive.

use rayon::prelude::*;

use crate::error::Result;
use crate::invalid;
use crate::multimatch::{self, MultiMatchParams, Saccades, MIN_FIXATIONS};
use crate::scanpath::PackedScanpaths;

/// (name, width) of each block, in output order.
pub const BLOCKS: [(&str, usize); 10] = [
    ("duration_hist", 16),
    ("duration_quantiles", 9),
    ("duration_profile", 8),
    ("amplitude_hist", 8),
    ("direction_hist", 8),
    ("position_map", 16),
    ("vector_stats", 12),
    ("duration_sequence", 24),
    ("saccade_sequence", 32),
    ("position_sequence", 16),
];

/// Total width of an embedding.
pub fn width() -> usize {
    BLOCKS.iter().map(|b| b.1).sum()
}

/// Embed every scanpath: `N * width()` values, row-major, f32.
///
/// `log_duration_range` is the (low, high) range of the duration histogram, in log units of the
/// archive's durations (low < high, both finite).
pub fn embed(archive: &PackedScanpaths, p: &MultiMatchParams, log_duration_range: (f64, f64)) -> Result<Vec<f32>> {
    p.validate()?;
    let (lo, hi) = log_duration_range;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return invalid!("log_duration_range must be two finite numbers, low < high, got ({lo}, {hi})");
    }
    let w = width();
    let mut out = vec![0.0f32; archive.len() * w];
    out.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        let prepared = multimatch::prepare(&archive.get(i), p);
        if prepared.n_fixations >= MIN_FIXATIONS && prepared.finite && !prepared.saccades.is_empty() {
            embed_one(&prepared.saccades, p.screen, (lo, hi), row);
        }
    });
    Ok(out)
}

fn embed_one(s: &Saccades, screen: (f64, f64), (lo, hi): (f64, f64), row: &mut [f32]) {
    let n = s.len();
    let diag = (screen.0 * screen.0 + screen.1 * screen.1).sqrt();
    // The durations MultiMatch compares: the first len() entries (see `Saccades`).
    let logd: Vec<f64> = s.dur[..n].iter().map(|d| d.max(1e-12).ln()).collect();
    let mut at = 0;
    let mut block = |values: &[f64], row: &mut [f32]| {
        for (slot, v) in row[at..at + values.len()].iter_mut().zip(values) {
            *slot = *v as f32;
        }
        at += values.len();
    };
    let frac = 1.0 / n as f64;

    let mut h = [0.0; 16];
    for &v in &logd {
        soft_bin(&mut h, (v - lo) / (hi - lo) * 15.0, frac, false);
    }
    block(&h, row);

    let mut sorted = logd.clone();
    sorted.sort_by(f64::total_cmp);
    let q: Vec<f64> = (1..=9).map(|k| quantile(&sorted, k as f64 / 10.0)).collect();
    block(&q, row);

    block(&profile::<8>(&logd), row);

    let mut amp = [0.0; 8];
    for &r in &s.rho {
        soft_bin(&mut amp, (r / diag) / 0.5 * 7.0, frac, false);
    }
    block(&amp, row);

    let mut dir = [0.0; 8];
    for &t in &s.theta {
        soft_bin(&mut dir, (t + std::f64::consts::PI) / (2.0 * std::f64::consts::PI) * 8.0, frac, true);
    }
    block(&dir, row);

    let mut map = [0.0; 16];
    for k in 0..n {
        let gx = (s.x[k] / screen.0).clamp(0.0, 1.0) * 3.0;
        let gy = (s.y[k] / screen.1).clamp(0.0, 1.0) * 3.0;
        let (x0, y0) = ((gx.floor() as usize).min(2), (gy.floor() as usize).min(2));
        let (fx, fy) = (gx - x0 as f64, gy - y0 as f64);
        map[y0 * 4 + x0] += frac * (1.0 - fx) * (1.0 - fy);
        map[y0 * 4 + x0 + 1] += frac * fx * (1.0 - fy);
        map[(y0 + 1) * 4 + x0] += frac * (1.0 - fx) * fy;
        map[(y0 + 1) * 4 + x0 + 1] += frac * fx * fy;
    }
    block(&map, row);

    let vx: Vec<f64> = s.lenx.iter().map(|v| v / diag).collect();
    let vy: Vec<f64> = s.leny.iter().map(|v| v / diag).collect();
    let (mx, my) = (mean(&vx), mean(&vy));
    let (sx, sy) = (std(&vx, mx), std(&vy, my));
    let (px, py) = (profile::<4>(&vx), profile::<4>(&vy));
    let mut stats = vec![mx, my, sx, sy];
    for k in 0..4 {
        stats.push(px[k]);
        stats.push(py[k]);
    }
    block(&stats, row);

    block(&profile::<24>(&logd), row);
    let (qx, qy) = (profile::<16>(&vx), profile::<16>(&vy));
    let interleaved: Vec<f64> = qx.iter().zip(&qy).flat_map(|(a, b)| [*a, *b]).collect();
    block(&interleaved, row);
    let sx_: Vec<f64> = s.x.iter().map(|v| v / screen.0).collect();
    let sy_: Vec<f64> = s.y.iter().map(|v| v / screen.1).collect();
    let (rx, ry) = (profile::<8>(&sx_), profile::<8>(&sy_));
    let interleaved: Vec<f64> = rx.iter().zip(&ry).flat_map(|(a, b)| [*a, *b]).collect();
    block(&interleaved, row);
}

/// Add `weight` at fractional bin `t`, split linearly between its two neighbours; clamped at the
/// ends, or wrapped around when `circular`.
fn soft_bin(h: &mut [f64], t: f64, weight: f64, circular: bool) {
    let b = h.len();
    if !t.is_finite() {
        return;
    }
    if circular {
        let t = t.rem_euclid(b as f64);
        let k = (t.floor() as usize).min(b - 1);
        let f = t - k as f64;
        h[k] += weight * (1.0 - f);
        h[(k + 1) % b] += weight * f;
    } else {
        let t = t.clamp(0.0, (b - 1) as f64);
        let k = (t.floor() as usize).min(b - 2);
        let f = t - k as f64;
        h[k] += weight * (1.0 - f);
        h[k + 1] += weight * f;
    }
}

/// numpy's default ("linear") quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let k = (pos.floor() as usize).min(sorted.len() - 1);
    let f = pos - k as f64;
    if k + 1 < sorted.len() {
        sorted[k] * (1.0 - f) + sorted[k + 1] * f
    } else {
        sorted[k]
    }
}

/// The sequence read at `L` evenly spaced points (linear interpolation): its shape along the scanpath.
fn profile<const L: usize>(v: &[f64]) -> [f64; L] {
    let mut out = [0.0; L];
    let n = v.len();
    for (s, slot) in out.iter_mut().enumerate() {
        let pos = (s as f64 + 0.5) / L as f64 * n as f64 - 0.5;
        let pos = pos.clamp(0.0, (n - 1) as f64);
        let k = (pos.floor() as usize).min(n - 1);
        let f = pos - k as f64;
        *slot = if k + 1 < n { v[k] * (1.0 - f) + v[k + 1] * f } else { v[k] };
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn std(v: &[f64], m: f64) -> f64 {
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive() -> (Vec<i64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut offsets = vec![0i64];
        let (mut x, mut y, mut d) = (vec![], vec![], vec![]);
        for i in 0..40 {
            let n = 2 + i % 7;
            for k in 0..n {
                x.push(((i * 37 + k * 91) % 1280) as f64);
                y.push(((i * 53 + k * 17) % 720) as f64);
                d.push(0.05 + ((i + k) % 9) as f64 * 0.04);
            }
            offsets.push(x.len() as i64);
        }
        (offsets, x, y, d)
    }

    #[test]
    fn same_at_any_thread_count_and_histograms_sum_to_one() {
        let (o, x, y, d) = archive();
        let a = PackedScanpaths::new(&o, &x, &y, &d).unwrap();
        for grouping in [false, true] {
            let p = MultiMatchParams { grouping, tamp: 100.0, tdir: 30.0, tdur: 0.1, ..MultiMatchParams::new((1280.0, 720.0)) };
            let one = crate::parallel::with_threads(Some(1), || embed(&a, &p, (-3.5, 0.0))).unwrap().unwrap();
            let three = crate::parallel::with_threads(Some(3), || embed(&a, &p, (-3.5, 0.0))).unwrap().unwrap();
            assert_eq!(one, three);
            let w = width();
            for (i, row) in one.chunks(w).enumerate() {
                let n = (o[i + 1] - o[i]) as usize;
                let hist: f32 = row[..16].iter().sum();
                if n < 3 {
                    assert!(row.iter().all(|v| *v == 0.0), "row {i} should be zeros");
                } else {
                    assert!((hist - 1.0).abs() < 1e-5, "row {i}: duration histogram sums to {hist}");
                    let map: f32 = row[49..65].iter().sum();
                    assert!((map - 1.0).abs() < 1e-5, "row {i}: position map sums to {map}");
                }
            }
        }
    }

    #[test]
    fn bad_range_is_an_error() {
        let (o, x, y, d) = archive();
        let a = PackedScanpaths::new(&o, &x, &y, &d).unwrap();
        assert!(embed(&a, &MultiMatchParams::new((1280.0, 720.0)), (1.0, 1.0)).is_err());
    }

    #[test]
    fn quantile_and_profile() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(profile::<2>(&[1.0, 3.0]), [1.0, 3.0]);
        let mut h = [0.0; 4];
        soft_bin(&mut h, 3.5, 1.0, true);
        assert_eq!(h, [0.5, 0.0, 0.0, 0.5]);
    }
}

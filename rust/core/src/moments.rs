//! Image moments, Hu invariants and matchShapes, in OpenCV's order of operations.
//!
//! - raw moments `m_pq = Σ I(y, x)·x^p·y^q` (x the column, y the row, no half-pixel shift),
//!   accumulated in f64: per row the sums `Σp, Σp·x, Σp·x², Σp·x³`, then weighted by y;
//! - central and normalised moments exactly as `cv::Moments` computes them from the raw ones;
//! - the seven Hu invariants in `cv::HuMoments`' order of operations;
//! - `cv::matchShapes` methods I1, I2, I3 on cached Hu vectors, with OpenCV's quirks kept.
//!
//! Hu moments change with intensity scale, so [`Normalise`] makes the choice explicit.

use rayon::prelude::*;

use crate::error::Result;
use crate::invalid;

/// Raw moments in OpenCV's order: m00, m10, m01, m20, m11, m02, m30, m21, m12, m03.
pub type RawMoments = [f64; 10];
/// The seven Hu invariants, `cv::HuMoments` order.
pub type Hu = [f64; 7];

/// A pixel type the moment kernels read (converted to f64 before any arithmetic).
pub trait Pixel: Copy + Send + Sync + 'static {
    const NAME: &'static str;
    fn to_f64(self) -> f64;
    /// NaN or infinity: float maps only.
    fn is_bad(self) -> bool;
}

impl Pixel for u8 {
    const NAME: &'static str = "uint8";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_bad(self) -> bool {
        false
    }
}

impl Pixel for f32 {
    const NAME: &'static str = "float32";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_bad(self) -> bool {
        !self.is_finite()
    }
}

impl Pixel for f64 {
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_bad(self) -> bool {
        !self.is_finite()
    }
}

/// How a map's intensities are scaled before its moments are taken.
///
/// Hu invariants are not invariant to intensity scale (`nu_pq` of `c·I` is `c^{-(p+q)/2}·nu_pq`),
/// so the same heatmap rendered at a different peak gives different Hu vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    /// Use the values as given (what `cv2.moments(img)` does).
    None,
    /// Divide by the map's maximum, so the peak is 1 (an all-zero or non-positive max: unchanged).
    Max,
    /// Divide by the map's sum, so m00 is 1 (a zero sum: unchanged).
    Sum,
}

impl Normalise {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "none" => Ok(Normalise::None),
            "max" => Ok(Normalise::Max),
            "sum" => Ok(Normalise::Sum),
            other => invalid!("normalise must be 'none', 'max' or 'sum', got {other:?}"),
        }
    }
}

const LANES: usize = 8;

/// Per-row sums Σp, Σp·x, Σp·x², Σp·x³ with fixed lanes, so the result never depends on the
/// CPU's vector width (the lanes are summed in one fixed order).
#[inline(always)]
fn row_sums<T: Pixel>(row: &[T], xs: &[f64], xs2: &[f64], xs3: &[f64]) -> [f64; 4] {
    let mut a0 = [0.0f64; LANES];
    let mut a1 = [0.0f64; LANES];
    let mut a2 = [0.0f64; LANES];
    let mut a3 = [0.0f64; LANES];
    let full = row.len() / LANES * LANES;
    let mut x = 0;
    while x < full {
        for l in 0..LANES {
            let p = row[x + l].to_f64();
            a0[l] += p;
            a1[l] += p * xs[x + l];
            a2[l] += p * xs2[x + l];
            a3[l] += p * xs3[x + l];
        }
        x += LANES;
    }
    for (l, xi) in (full..row.len()).enumerate() {
        let p = row[xi].to_f64();
        a0[l] += p;
        a1[l] += p * xs[xi];
        a2[l] += p * xs2[xi];
        a3[l] += p * xs3[xi];
    }
    let sum = |a: &[f64; LANES]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    [sum(&a0), sum(&a1), sum(&a2), sum(&a3)]
}

#[inline(always)]
fn raw_moments_impl<T: Pixel>(img: &[T], height: usize, width: usize, xs: &[f64], xs2: &[f64], xs3: &[f64]) -> RawMoments {
    let mut m = [0.0f64; 10];
    for y in 0..height {
        let [s0, s1, s2, s3] = row_sums(&img[y * width..(y + 1) * width], xs, xs2, xs3);
        let yf = y as f64;
        let y2 = yf * yf;
        m[0] += s0;
        m[1] += s1;
        m[2] += yf * s0;
        m[3] += s2;
        m[4] += yf * s1;
        m[5] += y2 * s0;
        m[6] += s3;
        m[7] += yf * s2;
        m[8] += y2 * s1;
        m[9] += y2 * yf * s0;
    }
    m
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn raw_moments_avx2<T: Pixel>(img: &[T], height: usize, width: usize, xs: &[f64], xs2: &[f64], xs3: &[f64]) -> RawMoments {
    // Same code, compiled with wider vectors; no FMA contraction, so the rounding is identical.
    raw_moments_impl(img, height, width, xs, xs2, xs3)
}

/// Column powers x, x², x³ as f64, shared by every map of one width.
pub struct ColumnPowers {
    xs: Vec<f64>,
    xs2: Vec<f64>,
    xs3: Vec<f64>,
}

impl ColumnPowers {
    pub fn new(width: usize) -> Self {
        let xs: Vec<f64> = (0..width).map(|x| x as f64).collect();
        let xs2 = xs.iter().map(|x| x * x).collect();
        let xs3 = xs.iter().map(|x| x * x * x).collect();
        ColumnPowers { xs, xs2, xs3 }
    }
}

fn raw_moments_with<T: Pixel>(img: &[T], height: usize, width: usize, cols: &ColumnPowers) -> RawMoments {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { raw_moments_avx2(img, height, width, &cols.xs, &cols.xs2, &cols.xs3) };
        }
    }
    raw_moments_impl(img, height, width, &cols.xs, &cols.xs2, &cols.xs3)
}

fn check_map<T: Pixel>(img: &[T], index: usize) -> Result<()> {
    if let Some(pos) = img.iter().position(|v| v.is_bad()) {
        return invalid!("map {index} holds NaN or infinity at flat position {pos}; moments need finite values");
    }
    Ok(())
}

fn scale_factor<T: Pixel>(img: &[T], norm: Normalise) -> f64 {
    match norm {
        Normalise::None => 1.0,
        Normalise::Max => {
            let mx = img.iter().fold(f64::NEG_INFINITY, |a, v| a.max(v.to_f64()));
            if mx > 0.0 { 1.0 / mx } else { 1.0 }
        }
        Normalise::Sum => {
            let s: f64 = img.iter().map(|v| v.to_f64()).sum();
            if s != 0.0 { 1.0 / s } else { 1.0 }
        }
    }
}

/// Raw moments of one (height, width) row-major map, equal to `cv2.moments(img)`'s m-values.
pub fn raw_moments<T: Pixel>(img: &[T], height: usize, width: usize) -> Result<RawMoments> {
    check_shape(img.len(), 1, height, width)?;
    check_map(img, 0)?;
    Ok(raw_moments_with(img, height, width, &ColumnPowers::new(width)))
}

fn check_shape(len: usize, n: usize, height: usize, width: usize) -> Result<()> {
    if height == 0 || width == 0 {
        return invalid!("maps must be at least 1x1, got {height}x{width}");
    }
    if n.checked_mul(height).and_then(|v| v.checked_mul(width)) != Some(len) {
        return invalid!("buffer of {len} values does not hold {n} maps of {height}x{width}");
    }
    Ok(())
}

/// Normalised central moments nu20, nu11, nu02, nu30, nu21, nu12, nu03, as `cv::Moments` computes them.
pub fn normalised_central(m: &RawMoments) -> [f64; 7] {
    let [m00, m10, m01, m20, m11, m02, m30, m21, m12, m03] = *m;
    let (mut cx, mut cy, mut inv_m00) = (0.0, 0.0, 0.0);
    if m00.abs() > f64::EPSILON {
        inv_m00 = 1.0 / m00;
        cx = m10 * inv_m00;
        cy = m01 * inv_m00;
    }
    let mu20 = m20 - m10 * cx;
    let mu11 = m11 - m10 * cy;
    let mu02 = m02 - m01 * cy;
    let mu30 = m30 - cx * (3.0 * mu20 + cx * m10);
    let mu21 = m21 - cx * (2.0 * mu11 + cx * m01) - cy * mu20;
    let mu12 = m12 - cy * (2.0 * mu11 + cy * m10) - cx * mu02;
    let mu03 = m03 - cy * (3.0 * mu02 + cy * m01);
    let inv_sqrt_m00 = inv_m00.abs().sqrt();
    let s2 = inv_m00 * inv_m00;
    let s3 = s2 * inv_sqrt_m00;
    [mu20 * s2, mu11 * s2, mu02 * s2, mu30 * s3, mu21 * s3, mu12 * s3, mu03 * s3]
}

/// Hu invariants from raw moments, in `cv::HuMoments`' order of operations.
pub fn hu_from_raw(m: &RawMoments) -> Hu {
    let [nu20, nu11, nu02, nu30, nu21, nu12, nu03] = normalised_central(m);
    let mut t0 = nu30 + nu12;
    let mut t1 = nu21 + nu03;
    let mut q0 = t0 * t0;
    let mut q1 = t1 * t1;
    let n4 = 4.0 * nu11;
    let s = nu20 + nu02;
    let d = nu20 - nu02;
    let mut hu = [0.0; 7];
    hu[0] = s;
    hu[1] = d * d + n4 * nu11;
    hu[3] = q0 + q1;
    hu[5] = d * (q0 - q1) + n4 * t0 * t1;
    t0 *= q0 - 3.0 * q1;
    t1 *= 3.0 * q0 - q1;
    q0 = nu30 - 3.0 * nu12;
    q1 = 3.0 * nu21 - nu03;
    hu[2] = q0 * q0 + q1 * q1;
    hu[4] = q0 * t0 + q1 * t1;
    hu[6] = q1 * t0 - q0 * t1;
    hu
}

/// Raw moments of `n` maps of (height, width), packed row-major one after another; parallel over maps.
/// Each map is scaled by `norm` first (the scale multiplies the raw moments).
pub fn raw_moments_batch<T: Pixel>(data: &[T], n: usize, height: usize, width: usize, norm: Normalise) -> Result<Vec<RawMoments>> {
    if n == 0 {
        return invalid!("no maps given (n = 0)");
    }
    check_shape(data.len(), n, height, width)?;
    let cols = ColumnPowers::new(width);
    let per = height * width;
    data.par_chunks(per)
        .enumerate()
        .map(|(i, img)| {
            check_map(img, i)?;
            let mut m = raw_moments_with(img, height, width, &cols);
            let f = scale_factor(img, norm);
            if f != 1.0 {
                m.iter_mut().for_each(|v| *v *= f);
            }
            Ok(m)
        })
        .collect()
}

/// Hu invariants of `n` maps (see [`raw_moments_batch`]); equal to `cv2.HuMoments(cv2.moments(img))`.
pub fn hu_moments_batch<T: Pixel>(data: &[T], n: usize, height: usize, width: usize, norm: Normalise) -> Result<Vec<Hu>> {
    Ok(raw_moments_batch(data, n, height, width, norm)?.iter().map(hu_from_raw).collect())
}

/// Hu invariants of one map.
pub fn hu_moments<T: Pixel>(img: &[T], height: usize, width: usize) -> Result<Hu> {
    Ok(hu_from_raw(&raw_moments(img, height, width)?))
}

/// `cv::matchShapes` comparison method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// `Σ |1/sB − 1/sA|`
    I1,
    /// `Σ |sB − sA|`
    I2,
    /// `max |(sA − sB)/sA|` (asymmetric)
    I3,
}

impl MatchMethod {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "I1" | "i1" | "1" => Ok(MatchMethod::I1),
            "I2" | "i2" | "2" => Ok(MatchMethod::I2),
            "I3" | "i3" | "3" => Ok(MatchMethod::I3),
            other => invalid!("method must be 'I1', 'I2' or 'I3', got {other:?}"),
        }
    }
}

/// A component counts in matchShapes only when both |h| exceed this.
pub const MATCH_EPS: f64 = 1e-5;

/// `sign(h)·log10|h|`, the transform matchShapes compares (sign 0 for h == 0).
#[inline]
pub fn signed_log10(h: f64) -> f64 {
    let s = if h > 0.0 {
        1.0
    } else if h < 0.0 {
        -1.0
    } else {
        0.0
    };
    s * h.abs().log10()
}

/// `cv::matchShapes(a, b, method, 0)` on two cached Hu vectors (OpenCV's arithmetic, quirks kept:
/// components count only when both |h| > 1e-5; DBL_MAX when exactly one vector is all zero).
pub fn match_shapes_pair(hu_a: &Hu, hu_b: &Hu, method: MatchMethod) -> f64 {
    let prep_a = Prepared::new(hu_a, method);
    let prep_b = Prepared::new(hu_b, method);
    prep_a.compare(&prep_b, method)
}

/// One Hu vector with the per-vector work of matchShapes done once: the transformed values
/// (`s` for I2 and I3, `1/s` for I1), which components count, and whether any is non-zero.
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    values: [f64; 7],
    counts: [bool; 7],
    any_nonzero: bool,
}

impl Prepared {
    pub fn new(hu: &Hu, method: MatchMethod) -> Self {
        let mut values = [0.0; 7];
        let mut counts = [false; 7];
        for i in 0..7 {
            let a = hu[i].abs();
            counts[i] = a > MATCH_EPS;
            let s = signed_log10(hu[i]);
            values[i] = if method == MatchMethod::I1 { 1.0 / s } else { s };
        }
        Prepared { values, counts, any_nonzero: hu.iter().any(|h| h.abs() > 0.0) }
    }

    /// matchShapes(self, other): `self` plays OpenCV's contour1 (A), `other` contour2 (B).
    #[inline]
    pub fn compare(&self, other: &Prepared, method: MatchMethod) -> f64 {
        if self.any_nonzero != other.any_nonzero {
            return f64::MAX;
        }
        let mut result = 0.0f64;
        match method {
            MatchMethod::I1 | MatchMethod::I2 => {
                for i in 0..7 {
                    if self.counts[i] && other.counts[i] {
                        result += (-self.values[i] + other.values[i]).abs();
                    }
                }
            }
            MatchMethod::I3 => {
                for i in 0..7 {
                    if self.counts[i] && other.counts[i] {
                        let mmm = ((self.values[i] - other.values[i]) / self.values[i]).abs();
                        if result < mmm {
                            result = mmm;
                        }
                    }
                }
            }
        }
        result
    }
}

/// All pairs `matchShapes(a[i], b[j])`, row-major (len(a), len(b)); parallel over rows.
pub fn match_shapes_matrix(hu_a: &[Hu], hu_b: &[Hu], method: MatchMethod) -> Result<Vec<f64>> {
    if hu_a.is_empty() || hu_b.is_empty() {
        return invalid!("match_shapes needs at least one Hu vector on each side, got {} and {}", hu_a.len(), hu_b.len());
    }
    if let Some(i) = hu_a.iter().chain(hu_b.iter()).position(|h| h.iter().any(|v| v.is_nan())) {
        return invalid!("Hu vector {i} holds NaN");
    }
    let pa: Vec<Prepared> = hu_a.iter().map(|h| Prepared::new(h, method)).collect();
    let pb: Vec<Prepared> = hu_b.iter().map(|h| Prepared::new(h, method)).collect();
    let m = pb.len();
    let mut out = vec![0.0f64; pa.len() * m];
    out.par_chunks_mut(m).zip(pa.par_iter()).for_each(|(row, a)| {
        for (slot, b) in row.iter_mut().zip(pb.iter()) {
            *slot = a.compare(b, method);
        }
    });
    Ok(out)
}

/// matchShapes(a[ia[t]], b[ib[t]]) for a list of index pairs (candidate re-ranking); parallel.
pub fn match_shapes_pairs(hu_a: &[Hu], hu_b: &[Hu], ia: &[i64], ib: &[i64], method: MatchMethod) -> Result<Vec<f64>> {
    if ia.len() != ib.len() {
        return invalid!("index lists differ in length: {} vs {}", ia.len(), ib.len());
    }
    let bad = |idx: &[i64], n: usize| idx.iter().position(|&v| v < 0 || v as usize >= n);
    if let Some(t) = bad(ia, hu_a.len()) {
        return invalid!("pair {t}: index {} out of range for {} vectors", ia[t], hu_a.len());
    }
    if let Some(t) = bad(ib, hu_b.len()) {
        return invalid!("pair {t}: index {} out of range for {} vectors", ib[t], hu_b.len());
    }
    Ok(ia
        .par_iter()
        .zip(ib.par_iter())
        .map(|(&i, &j)| match_shapes_pair(&hu_a[i as usize], &hu_b[j as usize], method))
        .collect())
}

/// `sign·log10|h|` per component, with components at or below the matchShapes threshold
/// (|h| ≤ 1e-5) set to 0: L1 distance between two such vectors equals matchShapes I2 whenever
/// every component counts on both sides. Used to index Hu vectors for retrieval.
pub fn hu_log_features(hu: &[Hu]) -> Vec<[f64; 7]> {
    hu.iter()
        .map(|h| {
            let mut out = [0.0; 7];
            for i in 0..7 {
                if h[i].abs() > MATCH_EPS {
                    out[i] = signed_log10(h[i]);
                }
            }
            out
        })
        .collect()
}

/// McGIP's relative difference `|a − b| / max(|a|, |b|)`: 0 when a == b (a non-zero value),
/// 1 when undefined (either value NaN, or both zero).
#[inline]
pub fn relative_difference(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return 1.0;
    }
    let den = a.abs().max(b.abs());
    if den == 0.0 {
        return 1.0;
    }
    if a == b {
        return 0.0;
    }
    (a - b).abs() / den
}

/// The official McGIP Hu similarity between feature rows (M00, Hu1):
/// `1 − (w·d(Hu1) + (1 − w)·d(M00))`, all pairs, row-major (len(a), len(b)).
pub fn mcgip_hu_similarity_matrix(fa: &[[f64; 2]], fb: &[[f64; 2]], w: f64) -> Result<Vec<f64>> {
    if fa.is_empty() || fb.is_empty() {
        return invalid!("mcgip_hu_similarity needs at least one feature row on each side");
    }
    if !(0.0..=1.0).contains(&w) {
        return invalid!("w must be in [0, 1], got {w}");
    }
    let m = fb.len();
    let mut out = vec![0.0f64; fa.len() * m];
    out.par_chunks_mut(m).zip(fa.par_iter()).for_each(|(row, a)| {
        for (slot, b) in row.iter_mut().zip(fb) {
            *slot = 1.0 - (w * relative_difference(a[1], b[1]) + (1.0 - w) * relative_difference(a[0], b[0]));
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_raw(img: &[f64], h: usize, w: usize) -> RawMoments {
        let mut m = [0.0; 10];
        let pq = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3)];
        for y in 0..h {
            for x in 0..w {
                let v = img[y * w + x];
                for (k, &(p, q)) in pq.iter().enumerate() {
                    m[k] += v * (x as f64).powi(p) * (y as f64).powi(q);
                }
            }
        }
        m
    }

    fn blob(h: usize, w: usize) -> Vec<f64> {
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f64, (i % w) as f64);
                (-((x - 7.3).powi(2) / 9.0 + (y - 4.1).powi(2) / 4.0)).exp() + 0.01 * ((x * y) % 3.0)
            })
            .collect()
    }

    #[test]
    fn raw_moments_match_naive_sum() {
        let (h, w) = (13, 21);
        let img = blob(h, w);
        let m = raw_moments(&img, h, w).unwrap();
        let r = naive_raw(&img, h, w);
        for k in 0..10 {
            assert!((m[k] - r[k]).abs() <= 1e-12 * r[k].abs().max(1.0), "{k}: {} vs {}", m[k], r[k]);
        }
    }

    #[test]
    fn hu_is_translation_invariant_and_uint8_agrees_with_f64() {
        let (h, w) = (32, 40);
        let mut a = vec![0u8; h * w];
        let mut b = vec![0u8; h * w];
        for (y, x, v) in [(3, 4, 200u8), (5, 9, 90), (10, 6, 255), (7, 7, 13)] {
            a[y * w + x] = v;
            b[(y + 11) * w + x + 17] = v;
        }
        let ha = hu_moments(&a, h, w).unwrap();
        let hb = hu_moments(&b, h, w).unwrap();
        let af: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let hf = hu_moments(&af, h, w).unwrap();
        for k in 0..7 {
            assert!((ha[k] - hb[k]).abs() <= 1e-9 * ha[k].abs().max(1e-12), "{k}");
            assert_eq!(ha[k], hf[k]);
        }
    }

    #[test]
    fn zero_map_gives_zero_hu_and_dbl_max_against_nonzero() {
        let z = vec![0.0f64; 25];
        let hz = hu_moments(&z, 5, 5).unwrap();
        assert_eq!(hz, [0.0; 7]);
        let hb = hu_moments(&blob(5, 5), 5, 5).unwrap();
        assert_eq!(match_shapes_pair(&hz, &hb, MatchMethod::I1), f64::MAX);
        assert_eq!(match_shapes_pair(&hz, &hz, MatchMethod::I2), 0.0);
    }

    #[test]
    fn match_shapes_i3_is_asymmetric_and_i2_symmetric() {
        let a = hu_moments(&blob(12, 15), 12, 15).unwrap();
        let b = hu_moments(&blob(15, 12), 15, 12).unwrap();
        let mut c = a;
        c[0] *= 1.7;
        c[1] *= 0.3;
        assert_eq!(match_shapes_pair(&a, &c, MatchMethod::I2), match_shapes_pair(&c, &a, MatchMethod::I2));
        assert_ne!(match_shapes_pair(&a, &c, MatchMethod::I3), match_shapes_pair(&c, &a, MatchMethod::I3));
        let mat = match_shapes_matrix(&[a, b], &[c], MatchMethod::I1).unwrap();
        assert_eq!(mat[1], match_shapes_pair(&b, &c, MatchMethod::I1));
    }

    #[test]
    fn mcgip_relative_difference_edges() {
        assert_eq!(relative_difference(0.0, 0.0), 1.0);
        assert_eq!(relative_difference(f64::NAN, 1.0), 1.0);
        assert_eq!(relative_difference(2.0, 2.0), 0.0);
        assert_eq!(relative_difference(1.0, 4.0), 0.75);
        let s = mcgip_hu_similarity_matrix(&[[4.0, 1.0]], &[[1.0, 1.0], [4.0, 1.0]], 0.8).unwrap();
        assert!((s[0] - (1.0 - 0.2 * 0.75)).abs() < 1e-15);
        assert_eq!(s[1], 1.0);
    }

    #[test]
    fn nan_and_bad_shapes_are_rejected() {
        let mut img = blob(4, 4);
        img[5] = f64::NAN;
        assert!(raw_moments(&img, 4, 4).is_err());
        assert!(raw_moments(&blob(4, 4), 4, 5).is_err());
        assert!(raw_moments_batch::<f64>(&[], 0, 4, 4, Normalise::None).is_err());
    }

    #[test]
    fn max_normalisation_equals_scaling_the_map() {
        let img = blob(9, 11);
        let peak = img.iter().cloned().fold(f64::MIN, f64::max);
        let scaled: Vec<f64> = img.iter().map(|v| v / peak).collect();
        let a = hu_moments_batch(&img, 1, 9, 11, Normalise::Max).unwrap()[0];
        let b = hu_moments(&scaled, 9, 11).unwrap();
        for k in 0..7 {
            assert!((a[k] - b[k]).abs() <= 1e-9 * b[k].abs().max(1e-15));
        }
    }
}

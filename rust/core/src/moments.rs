//! Image moments, Hu invariants and matchShapes, in OpenCV's order of operations.
//!
//! - raw moments `m_pq = Σ I(y, x)·x^p·y^q` (x the column, y the row, no half-pixel shift),
//!   accumulated in f64: per row the sums `Σp, Σp·x, Σp·x², Σp·x³`, then weighted by y;
//! - central and normalised moments exactly as `cv::Moments` computes them from the raw ones;
//! - the seven Hu invariants in `cv::HuMoments`' order of operations;
//! - `cv::matchShapes` methods I1, I2, I3 on cached Hu vectors, with OpenCV's quirks kept.
//!
//! Hu moments change with intensity scale, so [`Normalise`] makes the choice explicit.

use std::mem::MaybeUninit;

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
    /// Four consecutive pixels as f64 lanes (AVX2).
    ///
    /// # Safety
    /// `ptr` must point at 4 readable pixels and the CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load4(ptr: *const Self) -> std::arch::x86_64::__m256d;
    /// NaN or infinity: float maps only.
    fn is_bad(self) -> bool;
}

impl Pixel for u8 {
    const NAME: &'static str = "uint8";
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load4(ptr: *const Self) -> std::arch::x86_64::__m256d {
        use std::arch::x86_64::*;
        let four = _mm_cvtsi32_si128((ptr as *const i32).read_unaligned());
        _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(four))
    }
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
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load4(ptr: *const Self) -> std::arch::x86_64::__m256d {
        use std::arch::x86_64::*;
        _mm256_cvtps_pd(_mm_loadu_ps(ptr))
    }
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
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load4(ptr: *const Self) -> std::arch::x86_64::__m256d {
        std::arch::x86_64::_mm256_loadu_pd(ptr)
    }
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

/// Per-row sums Σp, Σp·x, Σp·x², Σp·x³, formed as OpenCV does (`xp = x·p`, `xxp = xp·x`,
/// `xxp·x`), in fixed lanes summed in one fixed order, so the result never depends on the CPU's
/// vector width.
#[inline(always)]
fn row_sums<T: Pixel>(row: &[T], xs: &[f64]) -> [f64; 4] {
    let mut a0 = [0.0f64; LANES];
    let mut a1 = [0.0f64; LANES];
    let mut a2 = [0.0f64; LANES];
    let mut a3 = [0.0f64; LANES];
    let body = row.chunks_exact(LANES);
    let tail = body.remainder();
    let xbody = xs.chunks_exact(LANES);
    let xtail = xbody.remainder();
    for (p, x) in body.zip(xbody) {
        let p: &[T; LANES] = p.try_into().unwrap();
        let x: &[f64; LANES] = x.try_into().unwrap();
        for l in 0..LANES {
            let pv = p[l].to_f64();
            let xp = x[l] * pv;
            let xxp = xp * x[l];
            a0[l] += pv;
            a1[l] += xp;
            a2[l] += xxp;
            a3[l] += xxp * x[l];
        }
    }
    for (l, (p, &x)) in tail.iter().zip(xtail).enumerate() {
        let pv = p.to_f64();
        let xp = x * pv;
        let xxp = xp * x;
        a0[l] += pv;
        a1[l] += xp;
        a2[l] += xxp;
        a3[l] += xxp * x;
    }
    let sum = |a: &[f64; LANES]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    [sum(&a0), sum(&a1), sum(&a2), sum(&a3)]
}

#[inline(always)]
fn raw_moments_impl<T: Pixel>(img: &[T], width: usize, xs: &[f64]) -> RawMoments {
    let mut m = [0.0f64; 10];
    for (y, row) in img.chunks_exact(width).enumerate() {
        let [s0, s1, s2, s3] = row_sums(row, xs);
        accumulate_row(&mut m, y, s0, s1, s2, s3);
    }
    m
}

#[inline(always)]
fn accumulate_row(m: &mut RawMoments, y: usize, s0: f64, s1: f64, s2: f64, s3: f64) {
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

/// The same sums as [`row_sums`] with AVX2: lanes 0..4 and 4..8 of each 8-pixel chunk in two
/// register sets, no FMA, same final order, so the result is bit-identical to the scalar code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_sums_avx2<T: Pixel>(row: &[T], xs: &[f64]) -> [f64; 4] {
    use std::arch::x86_64::*;
    let full = row.len() / LANES * LANES;
    let (rp, xp_) = (row.as_ptr(), xs.as_ptr());
    let z = _mm256_setzero_pd();
    let (mut a0l, mut a1l, mut a2l, mut a3l) = (z, z, z, z);
    let (mut a0h, mut a1h, mut a2h, mut a3h) = (z, z, z, z);
    let mut x = 0;
    while x < full {
        let pl = T::load4(rp.add(x));
        let ph = T::load4(rp.add(x + 4));
        let xl = _mm256_loadu_pd(xp_.add(x));
        let xh = _mm256_loadu_pd(xp_.add(x + 4));
        let xpl = _mm256_mul_pd(xl, pl);
        let xph = _mm256_mul_pd(xh, ph);
        let xxpl = _mm256_mul_pd(xpl, xl);
        let xxph = _mm256_mul_pd(xph, xh);
        a0l = _mm256_add_pd(a0l, pl);
        a0h = _mm256_add_pd(a0h, ph);
        a1l = _mm256_add_pd(a1l, xpl);
        a1h = _mm256_add_pd(a1h, xph);
        a2l = _mm256_add_pd(a2l, xxpl);
        a2h = _mm256_add_pd(a2h, xxph);
        a3l = _mm256_add_pd(a3l, _mm256_mul_pd(xxpl, xl));
        a3h = _mm256_add_pd(a3h, _mm256_mul_pd(xxph, xh));
        x += LANES;
    }
    let lanes = |lo: __m256d, hi: __m256d| {
        let mut a = [0.0f64; LANES];
        _mm256_storeu_pd(a.as_mut_ptr(), lo);
        _mm256_storeu_pd(a.as_mut_ptr().add(4), hi);
        a
    };
    let mut acc = [lanes(a0l, a0h), lanes(a1l, a1h), lanes(a2l, a2h), lanes(a3l, a3h)];
    for (l, xi) in (full..row.len()).enumerate() {
        let pv = row[xi].to_f64();
        let xv = xs[xi];
        let xpv = xv * pv;
        let xxpv = xpv * xv;
        acc[0][l] += pv;
        acc[1][l] += xpv;
        acc[2][l] += xxpv;
        acc[3][l] += xxpv * xv;
    }
    let sum = |a: &[f64; LANES]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    [sum(&acc[0]), sum(&acc[1]), sum(&acc[2]), sum(&acc[3])]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn raw_moments_avx2<T: Pixel>(img: &[T], width: usize, xs: &[f64]) -> RawMoments {
    let mut m = [0.0f64; 10];
    for (y, row) in img.chunks_exact(width).enumerate() {
        let [s0, s1, s2, s3] = row_sums_avx2(row, xs);
        accumulate_row(&mut m, y, s0, s1, s2, s3);
    }
    m
}

/// Column indices as f64, shared by every map of one width.
pub struct ColumnPowers {
    xs: Vec<f64>,
}

impl ColumnPowers {
    pub fn new(width: usize) -> Self {
        ColumnPowers { xs: (0..width).map(|x| x as f64).collect() }
    }
}

fn raw_moments_with<T: Pixel>(img: &[T], width: usize, cols: &ColumnPowers) -> RawMoments {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { raw_moments_avx2(img, width, &cols.xs) };
        }
    }
    raw_moments_impl(img, width, &cols.xs)
}

/// Moments of finite pixels are finite unless they overflow, so the check runs only when a sum is not.
fn check_moments<T: Pixel>(m: &RawMoments, img: &[T], index: usize) -> Result<()> {
    if m.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    if let Some(pos) = img.iter().position(|v| v.is_bad()) {
        return invalid!("map {index} holds NaN or infinity at flat position {pos}; moments need finite values");
    }
    invalid!("the moments of map {index} overflow float64 (values too large)")
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
    let m = raw_moments_with(img, width, &ColumnPowers::new(width));
    check_moments(&m, img, 0)?;
    Ok(m)
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
    let one = |(i, img): (usize, &[T])| -> Result<RawMoments> {
        let mut m = raw_moments_with(img, width, &cols);
        check_moments(&m, img, i)?;
        let f = scale_factor(img, norm);
        if f != 1.0 {
            m.iter_mut().for_each(|v| *v *= f);
        }
        Ok(m)
    };
    if n == 1 {
        // No thread hand-off for a single map: the call costs what the map costs.
        return Ok(vec![one((0, data))?]);
    }
    data.par_chunks(per).enumerate().map(one).collect()
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

/// Prepared vectors in column form (component-major), so one row of the matrix is a loop over
/// the other side with contiguous loads, which the compiler vectorises.
struct PreparedColumns {
    values: [Vec<f64>; 7],
    /// Values with NaN where the component does not count (no input is NaN, so NaN marks it
    /// without a second stream to read).
    marked: [Vec<f64>; 7],
    /// All ones where the component counts, 0 where not: a bitwise AND keeps or zeroes a term.
    masks: [Vec<u64>; 7],
    any_nonzero: Vec<bool>,
    /// `any_nonzero` as all-ones / zero bit masks.
    any_bits: Vec<u64>,
}

impl PreparedColumns {
    fn new(p: &[Prepared]) -> Self {
        PreparedColumns {
            values: std::array::from_fn(|i| p.iter().map(|v| v.values[i]).collect()),
            marked: std::array::from_fn(|i| p.iter().map(|v| if v.counts[i] { v.values[i] } else { f64::NAN }).collect()),
            masks: std::array::from_fn(|i| p.iter().map(|v| if v.counts[i] { u64::MAX } else { 0 }).collect()),
            any_nonzero: p.iter().map(|v| v.any_nonzero).collect(),
            any_bits: p.iter().map(|v| if v.any_nonzero { u64::MAX } else { 0 }).collect(),
        }
    }

    fn slice(&self, from: usize, to: usize) -> Self {
        PreparedColumns {
            values: std::array::from_fn(|i| self.values[i][from..to].to_vec()),
            marked: std::array::from_fn(|i| self.marked[i][from..to].to_vec()),
            masks: std::array::from_fn(|i| self.masks[i][from..to].to_vec()),
            any_nonzero: self.any_nonzero[from..to].to_vec(),
            any_bits: self.any_bits[from..to].to_vec(),
        }
    }
}

/// One row `matchShapes(a, b[j])` for every j; same arithmetic as [`Prepared::compare`]
/// (a component that does not count adds +0.0 to a non-negative sum, which changes nothing).
#[inline(always)]
fn match_row(a: &Prepared, b: &PreparedColumns, method: MatchMethod, row: &mut [MaybeUninit<f64>]) {
    // Blocks small enough to stay in L1 across the seven component passes; each output slot is
    // written once (the output is never zero-filled first).
    const BLOCK: usize = 512;
    let mut buf = [0.0f64; BLOCK];
    for (blk, chunk) in row.chunks_mut(BLOCK).enumerate() {
        let j0 = blk * BLOCK;
        let j1 = j0 + chunk.len();
        let acc = &mut buf[..chunk.len()];
        acc.iter_mut().for_each(|r| *r = 0.0);
        for i in 0..7 {
            if !a.counts[i] {
                continue;
            }
            let va = a.values[i];
            let (vb, mb) = (&b.values[i][j0..j1], &b.masks[i][j0..j1]);
            match method {
                MatchMethod::I1 | MatchMethod::I2 => {
                    for ((r, &v), &m) in acc.iter_mut().zip(vb.iter()).zip(mb.iter()) {
                        // A term that does not count becomes +0.0 (even if it is inf or NaN).
                        let t = f64::from_bits((-va + v).abs().to_bits() & m);
                        *r += t;
                    }
                }
                MatchMethod::I3 => {
                    for ((r, &v), &m) in acc.iter_mut().zip(vb.iter()).zip(mb.iter()) {
                        let mmm = f64::from_bits(((va - v) / va).abs().to_bits() & m);
                        // +0.0 never replaces a result (result < 0.0 is false): same as skipping.
                        if *r < mmm {
                            *r = mmm;
                        }
                    }
                }
            }
        }
        for ((slot, &r), &any) in chunk.iter_mut().zip(acc.iter()).zip(b.any_nonzero[j0..j1].iter()) {
            slot.write(if any != a.any_nonzero { f64::MAX } else { r });
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn match_row_avx2(a: &Prepared, b: &PreparedColumns, method: MatchMethod, row: &mut [MaybeUninit<f64>]) {
    use std::arch::x86_64::*;
    // Four pairs per step. I1 / I2: the counted components summed in ascending order, as the
    // scalar code (a component that does not count adds +0.0, an identity here). I3: the running
    // maximum replaced only when strictly smaller, as OpenCV.
    let counted: Vec<usize> = (0..7).filter(|&i| a.counts[i]).collect();
    let m = row.len();
    let full = m / 4 * 4;
    let abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
    let a_any = _mm256_castsi256_pd(_mm256_set1_epi64x(if a.any_nonzero { -1 } else { 0 }));
    let dbl_max = _mm256_set1_pd(f64::MAX);
    let out = row.as_mut_ptr() as *mut f64;
    let mut j = 0;
    while j < full {
        let mut acc = _mm256_setzero_pd();
        if method == MatchMethod::I3 {
            for &i in &counted {
                let va = _mm256_set1_pd(a.values[i]);
                let v = _mm256_loadu_pd(b.marked[i].as_ptr().add(j));
                // NaN (component not counted on b's side) never compares greater: skipped.
                let mmm = _mm256_and_pd(_mm256_div_pd(_mm256_sub_pd(va, v), va), abs_mask);
                acc = _mm256_blendv_pd(acc, mmm, _mm256_cmp_pd::<_CMP_LT_OQ>(acc, mmm));
            }
        } else {
            for &i in &counted {
                let va = _mm256_set1_pd(a.values[i]);
                let v = _mm256_loadu_pd(b.marked[i].as_ptr().add(j));
                // Ordered (not NaN) = the component counts on b's side.
                let mask = _mm256_cmp_pd::<_CMP_ORD_Q>(v, v);
                let t = _mm256_and_pd(_mm256_and_pd(_mm256_sub_pd(v, va), abs_mask), mask);
                acc = _mm256_add_pd(acc, t);
            }
        }
        let b_any = _mm256_loadu_pd(b.any_bits.as_ptr().add(j) as *const f64);
        let differ = _mm256_xor_pd(a_any, b_any);
        _mm256_storeu_pd(out.add(j), _mm256_blendv_pd(acc, dbl_max, differ));
        j += 4;
    }
    if full < m {
        match_row(a, &b.slice(full, m), method, &mut row[full..]);
    }
}

/// All pairs `matchShapes(a[i], b[j])`, row-major (len(a), len(b)); parallel over rows.
pub fn match_shapes_matrix(hu_a: &[Hu], hu_b: &[Hu], method: MatchMethod) -> Result<Vec<f64>> {
    let len = hu_a.len() * hu_b.len();
    let mut out: Vec<f64> = Vec::with_capacity(len);
    crate::hamming::advise_huge_pages(&mut out);
    match_shapes_uninit(hu_a, hu_b, method, &mut out.spare_capacity_mut()[..len])?;
    // SAFETY: match_shapes_uninit wrote every one of the `len` slots.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// [`match_shapes_matrix`] into a caller's buffer of len(a)·len(b) (lets a caller reuse it).
pub fn match_shapes_into(hu_a: &[Hu], hu_b: &[Hu], method: MatchMethod, out: &mut [f64]) -> Result<()> {
    if out.len() != hu_a.len() * hu_b.len() {
        return invalid!("out holds {} values, expected {} x {}", out.len(), hu_a.len(), hu_b.len());
    }
    // SAFETY: f64 and MaybeUninit<f64> share a layout, and only initialised f64 are written.
    let out = unsafe { &mut *(out as *mut [f64] as *mut [MaybeUninit<f64>]) };
    match_shapes_uninit(hu_a, hu_b, method, out)
}

fn match_shapes_uninit(hu_a: &[Hu], hu_b: &[Hu], method: MatchMethod, out: &mut [MaybeUninit<f64>]) -> Result<()> {
    if hu_a.is_empty() || hu_b.is_empty() {
        return invalid!("match_shapes needs at least one Hu vector on each side, got {} and {}", hu_a.len(), hu_b.len());
    }
    if let Some(i) = hu_a.iter().chain(hu_b.iter()).position(|h| h.iter().any(|v| v.is_nan())) {
        return invalid!("Hu vector {i} holds NaN");
    }
    let pa: Vec<Prepared> = hu_a.iter().map(|h| Prepared::new(h, method)).collect();
    let pb: Vec<Prepared> = hu_b.iter().map(|h| Prepared::new(h, method)).collect();
    let cols = PreparedColumns::new(&pb);
    let m = pb.len();
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    out.par_chunks_mut(m).zip(pa.par_iter()).for_each(|(row, a)| {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: AVX2 was detected above.
            unsafe { match_row_avx2(a, &cols, method, row) };
            return;
        }
        match_row(a, &cols, method, row)
    });
    Ok(())
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
        let mut z = a;
        z[4] = 0.0;
        z[6] = 1e-7;
        let all = [a, b, c, z, [0.0; 7]];
        for method in [MatchMethod::I1, MatchMethod::I2, MatchMethod::I3] {
            let mat = match_shapes_matrix(&all, &all, method).unwrap();
            for (i, x) in all.iter().enumerate() {
                for (j, y) in all.iter().enumerate() {
                    assert_eq!(mat[i * 5 + j].to_bits(), match_shapes_pair(x, y, method).to_bits(), "{method:?} {i} {j}");
                }
            }
        }
    }

    #[test]
    fn simd_and_scalar_sums_are_bit_identical() {
        for w in [1usize, 7, 8, 9, 31, 224] {
            let cols = ColumnPowers::new(w);
            let f: Vec<f32> = (0..w * 5).map(|i| ((i * 7919) % 997) as f32 / 13.0).collect();
            let u: Vec<u8> = (0..w * 5).map(|i| ((i * 7919) % 251) as u8).collect();
            assert_eq!(raw_moments_with(&f, w, &cols), raw_moments_impl(&f, w, &cols.xs));
            assert_eq!(raw_moments_with(&u, w, &cols), raw_moments_impl(&u, w, &cols.xs));
        }
    }

    #[test]
    fn simd_match_rows_equal_scalar_rows() {
        let base = hu_moments(&blob(12, 15), 12, 15).unwrap();
        let mut all = vec![[0.0; 7]];
        for k in 0..23 {
            let mut h = base;
            h[k % 7] *= 1.0 + k as f64 / 7.0;
            h[(k + 3) % 7] = if k % 4 == 0 { 1e-7 } else { -h[(k + 3) % 7] };
            all.push(h);
        }
        for method in [MatchMethod::I1, MatchMethod::I2, MatchMethod::I3] {
            let mat = match_shapes_matrix(&all, &all, method).unwrap();
            for (i, x) in all.iter().enumerate() {
                for (j, y) in all.iter().enumerate() {
                    assert_eq!(mat[i * all.len() + j].to_bits(), match_shapes_pair(x, y, method).to_bits(), "{method:?} {i} {j}");
                }
            }
        }
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

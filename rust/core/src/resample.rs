//! Pillow-exact LANCZOS resize of 8-bit greyscale images (`Image.resize(size, LANCZOS)` on mode "L").
//!
//! Reproduces Pillow 13's `libImaging/Resample.c` for 8-bit images:
//! - kernel `sinc(x)·sinc(x/3)` on [−3, 3), support `3·max(in/out, 1)`;
//! - per output pixel: `center = (xx + 0.5)·scale`, taps `int(center − support + 0.5)` to
//!   `int(center + support + 0.5)` clamped to the image, weights normalised to sum 1, then stored
//!   as integers with 22 fractional bits, rounded half away from zero;
//! - accumulate from `1 << 21`, shift right by 22, clip to 0..=255;
//! - two passes through a uint8 intermediate. Pillow ≤ 12 always ran the horizontal pass first.
//!   Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks by
//!   more than twice as many pixels as the width: `in_h > out_h && in_h − out_h > 2·(in_w − out_w)`
//!   (found by testing Pillow 13.0.0 against both orders over many shapes; pinned in the tests).
//!   A pass whose size does not change is skipped; an unchanged size returns a copy.
//!
//! The products `pixel · weight` are below 2^31 and the sums stay within i32 (that is why Pillow
//! keeps 2 spare bits), so integer arithmetic in any order gives Pillow's exact values.

use crate::error::Result;
use crate::invalid;

const PRECISION_BITS: u32 = 32 - 8 - 2;
/// Weight rows are padded to a multiple of this many taps.
pub const PAD: usize = 16;
const SUPPORT: f64 = 3.0;

#[inline]
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

#[inline]
fn lanczos(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Fixed-point LANCZOS weights of one axis: output pixel `o` reads inputs `start[o]..start[o]+len[o]`
/// with weights `weights[o*stride .. o*stride+len[o]]`, followed by zeros up to the stride (a
/// multiple of [`PAD`]) so that dot products run in whole vector blocks.
#[derive(Debug, Clone)]
pub struct AxisPlan {
    pub in_size: usize,
    pub out_size: usize,
    pub ksize: usize,
    pub stride: usize,
    pub start: Vec<usize>,
    pub len: Vec<usize>,
    pub weights: Vec<i32>,
    /// The same weights split as `hi·2^11 + lo` with `0 <= lo < 2^11`, both fitting i16, so
    /// AVX2's 16-bit multiply-add can form the exact 32-bit dot product in two halves.
    w_hi: Vec<i16>,
    w_lo: Vec<i16>,
}

const SPLIT_BITS: u32 = 11;

impl AxisPlan {
    pub fn new(in_size: usize, out_size: usize) -> Self {
        // Pillow passes the box edges as C floats; in1 - in0 is exact for sizes below 2^24.
        let scale = (in_size as f32) as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = SUPPORT * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let stride = ksize.div_ceil(PAD) * PAD;
        let mut start = Vec::with_capacity(out_size);
        let mut len = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * stride];
        let mut k = vec![0.0f64; ksize];
        let ss = 1.0 / filterscale;
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) cast truncates toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin);
            let mut ww = 0.0;
            for (x, slot) in k.iter_mut().enumerate().take(n) {
                let w = lanczos(((x + xmin) as f64 - center + 0.5) * ss);
                *slot = w;
                ww += w;
            }
            let row = &mut weights[xx * stride..xx * stride + ksize];
            for x in 0..n {
                let w = if ww != 0.0 { k[x] / ww } else { k[x] };
                let scaled = w * (1u32 << PRECISION_BITS) as f64;
                row[x] = if w < 0.0 { (-0.5 + scaled) as i32 } else { (0.5 + scaled) as i32 };
            }
            start.push(xmin);
            len.push(n);
        }
        let w_hi = weights.iter().map(|&w| (w >> SPLIT_BITS) as i16).collect();
        let w_lo = weights.iter().map(|&w| (w & ((1 << SPLIT_BITS) - 1)) as i16).collect();
        AxisPlan { in_size, out_size, ksize, stride, start, len, weights, w_hi, w_lo }
    }

    #[inline(always)]
    fn taps(&self, o: usize) -> (usize, &[i32]) {
        let n = self.len[o];
        (self.start[o], &self.weights[o * self.stride..o * self.stride + n])
    }

    /// Split weights rounded up to whole [`PAD`] blocks.
    #[inline(always)]
    fn split_taps_padded(&self, o: usize) -> (usize, &[i16], &[i16]) {
        let n = self.len[o].div_ceil(PAD) * PAD;
        let r = o * self.stride..o * self.stride + n;
        (self.start[o], &self.w_hi[r.clone()], &self.w_lo[r])
    }

    /// Taps rounded up to whole [`PAD`] blocks (the extra weights are 0).
    #[inline(always)]
    fn taps_padded(&self, o: usize) -> (usize, &[i32]) {
        let n = self.len[o].div_ceil(PAD) * PAD;
        (self.start[o], &self.weights[o * self.stride..o * self.stride + n])
    }
}

#[inline(always)]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const ROUND: i32 = 1 << (PRECISION_BITS - 1);

/// A resize of one input shape to one output shape, reusable over a batch.
#[derive(Debug, Clone)]
pub struct LanczosPlan {
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    horiz: AxisPlan,
    vert: AxisPlan,
    need_h: bool,
    need_v: bool,
    vertical_first: bool,
}

/// Pillow 13's pass-order rule (see the module docs).
pub fn pillow13_vertical_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    in_h > out_h && (in_h - out_h) as i64 > 2 * (in_w as i64 - out_w as i64)
}

impl LanczosPlan {
    pub fn new(in_h: usize, in_w: usize, out_h: usize, out_w: usize) -> Result<Self> {
        if in_h == 0 || in_w == 0 || out_h == 0 || out_w == 0 {
            return invalid!("resize sizes must be positive: {in_h}x{in_w} -> {out_h}x{out_w}");
        }
        if in_h >= 1 << 24 || in_w >= 1 << 24 {
            return invalid!("image side {} is too large (limit 2^24)", in_h.max(in_w));
        }
        Ok(LanczosPlan {
            in_h,
            in_w,
            out_h,
            out_w,
            horiz: AxisPlan::new(in_w, out_w),
            vert: AxisPlan::new(in_h, out_h),
            need_h: in_w != out_w,
            need_v: in_h != out_h,
            vertical_first: pillow13_vertical_first(in_w, in_h, out_w, out_h),
        })
    }

    /// Resize one row-major (in_h, in_w) image into `out` (out_h·out_w); `scratch` is reused.
    pub fn run(&self, img: &[u8], out: &mut [u8], scratch: &mut Vec<u8>) {
        debug_assert_eq!(img.len(), self.in_h * self.in_w);
        debug_assert_eq!(out.len(), self.out_h * self.out_w);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present (checked just above).
                unsafe { self.run_avx2(img, out, scratch) };
                return;
            }
        }
        self.run_impl::<false>(img, out, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, img: &[u8], out: &mut [u8], scratch: &mut Vec<u8>) {
        self.run_impl::<true>(img, out, scratch)
    }

    /// `SIMD`: called from the AVX2 entry point (the horizontal dot products use AVX2 intrinsics).
    #[inline(always)]
    fn run_impl<const SIMD: bool>(&self, img: &[u8], out: &mut [u8], scratch: &mut Vec<u8>) {
        match (self.need_h, self.need_v) {
            (false, false) => out.copy_from_slice(img),
            (true, false) => horizontal_core::<SIMD>(img, self.in_w, 0, 0, self.in_h, &self.horiz, out),
            (false, true) => vertical(img, self.in_w, 0, self.in_w, 0, &self.vert, out),
            #[cfg(target_arch = "x86_64")]
            (true, true) if !self.vertical_first && SIMD => {
                // SAFETY: SIMD is only true inside the AVX2 entry point.
                unsafe { self.hfirst_transposed_avx2(img, out) };
            }
            (true, true) if !self.vertical_first => {
                // Only the rows the vertical pass reads.
                let first = self.vert.start[0];
                let last = self.vert.start[self.out_h - 1] + self.vert.len[self.out_h - 1];
                scratch.clear();
                scratch.resize((last - first) * self.out_w, 0);
                horizontal_core::<SIMD>(img, self.in_w, 0, first, last, &self.horiz, scratch);
                vertical(scratch, self.out_w, first, self.out_w, 0, &self.vert, out);
            }
            (true, true) => {
                // Only the columns the horizontal pass reads.
                let first = self.horiz.start[0];
                let last = self.horiz.start[self.out_w - 1] + self.horiz.len[self.out_w - 1];
                let cols = last - first;
                scratch.clear();
                scratch.resize(self.out_h * cols, 0);
                vertical(img, self.in_w, 0, cols, first, &self.vert, scratch);
                horizontal_core::<SIMD>(scratch, cols, first, 0, self.out_h, &self.horiz, out);
            }
        }
    }
}

impl LanczosPlan {
    /// Horizontal then vertical, with the uint8 intermediate kept transposed (one i16 column per
    /// output column), so the vertical pass is contiguous dot products too. Same integers as
    /// the row-major path, so the same bytes.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn hfirst_transposed_avx2(&self, img: &[u8], out: &mut [u8]) {
        const R: usize = 4;
        let (w, ow, oh) = (self.in_w, self.out_w, self.out_h);
        let (hz, vt) = (&self.horiz, &self.vert);
        let first = vt.start[0];
        let last = vt.start[oh - 1] + vt.len[oh - 1];
        let nrows = last - first;
        let cs = nrows + vt.stride;
        // Columns padded to a multiple of R (zeros) so the last group of R columns is readable.
        let mut cols = vec![0i16; ow.div_ceil(R) * R * cs];
        let stride_row = w + hz.stride;
        let mut rows_i16 = vec![0i16; R * stride_row];
        let mut y = first;
        while y < last {
            let nr = (last - y).min(R);
            for r in 0..nr {
                let dst = &mut rows_i16[r * stride_row..r * stride_row + w];
                for (d, &px) in dst.iter_mut().zip(&img[(y + r) * w..(y + r + 1) * w]) {
                    *d = px as i16;
                }
            }
            for o in 0..ow {
                let (start, hi, lo) = hz.split_taps_padded(o);
                let sums = dot4_split_avx2(&rows_i16, stride_row, start, hi, lo);
                for r in 0..nr {
                    cols[o * cs + (y - first + r)] = clip8(sums[r]) as i16;
                }
            }
            y += nr;
        }
        for yy in 0..oh {
            let (start, hi, lo) = vt.split_taps_padded(yy);
            let at = start - first;
            for c0 in (0..ow).step_by(R) {
                let sums = dot4_split_avx2(&cols[c0 * cs..], cs, at, hi, lo);
                for r in 0..R.min(ow - c0) {
                    out[yy * ow + c0 + r] = clip8(sums[r]);
                }
            }
        }
    }
}

/// Horizontal pass over rows `row0..row1` of an image `w` wide whose column 0 is input column
/// `col0`, into `out` ((row1 − row0) × out_w).
#[inline(always)]
fn horizontal_core<const SIMD: bool>(img: &[u8], w: usize, col0: usize, row0: usize, row1: usize, plan: &AxisPlan, out: &mut [u8]) {
    let ow = plan.out_size;
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        // Four rows at a time share each weight load and one horizontal reduction. Rows are
        // i16 with zero padding past the end (padded taps read it with weight 0).
        const R: usize = 4;
        let stride_row = w + plan.stride;
        let mut rows_i16 = vec![0i16; R * stride_row];
        let mut y = row0;
        while y < row1 {
            let nr = (row1 - y).min(R);
            for r in 0..R {
                let dst = &mut rows_i16[r * stride_row..r * stride_row + w];
                if r < nr {
                    for (d, &s) in dst.iter_mut().zip(&img[(y + r) * w..(y + r + 1) * w]) {
                        *d = s as i16;
                    }
                }
            }
            for o in 0..ow {
                let (start, hi, lo) = plan.split_taps_padded(o);
                let at = start - col0;
                // SAFETY: SIMD is only true inside the AVX2 entry point; every row slice holds
                // `hi.len()` values from `at` (the zero padding covers the last block).
                let sums = unsafe { dot4_split_avx2(&rows_i16, stride_row, at, hi, lo) };
                for r in 0..nr {
                    out[(y - row0 + r) * ow + o] = clip8(sums[r]);
                }
            }
            y += nr;
        }
        return;
    }
    let mut row_i32 = vec![0i32; w + plan.stride];
    for (r, y) in (row0..row1).enumerate() {
        for (d, &s) in row_i32.iter_mut().zip(&img[y * w..(y + 1) * w]) {
            *d = s as i32;
        }
        let dst = &mut out[r * ow..(r + 1) * ow];
        for (o, slot) in dst.iter_mut().enumerate() {
            let (start, k) = plan.taps_padded(o);
            let px = &row_i32[start - col0..start - col0 + k.len()];
            *slot = clip8(dot(px, k));
        }
    }
}

/// `ROUND + Σ px·(hi·2^11 + lo)` for four rows (`rows[r·stride + at ..]`) sharing the weights,
/// with 16-bit multiply-adds; exact, equal to [`dot`] on each row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot4_split_avx2(rows: &[i16], stride: usize, at: usize, hi: &[i16], lo: &[i16]) -> [i32; 4] {
    use std::arch::x86_64::*;
    assert!(3 * stride + at + hi.len() <= rows.len());
    let z = _mm256_setzero_si256();
    let (mut h0, mut h1, mut h2, mut h3) = (z, z, z, z);
    let (mut l0, mut l1, mut l2, mut l3) = (z, z, z, z);
    let base = rows.as_ptr().add(at);
    let mut t = 0;
    while t < hi.len() {
        let h = _mm256_loadu_si256(hi.as_ptr().add(t) as *const __m256i);
        let l = _mm256_loadu_si256(lo.as_ptr().add(t) as *const __m256i);
        let p0 = _mm256_loadu_si256(base.add(t) as *const __m256i);
        let p1 = _mm256_loadu_si256(base.add(stride + t) as *const __m256i);
        let p2 = _mm256_loadu_si256(base.add(2 * stride + t) as *const __m256i);
        let p3 = _mm256_loadu_si256(base.add(3 * stride + t) as *const __m256i);
        h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(p0, h));
        l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(p0, l));
        h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(p1, h));
        l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(p1, l));
        h2 = _mm256_add_epi32(h2, _mm256_madd_epi16(p2, h));
        l2 = _mm256_add_epi32(l2, _mm256_madd_epi16(p2, l));
        h3 = _mm256_add_epi32(h3, _mm256_madd_epi16(p3, h));
        l3 = _mm256_add_epi32(l3, _mm256_madd_epi16(p3, l));
        t += PAD;
    }
    let t0 = _mm256_add_epi32(_mm256_slli_epi32::<{ SPLIT_BITS as i32 }>(h0), l0);
    let t1 = _mm256_add_epi32(_mm256_slli_epi32::<{ SPLIT_BITS as i32 }>(h1), l1);
    let t2 = _mm256_add_epi32(_mm256_slli_epi32::<{ SPLIT_BITS as i32 }>(h2), l2);
    let t3 = _mm256_add_epi32(_mm256_slli_epi32::<{ SPLIT_BITS as i32 }>(h3), l3);
    // Integer sums: any order is exact (wrapping), so a hadd tree is fine.
    let s01 = _mm256_hadd_epi32(t0, t1);
    let s23 = _mm256_hadd_epi32(t2, t3);
    let s = _mm256_hadd_epi32(s01, s23);
    let both = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    let mut out = [0i32; 4];
    _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, both);
    out.iter_mut().for_each(|v| *v = v.wrapping_add(ROUND));
    out
}

/// Wrapping i32 dot product over whole blocks of [`PAD`]: exact whenever the true sum fits i32
/// (always here), in any order, which lets the compiler vectorise it.
#[inline(always)]
fn dot(a: &[i32], b: &[i32]) -> i32 {
    let mut acc = [0i32; PAD];
    for (x, y) in a.chunks_exact(PAD).zip(b.chunks_exact(PAD)) {
        let x: &[i32; PAD] = x.try_into().unwrap();
        let y: &[i32; PAD] = y.try_into().unwrap();
        for l in 0..PAD {
            acc[l] = acc[l].wrapping_add(x[l].wrapping_mul(y[l]));
        }
    }
    acc.iter().fold(ROUND, |s, &v| s.wrapping_add(v))
}

/// Vertical pass: output rows of `plan` over columns `col0..col0+cols` of an image `w` wide whose
/// row 0 is input row `row0`; writes (out_h × cols).
#[inline(always)]
fn vertical(img: &[u8], w: usize, row0: usize, cols: usize, col0: usize, plan: &AxisPlan, out: &mut [u8]) {
    let mut acc = vec![0i32; cols];
    for o in 0..plan.out_size {
        let (start, k) = plan.taps(o);
        acc.iter_mut().for_each(|a| *a = ROUND);
        for (t, &kw) in k.iter().enumerate() {
            let y = start + t - row0;
            let src = &img[y * w + col0..y * w + col0 + cols];
            for (a, &p) in acc.iter_mut().zip(src) {
                *a = a.wrapping_add((p as i32).wrapping_mul(kw));
            }
        }
        for (d, &a) in out[o * cols..(o + 1) * cols].iter_mut().zip(acc.iter()) {
            *d = clip8(a);
        }
    }
}

/// Resize one image (convenience; batches should build one [`LanczosPlan`]).
pub fn resize_lanczos(img: &[u8], in_h: usize, in_w: usize, out_h: usize, out_w: usize) -> Result<Vec<u8>> {
    if img.len() != in_h * in_w {
        return invalid!("buffer of {} bytes is not a {in_h}x{in_w} image", img.len());
    }
    let plan = LanczosPlan::new(in_h, in_w, out_h, out_w)?;
    let mut out = vec![0u8; out_h * out_w];
    plan.run(img, &mut out, &mut Vec::new());
    Ok(out)
}

/// Pillow's `convert("L")` from RGB: `(19595·R + 38470·G + 7471·B + 0x8000) >> 16`.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * r as u32 + 38470 * g as u32 + 7471 * b as u32 + 0x8000) >> 16) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(224, 9), (9, 224), (30, 8), (5, 5), (1, 9)] {
            let p = AxisPlan::new(i, o);
            for xx in 0..o {
                let s: i64 = p.taps(xx).1.iter().map(|&w| w as i64).sum();
                assert!((s - (1 << 22)).abs() <= p.len[xx] as i64, "{i}->{o} at {xx}: {s}");
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        for (h, w) in [(224, 224), (300, 20), (7, 500), (1, 50), (3, 2)] {
            let img = vec![137u8; h * w];
            let out = resize_lanczos(&img, h, w, 8, 9).unwrap();
            assert!(out.iter().all(|&v| v == 137), "{h}x{w}");
        }
    }

    #[test]
    fn same_size_is_a_copy() {
        let img: Vec<u8> = (0..72).map(|i| (i * 37 % 256) as u8).collect();
        assert_eq!(resize_lanczos(&img, 8, 9, 8, 9).unwrap(), img);
    }

    #[test]
    fn simd_and_scalar_paths_give_the_same_bytes() {
        for (h, w, oh, ow) in [(224, 224, 8, 9), (300, 20, 8, 9), (20, 300, 16, 17), (7, 5, 8, 9), (1, 40, 3, 4), (97, 31, 5, 3)] {
            let img: Vec<u8> = (0..h * w).map(|i| ((i * 2654435761usize) >> 7) as u8).collect();
            let plan = LanczosPlan::new(h, w, oh, ow).unwrap();
            let (mut a, mut b) = (vec![0u8; oh * ow], vec![0u8; oh * ow]);
            plan.run(&img, &mut a, &mut Vec::new());
            plan.run_impl::<false>(&img, &mut b, &mut Vec::new());
            assert_eq!(a, b, "{h}x{w} -> {oh}x{ow}");
        }
    }

    #[test]
    fn pass_order_rule() {
        assert!(!pillow13_vertical_first(224, 224, 9, 8));
        assert!(pillow13_vertical_first(16, 23, 9, 8));
        assert!(!pillow13_vertical_first(16, 22, 9, 8));
        assert!(pillow13_vertical_first(2, 9, 9, 8));
        assert!(!pillow13_vertical_first(2, 8, 9, 8));
    }

    #[test]
    fn luma_matches_pillow_formula_corners() {
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(255, 0, 0), 76);
    }
}

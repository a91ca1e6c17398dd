//! Fixations to gaze maps: impulses blurred by a Gaussian, equal to OpenCV's `GaussianBlur`.
//!
//! A map is defined as `cv2.GaussianBlur(impulses, (k, k), sigma, borderType=BORDER_REFLECT_101)`
//! where `impulses` is an H x W image that holds each fixation's weight at its pixel. The
//! kernel is `cv2.getGaussianKernel(k, sigma)` (see [`gaussian_kernel`]), the same in x and y.
//!
//! We never blur a whole image. The blur is linear and separable, so one impulse at pixel
//! (r, c) contributes `w * v_r[y] * h_c[x]`, where `h_c` is the 1-D blur of a unit impulse at c
//! (the kernel centred on c plus its mirror images under REFLECT_101). Fixations on the same
//! row share one vertical profile, so a map costs, per distinct row, one outer product over the
//! rows the kernel reaches times the columns its fixations reach. With few fixations that is
//! about n * k * k; with a pixel in every row it is H * W * k, never more than the column pass
//! of a full separable blur, which also does an H * W * k row pass. So no switch between a
//! "direct" and a "blur" path is needed: one path is at least as fast as both.

use rayon::prelude::*;

use crate::error::{McgipError, Result};
use crate::invalid;
use crate::scanpath::{PackedScanpaths, Scanpath};

/// OpenCV's fixed kernels for `sigma <= 0` and `ksize <= 9` (numerators; each row sums to 256).
const SMALL_KERNELS: [&[f64]; 5] = [
    &[256.0],
    &[64.0, 128.0, 64.0],
    &[16.0, 64.0, 96.0, 64.0, 16.0],
    &[8.0, 28.0, 56.0, 72.0, 56.0, 28.0, 8.0],
    &[4.0, 13.0, 30.0, 51.0, 60.0, 51.0, 30.0, 13.0, 4.0],
];

/// `cv2.getGaussianKernel(ksize, sigma, CV_64F)`.
///
/// `sigma <= 0` means OpenCV's automatic sigma `0.3 * ((ksize - 1) * 0.5 - 1) + 0.8`, except
/// that ksize 1, 3, 5, 7 and 9 then use OpenCV's fixed binomial-like tables. The weights are
/// `exp(-x^2 / (2 sigma^2))` at `x = i - (ksize - 1) / 2`, divided by their sum.
pub fn gaussian_kernel(ksize: usize, sigma: f64) -> Result<Vec<f64>> {
    if ksize == 0 || ksize % 2 == 0 {
        return invalid!("kernel size must be odd and positive, got {ksize}");
    }
    if !sigma.is_finite() {
        return invalid!("sigma must be finite, got {sigma}");
    }
    if sigma <= 0.0 && ksize <= 9 {
        return Ok(SMALL_KERNELS[ksize / 2].iter().map(|v| v / 256.0).collect());
    }
    let s = if sigma > 0.0 { sigma } else { ((ksize as f64 - 1.0) * 0.5 - 1.0) * 0.3 + 0.8 };
    let scale = -0.5 / (s * s);
    let mid = (ksize as f64 - 1.0) * 0.5;
    let mut k: Vec<f64> = (0..ksize).map(|i| ((i as f64 - mid).powi(2) * scale).exp()).collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    // Exact symmetry, as OpenCV's kernel has: the mirror profiles below rely on it.
    for i in 0..ksize / 2 {
        k[ksize - 1 - i] = k[i];
    }
    Ok(k)
}

/// The kernel size OpenCV picks for `ksize = (0, 0)` on a float image: `cvRound(8 sigma + 1) | 1`.
pub fn auto_ksize(sigma: f64) -> Result<usize> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return invalid!("sigma must be positive and finite when no kernel size is given, got {sigma}");
    }
    let k = (sigma * 8.0 + 1.0).round();
    if k > 1.0e6 {
        return invalid!("sigma {sigma} gives a kernel of {k} pixels; too large");
    }
    Ok((k as usize) | 1)
}

/// What each fixation deposits on the impulse image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// Its duration, added (several fixations on one pixel sum).
    Duration,
    /// 1, added.
    Uniform,
    /// McGIP's recipe: the pixel is set to 1, however many fixations land on it.
    Mark,
}

/// How each finished map is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    /// Divide by the maximum (maps with no fixation stay zero).
    Max,
    /// Divide by the sum.
    Sum,
    None,
}

/// Fixations whose pixel falls outside the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// Leave them out of the map (and count them).
    Skip,
    /// Move them to the nearest edge pixel, as McGIP's `min(799, x)` does.
    Clamp,
}

/// Everything that defines a map, fixed for a whole archive.
#[derive(Debug, Clone, Copy)]
pub struct HeatmapSpec {
    pub height: usize,
    pub width: usize,
    /// Odd kernel size, or 0 for [`auto_ksize`] of `sigma`.
    pub ksize: usize,
    /// Gaussian sigma in map pixels; <= 0 means OpenCV's automatic sigma for `ksize`.
    pub sigma: f64,
    pub weighting: Weighting,
    pub normalise: Normalise,
    pub outside: Outside,
    /// Map pixel = floor(coordinate * scale): column from x, row from y.
    pub scale_x: f64,
    pub scale_y: f64,
    /// Round the kernel to f32 and accumulate in f32, as OpenCV does for a float32 image;
    /// otherwise use f64 throughout, as for a float64 image.
    pub single_precision: bool,
}

impl HeatmapSpec {
    fn check(&self) -> Result<usize> {
        if self.height == 0 || self.width == 0 {
            return invalid!("map shape must be positive, got ({}, {})", self.height, self.width);
        }
        for (name, s) in [("scale_x", self.scale_x), ("scale_y", self.scale_y)] {
            if !(s.is_finite() && s > 0.0) {
                return invalid!("{name} must be positive and finite, got {s}");
            }
        }
        if self.ksize == 0 {
            auto_ksize(self.sigma)
        } else if self.ksize % 2 == 0 {
            invalid!("kernel size must be odd, got {}", self.ksize)
        } else if !self.sigma.is_finite() {
            invalid!("sigma must be finite, got {}", self.sigma)
        } else {
            Ok(self.ksize)
        }
    }
}

/// The float type a map accumulates in.
trait Acc: Copy + Send + Sync + Default + PartialOrd + std::ops::AddAssign + std::ops::Mul<Output = Self> {
    fn of(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// The output map itself, when it can serve as the accumulator (f32): saves a scratch pass.
    fn in_place(dest: &mut [f32]) -> Option<&mut [Self]>;
}

impl Acc for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn in_place(dest: &mut [f32]) -> Option<&mut [Self]> {
        Some(dest)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Acc for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn in_place(_: &mut [f32]) -> Option<&mut [Self]> {
        None
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Add `w` times the 1-D blur of a unit impulse at `p` (on a line of `len` pixels) into `out`;
/// return the range of `out` it touched.
///
/// Under REFLECT_101 a source index `q` outside `0..len` reads pixel `refl(q)`, and `refl` is
/// generated by the mirrors at 0 and len - 1 (period 2 (len - 1)). So the impulse at p is seen
/// at every image `q = ±p + 2m(len - 1)`, and output pixel x collects `k[r + q - x]` from each
/// image within r of it. The images of 0 and of len - 1 coincide pairwise; count them once.
fn add_profile<T: Acc>(p: usize, len: usize, kernel: &[T], w: T, out: &mut [T]) -> (usize, usize) {
    let r = kernel.len() / 2;
    if len == 1 {
        let mut s = T::default();
        kernel.iter().for_each(|&v| s += v);
        out[0] += w * s;
        return (0, 0);
    }
    let (p, n, r_i) = (p as i64, len as i64, r as i64);
    let period = 2 * (n - 1);
    let mut lo = usize::MAX;
    let mut hi = 0usize;
    let mut add_image = |q: i64| {
        let a = (q - r_i).max(0);
        let b = (q + r_i).min(n - 1);
        if a > b {
            return;
        }
        for x in a..=b {
            out[x as usize] += w * kernel[(r_i + q - x) as usize];
        }
        lo = lo.min(a as usize);
        hi = hi.max(b as usize);
    };
    let mirrored = p != 0 && p != n - 1;
    let m_lo = (-r_i - n).div_euclid(period) - 1;
    let m_hi = (n + r_i).div_euclid(period) + 1;
    for m in m_lo..=m_hi {
        let q = p + m * period;
        if q >= -r_i && q <= n - 1 + r_i {
            add_image(q);
        }
        if mirrored {
            let q = -p + m * period;
            if q >= -r_i && q <= n - 1 + r_i {
                add_image(q);
            }
        }
    }
    (lo, hi)
}

/// Reusable per-thread buffers (`map` stays empty when maps accumulate in place).
struct Scratch<T> {
    map: Vec<T>,
    row_profile: Vec<T>,
    col_profile: Vec<T>,
    deposits: Vec<(usize, usize, f64)>,
}

impl<T: Acc> Scratch<T> {
    fn new(h: usize, w: usize) -> Self {
        let mut probe = [0.0f32; 1];
        let map = if T::in_place(&mut probe).is_some() { Vec::new() } else { vec![T::default(); h * w] };
        Scratch { map, row_profile: vec![T::default(); h], col_profile: vec![T::default(); w], deposits: Vec::new() }
    }
}

/// The (row, col, weight) impulses of one scanpath, sorted by row then column; returns how many
/// fixations fell outside the map.
fn deposits(sp: &Scanpath<'_>, spec: &HeatmapSpec, out: &mut Vec<(usize, usize, f64)>) -> Result<u64> {
    out.clear();
    let (h, w) = (spec.height as f64, spec.width as f64);
    let mut outside = 0u64;
    for i in 0..sp.len() {
        let (x, y) = (sp.x[i] * spec.scale_x, sp.y[i] * spec.scale_y);
        if !(x.is_finite() && y.is_finite()) {
            return invalid!("fixation {i} has a non-finite coordinate ({}, {})", sp.x[i], sp.y[i]);
        }
        let weight = match spec.weighting {
            Weighting::Duration => sp.duration[i],
            Weighting::Uniform | Weighting::Mark => 1.0,
        };
        if !weight.is_finite() {
            return invalid!("fixation {i} has a non-finite duration {weight}");
        }
        // The far screen edge (x == width exactly) belongs to the last pixel.
        let (col, row) = match spec.outside {
            Outside::Skip => {
                if !(x >= 0.0 && x <= w && y >= 0.0 && y <= h) {
                    outside += 1;
                    continue;
                }
                ((x.floor() as usize).min(spec.width - 1), (y.floor() as usize).min(spec.height - 1))
            }
            Outside::Clamp => (x.floor().clamp(0.0, w - 1.0) as usize, y.floor().clamp(0.0, h - 1.0) as usize),
        };
        out.push((row, col, weight));
    }
    out.sort_by_key(|d| (d.0, d.1));
    if spec.weighting == Weighting::Mark {
        out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    }
    Ok(outside)
}

/// Largest value and sum (f64) over rows `r0..=r1`, columns `c0..=c1` of a W-wide map.
fn peak_and_sum<T: Acc>(acc: &[T], w: usize, (r0, r1, c0, c1): Bbox, want_sum: bool) -> (f64, f64) {
    let mut peak = T::default();
    let mut sum = 0.0f64;
    for y in r0..=r1 {
        let line = &acc[y * w + c0..=y * w + c1];
        // Eight independent lanes, so the max reduction vectorises.
        let mut mx = [T::default(); 8];
        let chunks = line.chunks_exact(8);
        for &v in chunks.remainder() {
            if v > peak {
                peak = v;
            }
        }
        for c in chunks {
            for l in 0..8 {
                if c[l] > mx[l] {
                    mx[l] = c[l];
                }
            }
        }
        for v in mx {
            if v > peak {
                peak = v;
            }
        }
        if want_sum {
            sum += line.iter().map(|v| v.to_f64()).sum::<f64>();
        }
    }
    (peak.to_f64(), sum)
}

/// Rows r0..=r1 and columns c0..=c1 that a map touched (everything else is zero).
type Bbox = (usize, usize, usize, usize);

/// Add one map's impulses, blurred, into `acc` (H * W, row-major, zero on entry); return the
/// box it touched.
fn accumulate<T: Acc>(spec: &HeatmapSpec, kernel: &[T], deps: &[(usize, usize, f64)], rows: &mut [T], cols: &mut [T], acc: &mut [T]) -> Bbox {
    let (h, w) = (spec.height, spec.width);
    let mut bbox = (usize::MAX, 0, usize::MAX, 0);
    let mut start = 0;
    while start < deps.len() {
        let row = deps[start].0;
        let mut end = start;
        // Sum the horizontal profiles of every impulse on this row ...
        let (mut c_lo, mut c_hi) = (usize::MAX, 0usize);
        while end < deps.len() && deps[end].0 == row {
            let (_, col, wt) = deps[end];
            let (a, b) = add_profile(col, w, kernel, T::of(wt), cols);
            c_lo = c_lo.min(a);
            c_hi = c_hi.max(b);
            end += 1;
        }
        // ... then spread that row vertically: one outer product.
        let (r_lo, r_hi) = add_profile(row, h, kernel, T::of(1.0), rows);
        let line_profile = &cols[c_lo..=c_hi];
        for y in r_lo..=r_hi {
            let v = rows[y];
            let line = &mut acc[y * w + c_lo..y * w + c_hi + 1];
            for (o, &c) in line.iter_mut().zip(line_profile) {
                *o += v * c;
            }
            rows[y] = T::default();
        }
        cols[c_lo..=c_hi].iter_mut().for_each(|v| *v = T::default());
        bbox = (bbox.0.min(r_lo), bbox.1.max(r_hi), bbox.2.min(c_lo), bbox.3.max(c_hi));
        start = end;
    }
    bbox
}

/// Render one map into `dest` (H * W, row-major, zero on entry).
fn render_one<T: Acc>(sp: &Scanpath<'_>, spec: &HeatmapSpec, kernel: &[T], s: &mut Scratch<T>, dest: &mut [f32]) -> Result<u64> {
    let outside = deposits(sp, spec, &mut s.deposits)?;
    if s.deposits.is_empty() {
        return Ok(outside);
    }
    let Scratch { map, row_profile, col_profile, deposits } = s;
    let w = spec.width;
    let in_place = T::in_place(&mut [0.0f32]).is_some();
    let (acc, bbox): (&[T], Bbox) = match T::in_place(dest) {
        Some(acc) => {
            let bbox = accumulate(spec, kernel, deposits, row_profile, col_profile, acc);
            (acc, bbox)
        }
        None => {
            // The scratch map is all zero here: it is created so, and cleared below after use.
            let bbox = accumulate(spec, kernel, deposits, row_profile, col_profile, map);
            (map, bbox)
        }
    };
    let (peak, sum) = peak_and_sum(acc, w, bbox, spec.normalise == Normalise::Sum);
    let divisor = match spec.normalise {
        Normalise::None => 1.0,
        Normalise::Max => peak,
        Normalise::Sum => sum,
    };
    // Multiply by the f64 inverse: the peak becomes 1 - 1 ulp of f64 at worst, which rounds to 1.0f32.
    let inv = if divisor > 0.0 { 1.0 / divisor } else { 1.0 };
    let (r0, r1, c0, c1) = bbox;
    for y in r0..=r1 {
        let span = y * w + c0..=y * w + c1;
        if in_place {
            if inv != 1.0 {
                dest[span].iter_mut().for_each(|d| *d = (*d as f64 * inv) as f32);
            }
        } else {
            for (d, v) in dest[span.clone()].iter_mut().zip(&mut map[span]) {
                *d = (v.to_f64() * inv) as f32;
                *v = T::default();
            }
        }
    }
    Ok(outside)
}

/// Zero-initialised f32 buffer from the allocator (the OS hands out zero pages lazily, so the
/// workers touch the memory first); an allocation failure is an error, not an abort.
fn zeroed_f32(len: usize) -> Result<Vec<f32>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f32>(len)
        .map_err(|_| McgipError::InvalidInput(format!("{len} map values overflow memory")))?;
    // SAFETY: layout has non-zero size; all-zero bytes are valid f32 zeros; the pointer comes
    // from the global allocator with exactly this layout, which is what Vec expects to free.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut f32;
        if ptr.is_null() {
            return Err(McgipError::Runtime(format!("cannot allocate {} MiB of maps; render in batches", (len * 4) >> 20)));
        }
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

fn map_len(spec: &HeatmapSpec, n: usize) -> Result<(usize, usize)> {
    let (h, w) = (spec.height, spec.width);
    let per_map = h.checked_mul(w).ok_or_else(|| McgipError::InvalidInput(format!("map shape ({h}, {w}) is too large")))?;
    let total = per_map
        .checked_mul(n)
        .ok_or_else(|| McgipError::InvalidInput(format!("{n} maps of shape ({h}, {w}) overflow memory")))?;
    Ok((per_map, total))
}

/// Render every map into `out`; `zeroed` says whether `out` is known to be all zero already.
fn render_all<T: Acc>(packed: &PackedScanpaths<'_>, spec: &HeatmapSpec, kernel: &[T], out: &mut [f32], zeroed: bool) -> Result<u64> {
    let (per_map, _) = map_len(spec, packed.len())?;
    if packed.is_empty() {
        return Ok(0);
    }
    let results: Vec<Result<u64>> = out
        .par_chunks_mut(per_map)
        .enumerate()
        .map_init(
            || Scratch::<T>::new(spec.height, spec.width),
            |s, (i, dest)| {
                if !zeroed {
                    // Cleared by the worker that fills it, so the map is still in cache.
                    dest.fill(0.0);
                }
                render_one(&packed.get(i), spec, kernel, s, dest).map_err(|e| match e {
                    McgipError::InvalidInput(m) => McgipError::InvalidInput(format!("scanpath {i}: {m}")),
                    other => other,
                })
            },
        )
        .collect();
    let mut outside = 0;
    for r in results {
        outside += r?;
    }
    Ok(outside)
}

fn dispatch(packed: &PackedScanpaths<'_>, spec: &HeatmapSpec, out: &mut [f32], zeroed: bool) -> Result<u64> {
    let ksize = spec.check()?;
    let kernel = gaussian_kernel(ksize, spec.sigma)?;
    if spec.single_precision {
        let k32: Vec<f32> = kernel.into_iter().map(|v| v as f32).collect();
        render_all(packed, spec, &k32, out, zeroed)
    } else {
        render_all(packed, spec, &kernel, out, zeroed)
    }
}

/// Render one map per scanpath: `n * height * width` f32 values, row-major, plus the number of
/// fixations that fell outside the maps (skipped under [`Outside::Skip`]).
///
/// Parallel over scanpaths; each map is computed by one thread in a fixed order, so the result
/// does not depend on the thread count.
pub fn render_heatmaps(packed: &PackedScanpaths<'_>, spec: &HeatmapSpec) -> Result<(Vec<f32>, u64)> {
    spec.check()?;
    let (_, total) = map_len(spec, packed.len())?;
    let mut out = zeroed_f32(total)?;
    let outside = dispatch(packed, spec, &mut out, true)?;
    Ok((out, outside))
}

/// As [`render_heatmaps`], into a caller's buffer of exactly `n * height * width` values (any
/// content; it is overwritten). Reusing one buffer across batches saves first-touch page faults.
pub fn render_heatmaps_into(packed: &PackedScanpaths<'_>, spec: &HeatmapSpec, out: &mut [f32]) -> Result<u64> {
    spec.check()?;
    let (_, total) = map_len(spec, packed.len())?;
    if out.len() != total {
        return invalid!(
            "output holds {} values; {} maps of shape ({}, {}) need {total}",
            out.len(),
            packed.len(),
            spec.height,
            spec.width
        );
    }
    dispatch(packed, spec, out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force reference: impulse image, then row pass and column pass with explicit
    /// REFLECT_101 indexing (OpenCV's `borderInterpolate` loop), all in f64.
    fn reflect101(mut p: i64, len: i64) -> usize {
        if len == 1 {
            return 0;
        }
        while p < 0 || p >= len {
            p = if p < 0 { -p } else { 2 * (len - 1) - p };
        }
        p as usize
    }

    fn blur_reference(imp: &[f64], h: usize, w: usize, k: &[f64]) -> Vec<f64> {
        let r = (k.len() / 2) as i64;
        let mut tmp = vec![0.0; h * w];
        for y in 0..h {
            for x in 0..w {
                tmp[y * w + x] = (0..k.len()).map(|j| k[j] * imp[y * w + reflect101(x as i64 + j as i64 - r, w as i64)]).sum();
            }
        }
        let mut out = vec![0.0; h * w];
        for y in 0..h {
            for x in 0..w {
                out[y * w + x] = (0..k.len()).map(|j| k[j] * tmp[reflect101(y as i64 + j as i64 - r, h as i64) * w + x]).sum();
            }
        }
        out
    }

    fn spec(h: usize, w: usize, ksize: usize, sigma: f64) -> HeatmapSpec {
        HeatmapSpec {
            height: h,
            width: w,
            ksize,
            sigma,
            weighting: Weighting::Duration,
            normalise: Normalise::None,
            outside: Outside::Skip,
            scale_x: 1.0,
            scale_y: 1.0,
            single_precision: false,
        }
    }

    /// Small deterministic generator, so the tests need no extra crates.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn kernel_matches_opencv_rules() {
        assert_eq!(gaussian_kernel(3, 0.0).unwrap(), vec![0.25, 0.5, 0.25]);
        assert_eq!(gaussian_kernel(9, -1.0).unwrap()[0], 4.0 / 256.0);
        // ksize 199 with automatic sigma: 0.3 * (99 - 1) + 0.8 = 30.2.
        let k = gaussian_kernel(199, 0.0).unwrap();
        let s = 30.2f64;
        let raw = |x: f64| (-x * x / (2.0 * s * s)).exp();
        let sum: f64 = (-99..=99).map(|i| raw(i as f64)).sum();
        assert!((k[99] - 1.0 / sum).abs() < 1e-15);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(k[0], k[198]);
        assert_eq!(auto_ksize(7.0).unwrap(), 57);
        assert_eq!(auto_ksize(0.5).unwrap(), 5);
        assert!(gaussian_kernel(4, 1.0).is_err());
        assert!(gaussian_kernel(0, 1.0).is_err());
        assert!(auto_ksize(0.0).is_err());
        assert!(gaussian_kernel(5, f64::NAN).is_err());
    }

    #[test]
    fn equals_brute_force_blur_including_kernels_wider_than_the_map() {
        let mut rng = Lcg(7);
        for trial in 0..200 {
            let h = 1 + (rng.next() * 30.0) as usize;
            let w = 1 + (rng.next() * 30.0) as usize;
            let (ksize, sigma) = if trial % 2 == 0 { (0, 0.3 + rng.next() * 8.0) } else { ([1, 3, 5, 9, 11, 41][trial % 6], 0.0) };
            let n = 1 + (rng.next() * 6.0) as usize;
            let xs: Vec<f64> = (0..n).map(|_| rng.next() * w as f64).collect();
            let ys: Vec<f64> = (0..n).map(|_| rng.next() * h as f64).collect();
            let ds: Vec<f64> = (0..n).map(|_| 0.05 + rng.next()).collect();
            let sp = spec(h, w, ksize, sigma);
            let offsets = [0i64, n as i64];
            let packed = PackedScanpaths::new(&offsets, &xs, &ys, &ds).unwrap();
            let (got, outside) = render_heatmaps(&packed, &sp).unwrap();
            assert_eq!(outside, 0);
            let mut imp = vec![0.0; h * w];
            for i in 0..n {
                imp[(ys[i].floor() as usize).min(h - 1) * w + (xs[i].floor() as usize).min(w - 1)] += ds[i];
            }
            let k = gaussian_kernel(if ksize == 0 { auto_ksize(sigma).unwrap() } else { ksize }, sigma).unwrap();
            let want = blur_reference(&imp, h, w, &k);
            let peak = want.iter().cloned().fold(0.0, f64::max);
            for (g, e) in got.iter().zip(&want) {
                assert!((*g as f64 - e).abs() <= 1e-6 * peak, "trial {trial}: {g} vs {e} ({h}x{w}, k {ksize}, s {sigma})");
            }
        }
    }

    #[test]
    fn mass_is_conserved_and_normalisation_applies() {
        // Away from the borders the kernel sums to 1, so a map sums to the total weight.
        let xs = [20.0, 40.0, 59.9];
        let ys = [20.0, 30.0, 39.0];
        let ds = [0.2, 0.5, 0.3];
        let offsets = [0i64, 3];
        let packed = PackedScanpaths::new(&offsets, &xs, &ys, &ds).unwrap();
        let mut sp = spec(60, 80, 0, 4.0);
        let (m, _) = render_heatmaps(&packed, &sp).unwrap();
        assert!((m.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-6);
        sp.normalise = Normalise::Max;
        let (m, _) = render_heatmaps(&packed, &sp).unwrap();
        assert_eq!(m.iter().cloned().fold(0.0f32, f32::max), 1.0);
        sp.normalise = Normalise::Sum;
        sp.single_precision = true;
        let (m, _) = render_heatmaps(&packed, &sp).unwrap();
        assert!((m.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn outside_fixations_are_skipped_or_clamped() {
        let xs = [-1.0, 10.0, 10.0, 5.0];
        let ys = [5.0, 10.0, 10.5, 5.0];
        let ds = [1.0; 4];
        let offsets = [0i64, 4];
        let packed = PackedScanpaths::new(&offsets, &xs, &ys, &ds).unwrap();
        let mut sp = spec(10, 10, 3, 0.0);
        // x == width is on the map (last pixel); y = 10.5 > height is not.
        let (_, outside) = render_heatmaps(&packed, &sp).unwrap();
        assert_eq!(outside, 2);
        sp.outside = Outside::Clamp;
        sp.weighting = Weighting::Mark;
        let (m, outside) = render_heatmaps(&packed, &sp).unwrap();
        assert_eq!(outside, 0);
        // Marks: (9, 9) twice counts once, so the map is that of 3 distinct unit pixels.
        let xs3 = [0.0, 9.0, 5.0];
        let ys3 = [5.0, 9.0, 5.0];
        let offsets3 = [0i64, 3];
        let packed3 = PackedScanpaths::new(&offsets3, &xs3, &ys3, &ds[..3]).unwrap();
        let (m3, _) = render_heatmaps(&packed3, &sp).unwrap();
        assert_eq!(m, m3);
    }

    #[test]
    fn same_result_for_any_thread_count_and_empty_scanpaths() {
        let mut rng = Lcg(3);
        let n = 200;
        let xs: Vec<f64> = (0..n).map(|_| rng.next() * 64.0).collect();
        let ys: Vec<f64> = (0..n).map(|_| rng.next() * 48.0).collect();
        let ds: Vec<f64> = (0..n).map(|_| 0.1 + rng.next()).collect();
        let offsets: Vec<i64> = vec![0, 10, 10, 70, 130, 200];
        let packed = PackedScanpaths::new(&offsets, &xs, &ys, &ds).unwrap();
        let mut sp = spec(48, 64, 0, 3.0);
        sp.normalise = Normalise::Max;
        let one = crate::parallel::with_threads(Some(1), || render_heatmaps(&packed, &sp)).unwrap().unwrap();
        let three = crate::parallel::with_threads(Some(3), || render_heatmaps(&packed, &sp)).unwrap().unwrap();
        assert_eq!(one, three);
        // Into a dirty caller buffer: same maps; a wrong length is refused.
        let mut buf = vec![7.0f32; one.0.len()];
        assert_eq!(render_heatmaps_into(&packed, &sp, &mut buf).unwrap(), one.1);
        assert_eq!(buf, one.0);
        assert!(render_heatmaps_into(&packed, &sp, &mut buf[1..]).is_err());
        assert!(one.0[48 * 64..2 * 48 * 64].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn rejects_bad_specs_and_values() {
        let xs = [1.0, f64::NAN];
        let ds = [1.0, 1.0];
        let offsets = [0i64, 2];
        let packed = PackedScanpaths::new(&offsets, &xs, &ds, &ds).unwrap();
        let sp = spec(10, 10, 3, 0.0);
        let err = render_heatmaps(&packed, &sp).unwrap_err();
        assert!(matches!(err, McgipError::InvalidInput(ref m) if m.contains("scanpath 0") && m.contains("non-finite")));
        assert!(render_heatmaps(&packed, &spec(0, 10, 3, 0.0)).is_err());
        assert!(render_heatmaps(&packed, &spec(10, 10, 4, 0.0)).is_err());
        assert!(render_heatmaps(&packed, &spec(10, 10, 0, 0.0)).is_err());
        let mut bad = spec(10, 10, 3, 0.0);
        bad.scale_x = -1.0;
        assert!(render_heatmaps(&packed, &bad).is_err());
    }
}

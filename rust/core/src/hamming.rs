//! Hamming distances between packed binary codes: all pairs, top-k and radius queries.
//!
//! Codes are `n_bytes` bytes each, packed one after another (the layout of a (n, n_bytes) uint8
//! array). They are repacked once into 64-bit words (zero padded), so each distance is a few
//! `popcount(a ^ b)`. Top-k and radius queries never build the dense matrix: each query row is
//! scanned into a reused buffer and reduced at once.
//!
//! Conventions (shared with `mcgip_fast.similarity.dhash` and `mcgip_fast.index`):
//! - top-k rows are sorted by (distance, index): ties go to the lower index;
//! - radius queries are inclusive: `distance <= radius`;
//! - `self_offset = Some(o)` says query `i` is base item `o + i` (a tile of a self-join): top-k
//!   excludes it, and radius queries keep only pairs with `j > o + i`, so each pair appears once.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::Result;
use crate::invalid;

/// Ask the kernel to back a large, not yet touched output buffer with transparent huge pages:
/// filling a fresh N×M matrix otherwise spends more time in page faults than in the kernel.
/// Best effort (a no-op off Linux, or where THP is disabled).
pub fn advise_huge_pages<T>(buf: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const MADV_HUGEPAGE: i32 = 14;
        const HUGE: usize = 2 << 20;
        extern "C" {
            fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        let bytes = buf.capacity() * std::mem::size_of::<T>();
        if bytes < 2 * HUGE {
            return;
        }
        // madvise needs a page-aligned start: advise the 2 MiB-aligned middle of the buffer.
        let start = buf.as_mut_ptr() as usize;
        let aligned = start.div_ceil(HUGE) * HUGE;
        let end = (start + bytes) / HUGE * HUGE;
        if end > aligned {
            // SAFETY: the range lies inside this Vec's allocation; advice never changes contents.
            unsafe { madvise(aligned as *mut std::ffi::c_void, end - aligned, MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Codes repacked into `words` u64 per code.
#[derive(Debug, Clone)]
pub struct PackedCodes {
    pub n: usize,
    pub n_bytes: usize,
    pub words: usize,
    pub data: Vec<u64>,
}

impl PackedCodes {
    pub fn new(codes: &[u8], n_bytes: usize) -> Result<Self> {
        if n_bytes == 0 {
            return invalid!("codes must have at least one byte");
        }
        if codes.is_empty() {
            return invalid!("no codes given (empty array)");
        }
        if codes.len() % n_bytes != 0 {
            return invalid!("buffer of {} bytes is not a whole number of {n_bytes}-byte codes", codes.len());
        }
        let n = codes.len() / n_bytes;
        let words = n_bytes.div_ceil(8);
        let mut data = vec![0u64; n * words];
        for (dst, src) in data.chunks_exact_mut(words).zip(codes.chunks_exact(n_bytes)) {
            for (w, chunk) in dst.iter_mut().zip(src.chunks(8)) {
                let mut buf = [0u8; 8];
                buf[..chunk.len()].copy_from_slice(chunk);
                *w = u64::from_le_bytes(buf);
            }
        }
        Ok(PackedCodes { n, n_bytes, words, data })
    }

    #[inline(always)]
    pub fn row(&self, i: usize) -> &[u64] {
        &self.data[i * self.words..(i + 1) * self.words]
    }

    /// Bits set in each code.
    pub fn popcounts(&self) -> Vec<u32> {
        (0..self.n).map(|i| self.row(i).iter().map(|w| w.count_ones()).sum()).collect()
    }
}

/// Distances from one query to every base code, written into `out` (len = base.n).
/// `W` is the word count when known at compile time (0: dynamic).
#[inline(always)]
fn scan_row<const W: usize>(q: &[u64], base: &PackedCodes, out: &mut [MaybeUninit<u32>]) {
    let words = base.words;
    if W == 1 {
        let q0 = q[0];
        for (d, &b) in out.iter_mut().zip(base.data.iter()) {
            d.write((q0 ^ b).count_ones());
        }
    } else if W > 1 {
        for (d, b) in out.iter_mut().zip(base.data.chunks_exact(W)) {
            let mut s = 0u32;
            for t in 0..W {
                s += (q[t] ^ b[t]).count_ones();
            }
            d.write(s);
        }
    } else {
        for (d, b) in out.iter_mut().zip(base.data.chunks_exact(words)) {
            d.write(q.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum());
        }
    }
}

#[inline(always)]
fn scan_dispatch(q: &[u64], base: &PackedCodes, out: &mut [MaybeUninit<u32>]) {
    match base.words {
        1 => scan_row::<1>(q, base, out),
        2 => scan_row::<2>(q, base, out),
        4 => scan_row::<4>(q, base, out),
        _ => scan_row::<0>(q, base, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx2")]
unsafe fn scan_fast(q: &[u64], base: &PackedCodes, out: &mut [MaybeUninit<u32>]) {
    scan_dispatch(q, base, out)
}

/// Distances from one query to all base codes (hardware popcount when the CPU has it).
pub fn scan(q: &[u64], base: &PackedCodes, out: &mut [u32]) {
    // SAFETY: u32 and MaybeUninit<u32> share a layout; only initialised values are written.
    scan_uninit(q, base, unsafe { &mut *(out as *mut [u32] as *mut [MaybeUninit<u32>]) })
}

/// [`scan`] into memory that need not be initialised; every slot is written.
pub fn scan_uninit(q: &[u64], base: &PackedCodes, out: &mut [MaybeUninit<u32>]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: both features were detected just above.
            unsafe { scan_fast(q, base, out) };
            return;
        }
    }
    scan_dispatch(q, base, out)
}

fn same_width(a: &PackedCodes, b: &PackedCodes) -> Result<()> {
    if a.n_bytes != b.n_bytes {
        return invalid!("codes differ in width: {} vs {} bytes", a.n_bytes, b.n_bytes);
    }
    Ok(())
}

/// All-pairs distances, row-major (a.n, b.n) u32; parallel over rows of `a`.
pub fn hamming_matrix_packed(a: &PackedCodes, b: &PackedCodes) -> Result<Vec<u32>> {
    same_width(a, b)?;
    let m = b.n;
    let len = a.n.checked_mul(m).ok_or_else(|| crate::McgipError::Runtime("result too large".into()))?;
    let mut out: Vec<u32> = Vec::with_capacity(len);
    advise_huge_pages(&mut out);
    out.spare_capacity_mut()[..len].par_chunks_mut(m).enumerate().for_each(|(i, row)| scan_uninit(a.row(i), b, row));
    // SAFETY: each of the `len` slots was written by exactly one row scan.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// All-pairs distances between two (n, n_bytes) code buffers.
pub fn hamming_matrix(a: &[u8], b: &[u8], n_bytes: usize) -> Result<Vec<u32>> {
    hamming_matrix_packed(&PackedCodes::new(a, n_bytes)?, &PackedCodes::new(b, n_bytes)?)
}

/// Cosine between bit vectors (McGIP's original dHash similarity): `|a∧b| / sqrt(|a|·|b|)`,
/// 0 when either code has no bit set (as scikit-learn's `cosine_similarity` gives).
pub fn bit_cosine_matrix(a: &[u8], b: &[u8], n_bytes: usize) -> Result<Vec<f64>> {
    let (pa, pb) = (PackedCodes::new(a, n_bytes)?, PackedCodes::new(b, n_bytes)?);
    let (ca, cb) = (pa.popcounts(), pb.popcounts());
    let m = pb.n;
    let mut out = vec![0.0f64; pa.n * m];
    out.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
        let qa = pa.row(i);
        for (j, slot) in row.iter_mut().enumerate() {
            let both: u32 = qa.iter().zip(pb.row(j)).map(|(x, y)| (x & y).count_ones()).sum();
            let denom = ((ca[i] as f64) * (cb[j] as f64)).sqrt();
            *slot = if denom > 0.0 { both as f64 / denom } else { 0.0 };
        }
    });
    Ok(out)
}

/// Select the k smallest (distance, index) of one scanned row, skipping `skip`; by counting
/// distances (they are at most the code's bit count), so O(n) per row.
fn select_topk(dist: &[u32], skip: Option<usize>, k: usize, max_d: usize, hist: &mut Vec<usize>, idx_out: &mut [i64], d_out: &mut [u32]) {
    hist.clear();
    hist.resize(max_d + 2, 0);
    for (j, &d) in dist.iter().enumerate() {
        if Some(j) != skip {
            hist[d as usize] += 1;
        }
    }
    // Threshold distance: the smallest t with count(d <= t) >= k; `take_at_t` of those at t.
    let mut below = 0usize;
    let mut t = 0usize;
    while below + hist[t] < k {
        below += hist[t];
        t += 1;
    }
    let mut take_at_t = k - below;
    // Slot where each distance's run starts in the sorted output (counting sort, index order kept).
    let mut start = vec![0usize; t + 1];
    let mut acc = 0;
    for d in 0..t {
        start[d] = acc;
        acc += hist[d];
    }
    start[t] = acc;
    for (j, &d) in dist.iter().enumerate() {
        let d = d as usize;
        if d > t || Some(j) == skip {
            continue;
        }
        if d == t {
            if take_at_t == 0 {
                continue;
            }
            take_at_t -= 1;
        }
        let s = start[d];
        idx_out[s] = j as i64;
        d_out[s] = d as u32;
        start[d] += 1;
    }
}

/// For each query, the `k` nearest base codes: (indices, distances), row-major (queries.n, k),
/// sorted by (distance, index). With `self_offset = Some(o)`, query i skips base item o + i.
pub fn hamming_topk_packed(queries: &PackedCodes, base: &PackedCodes, k: usize, self_offset: Option<usize>) -> Result<(Vec<i64>, Vec<u32>)> {
    same_width(queries, base)?;
    let available = base.n - usize::from(self_offset.is_some());
    if k == 0 || k > available {
        return invalid!("k must be between 1 and {available} (the number of candidates per query), got {k}");
    }
    if let Some(o) = self_offset {
        if o + queries.n > base.n {
            return invalid!("self_offset {o} + {} queries runs past the {} base codes", queries.n, base.n);
        }
    }
    let max_d = base.n_bytes * 8;
    let mut idx = vec![0i64; queries.n * k];
    let mut dist = vec![0u32; queries.n * k];
    idx.par_chunks_mut(k)
        .zip(dist.par_chunks_mut(k))
        .enumerate()
        .for_each_init(
            || (vec![0u32; base.n], Vec::new()),
            |(buf, hist), (i, (irow, drow))| {
                scan(queries.row(i), base, buf);
                select_topk(buf, self_offset.map(|o| o + i), k, max_d, hist, irow, drow);
            },
        );
    Ok((idx, dist))
}

/// k nearest neighbours of every code among the others (self excluded), ties to the lower index.
pub fn hamming_topk(codes: &[u8], n_bytes: usize, k: usize) -> Result<(Vec<i64>, Vec<u32>)> {
    let p = PackedCodes::new(codes, n_bytes)?;
    hamming_topk_packed(&p, &p, k, Some(0))
}

/// Sparse pairs (i, j, d) with `d <= radius`, sorted by i then j. With `self_offset = Some(o)`
/// only pairs with j > o + i are kept (each unordered pair once in a self-join).
pub fn hamming_within_packed(queries: &PackedCodes, base: &PackedCodes, radius: u32, self_offset: Option<usize>) -> Result<(Vec<i64>, Vec<i64>, Vec<u32>)> {
    same_width(queries, base)?;
    let rows: Vec<Vec<(u32, u32)>> = (0..queries.n)
        .into_par_iter()
        .map_init(
            || vec![0u32; base.n],
            |buf, i| {
                scan(queries.row(i), base, buf);
                let from = self_offset.map_or(0, |o| o + i + 1);
                buf.iter()
                    .enumerate()
                    .skip(from)
                    .filter(|(_, &d)| d <= radius)
                    .map(|(j, &d)| (j as u32, d))
                    .collect()
            },
        )
        .collect();
    let total: usize = rows.iter().map(|r| r.len()).sum();
    let (mut ii, mut jj, mut dd) = (Vec::with_capacity(total), Vec::with_capacity(total), Vec::with_capacity(total));
    for (i, row) in rows.into_iter().enumerate() {
        for (j, d) in row {
            ii.push(i as i64);
            jj.push(j as i64);
            dd.push(d);
        }
    }
    Ok((ii, jj, dd))
}

/// All pairs i < j of `codes` within `radius` (inclusive).
pub fn hamming_within(codes: &[u8], n_bytes: usize, radius: u32) -> Result<(Vec<i64>, Vec<i64>, Vec<u32>)> {
    let p = PackedCodes::new(codes, n_bytes)?;
    if p.n > u32::MAX as usize {
        return invalid!("too many codes for one call ({}); split into tiles", p.n);
    }
    hamming_within_packed(&p, &p, radius, Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_codes(n: usize, nb: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n * nb)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Few bits set so that distances tie often.
                let v = (s >> 33) as u8;
                v & (v >> 3)
            })
            .collect()
    }

    fn brute(codes: &[u8], nb: usize, i: usize, j: usize) -> u32 {
        (0..nb).map(|t| (codes[i * nb + t] ^ codes[j * nb + t]).count_ones()).sum()
    }

    #[test]
    fn matrix_equals_bytewise_popcount_for_odd_widths() {
        for nb in [1, 3, 8, 13, 16, 32, 33] {
            let c = lcg_codes(17, nb, nb as u64);
            let m = hamming_matrix(&c, &c, nb).unwrap();
            for i in 0..17 {
                for j in 0..17 {
                    assert_eq!(m[i * 17 + j], brute(&c, nb, i, j));
                }
            }
        }
    }

    #[test]
    fn topk_equals_sorted_brute_force() {
        let (n, nb, k) = (60, 2, 7);
        let c = lcg_codes(n, nb, 3);
        let (idx, dist) = hamming_topk(&c, nb, k).unwrap();
        for i in 0..n {
            let mut all: Vec<(u32, usize)> = (0..n).filter(|&j| j != i).map(|j| (brute(&c, nb, i, j), j)).collect();
            all.sort();
            for t in 0..k {
                assert_eq!((dist[i * k + t], idx[i * k + t] as usize), all[t]);
            }
        }
        assert!(hamming_topk(&c, nb, n).is_err());
        assert!(hamming_topk(&c, nb, 0).is_err());
    }

    #[test]
    fn within_equals_brute_force_and_tiles_compose() {
        let (n, nb, r) = (50, 2, 3);
        let c = lcg_codes(n, nb, 9);
        let (i, j, d) = hamming_within(&c, nb, r).unwrap();
        let mut expect = vec![];
        for a in 0..n {
            for b in a + 1..n {
                let dd = brute(&c, nb, a, b);
                if dd <= r {
                    expect.push((a as i64, b as i64, dd));
                }
            }
        }
        let got: Vec<_> = (0..i.len()).map(|t| (i[t], j[t], d[t])).collect();
        assert_eq!(got, expect);
        // A tile of queries 20..35 against everything, as a self-join.
        let all = PackedCodes::new(&c, nb).unwrap();
        let tile = PackedCodes::new(&c[20 * nb..35 * nb], nb).unwrap();
        let (ti, tj, _) = hamming_within_packed(&tile, &all, r, Some(20)).unwrap();
        let from_tile: Vec<_> = ti.iter().zip(&tj).map(|(&a, &b)| (a + 20, b)).collect();
        let expect_tile: Vec<_> = expect.iter().filter(|e| (20..35).contains(&e.0)).map(|e| (e.0, e.1)).collect();
        assert_eq!(from_tile, expect_tile);
    }

    #[test]
    fn cosine_of_bits() {
        let a = [0b1100_0000u8];
        let b = [0b1000_0000u8];
        let z = [0u8];
        let m = bit_cosine_matrix(&[a[0], b[0], z[0]], &[a[0], b[0], z[0]], 1).unwrap();
        assert!((m[1] - 1.0 / 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(m[2], 0.0);
        assert_eq!(m[8], 0.0);
    }
}

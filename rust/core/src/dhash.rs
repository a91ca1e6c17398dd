//! Difference hashes, bit-exact with `imagehash.dhash(PIL.Image.fromarray(img), hash_size)`.
//!
//! The image (greyscale, or RGB greyscaled with Pillow's integer formula) is resized with
//! Pillow's LANCZOS to `hash_size + 1` columns by `hash_size` rows; bit (r, c) is
//! `px[r][c + 1] > px[r][c]`, taken row-major and packed most-significant-bit first
//! (as `np.packbits` packs them), `ceil(hash_size² / 8)` bytes per image.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::error::Result;
use crate::invalid;
use crate::resample::{luma, LanczosPlan};

/// Bytes of one packed code.
pub fn code_bytes(hash_size: usize) -> usize {
    (hash_size * hash_size).div_ceil(8)
}

fn check(hash_size: usize, n: usize, h: usize, w: usize) -> Result<()> {
    if hash_size < 2 {
        return invalid!("hash_size must be at least 2, got {hash_size}");
    }
    if hash_size > 1 << 12 {
        return invalid!("hash_size {hash_size} is too large");
    }
    if n == 0 {
        return invalid!("no images given (n = 0)");
    }
    if h == 0 || w == 0 {
        return invalid!("images must be at least 1x1, got {h}x{w}");
    }
    Ok(())
}

/// Resize plans by (in_h, in_w, out_h, out_w). Building one evaluates thousands of sines, which
/// costs more than hashing one image, and archives hold few distinct image shapes.
type PlanCache = Mutex<HashMap<(usize, usize, usize, usize), Arc<LanczosPlan>>>;

fn cached_plan(h: usize, w: usize, oh: usize, ow: usize) -> Result<Arc<LanczosPlan>> {
    static CACHE: OnceLock<PlanCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (h, w, oh, ow);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    let plan = Arc::new(LanczosPlan::new(h, w, oh, ow)?);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 64 {
        map.clear();
    }
    map.insert(key, plan.clone());
    Ok(plan)
}

/// Pack the comparison bits of one resized (hash_size × (hash_size+1)) image.
fn pack_bits(small: &[u8], hash_size: usize, code: &mut [u8]) {
    code.iter_mut().for_each(|b| *b = 0);
    let mut bit = 0usize;
    for r in 0..hash_size {
        let row = &small[r * (hash_size + 1)..(r + 1) * (hash_size + 1)];
        for c in 0..hash_size {
            if row[c + 1] > row[c] {
                code[bit / 8] |= 0x80 >> (bit % 8);
            }
            bit += 1;
        }
    }
}

/// dHash of `n` greyscale (h, w) images packed row-major; returns n·code_bytes bytes. Parallel over images.
pub fn dhash_gray(data: &[u8], n: usize, h: usize, w: usize, hash_size: usize) -> Result<Vec<u8>> {
    check(hash_size, n, h, w)?;
    if data.len() != n * h * w {
        return invalid!("buffer of {} bytes does not hold {n} images of {h}x{w}", data.len());
    }
    let plan = cached_plan(h, w, hash_size, hash_size + 1)?;
    let nb = code_bytes(hash_size);
    let mut out = vec![0u8; n * nb];
    if n == 1 {
        // No thread hand-off for a single image.
        let mut small = vec![0u8; hash_size * (hash_size + 1)];
        plan.run(data, &mut small, &mut Vec::new());
        pack_bits(&small, hash_size, &mut out);
        return Ok(out);
    }
    out.par_chunks_mut(nb).zip(data.par_chunks(h * w)).for_each_init(
        || (vec![0u8; hash_size * (hash_size + 1)], Vec::new()),
        |(small, scratch), (code, img)| {
            plan.run(img, small, scratch);
            pack_bits(small, hash_size, code);
        },
    );
    Ok(out)
}

/// dHash of `n` RGB (h, w, 3) images: greyscaled as Pillow's `convert("L")`, then as [`dhash_gray`].
pub fn dhash_rgb(data: &[u8], n: usize, h: usize, w: usize, hash_size: usize) -> Result<Vec<u8>> {
    check(hash_size, n, h, w)?;
    if data.len() != n * h * w * 3 {
        return invalid!("buffer of {} bytes does not hold {n} RGB images of {h}x{w}", data.len());
    }
    let plan = cached_plan(h, w, hash_size, hash_size + 1)?;
    let nb = code_bytes(hash_size);
    let mut out = vec![0u8; n * nb];
    out.par_chunks_mut(nb).zip(data.par_chunks(h * w * 3)).for_each_init(
        || (vec![0u8; h * w], vec![0u8; hash_size * (hash_size + 1)], Vec::new()),
        |(grey, small, scratch), (code, img)| {
            for (g, px) in grey.iter_mut().zip(img.chunks_exact(3)) {
                *g = luma(px[0], px[1], px[2]);
            }
            plan.run(grey, small, scratch);
            pack_bits(small, hash_size, code);
        },
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_image_hashes_to_zero() {
        let img = vec![77u8; 50 * 60];
        assert_eq!(dhash_gray(&img, 1, 50, 60, 8).unwrap(), vec![0u8; 8]);
    }

    #[test]
    fn increasing_ramp_sets_every_bit() {
        // Already 8x9: no resize, every pixel brighter than its left neighbour.
        let img: Vec<u8> = (0..8).flat_map(|_| (0..9).map(|c| (c * 20) as u8)).collect();
        assert_eq!(dhash_gray(&img, 1, 8, 9, 8).unwrap(), vec![0xFFu8; 8]);
        // hash_size 3: 9 bits, packed into 2 bytes, padding zero.
        let img3: Vec<u8> = (0..3).flat_map(|_| (0..4).map(|c| (c * 50) as u8)).collect();
        assert_eq!(dhash_gray(&img3, 1, 3, 4, 3).unwrap(), vec![0xFF, 0x80]);
    }

    #[test]
    fn rejects_small_hash_and_bad_buffers() {
        assert!(dhash_gray(&[0u8; 16], 1, 4, 4, 1).is_err());
        assert!(dhash_gray(&[0u8; 15], 1, 4, 4, 8).is_err());
        assert!(dhash_gray(&[], 0, 4, 4, 8).is_err());
        assert!(dhash_rgb(&[0u8; 16], 1, 4, 4, 8).is_err());
    }

    #[test]
    fn grey_rgb_agrees_with_grey() {
        let grey: Vec<u8> = (0..40 * 30).map(|i| ((i * 7919) % 251) as u8).collect();
        let rgb: Vec<u8> = grey.iter().flat_map(|&g| [g, g, g]).collect();
        assert_eq!(dhash_gray(&grey, 1, 40, 30, 8).unwrap(), dhash_rgb(&rgb, 1, 40, 30, 8).unwrap());
    }
}

//! Packed scanpaths: one offsets array plus x, y and duration columns.
//!
//! Scanpath `i` owns rows `offsets[i]..offsets[i + 1]` of every column. This is the layout of
//! `mcgip_fast.GazeArchive`, so an archive crosses into Rust as borrowed slices, without copies.

use crate::error::Result;
use crate::invalid;

/// One scanpath: borrowed columns of equal length.
#[derive(Debug, Clone, Copy)]
pub struct Scanpath<'a> {
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub duration: &'a [f64],
}

impl<'a> Scanpath<'a> {
    pub fn new(x: &'a [f64], y: &'a [f64], duration: &'a [f64]) -> Result<Self> {
        if x.len() != y.len() || x.len() != duration.len() {
            return invalid!(
                "scanpath columns differ in length: x {}, y {}, duration {}",
                x.len(),
                y.len(),
                duration.len()
            );
        }
        Ok(Scanpath { x, y, duration })
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// Many scanpaths packed into shared columns.
#[derive(Debug, Clone, Copy)]
pub struct PackedScanpaths<'a> {
    offsets: &'a [i64],
    x: &'a [f64],
    y: &'a [f64],
    duration: &'a [f64],
}

impl<'a> PackedScanpaths<'a> {
    /// Check the layout once, so that `get` can slice without further checks.
    pub fn new(offsets: &'a [i64], x: &'a [f64], y: &'a [f64], duration: &'a [f64]) -> Result<Self> {
        if offsets.is_empty() {
            return invalid!("offsets must hold at least one entry (0)");
        }
        if offsets[0] != 0 {
            return invalid!("offsets must start at 0, got {}", offsets[0]);
        }
        if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return invalid!("offsets decrease at scanpath {i}: {} then {}", offsets[i], offsets[i + 1]);
        }
        let total = *offsets.last().unwrap() as usize;
        if x.len() != total || y.len() != total || duration.len() != total {
            return invalid!(
                "offsets end at {total} but columns hold x {}, y {}, duration {}",
                x.len(),
                y.len(),
                duration.len()
            );
        }
        Ok(PackedScanpaths { offsets, x, y, duration })
    }

    /// Number of scanpaths.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Scanpath `i`; panics if `i >= len()` (callers check indices first).
    pub fn get(&self, i: usize) -> Scanpath<'a> {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        Scanpath { x: &self.x[a..b], y: &self.y[a..b], duration: &self.duration[a..b] }
    }

    /// Check that every index is in range, naming the first bad one.
    pub fn check_index(&self, i: i64) -> Result<usize> {
        if i < 0 || i as usize >= self.len() {
            return invalid!("scanpath index {i} is out of range for an archive of {}", self.len());
        }
        Ok(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_by_offsets() {
        let offsets = [0i64, 2, 2, 5];
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let p = PackedScanpaths::new(&offsets, &x, &x, &x).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.get(0).x, &[0.0, 1.0]);
        assert!(p.get(1).is_empty());
        assert_eq!(p.get(2).duration, &[2.0, 3.0, 4.0]);
    }

    #[test]
    fn rejects_bad_layouts() {
        let x = [0.0; 3];
        assert!(PackedScanpaths::new(&[], &x, &x, &x).is_err());
        assert!(PackedScanpaths::new(&[1, 3], &x, &x, &x).is_err());
        assert!(PackedScanpaths::new(&[0, 2, 1], &x, &x, &x).is_err());
        assert!(PackedScanpaths::new(&[0, 4], &x, &x, &x).is_err());
        let p = PackedScanpaths::new(&[0, 3], &x, &x, &x).unwrap();
        assert!(p.check_index(1).is_err());
        assert!(p.check_index(-1).is_err());
        assert_eq!(p.check_index(0).unwrap(), 0);
    }
}

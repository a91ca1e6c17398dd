//! Run work on a rayon pool of a chosen size.

use crate::error::{McgipError, Result};

/// Run `f` inside a rayon pool with `threads` workers (None or 0: rayon's global pool, all cores).
///
/// Results never depend on the thread count: kernels split work into fixed chunks and write
/// each result to its own slot.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None | Some(0) => Ok(f()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| McgipError::Runtime(format!("cannot build a pool of {n} threads: {e}")))?;
            Ok(pool.install(f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn pool_size_is_respected() {
        let n = with_threads(Some(3), rayon::current_num_threads).unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn result_independent_of_threads() {
        let work = || (0..10_000u64).into_par_iter().map(|i| i * i).sum::<u64>();
        assert_eq!(with_threads(Some(1), work).unwrap(), with_threads(Some(2), work).unwrap());
    }
}

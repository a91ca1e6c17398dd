//! Run work on a rayon pool of a chosen size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{McgipError, Result};

/// Pools are built once per size and reused: building one costs far more than a small kernel call.
fn pool(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| McgipError::Runtime(format!("cannot build a pool of {n} threads: {e}")))?,
    );
    pools.insert(n, p.clone());
    Ok(p)
}

/// Run `f` inside a rayon pool with `threads` workers (None or 0: rayon's global pool, all cores).
///
/// Results never depend on the thread count: kernels split work into fixed chunks and write
/// each result to its own slot.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None | Some(0) => Ok(f()),
        Some(n) => Ok(pool(n)?.install(f)),
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
    fn pools_are_reused() {
        assert!(Arc::ptr_eq(&pool(5).unwrap(), &pool(5).unwrap()));
    }

    #[test]
    fn result_independent_of_threads() {
        let work = || (0..10_000u64).into_par_iter().map(|i| i * i).sum::<u64>();
        assert_eq!(with_threads(Some(1), work).unwrap(), with_threads(Some(2), work).unwrap());
    }
}

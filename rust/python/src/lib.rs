//! `mcgip_fast._core`: thin PyO3 bindings over `mcgip-core`.
//!
//! Each family registers its own functions; this file only lists the families.

use pyo3::prelude::*;

mod args;
mod errors;
mod hashing;
mod heatmap;
mod mining;
mod multimatch;

/// Threads rayon uses when a call passes `threads=None`.
#[pyfunction]
fn default_threads() -> usize {
    rayon::current_num_threads()
}

/// Raise a panic inside a rayon worker: lets the tests check that panics become exceptions.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    errors::detach(py, Some(2), || {
        use rayon::prelude::*;
        (0..4).into_par_iter().for_each(|i| if i == 3 { panic!("deliberate test panic") });
        Ok(())
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(default_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    heatmap::register(m)?;
    multimatch::register(m)?;
    hashing::register(m)?;
    mining::register(m)?;
    Ok(())
}

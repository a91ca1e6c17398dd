//! Map the core's one error enum to Python exceptions, and contain panics.

use std::panic::{catch_unwind, AssertUnwindSafe};

use mcgip_core::McgipError;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pub fn to_pyerr(e: McgipError) -> PyErr {
    match e {
        McgipError::InvalidInput(msg) => PyValueError::new_err(msg),
        McgipError::Runtime(msg) => PyRuntimeError::new_err(msg),
    }
}

/// Run heavy work with the GIL released, on a pool of `threads` (None: all cores).
///
/// A panic in the kernel (or in any rayon worker, which rayon re-raises here) becomes a
/// `RuntimeError` instead of unwinding into the interpreter.
pub fn detach<T, F>(py: Python<'_>, threads: Option<usize>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> mcgip_core::Result<T> + Send,
{
    let out = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| mcgip_core::parallel::with_threads(threads, f)))
    });
    match out {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) | Ok(Err(e)) => Err(to_pyerr(e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(PyRuntimeError::new_err(format!("internal error in mcgip_fast._core (please report): {msg}")))
        }
    }
}

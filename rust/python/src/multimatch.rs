//! Bindings for the multimatch family: one pair, explicit pairs, one-vs-many, small all-pairs matrix.
//!
//! The Python wrappers (`mcgip_fast.similarity.multimatch`) validate shapes and make every array
//! contiguous float64 / int64 first; here we only borrow, release the GIL and run the kernels.

use mcgip_core::multimatch;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::args::{slice, ColumnsArg, MultiMatchArgs, PackedArg};
use crate::errors::detach;

/// Five MultiMatch similarities of one pair of scanpaths, each given as its columns (x, y, duration).
#[pyfunction]
#[pyo3(signature = (a, b, params))]
fn multimatch_pair<'py>(
    py: Python<'py>,
    a: ColumnsArg<'py>,
    b: ColumnsArg<'py>,
    params: MultiMatchArgs,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = params.params()?;
    let (a, b) = (a.view("a")?, b.view("b")?);
    // One pair is microseconds: releasing the GIL still lets other Python threads run meanwhile.
    let r = detach(py, None, || Ok(multimatch::multimatch(&a, &b, &p)))?;
    Ok(r.to_vec().into_pyarray(py))
}

/// Scores of explicit (P, 2) index pairs into a packed archive: (P, 5).
#[pyfunction]
#[pyo3(signature = (archive, pairs, params, threads=None))]
fn multimatch_pairs_packed<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
    pairs: PyReadonlyArray2<'py, i64>,
    params: MultiMatchArgs,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let p = params.params()?;
    let arch = archive.view()?;
    let shape = pairs.shape();
    if shape[1] != 2 {
        return Err(PyValueError::new_err(format!("pairs must have shape (P, 2), got ({}, {})", shape[0], shape[1])));
    }
    let n_pairs = shape[0];
    let flat = slice(&pairs, "pairs")?;
    let out = detach(py, threads, || multimatch::pairs(&arch, flat, &p))?;
    out.into_pyarray(py).reshape([n_pairs, 5])
}

/// Scores of scanpath `i` against every scanpath of a packed archive: (N, 5).
#[pyfunction]
#[pyo3(signature = (archive, i, params, threads=None))]
fn multimatch_one_vs_many_packed<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
    i: i64,
    params: MultiMatchArgs,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let p = params.params()?;
    let arch = archive.view()?;
    let n = arch.len();
    let out = detach(py, threads, || multimatch::one_vs_many(&arch, i, &p))?;
    out.into_pyarray(py).reshape([n, 5])
}

/// All pairs of a small packed archive: (N, N, 5), each unordered pair computed once.
#[pyfunction]
#[pyo3(signature = (archive, params, threads=None))]
fn multimatch_matrix_packed<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
    params: MultiMatchArgs,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let p = params.params()?;
    let arch = archive.view()?;
    let n = arch.len();
    let out = detach(py, threads, || multimatch::matrix(&arch, &p))?;
    out.into_pyarray(py).reshape([n, n, 5])
}

/// Largest N `multimatch_matrix_packed` accepts.
#[pyfunction]
fn multimatch_matrix_max_n() -> usize {
    multimatch::MATRIX_MAX_N
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(multimatch_pair, m)?)?;
    m.add_function(wrap_pyfunction!(multimatch_pairs_packed, m)?)?;
    m.add_function(wrap_pyfunction!(multimatch_one_vs_many_packed, m)?)?;
    m.add_function(wrap_pyfunction!(multimatch_matrix_packed, m)?)?;
    m.add_function(wrap_pyfunction!(multimatch_matrix_max_n, m)?)?;
    Ok(())
}

//! Bindings for the multimatch family: one pair, explicit pairs, one-vs-many, small all-pairs matrix.
//!
//! The Python wrappers (`mcgip_fast.similarity.multimatch`) validate shapes and make every array
//! contiguous float64 / int64 first; here we only borrow, release the GIL and run the kernels.

use mcgip_core::multimatch::{self, MultiMatchParams};
use mcgip_core::scanpath::{PackedScanpaths, Scanpath};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{detach, to_pyerr};

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous 1-D array")))
}

/// Name the first non-finite value: the kernel would only answer NaN x 5.
fn check_finite(s: &Scanpath, name: &str) -> PyResult<()> {
    for (label, col) in [("x", s.x), ("y", s.y), ("duration", s.duration)] {
        if let Some(k) = col.iter().position(|v| !v.is_finite()) {
            let count = col.iter().filter(|v| !v.is_finite()).count();
            return Err(PyValueError::new_err(format!(
                "{name}: {label} is not finite at fixation {k} ({}); {count} such values",
                col[k]
            )));
        }
    }
    Ok(())
}

fn params(screen: (f64, f64), grouping: bool, tdir: f64, tdur: f64, tamp: f64) -> PyResult<MultiMatchParams> {
    let p = MultiMatchParams { screen, grouping, tdir, tdur, tamp };
    p.validate().map_err(to_pyerr)?;
    Ok(p)
}

/// Five MultiMatch similarities of one pair of scanpaths given as columns.
#[pyfunction]
#[pyo3(signature = (ax, ay, ad, bx, by, bd, screen, grouping, tdir, tdur, tamp))]
#[allow(clippy::too_many_arguments)]
fn multimatch_pair<'py>(
    py: Python<'py>,
    ax: PyReadonlyArray1<'py, f64>,
    ay: PyReadonlyArray1<'py, f64>,
    ad: PyReadonlyArray1<'py, f64>,
    bx: PyReadonlyArray1<'py, f64>,
    by: PyReadonlyArray1<'py, f64>,
    bd: PyReadonlyArray1<'py, f64>,
    screen: (f64, f64),
    grouping: bool,
    tdir: f64,
    tdur: f64,
    tamp: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = params(screen, grouping, tdir, tdur, tamp)?;
    let a = Scanpath::new(slice(&ax, "a.x")?, slice(&ay, "a.y")?, slice(&ad, "a.duration")?).map_err(to_pyerr)?;
    let b = Scanpath::new(slice(&bx, "b.x")?, slice(&by, "b.y")?, slice(&bd, "b.duration")?).map_err(to_pyerr)?;
    check_finite(&a, "a")?;
    check_finite(&b, "b")?;
    // One pair is microseconds: releasing the GIL still lets other Python threads run meanwhile.
    let r = detach(py, None, || Ok(multimatch::multimatch(&a, &b, &p)))?;
    Ok(r.to_vec().into_pyarray(py))
}

struct Packed<'py> {
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    d: PyReadonlyArray1<'py, f64>,
}

impl<'py> Packed<'py> {
    fn view(&self) -> PyResult<PackedScanpaths<'_>> {
        PackedScanpaths::new(
            slice(&self.offsets, "offsets")?,
            slice(&self.x, "x")?,
            slice(&self.y, "y")?,
            slice(&self.d, "duration")?,
        )
        .map_err(to_pyerr)
    }
}

/// Scores of explicit (P, 2) index pairs into a packed archive: (P, 5).
#[pyfunction]
#[pyo3(signature = (offsets, x, y, duration, pairs, screen, grouping, tdir, tdur, tamp, threads=None))]
#[allow(clippy::too_many_arguments)]
fn multimatch_pairs_packed<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    duration: PyReadonlyArray1<'py, f64>,
    pairs: PyReadonlyArray2<'py, i64>,
    screen: (f64, f64),
    grouping: bool,
    tdir: f64,
    tdur: f64,
    tamp: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let p = params(screen, grouping, tdir, tdur, tamp)?;
    let packed = Packed { offsets, x, y, d: duration };
    let arch = packed.view()?;
    let shape = pairs.shape();
    if shape[1] != 2 {
        return Err(PyValueError::new_err(format!("pairs must have shape (P, 2), got ({}, {})", shape[0], shape[1])));
    }
    let n_pairs = shape[0];
    let flat = pairs.as_slice().map_err(|_| PyValueError::new_err("pairs must be a C-contiguous (P, 2) array"))?;
    let out = detach(py, threads, || multimatch::pairs(&arch, flat, &p))?;
    out.into_pyarray(py).reshape([n_pairs, 5])
}

/// Scores of scanpath `i` against every scanpath of a packed archive: (N, 5).
#[pyfunction]
#[pyo3(signature = (offsets, x, y, duration, i, screen, grouping, tdir, tdur, tamp, threads=None))]
#[allow(clippy::too_many_arguments)]
fn multimatch_one_vs_many_packed<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    duration: PyReadonlyArray1<'py, f64>,
    i: i64,
    screen: (f64, f64),
    grouping: bool,
    tdir: f64,
    tdur: f64,
    tamp: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let p = params(screen, grouping, tdir, tdur, tamp)?;
    let packed = Packed { offsets, x, y, d: duration };
    let arch = packed.view()?;
    let n = arch.len();
    let out = detach(py, threads, || multimatch::one_vs_many(&arch, i, &p))?;
    out.into_pyarray(py).reshape([n, 5])
}

/// All pairs of a small packed archive: (N, N, 5), each unordered pair computed once.
#[pyfunction]
#[pyo3(signature = (offsets, x, y, duration, screen, grouping, tdir, tdur, tamp, threads=None))]
#[allow(clippy::too_many_arguments)]
fn multimatch_matrix_packed<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    duration: PyReadonlyArray1<'py, f64>,
    screen: (f64, f64),
    grouping: bool,
    tdir: f64,
    tdur: f64,
    tamp: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let p = params(screen, grouping, tdir, tdur, tamp)?;
    let packed = Packed { offsets, x, y, d: duration };
    let arch = packed.view()?;
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

//! Arguments and array checks the binding families share, so each is written once.

use mcgip_core::multimatch::MultiMatchParams;
use mcgip_core::scanpath::{PackedScanpaths, Scanpath};
use numpy::ndarray::Dimension;
use numpy::{Element, PyArray, PyArray1, PyArrayMethods, PyReadonlyArray, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// Sparse (i, j, distance) hits of the Hamming searches.
pub type Sparse<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<u32>>);

/// Borrow a numpy array's data; the Python wrappers make it C-contiguous first.
pub fn slice<'a, T: Element, D: Dimension>(a: &'a PyReadonlyArray<'_, T, D>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// `(a, b, c)` as Python writes a shape.
fn shape_str(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// Run `fill` on the buffer of a caller-provided `out` array after checking its shape and that it is writable.
pub fn fill_out<T: Element, D: Dimension, R>(
    out: &Bound<'_, PyArray<T, D>>,
    shape: &[usize],
    fill: impl FnOnce(&mut [T]) -> PyResult<R>,
) -> PyResult<R> {
    if out.shape() != shape {
        return Err(PyValueError::new_err(format!("out must have shape {}, got {:?}", shape_str(shape), out.shape())));
    }
    let mut rw = out.try_readwrite().map_err(|e| PyValueError::new_err(format!("out is not writable: {e}")))?;
    let buf = rw.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
    fill(buf)
}

/// A packed archive (`mcgip_core::scanpath::PackedScanpaths`): either the tuple
/// `GazeArchive.packed()` returns, or any object with `offsets`, `x`, `y`, `duration`
/// attributes (a `GazeArchive`, a mining state). int64 offsets, float64 columns, contiguous.
#[derive(FromPyObject)]
pub enum PackedArg<'py> {
    #[pyo3(annotation = "(offsets, x, y, duration)")]
    Tuple(PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>),
    #[pyo3(annotation = "GazeArchive")]
    Attributes {
        #[pyo3(attribute)]
        offsets: PyReadonlyArray1<'py, i64>,
        #[pyo3(attribute)]
        x: PyReadonlyArray1<'py, f64>,
        #[pyo3(attribute)]
        y: PyReadonlyArray1<'py, f64>,
        #[pyo3(attribute)]
        duration: PyReadonlyArray1<'py, f64>,
    },
}

impl PackedArg<'_> {
    /// Borrow the columns as the core's packed view (validates offsets against the columns).
    pub fn view(&self) -> PyResult<PackedScanpaths<'_>> {
        let (offsets, x, y, duration) = match self {
            PackedArg::Tuple(o, x, y, d) => (o, x, y, d),
            PackedArg::Attributes { offsets, x, y, duration } => (offsets, x, y, duration),
        };
        PackedScanpaths::new(slice(offsets, "offsets")?, slice(x, "x")?, slice(y, "y")?, slice(duration, "duration")?)
            .map_err(to_pyerr)
    }
}

/// One scanpath as the tuple of its columns `(x, y, duration)`, float64, contiguous.
#[derive(FromPyObject)]
pub struct ColumnsArg<'py>(PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>);

impl ColumnsArg<'_> {
    /// Borrow as a core `Scanpath`; `name` labels errors ("a" / "b").
    pub fn view(&self, name: &str) -> PyResult<Scanpath<'_>> {
        let s = Scanpath::new(
            slice(&self.0, &format!("{name}.x"))?,
            slice(&self.1, &format!("{name}.y"))?,
            slice(&self.2, &format!("{name}.duration"))?,
        )
        .map_err(to_pyerr)?;
        check_finite(&s, name)?;
        Ok(s)
    }
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

/// MultiMatch parameters as the tuple `(screen, grouping, tdir, tdur, tamp)`.
#[derive(FromPyObject)]
pub struct MultiMatchArgs((f64, f64), bool, f64, f64, f64);

impl MultiMatchArgs {
    /// The core's parameters, validated (screen size, thresholds).
    pub fn params(&self) -> PyResult<MultiMatchParams> {
        let MultiMatchArgs(screen, grouping, tdir, tdur, tamp) = *self;
        let p = MultiMatchParams { screen, grouping, tdir, tdur, tamp };
        p.validate().map_err(to_pyerr)?;
        Ok(p)
    }
}

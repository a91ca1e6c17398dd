//! Bindings for the heatmap family: gaze maps and OpenCV's Gaussian kernel.

use mcgip_core::heatmap::{self, HeatmapSpec, Normalise, Outside, Weighting};
use mcgip_core::scanpath::PackedScanpaths;
use numpy::ndarray::Array3;
use numpy::{IntoPyArray, PyArray1, PyArray3, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{detach, to_pyerr};

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous 1-D array")))
}

fn parse<T: Copy>(what: &str, value: &str, options: &[(&str, T)]) -> PyResult<T> {
    options.iter().find(|(k, _)| *k == value).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        PyValueError::new_err(format!("{what} must be one of {names:?}, got {value:?}"))
    })
}

/// Render one map per scanpath; returns (maps (n, height, width) float32, fixations outside).
#[pyfunction]
#[pyo3(signature = (offsets, x, y, duration, height, width, ksize, sigma, weighting, normalise, outside, scale_x, scale_y, single_precision, threads=None, out=None))]
#[allow(clippy::too_many_arguments)]
fn render_heatmaps<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    duration: PyReadonlyArray1<'py, f64>,
    height: usize,
    width: usize,
    ksize: usize,
    sigma: f64,
    weighting: &str,
    normalise: &str,
    outside: &str,
    scale_x: f64,
    scale_y: f64,
    single_precision: bool,
    threads: Option<usize>,
    out: Option<Bound<'py, PyArray3<f32>>>,
) -> PyResult<(Bound<'py, PyArray3<f32>>, u64)> {
    let spec = HeatmapSpec {
        height,
        width,
        ksize,
        sigma,
        weighting: parse(
            "weight",
            weighting,
            &[("duration", Weighting::Duration), ("uniform", Weighting::Uniform), ("mark", Weighting::Mark)],
        )?,
        normalise: parse("normalise", normalise, &[("max", Normalise::Max), ("sum", Normalise::Sum), ("none", Normalise::None)])?,
        outside: parse("outside", outside, &[("skip", Outside::Skip), ("clamp", Outside::Clamp)])?,
        scale_x,
        scale_y,
        single_precision,
    };
    let (o, xs, ys, ds) = (slice(&offsets, "offsets")?, slice(&x, "x")?, slice(&y, "y")?, slice(&duration, "duration")?);
    let packed = PackedScanpaths::new(o, xs, ys, ds).map_err(to_pyerr)?;
    let n = packed.len();
    if let Some(arr) = out {
        if arr.shape() != [n, height, width] {
            return Err(PyValueError::new_err(format!("out must have shape ({n}, {height}, {width}), got {:?}", arr.shape())));
        }
        let outside = {
            let mut rw = arr.try_readwrite().map_err(|e| PyValueError::new_err(format!("out is not writable: {e}")))?;
            let buf = rw.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
            detach(py, threads, || heatmap::render_heatmaps_into(&packed, &spec, buf))?
        };
        return Ok((arr, outside));
    }
    let (maps, outside) = detach(py, threads, || heatmap::render_heatmaps(&packed, &spec))?;
    let arr = Array3::from_shape_vec((n, height, width), maps)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("internal shape error: {e}")))?;
    Ok((arr.into_pyarray(py), outside))
}

/// `cv2.getGaussianKernel(ksize, sigma, CV_64F)` as a 1-D float64 array.
#[pyfunction]
fn gaussian_kernel<'py>(py: Python<'py>, ksize: usize, sigma: f64) -> PyResult<Bound<'py, PyArray1<f64>>> {
    Ok(heatmap::gaussian_kernel(ksize, sigma).map_err(to_pyerr)?.into_pyarray(py))
}

/// The kernel size OpenCV picks for `ksize=(0, 0)` on a float image: `cvRound(8 sigma + 1) | 1`.
#[pyfunction]
fn auto_ksize(sigma: f64) -> PyResult<usize> {
    heatmap::auto_ksize(sigma).map_err(to_pyerr)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(render_heatmaps, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(auto_ksize, m)?)?;
    Ok(())
}

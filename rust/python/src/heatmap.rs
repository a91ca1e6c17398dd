//! Bindings for the heatmap family: gaze maps and OpenCV's Gaussian kernel.

use mcgip_core::heatmap::{self, HeatmapSpec, Normalise, Outside, Weighting};
use numpy::{IntoPyArray, PyArray1, PyArray3, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::args::{fill_out, PackedArg};
use crate::errors::{detach, to_pyerr};

fn parse<T: Copy>(what: &str, value: &str, options: &[(&str, T)]) -> PyResult<T> {
    options.iter().find(|(k, _)| *k == value).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        PyValueError::new_err(format!("{what} must be one of {names:?}, got {value:?}"))
    })
}

/// Render one map per scanpath; returns (maps (n, height, width) float32, fixations outside).
#[pyfunction]
#[pyo3(signature = (archive, height, width, ksize, sigma, weighting, normalise, outside, scale_x, scale_y, single_precision, threads=None, out=None))]
#[allow(clippy::too_many_arguments)]
fn render_heatmaps<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
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
    let packed = archive.view()?;
    let n = packed.len();
    if let Some(arr) = out {
        let outside = fill_out(&arr, &[n, height, width], |buf| {
            detach(py, threads, || heatmap::render_heatmaps_into(&packed, &spec, buf))
        })?;
        return Ok((arr, outside));
    }
    let (maps, outside) = detach(py, threads, || heatmap::render_heatmaps(&packed, &spec))?;
    Ok((maps.into_pyarray(py).reshape([n, height, width])?, outside))
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

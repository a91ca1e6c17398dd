//! Bindings for the hashing family: moments, Hu, matchShapes, LANCZOS, dHash, Hamming.
//!
//! Every function takes C-contiguous arrays of the exact dtype (the Python wrappers in
//! `mcgip_fast.similarity` convert and validate first) and borrows them without copying.

use mcgip_core::dhash;
use mcgip_core::hamming::{self, PackedCodes};
use mcgip_core::moments::{self, Hu, MatchMethod, Normalise, Pixel};
use mcgip_core::resample;
use numpy::{Element, IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArray4, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::detach;

type TopK<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<u32>>);
type Sparse<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<u32>>);

fn slice<'a, T: Element, D: numpy::ndarray::Dimension>(a: &'a numpy::PyReadonlyArray<'_, T, D>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

fn raw_generic<'py, T: Pixel + Element>(py: Python<'py>, maps: &Bound<'py, PyAny>, norm: Normalise, threads: Option<usize>) -> PyResult<Vec<moments::RawMoments>> {
    let arr: PyReadonlyArray3<T> = maps.extract()?;
    let (n, h, w) = (arr.shape()[0], arr.shape()[1], arr.shape()[2]);
    let data = slice(&arr, "maps")?;
    // One map runs on the calling thread: building a pool would cost more than the map.
    let threads = if n == 1 { None } else { threads };
    detach(py, threads, || moments::raw_moments_batch(data, n, h, w, norm))
}

/// Raw moments of (N, H, W) maps (uint8, float32 or float64), OpenCV order m00..m03: (N, 10) float64.
fn raw_any<'py>(py: Python<'py>, maps: &Bound<'py, PyAny>, normalise: &str, threads: Option<usize>) -> PyResult<Vec<moments::RawMoments>> {
    let norm = Normalise::parse(normalise).map_err(crate::errors::to_pyerr)?;
    let dtype = maps.getattr("dtype")?.str()?.to_string();
    match dtype.as_str() {
        "uint8" => raw_generic::<u8>(py, maps, norm, threads),
        "float32" => raw_generic::<f32>(py, maps, norm, threads),
        "float64" => raw_generic::<f64>(py, maps, norm, threads),
        other => Err(PyValueError::new_err(format!("maps must be uint8, float32 or float64, got {other}"))),
    }
}

fn rows_to_2d<'py, const K: usize>(py: Python<'py>, rows: Vec<[f64; K]>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let n = rows.len();
    let flat: Vec<f64> = rows.into_iter().flatten().collect();
    flat.into_pyarray(py).reshape([n, K])
}

#[pyfunction]
#[pyo3(signature = (maps, normalise = "none", threads = None))]
fn raw_moments<'py>(py: Python<'py>, maps: &Bound<'py, PyAny>, normalise: &str, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let rows = raw_any(py, maps, normalise, threads)?;
    rows_to_2d(py, rows)
}

#[pyfunction]
#[pyo3(signature = (maps, normalise = "none", threads = None))]
fn hu_moments<'py>(py: Python<'py>, maps: &Bound<'py, PyAny>, normalise: &str, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let rows = raw_any(py, maps, normalise, threads)?;
    rows_to_2d(py, rows.iter().map(moments::hu_from_raw).collect())
}

fn hu_rows(a: &PyReadonlyArray2<f64>, name: &str) -> PyResult<Vec<Hu>> {
    if a.shape()[1] != 7 {
        return Err(PyValueError::new_err(format!("{name} must have 7 columns (Hu invariants), got {}", a.shape()[1])));
    }
    Ok(slice(a, name)?.chunks_exact(7).map(|c| c.try_into().unwrap()).collect())
}

#[pyfunction]
#[pyo3(signature = (hu_a, hu_b, method = "I1", threads = None, out = None))]
fn match_shapes<'py>(
    py: Python<'py>,
    hu_a: PyReadonlyArray2<f64>,
    hu_b: PyReadonlyArray2<f64>,
    method: &str,
    threads: Option<usize>,
    out: Option<Bound<'py, PyArray2<f64>>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let method = MatchMethod::parse(method).map_err(crate::errors::to_pyerr)?;
    let (a, b) = (hu_rows(&hu_a, "hu_a")?, hu_rows(&hu_b, "hu_b")?);
    let (n, m) = (a.len(), b.len());
    if let Some(out) = out {
        if out.shape() != [n, m] {
            return Err(PyValueError::new_err(format!("out must have shape ({n}, {m}), got {:?}", out.shape())));
        }
        {
            let mut rw = out.try_readwrite().map_err(|e| PyValueError::new_err(format!("out is not writable: {e}")))?;
            let buf = rw.as_slice_mut().map_err(|_| PyValueError::new_err("out must be C-contiguous"))?;
            detach(py, threads, || moments::match_shapes_into(&a, &b, method, buf))?;
        }
        return Ok(out);
    }
    let res = detach(py, threads, || moments::match_shapes_matrix(&a, &b, method))?;
    res.into_pyarray(py).reshape([n, m])
}

#[pyfunction]
#[pyo3(signature = (features_a, features_b, w = 0.5, threads = None))]
fn mcgip_hu_similarity<'py>(py: Python<'py>, features_a: PyReadonlyArray2<f64>, features_b: PyReadonlyArray2<f64>, w: f64, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let rows = |a: &PyReadonlyArray2<f64>, name: &str| -> PyResult<Vec<[f64; 2]>> {
        if a.shape()[1] != 2 {
            return Err(PyValueError::new_err(format!("{name} must have 2 columns (M00, Hu1), got {}", a.shape()[1])));
        }
        Ok(slice(a, name)?.chunks_exact(2).map(|c| [c[0], c[1]]).collect())
    };
    let (a, b) = (rows(&features_a, "features_a")?, rows(&features_b, "features_b")?);
    let (n, m) = (a.len(), b.len());
    let out = detach(py, threads, || moments::mcgip_hu_similarity_matrix(&a, &b, w))?;
    out.into_pyarray(py).reshape([n, m])
}

#[pyfunction]
#[pyo3(signature = (hu_a, hu_b, ia, ib, method = "I1", threads = None))]
fn match_shapes_pairs<'py>(
    py: Python<'py>,
    hu_a: PyReadonlyArray2<f64>,
    hu_b: PyReadonlyArray2<f64>,
    ia: numpy::PyReadonlyArray1<i64>,
    ib: numpy::PyReadonlyArray1<i64>,
    method: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let method = MatchMethod::parse(method).map_err(crate::errors::to_pyerr)?;
    let (a, b) = (hu_rows(&hu_a, "hu_a")?, hu_rows(&hu_b, "hu_b")?);
    let (ia, ib) = (slice(&ia, "ia")?, slice(&ib, "ib")?);
    let out = detach(py, threads, || moments::match_shapes_pairs(&a, &b, ia, ib, method))?;
    Ok(out.into_pyarray(py))
}

#[pyfunction]
fn hu_log_features<'py>(py: Python<'py>, hu: PyReadonlyArray2<f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let rows = hu_rows(&hu, "hu")?;
    rows_to_2d(py, moments::hu_log_features(&rows))
}

#[pyfunction]
fn lanczos_resize<'py>(py: Python<'py>, image: PyReadonlyArray2<u8>, out_h: usize, out_w: usize) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let (h, w) = (image.shape()[0], image.shape()[1]);
    let data = slice(&image, "image")?;
    let out = detach(py, Some(1), || resample::resize_lanczos(data, h, w, out_h, out_w))?;
    out.into_pyarray(py).reshape([out_h, out_w])
}

#[pyfunction]
#[pyo3(signature = (images, hash_size = 8, threads = None))]
fn dhash_gray<'py>(py: Python<'py>, images: PyReadonlyArray3<u8>, hash_size: usize, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let (n, h, w) = (images.shape()[0], images.shape()[1], images.shape()[2]);
    let data = slice(&images, "images")?;
    let threads = if n == 1 { None } else { threads };
    let out = detach(py, threads, || dhash::dhash_gray(data, n, h, w, hash_size))?;
    out.into_pyarray(py).reshape([n, dhash::code_bytes(hash_size)])
}

#[pyfunction]
#[pyo3(signature = (images, hash_size = 8, threads = None))]
fn dhash_rgb<'py>(py: Python<'py>, images: PyReadonlyArray4<u8>, hash_size: usize, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let s = images.shape();
    if s[3] != 3 {
        return Err(PyValueError::new_err(format!("RGB images must have 3 channels last, got {}", s[3])));
    }
    let (n, h, w) = (s[0], s[1], s[2]);
    let data = slice(&images, "images")?;
    let out = detach(py, threads, || dhash::dhash_rgb(data, n, h, w, hash_size))?;
    out.into_pyarray(py).reshape([n, dhash::code_bytes(hash_size)])
}

fn packed(a: &PyReadonlyArray2<u8>, name: &str) -> PyResult<PackedCodes> {
    PackedCodes::new(slice(a, name)?, a.shape()[1]).map_err(crate::errors::to_pyerr)
}

#[pyfunction]
#[pyo3(signature = (codes_a, codes_b, threads = None))]
fn hamming_matrix<'py>(py: Python<'py>, codes_a: PyReadonlyArray2<u8>, codes_b: PyReadonlyArray2<u8>, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let (n, m) = (codes_a.shape()[0], codes_b.shape()[0]);
    let (a, b) = (slice(&codes_a, "codes_a")?, slice(&codes_b, "codes_b")?);
    let nb = codes_a.shape()[1];
    if codes_b.shape()[1] != nb {
        return Err(PyValueError::new_err(format!("codes differ in width: {} vs {} bytes", nb, codes_b.shape()[1])));
    }
    let out = detach(py, threads, || hamming::hamming_matrix(a, b, nb))?;
    out.into_pyarray(py).reshape([n, m])
}

#[pyfunction]
#[pyo3(signature = (codes_a, codes_b, threads = None))]
fn bit_cosine<'py>(py: Python<'py>, codes_a: PyReadonlyArray2<u8>, codes_b: PyReadonlyArray2<u8>, threads: Option<usize>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (n, m) = (codes_a.shape()[0], codes_b.shape()[0]);
    let (a, b) = (slice(&codes_a, "codes_a")?, slice(&codes_b, "codes_b")?);
    let nb = codes_a.shape()[1];
    if codes_b.shape()[1] != nb {
        return Err(PyValueError::new_err(format!("codes differ in width: {} vs {} bytes", nb, codes_b.shape()[1])));
    }
    let out = detach(py, threads, || hamming::bit_cosine_matrix(a, b, nb))?;
    out.into_pyarray(py).reshape([n, m])
}

#[pyfunction]
#[pyo3(signature = (queries, base, k, self_offset = None, threads = None))]
fn hamming_topk<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<u8>,
    base: PyReadonlyArray2<u8>,
    k: usize,
    self_offset: Option<usize>,
    threads: Option<usize>,
) -> PyResult<TopK<'py>> {
    let (q, b) = (packed(&queries, "queries")?, packed(&base, "base")?);
    let n = q.n;
    let (idx, dist) = detach(py, threads, || hamming::hamming_topk_packed(&q, &b, k, self_offset))?;
    Ok((idx.into_pyarray(py).reshape([n, k])?, dist.into_pyarray(py).reshape([n, k])?))
}

#[pyfunction]
#[pyo3(signature = (queries, base, radius, self_offset = None, threads = None))]
fn hamming_within<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<u8>,
    base: PyReadonlyArray2<u8>,
    radius: u32,
    self_offset: Option<usize>,
    threads: Option<usize>,
) -> PyResult<Sparse<'py>> {
    let (q, b) = (packed(&queries, "queries")?, packed(&base, "base")?);
    let (i, j, d) = detach(py, threads, || hamming::hamming_within_packed(&q, &b, radius, self_offset))?;
    Ok((i.into_pyarray(py), j.into_pyarray(py), d.into_pyarray(py)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(raw_moments, m)?)?;
    m.add_function(wrap_pyfunction!(hu_moments, m)?)?;
    m.add_function(wrap_pyfunction!(match_shapes, m)?)?;
    m.add_function(wrap_pyfunction!(hu_log_features, m)?)?;
    m.add_function(wrap_pyfunction!(match_shapes_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(mcgip_hu_similarity, m)?)?;
    m.add_function(wrap_pyfunction!(lanczos_resize, m)?)?;
    m.add_function(wrap_pyfunction!(dhash_gray, m)?)?;
    m.add_function(wrap_pyfunction!(dhash_rgb, m)?)?;
    m.add_function(wrap_pyfunction!(hamming_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(bit_cosine, m)?)?;
    m.add_function(wrap_pyfunction!(hamming_topk, m)?)?;
    m.add_function(wrap_pyfunction!(hamming_within, m)?)?;
    Ok(())
}

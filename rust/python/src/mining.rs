//! Bindings for the mining family: tiled all-pairs MultiMatch and the top-k merge.

use mcgip_core::multimatch::{self, MultiMatchParams};
use mcgip_core::scanpath::PackedScanpaths;
use mcgip_core::tiles::{self, Select, TileEdges};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{detach, to_pyerr};

type Edges<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous 1-D array")))
}

fn edges_to_py(py: Python<'_>, e: TileEdges) -> Edges<'_> {
    (e.row.into_pyarray(py), e.col.into_pyarray(py), e.score.into_pyarray(py))
}

fn select(k: Option<usize>, threshold: Option<f64>) -> PyResult<Select> {
    match (k, threshold) {
        (Some(k), None) => Ok(Select::TopK(k)),
        (None, Some(t)) => Ok(Select::Above(t)),
        _ => Err(PyValueError::new_err("pass exactly one of k and threshold")),
    }
}

fn weights_of(w: Vec<f64>) -> PyResult<[f64; 5]> {
    let w: [f64; 5] = w.try_into().map_err(|_| PyValueError::new_err("weights must hold 5 numbers"))?;
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(PyValueError::new_err(format!("weights must be finite and non-negative, got {w:?}")));
    }
    Ok(w)
}

/// The weighted MultiMatch score McGIP thresholds: `sum(w[d] * dims[d])` (NaN if any dim is NaN).
fn weighted(dims: [f64; 5], w: &[f64; 5]) -> f64 {
    dims.iter().zip(w).map(|(d, w)| d * w).sum()
}

/// One tile of all-pairs weighted MultiMatch: candidate edges (row, col, score) plus
/// (scored_pairs, nan_pairs). Pass `k` for top-k candidates or `threshold` for hits above it.
#[pyfunction]
#[pyo3(signature = (offsets, x, y, duration, active, row_start, row_end, screen, grouping, tdir, tdur, tamp, weights, k=None, threshold=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn mining_multimatch_tile<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    duration: PyReadonlyArray1<'py, f64>,
    active: PyReadonlyArray1<'py, bool>,
    row_start: usize,
    row_end: usize,
    screen: (f64, f64),
    grouping: bool,
    tdir: f64,
    tdur: f64,
    tamp: f64,
    weights: Vec<f64>,
    k: Option<usize>,
    threshold: Option<f64>,
    threads: Option<usize>,
) -> PyResult<(Edges<'py>, u64, u64)> {
    let sel = select(k, threshold)?;
    let w = weights_of(weights)?;
    let p = MultiMatchParams { screen, grouping, tdir, tdur, tamp };
    p.validate().map_err(to_pyerr)?;
    let (o, xs, ys, ds) = (slice(&offsets, "offsets")?, slice(&x, "x")?, slice(&y, "y")?, slice(&duration, "duration")?);
    let act = slice(&active, "active")?;
    let packed = PackedScanpaths::new(o, xs, ys, ds).map_err(to_pyerr)?;
    let n = packed.len();
    let e = detach(py, threads, || {
        let prepared = multimatch::prepare_all(&packed, &p);
        tiles::circulant_tile(n, row_start..row_end, act, sel, |a, b| {
            weighted(multimatch::multimatch_prepared(&prepared[a], &prepared[b], &p), &w)
        })
    })?;
    let (scored, nan) = (e.scored_pairs, e.nan_pairs);
    Ok((edges_to_py(py, e), scored, nan))
}

/// Weighted MultiMatch of explicit pairs (i[p], j[p]), scored as (min, max) like the tiles.
#[pyfunction]
#[pyo3(signature = (offsets, x, y, duration, i, j, screen, grouping, tdir, tdur, tamp, weights, threads=None))]
#[allow(clippy::too_many_arguments)]
fn mining_multimatch_pairs<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    duration: PyReadonlyArray1<'py, f64>,
    i: PyReadonlyArray1<'py, i64>,
    j: PyReadonlyArray1<'py, i64>,
    screen: (f64, f64),
    grouping: bool,
    tdir: f64,
    tdur: f64,
    tamp: f64,
    weights: Vec<f64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    use rayon::prelude::*;
    let w = weights_of(weights)?;
    let p = MultiMatchParams { screen, grouping, tdir, tdur, tamp };
    p.validate().map_err(to_pyerr)?;
    let (o, xs, ys, ds) = (slice(&offsets, "offsets")?, slice(&x, "x")?, slice(&y, "y")?, slice(&duration, "duration")?);
    let (is, js) = (slice(&i, "i")?, slice(&j, "j")?);
    if is.len() != js.len() {
        return Err(PyValueError::new_err(format!("i and j differ in length: {} and {}", is.len(), js.len())));
    }
    let packed = PackedScanpaths::new(o, xs, ys, ds).map_err(to_pyerr)?;
    let out = detach(py, threads, || {
        let idx: Vec<(usize, usize)> = is
            .iter()
            .zip(js)
            .map(|(&a, &b)| Ok((packed.check_index(a)?, packed.check_index(b)?)))
            .collect::<mcgip_core::Result<_>>()?;
        // Prepare only the scanpaths the pairs touch.
        let mut used: Vec<usize> = idx.iter().flat_map(|&(a, b)| [a, b]).collect();
        used.sort_unstable();
        used.dedup();
        let prepared: Vec<multimatch::Prepared> =
            used.par_iter().map(|&k| multimatch::prepare(&packed.get(k), &p)).collect();
        let slot = |k: usize| used.binary_search(&k).unwrap();
        Ok(idx
            .par_iter()
            .map(|&(a, b)| {
                let (lo, hi) = (a.min(b), a.max(b));
                weighted(multimatch::multimatch_prepared(&prepared[slot(lo)], &prepared[slot(hi)], &p), &w)
            })
            .collect::<Vec<f64>>())
    })?;
    Ok(out.into_pyarray(py))
}

/// Merge candidate edges into each row's top-k (best first, ties by smaller column).
#[pyfunction]
#[pyo3(signature = (n, k, row, col, score, threads=None))]
fn mining_merge_topk<'py>(
    py: Python<'py>,
    n: usize,
    k: usize,
    row: PyReadonlyArray1<'py, i64>,
    col: PyReadonlyArray1<'py, i64>,
    score: PyReadonlyArray1<'py, f64>,
    threads: Option<usize>,
) -> PyResult<Edges<'py>> {
    let (r, c, s) = (slice(&row, "row")?, slice(&col, "col")?, slice(&score, "score")?);
    let e = detach(py, threads, || tiles::merge_topk(n, k, r, c, s))?;
    Ok(edges_to_py(py, e))
}

/// Select from a dense (rows, n) block of scores starting at row `row_start` (self and inactive skipped).
#[pyfunction]
#[pyo3(signature = (block, row_start, active, k=None, threshold=None, upper_only=false, threads=None))]
#[allow(clippy::too_many_arguments)]
fn mining_select_block<'py>(
    py: Python<'py>,
    block: numpy::PyReadonlyArray2<'py, f64>,
    row_start: usize,
    active: PyReadonlyArray1<'py, bool>,
    k: Option<usize>,
    threshold: Option<f64>,
    upper_only: bool,
    threads: Option<usize>,
) -> PyResult<(Edges<'py>, u64, u64)> {
    let sel = select(k, threshold)?;
    let n = block.shape()[1];
    let b = block.as_slice().map_err(|_| PyValueError::new_err("block must be a C-contiguous 2-D array"))?;
    let act = slice(&active, "active")?;
    let e = detach(py, threads, || tiles::select_block(b, n, row_start, act, sel, upper_only))?;
    let (scored, nan) = (e.scored_pairs, e.nan_pairs);
    Ok((edges_to_py(py, e), scored, nan))
}

/// Exact Hamming top-k of rows row_start..row_end among all active codes (multi-index hashing):
/// (row, col, distance), each row sorted by (distance, col).
#[pyfunction]
#[pyo3(signature = (codes, row_start, row_end, k, active, threads=None))]
fn mining_hamming_topk<'py>(
    py: Python<'py>,
    codes: numpy::PyReadonlyArray2<'py, u8>,
    row_start: usize,
    row_end: usize,
    k: usize,
    active: PyReadonlyArray1<'py, bool>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<u32>>)> {
    let nb = codes.shape()[1];
    let c = codes.as_slice().map_err(|_| PyValueError::new_err("codes must be a C-contiguous (N, bytes) uint8 array"))?;
    let act = slice(&active, "active")?;
    let (r, cols, d) = detach(py, threads, || tiles::MultiIndex::new(c, nb)?.topk(row_start..row_end, k, act))?;
    Ok((r.into_pyarray(py), cols.into_pyarray(py), d.into_pyarray(py)))
}

/// Unordered pairs owned by rows row_start..row_end (a tile's work, for progress and ETA).
#[pyfunction]
fn mining_tile_pairs(n: usize, row_start: usize, row_end: usize) -> PyResult<u64> {
    if row_start > row_end || row_end > n {
        return Err(PyValueError::new_err(format!("rows {row_start}..{row_end} out of range for {n} items")));
    }
    Ok(tiles::circulant_pairs(n, row_start..row_end))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mining_multimatch_tile, m)?)?;
    m.add_function(wrap_pyfunction!(mining_multimatch_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(mining_merge_topk, m)?)?;
    m.add_function(wrap_pyfunction!(mining_tile_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(mining_select_block, m)?)?;
    m.add_function(wrap_pyfunction!(mining_hamming_topk, m)?)?;
    Ok(())
}

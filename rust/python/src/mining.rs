//! Bindings for the mining family: tiled all-pairs MultiMatch and the top-k merge.

use mcgip_core::multimatch;
use mcgip_core::tiles::{self, Select, TileEdges};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::args::{slice, MultiMatchArgs, PackedArg, Sparse};
use crate::errors::detach;

type Edges<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

fn edges_to_py(py: Python<'_>, e: TileEdges) -> Edges<'_> {
    (e.row.into_pyarray(py), e.col.into_pyarray(py), e.score.into_pyarray(py))
}

/// A tile's edges with its counts: ((row, col, score), scored_pairs, nan_pairs).
fn tile_to_py(py: Python<'_>, e: TileEdges) -> (Edges<'_>, u64, u64) {
    let (scored, nan) = (e.scored_pairs, e.nan_pairs);
    (edges_to_py(py, e), scored, nan)
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
#[pyo3(signature = (archive, active, row_start, row_end, params, weights, k=None, threshold=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn mining_multimatch_tile<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
    active: PyReadonlyArray1<'py, bool>,
    row_start: usize,
    row_end: usize,
    params: MultiMatchArgs,
    weights: Vec<f64>,
    k: Option<usize>,
    threshold: Option<f64>,
    threads: Option<usize>,
) -> PyResult<(Edges<'py>, u64, u64)> {
    let sel = select(k, threshold)?;
    let w = weights_of(weights)?;
    let p = params.params()?;
    let packed = archive.view()?;
    let act = slice(&active, "active")?;
    let n = packed.len();
    let e = detach(py, threads, || {
        let prepared = multimatch::prepare_all(&packed, &p);
        tiles::circulant_tile(n, row_start..row_end, act, sel, |a, b| {
            weighted(multimatch::multimatch_prepared(&prepared[a], &prepared[b], &p), &w)
        })
    })?;
    Ok(tile_to_py(py, e))
}

/// Weighted MultiMatch of explicit pairs (i[p], j[p]), scored as (min, max) like the tiles.
#[pyfunction]
#[pyo3(signature = (archive, i, j, params, weights, threads=None))]
fn mining_multimatch_pairs<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
    i: PyReadonlyArray1<'py, i64>,
    j: PyReadonlyArray1<'py, i64>,
    params: MultiMatchArgs,
    weights: Vec<f64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    use rayon::prelude::*;
    let w = weights_of(weights)?;
    let p = params.params()?;
    let packed = archive.view()?;
    let (is, js) = (slice(&i, "i")?, slice(&j, "j")?);
    if is.len() != js.len() {
        return Err(PyValueError::new_err(format!("i and j differ in length: {} and {}", is.len(), js.len())));
    }
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
    block: PyReadonlyArray2<'py, f64>,
    row_start: usize,
    active: PyReadonlyArray1<'py, bool>,
    k: Option<usize>,
    threshold: Option<f64>,
    upper_only: bool,
    threads: Option<usize>,
) -> PyResult<(Edges<'py>, u64, u64)> {
    let sel = select(k, threshold)?;
    let n = block.shape()[1];
    let b = slice(&block, "block")?;
    let act = slice(&active, "active")?;
    let e = detach(py, threads, || tiles::select_block(b, n, row_start, act, sel, upper_only))?;
    Ok(tile_to_py(py, e))
}

/// Exact Hamming top-k of rows row_start..row_end among all active codes (multi-index hashing):
/// (row, col, distance), each row sorted by (distance, col).
#[pyfunction]
#[pyo3(signature = (codes, row_start, row_end, k, active, threads=None))]
fn mining_hamming_topk<'py>(
    py: Python<'py>,
    codes: PyReadonlyArray2<'py, u8>,
    row_start: usize,
    row_end: usize,
    k: usize,
    active: PyReadonlyArray1<'py, bool>,
    threads: Option<usize>,
) -> PyResult<Sparse<'py>> {
    let nb = codes.shape()[1];
    let c = slice(&codes, "codes")?;
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

/// Scanpath embeddings for candidate search (`mcgip_core::embedding`): (N, width) float32.
#[pyfunction]
#[pyo3(signature = (archive, params, log_duration_range, threads=None))]
fn mining_scanpath_embedding<'py>(
    py: Python<'py>,
    archive: PackedArg<'py>,
    params: MultiMatchArgs,
    log_duration_range: (f64, f64),
    threads: Option<usize>,
) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
    use numpy::PyArrayMethods;
    let p = params.params()?;
    let packed = archive.view()?;
    let n = packed.len();
    let flat = detach(py, threads, || mcgip_core::embedding::embed(&packed, &p, log_duration_range))?;
    flat.into_pyarray(py).reshape([n, mcgip_core::embedding::width()])
}

/// (name, width) of each block of `mining_scanpath_embedding`, in column order.
#[pyfunction]
fn mining_embedding_blocks() -> Vec<(&'static str, usize)> {
    mcgip_core::embedding::BLOCKS.to_vec()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mining_scanpath_embedding, m)?)?;
    m.add_function(wrap_pyfunction!(mining_embedding_blocks, m)?)?;
    m.add_function(wrap_pyfunction!(mining_multimatch_tile, m)?)?;
    m.add_function(wrap_pyfunction!(mining_multimatch_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(mining_merge_topk, m)?)?;
    m.add_function(wrap_pyfunction!(mining_tile_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(mining_select_block, m)?)?;
    m.add_function(wrap_pyfunction!(mining_hamming_topk, m)?)?;
    Ok(())
}

//! mcgip-core: gaze similarity kernels in pure Rust.
//!
//! The rooms, in data-flow order:
//! - [`scanpath`]: the packed scanpath layout every kernel reads;
//! - [`heatmap`]: fixations to gaze maps;
//! - [`multimatch`]: MultiMatch scanpath similarity (parity with multimatch-gaze);
//! - [`moments`]: image moments, Hu invariants, matchShapes (parity with OpenCV);
//! - [`resample`] and [`dhash`]: Pillow-exact LANCZOS reduction and difference hashes (parity with imagehash);
//! - [`hamming`]: popcount distances, top-k and radius queries over binary codes;
//! - [`tiles`]: tiled all-pairs and top-k heaps shared by every measure;
//! - [`embedding`]: scanpath embeddings whose distances track MultiMatch (candidate search).
//!
//! No Python here: the bindings live in the `mcgip-python` crate.

pub mod error;
pub mod parallel;
pub mod scanpath;

pub mod heatmap;
pub mod multimatch;
pub mod moments;
pub mod resample;
pub mod dhash;
pub mod hamming;
pub mod tiles;
pub mod embedding;

pub use error::{McgipError, Result};

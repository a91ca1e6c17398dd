//! The one error type of the core. The bindings map each variant to a Python exception.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum McgipError {
    /// The caller passed something malformed (shape, dtype, value): Python `ValueError`.
    #[error("{0}")]
    InvalidInput(String),
    /// A resource limit or thread-pool failure: Python `RuntimeError`.
    #[error("{0}")]
    Runtime(String),
}

pub type Result<T> = std::result::Result<T, McgipError>;

/// Shorthand for `Err(McgipError::InvalidInput(format!(...)))`.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        Err($crate::error::McgipError::InvalidInput(format!($($arg)*)))
    };
}

//! The one error type of the core. Every public function returns `Result<T, LstmError>`;
//! the Node binding maps each variant to a stable string `code` through [`LstmError::code`].

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LstmError {
    /// A tensor has the wrong shape or length.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    ShapeMismatch { what: String, expected: String, got: String },

    /// A token id ≥ `inputDim`, a negative one, or a class label outside the output.
    #[error("index {index} out of range [0, {limit}) at {position}")]
    IndexOutOfRange { index: i64, limit: usize, position: String },

    /// NaN or Inf in inputs or targets, or a loss that became non-finite.
    #[error("non-finite value {value} in {what} at {position}")]
    NonFinite { what: String, value: f32, position: String },

    /// A bad layer, loss or optimizer configuration.
    #[error("invalid config: {0}")]
    InvalidConfig(String),

    /// A bad call argument (an empty dataset, a batch size of 0, a float tensor into an embedding...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A weights file that is truncated, malformed, or of another architecture.
    #[error("corrupt weights file {path}: {reason}")]
    CorruptWeights { path: String, reason: String },

    /// A missing file or folder, a directory where a file was expected, an unwritable path.
    #[error("I/O error on {path}: {message}")]
    Io { path: String, message: String },

    /// A buffer whose size the call decides (a batch's activations and workspaces, a copy of the data, a tensor
    /// read from a file) could not be allocated. Nothing was changed: a smaller call can follow.
    #[error("out of memory: cannot allocate {bytes} bytes for {what}")]
    OutOfMemory { bytes: u128, what: String },
}

impl LstmError {
    /// The stable code the binding exposes to JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            LstmError::ShapeMismatch { .. } => "SHAPE_MISMATCH",
            LstmError::IndexOutOfRange { .. } => "INDEX_OUT_OF_RANGE",
            LstmError::NonFinite { .. } => "NON_FINITE",
            LstmError::InvalidConfig(_) => "INVALID_CONFIG",
            LstmError::InvalidArgument(_) => "INVALID_ARGUMENT",
            LstmError::CorruptWeights { .. } => "CORRUPT_WEIGHTS",
            LstmError::Io { .. } => "IO",
            LstmError::OutOfMemory { .. } => "OUT_OF_MEMORY",
        }
    }

    pub(crate) fn shape(what: impl Into<String>, expected: impl std::fmt::Debug, got: impl std::fmt::Debug) -> Self {
        LstmError::ShapeMismatch { what: what.into(), expected: format!("{expected:?}"), got: format!("{got:?}") }
    }

    pub(crate) fn io(path: &std::path::Path, err: impl std::fmt::Display) -> Self {
        LstmError::Io { path: path.display().to_string(), message: err.to_string() }
    }

    pub(crate) fn corrupt(path: &std::path::Path, reason: impl Into<String>) -> Self {
        LstmError::CorruptWeights { path: path.display().to_string(), reason: reason.into() }
    }
}

pub type Result<T, E = LstmError> = std::result::Result<T, E>;

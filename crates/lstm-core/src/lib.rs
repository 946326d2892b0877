//! lstm-core: LSTM, Embedding, Dense, Dropout and global pooling layers with explicit forward and backward passes,
//! losses, optimizers and a sequential model over one flat parameter arena, multithreaded on SIMD sgemm.
//! Pure Rust: the Node binding lives in `lstm-node`.

pub mod config;
pub mod data;
pub mod error;
pub mod init;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod loss;
pub mod model;
pub mod optim;
pub mod rng;

pub use config::{Activation, Initializer, LayerConfig, LossConfig, LossKind, ModelConfig, OptimizerConfig, OptimizerKind};
pub use data::{Data, DataRef};
pub use error::{LstmError, Result};
pub use kernels::simd::{backend, Backend, SimdLevel};
pub use model::{ActShape, Model, ParamEntry, Stats};

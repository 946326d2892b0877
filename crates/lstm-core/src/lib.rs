//! lstm-core: LSTM, GRU, SimpleRNN, Conv1D, Embedding, Dense, Dropout, max and global pooling layers with explicit
//! forward and backward passes,
//! losses, optimizers and a sequential model over one flat parameter arena, multithreaded on SIMD sgemm.
//! Pure Rust: the Node binding lives in `lstm-node`.
//!
//! # Map
//! - [`config`]: the model, layer, loss and optimizer configurations (JSON, camelCase, documented defaults).
//! - [`layers`]: one file per layer kind, each with its `*_forward` / `*_backward` kernels and a type implementing
//!   [`layers::Layer`]; [`layers::build`] is the registry of kinds. The GRU and SimpleRNN are cells ([`layers::recurrent::Cell`])
//!   in the time loop of `layers/recurrent.rs`.
//! - [`model`]: [`Model`] orchestrates the arena, the layer sequence, masks, the loss and the optimizer; its
//!   submodules hold the plan (layers and arena layout), the data checks, the batch-1 low-rank and inline updates
//!   (`fused`), stateful inference and the batch loop.
//! - [`loss`], [`optim`]: losses with their gradients, and the optimizers as passes over the arena.
//! - [`kernels`]: GEMM (matrixmultiply, and packed AVX-512 kernels), small-batch kernels, activations and the cell.
//! - [`pool`]: the compute threads, shared by the process's models or dedicated to one.
//! - [`init`], [`rng`]: initializers, and the seeded and counter-based random streams (dropout masks).
//! - [`io`]: safetensors save and load; [`data`]: the caller's data and the gathered batch; [`error`]: typed errors;
//!   [`mem`]: fallible allocation of the buffers the caller sizes.
//! - [`reference`]: plain float64 forward/backward of every layer, loss and optimizer and a Sequential over them
//!   (one file per kind, as `layers`), which `tests/reference.rs` holds the fast paths against.

pub mod config;
pub mod data;
pub mod error;
pub mod init;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod loss;
pub mod mem;
pub mod model;
pub mod optim;
pub mod pool;
pub mod reference;
pub mod rng;

pub use config::{Activation, Initializer, LayerConfig, LossConfig, LossKind, ModelConfig, OptimizerConfig, OptimizerKind};
pub use data::{Data, DataRef};
pub use error::{LstmError, Result};
pub use kernels::simd::{backend, Backend, SimdLevel};
pub use model::{ActShape, Inference, Model, ParamEntry, Stats};
pub use pool::Threads;

//! Plain float64 implementations of every layer, loss and optimizer, written to be read and to hold the fast paths
//! against (`tests/reference.rs`), in the style of llm.c's reference kernels: one `*_forward` / `*_backward` pair per
//! layer, on `ndarray` arrays, shapes in comments, no threads, no SIMD, no buffers reused, no fused updates.
//!
//! They follow the same conventions as the fast layers: PyTorch's names, layouts and gate orders (LSTM i, f, g, o;
//! GRU r, z, n), Keras's semantics (masks, dropout, padding, the momentum forms of the optimizers), but are derived
//! from those definitions, not from the fast code. Dropout masks come from the crate's counter generator
//! (`rng::CounterKey`, see [`dropout::counter_mask`]), so the reference sees the masks the fast path drew; it only
//! applies them plainly.
//!
//! Files: [`embedding`], [`dense`] (and the activations), [`dropout`], [`lstm`], [`gru`], [`simple_rnn`] (the
//! recurrent kinds; what they share, bidirectional output and the parameters, in [`recurrent`]), [`conv1d`],
//! [`max_pooling1d`], [`pooling`] (global pooling), [`loss`], [`optim`], and [`model`], a Sequential over all of them.
//!
//! Shapes: `B` batch, `T` time steps (`T'` after a convolution or pooling), `I`/`F`/`C` input features or channels,
//! `H` hidden units, `U` dense units, `V` vocabulary. Backward functions return fresh gradients (they do not
//! accumulate).

pub mod conv1d;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod gru;
pub mod loss;
pub mod lstm;
pub mod max_pooling1d;
pub mod model;
pub mod optim;
pub mod pooling;
pub mod recurrent;
pub mod simple_rnn;

use ndarray::{ArrayD, IxDyn};

/// A float32 tensor as float64, with its shape.
pub fn to_f64(data: &[f32], shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), data.iter().map(|&v| v as f64).collect()).expect("data length matches the shape")
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

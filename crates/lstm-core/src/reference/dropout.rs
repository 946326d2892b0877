//! Inverted dropout: in training y = x ⊙ m, m ∈ {0, 1/(1-rate)}; at inference y = x. The mask is drawn from the
//! crate's counter generator, the one the fast path uses, so both see the same mask.

use crate::rng::{self, CounterKey};
use ndarray::{Array1, ArrayD};

/// The `len` multipliers the fast path draws for `(seed, layer, purpose, step)` (`rng::STREAM_*` purposes), as f64.
/// LSTM masks are laid out `[B,I]` (`[B,4,I]` per gate), a Dropout layer's like its input.
pub fn counter_mask(seed: u64, layer: usize, purpose: u64, step: u64, rate: f32, len: usize) -> Array1<f64> {
    let mut m = vec![0.0f32; len];
    CounterKey::new(seed, rng::stream(layer, purpose), step).dropout_mask(rate, &mut m);
    m.into_iter().map(f64::from).collect()
}

/// y = x ⊙ mask (same shape)
pub fn dropout_forward(x: &ArrayD<f64>, mask: &ArrayD<f64>) -> ArrayD<f64> {
    x * mask
}

/// dx = dy ⊙ mask
pub fn dropout_backward(mask: &ArrayD<f64>, dy: &ArrayD<f64>) -> ArrayD<f64> {
    dy * mask
}

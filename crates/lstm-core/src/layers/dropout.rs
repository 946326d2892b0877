//! Inverted dropout: in training, y = x·m with m ∈ {0, 1/(1-rate)}; at inference, y = x.

use crate::rng::CounterKey;

/// Fills `mask` from the counter generator (so the thread split cannot change it) and applies it.
pub fn dropout_forward(key: CounterKey, rate: f32, x: &[f32], mask: &mut [f32], y: &mut [f32]) {
    key.dropout_mask(rate, mask);
    for ((y, x), m) in y.iter_mut().zip(x).zip(mask.iter()) {
        *y = x * m;
    }
}

pub fn dropout_backward(mask: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((dx, dy), m) in dx.iter_mut().zip(dy).zip(mask) {
        *dx = dy * m;
    }
}

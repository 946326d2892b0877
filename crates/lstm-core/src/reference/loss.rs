//! Losses, each a mean over the batch (mse: over all elements), on outputs `[N,C]` (N rows: samples, or samples ×
//! steps for a sequence output). Each returns the loss and its gradient.
//!
//! As the crate (and Keras's TensorFlow backend): when the last layer's activation pairs with the loss (sigmoid +
//! binary cross-entropy, softmax + categorical cross-entropy) the loss is computed from the pre-activation z and the
//! gradient is taken with respect to z; `fromLogits` reads the output itself as logits. Otherwise probabilities are
//! clipped to [ε, 1-ε], ε = 1e-7, and the gradient is 0 where the clip is active.

use super::sigmoid;
use crate::config::{Activation, LossConfig, LossKind};
use ndarray::Array2;

const EPS: f64 = 1e-7;

/// BCE on logits z: mean of max(z,0) - z·t + ln(1 + e^-|z|); d/dz = (σ(z) - t)/N.   z, t `[N,C]`
pub fn binary_crossentropy_logits(z: &Array2<f64>, t: &Array2<f64>) -> (f64, Array2<f64>) {
    let n = z.len() as f64;
    let loss = ndarray::Zip::from(z).and(t).fold(0.0, |acc, &z, &t| acc + z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()) / n;
    (loss, ndarray::Zip::from(z).and(t).map_collect(|&z, &t| (sigmoid(z) - t) / n))
}

/// BCE on probabilities p: mean of -(t·ln p + (1-t)·ln(1-p)), p clipped; d/dp = (p - t)/(p(1-p))/N inside the clip.
pub fn binary_crossentropy_probs(p: &Array2<f64>, t: &Array2<f64>) -> (f64, Array2<f64>) {
    let n = p.len() as f64;
    let clip = |p: f64| p.clamp(EPS, 1.0 - EPS);
    let loss = ndarray::Zip::from(p).and(t).fold(0.0, |acc, &p, &t| acc - (t * clip(p).ln() + (1.0 - t) * (1.0 - clip(p)).ln())) / n;
    let grad = ndarray::Zip::from(p).and(t).map_collect(|&p, &t| if p > EPS && p < 1.0 - EPS { (p - t) / (p * (1.0 - p)) / n } else { 0.0 });
    (loss, grad)
}

/// Categorical cross-entropy on logits z against distributions t (one-hot for labels): mean over rows of
/// -Σ_c t_c·log_softmax(z)_c; d/dz = (softmax(z) - t)/N.
pub fn categorical_crossentropy_logits(z: &Array2<f64>, t: &Array2<f64>) -> (f64, Array2<f64>) {
    let n = z.nrows() as f64;
    let mut loss = 0.0;
    let mut grad = Array2::zeros(z.dim());
    for ((zr, tr), mut gr) in z.rows().into_iter().zip(t.rows()).zip(grad.rows_mut()) {
        let max = zr.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let lse = max + zr.mapv(|v| (v - max).exp()).sum().ln();
        let log_p = zr.mapv(|v| v - lse);
        loss -= (&tr * &log_p).sum();
        gr.assign(&((log_p.mapv(f64::exp) - tr) / n));
    }
    (loss / n, grad)
}

/// Categorical cross-entropy on probabilities p: mean over rows of -Σ_c t_c·ln(clip(p_c)); d/dp = -t/p/N where
/// p > ε.
pub fn categorical_crossentropy_probs(p: &Array2<f64>, t: &Array2<f64>) -> (f64, Array2<f64>) {
    let n = p.nrows() as f64;
    let loss = ndarray::Zip::from(p).and(t).fold(0.0, |acc, &p, &t| acc - t * p.clamp(EPS, 1.0 - EPS).ln()) / n;
    let grad = ndarray::Zip::from(p).and(t).map_collect(|&p, &t| if p > EPS { -t / p.clamp(EPS, 1.0 - EPS) / n } else { 0.0 });
    (loss, grad)
}

/// Mean squared error over all elements; d/dy = 2(y - t)/N.
pub fn mean_squared_error(y: &Array2<f64>, t: &Array2<f64>) -> (f64, Array2<f64>) {
    let n = y.len() as f64;
    let d = y - t;
    (d.mapv(|v| v * v).sum() / n, d * (2.0 / n))
}

/// The targets as the loss reads them: `[N,C]` floats, or (sparse cross-entropy) N class ids as one-hot rows.
pub fn target_matrix(kind: LossKind, y: &[f64], rows: usize, width: usize) -> Array2<f64> {
    match kind {
        LossKind::SparseCategoricalCrossentropy => Array2::from_shape_fn((rows, width), |(r, c)| (y[r] as usize == c) as u8 as f64),
        _ => Array2::from_shape_vec((rows, width), y.to_vec()).expect("targets shaped like the output"),
    }
}

/// The loss of the output `out` `[N,C]` (pre-activation `z`, activation `act` when the last layer is a Dense)
/// against `y`, and the gradient with respect to `out`, or to `z` when the second value is true.
pub fn loss_forward_backward(cfg: &LossConfig, out: &Array2<f64>, z: &Array2<f64>, act: Activation, y: &[f64]) -> (f64, Array2<f64>, bool) {
    let t = target_matrix(cfg.kind, y, out.nrows(), out.ncols());
    match cfg.kind {
        LossKind::BinaryCrossentropy if cfg.from_logits => with(binary_crossentropy_logits(out, &t), false),
        LossKind::BinaryCrossentropy if act == Activation::Sigmoid => with(binary_crossentropy_logits(z, &t), true),
        LossKind::BinaryCrossentropy => with(binary_crossentropy_probs(out, &t), false),
        LossKind::SparseCategoricalCrossentropy | LossKind::CategoricalCrossentropy if cfg.from_logits => with(categorical_crossentropy_logits(out, &t), false),
        LossKind::SparseCategoricalCrossentropy | LossKind::CategoricalCrossentropy if act == Activation::Softmax => {
            with(categorical_crossentropy_logits(z, &t), true)
        }
        LossKind::SparseCategoricalCrossentropy | LossKind::CategoricalCrossentropy => with(categorical_crossentropy_probs(out, &t), false),
        LossKind::MeanSquaredError => with(mean_squared_error(out, &t), false),
    }
}

fn with((loss, grad): (f64, Array2<f64>), wrt_logits: bool) -> (f64, Array2<f64>, bool) {
    (loss, grad, wrt_logits)
}

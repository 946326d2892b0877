//! Losses and the accuracy metric, each a mean over the batch (mse: over all elements), summed in f64.
//!
//! When the last layer's activation and the loss pair up (sigmoid + binary cross-entropy, softmax + categorical
//! cross-entropy), the gradient is taken with respect to the pre-activation, `(p - t)/N`, and the loss from the
//! logits, as Keras's TensorFlow backend does: no log of 0 and no vanishing gradient at saturation.

use crate::config::{Activation, LossConfig, LossKind};
use crate::error::{LstmError, Result};

/// The targets of a batch: floats, or integer labels for sparse cross-entropy.
#[derive(Clone, Copy)]
pub enum TargetRef<'a> {
    Floats(&'a [f32]),
    Labels(&'a [i32]),
}

pub struct LossResult {
    pub loss: f64,
    /// Correct predictions and how many were counted, for the accuracy metric.
    pub correct: usize,
    pub counted: usize,
    /// The gradient is with respect to the last layer's pre-activation (skip its activation backward).
    pub grad_wrt_logits: bool,
}

/// Probabilities are clipped to [EPS, 1-EPS] when no logits are at hand, as Keras does.
const EPS: f64 = 1e-7;

/// Loss and accuracy of `out` `[rows,width]` against `target`; when `dout` is given, writes the gradient into it.
/// `z` is the last layer's pre-activation and `act` its activation.
pub fn loss_forward_backward(
    cfg: &LossConfig,
    out: &[f32],
    z: &[f32],
    act: Activation,
    width: usize,
    target: TargetRef,
    mut dout: Option<&mut [f32]>,
) -> Result<LossResult> {
    let rows = out.len() / width.max(1);
    let total = out.len();
    let mut loss = 0.0f64;
    let mut correct = 0usize;
    let counted;
    let mut grad_wrt_logits = false;
    match cfg.kind {
        LossKind::BinaryCrossentropy => {
            let t = floats(target, "binary cross-entropy")?;
            // Logits are known when the output is a sigmoid, or is itself logits (fromLogits).
            let logits: Option<&[f32]> = if cfg.from_logits {
                Some(out)
            } else if act == Activation::Sigmoid {
                grad_wrt_logits = true;
                Some(z)
            } else {
                None
            };
            let n = total as f64;
            for k in 0..total {
                let tk = t[k] as f64;
                let (l, g, p) = match logits {
                    Some(zs) => {
                        let zk = zs[k] as f64;
                        let p = 1.0 / (1.0 + (-zk).exp());
                        (zk.max(0.0) - zk * tk + (-zk.abs()).exp().ln_1p(), p - tk, p)
                    }
                    None => {
                        let p = (out[k] as f64).clamp(EPS, 1.0 - EPS);
                        let raw = out[k] as f64;
                        let g = if raw > EPS && raw < 1.0 - EPS { (p - tk) / (p * (1.0 - p)) } else { 0.0 };
                        (-(tk * p.ln() + (1.0 - tk) * (1.0 - p).ln()), g, p)
                    }
                };
                loss += l;
                if let Some(d) = dout.as_deref_mut() {
                    d[k] = (g / n) as f32;
                }
                correct += ((p > 0.5) == (tk > 0.5)) as usize;
            }
            loss /= n;
            counted = total;
        }
        LossKind::SparseCategoricalCrossentropy | LossKind::CategoricalCrossentropy => {
            let logits: Option<&[f32]> = if cfg.from_logits {
                Some(out)
            } else if act == Activation::Softmax {
                grad_wrt_logits = true;
                Some(z)
            } else {
                None
            };
            let n = rows as f64;
            let mut soft = vec![0.0f64; width];
            for r in 0..rows {
                let o = &out[r * width..(r + 1) * width];
                // The target as a distribution over classes: one-hot for labels.
                let label = match (cfg.kind, target) {
                    (LossKind::SparseCategoricalCrossentropy, TargetRef::Labels(l)) => Some(l[r] as usize),
                    (LossKind::SparseCategoricalCrossentropy, TargetRef::Floats(f)) => Some(f[r] as usize),
                    _ => None,
                };
                let tdist = |c: usize| -> f64 {
                    match label {
                        Some(l) => (c == l) as u8 as f64,
                        None => match target {
                            TargetRef::Floats(f) => f[r * width + c] as f64,
                            TargetRef::Labels(l) => l[r * width + c] as f64,
                        },
                    }
                };
                match logits {
                    Some(zs) => {
                        let zr = &zs[r * width..(r + 1) * width];
                        let max = zr.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
                        let sum: f64 = zr.iter().map(|v| (*v as f64 - max).exp()).sum();
                        let lse = max + sum.ln();
                        for c in 0..width {
                            soft[c] = (zr[c] as f64 - lse).exp();
                            loss -= tdist(c) * (zr[c] as f64 - lse);
                        }
                        if let Some(d) = dout.as_deref_mut() {
                            for c in 0..width {
                                d[r * width + c] = ((soft[c] - tdist(c)) / n) as f32;
                            }
                        }
                    }
                    None => {
                        for c in 0..width {
                            let raw = o[c] as f64;
                            let p = raw.clamp(EPS, 1.0 - EPS);
                            let tc = tdist(c);
                            loss -= tc * p.ln();
                            if let Some(d) = dout.as_deref_mut() {
                                d[r * width + c] = if raw > EPS { (-tc / p / n) as f32 } else { 0.0 };
                            }
                        }
                    }
                }
                let pred = argmax(o);
                let truth = match label {
                    Some(l) => l,
                    None => (0..width).max_by(|a, b| tdist(*a).total_cmp(&tdist(*b))).unwrap_or(0),
                };
                correct += (pred == truth) as usize;
            }
            loss /= n;
            counted = rows;
        }
        LossKind::MeanSquaredError => {
            let t = floats(target, "mean squared error")?;
            let n = total as f64;
            for k in 0..total {
                let diff = out[k] as f64 - t[k] as f64;
                loss += diff * diff;
                if let Some(d) = dout.as_deref_mut() {
                    d[k] = (2.0 * diff / n) as f32;
                }
            }
            loss /= n;
            // Accuracy for a regression: thresholded at 0.5 for one output, argmax otherwise (Keras's choice).
            if width == 1 {
                correct = (0..total).filter(|&k| (out[k] > 0.5) == (t[k] > 0.5)).count();
                counted = total;
            } else {
                correct = (0..rows).filter(|&r| argmax(&out[r * width..(r + 1) * width]) == argmax(&t[r * width..(r + 1) * width])).count();
                counted = rows;
            }
        }
    }
    if !loss.is_finite() {
        return Err(LstmError::NonFinite { what: "loss".into(), value: loss as f32, position: "this batch".into() });
    }
    Ok(LossResult { loss, correct, counted, grad_wrt_logits })
}

fn floats<'a>(t: TargetRef<'a>, what: &str) -> Result<&'a [f32]> {
    match t {
        TargetRef::Floats(f) => Ok(f),
        TargetRef::Labels(_) => Err(LstmError::InvalidArgument(format!("{what} needs float targets, got int32 labels"))),
    }
}

pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

//! Inverted dropout: in training, y = x·m with m ∈ {0, 1/(1-rate)}; at inference, y = x.

use super::{room, Backward, Built, FeatureShape, Forward, InferenceRole, Layer, MaskOut};
use crate::config::DropoutConfig;
use crate::error::Result;
use crate::model::ActShape;
use crate::rng::{self, CounterKey};

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

/// The dropout layer; keeps the mask of its last training pass (empty at inference).
pub struct Dropout {
    index: usize,
    rate: f32,
    mask: Vec<f32>,
}

pub fn build(c: &DropoutConfig, index: usize, input: FeatureShape) -> Result<Built> {
    Ok(Built { layer: Box::new(Dropout { index, rate: c.rate, mask: Vec::new() }), params: Vec::new(), output: input })
}

impl Layer for Dropout {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let shape = fw.shape;
        out.resize(shape.len(), 0.0);
        if fw.training && self.rate > 0.0 {
            self.mask.resize(shape.len(), 0.0);
            let key = CounterKey::new(fw.seed, rng::stream(fw.index, rng::STREAM_DROPOUT), fw.step);
            dropout_forward(key, self.rate, fw.x, &mut self.mask, out);
        } else {
            self.mask.clear();
            out.copy_from_slice(&fw.x[..shape.len()]);
        }
        Ok((shape, MaskOut::Keep))
    }

    fn inference_role(&self) -> InferenceRole {
        InferenceRole::Identity
    }

    fn reserve(&mut self, shape: ActShape, training: bool) -> Result<()> {
        if training && self.rate > 0.0 {
            room(&mut self.mask, &[shape.b, shape.t.unwrap_or(1), shape.f], self.index, "dropout", "mask")?;
        }
        Ok(())
    }

    fn release(&mut self) {
        self.mask = Vec::new();
    }

    fn backward(&mut self, bw: Backward<'_>) {
        if let Some(dx) = bw.dx {
            if self.mask.is_empty() {
                dx.copy_from_slice(bw.dy);
            } else {
                dropout_backward(&self.mask, bw.dy, dx);
            }
        }
    }
}

//! Checks of the caller's data against the model, done once per call (or once per dataset) so that batches need none.

use super::Model;
use crate::config::{LayerConfig, LossConfig, LossKind};
use crate::data::{Data, DataRef};
use crate::error::{LstmError, Result};

impl Model {
    /// Checks x against the model (rank, feature size, token range, finiteness), building the model if needed.
    pub fn check_input(&mut self, x: &DataRef) -> Result<()> {
        self.check_input_ref(x)?;
        if !self.is_built() {
            // A float input (an embedding's model is built from the start): its last axis is the feature size.
            self.build(*x.shape().last().unwrap_or(&0))?;
        }
        Ok(())
    }

    /// [`Model::check_input`] without building the model.
    pub(super) fn check_input_ref(&self, x: &DataRef) -> Result<()> {
        let shape = x.shape();
        if shape.first().copied().unwrap_or(0) == 0 {
            return Err(LstmError::InvalidArgument(format!("empty dataset: x has shape {shape:?}")));
        }
        // The data must be exactly as long as its shape says: batches are gathered by row offsets from the shape.
        check_len("x", x)?;
        // A sequence of no steps has no last state and no mean loss.
        let is_sequence = shape.len() == 3 || (shape.len() == 2 && matches!(self.config.layers[0], LayerConfig::Embedding(_)));
        if is_sequence && shape[1] == 0 {
            return Err(LstmError::shape("x timesteps (second axis)", "at least 1", 0));
        }
        match &self.config.layers[0] {
            LayerConfig::Embedding(c) => {
                let tokens = match x {
                    Data::Tokens(t, _) => t,
                    Data::Floats(..) => {
                        return Err(LstmError::InvalidArgument("an embedding takes int32 token ids, but x is a float32 tensor; pass an Int32Array".into()))
                    }
                };
                if shape.len() != 2 {
                    return Err(LstmError::shape("x (token ids)", "[samples, timesteps]", shape));
                }
                let t = shape[1];
                if let Some((k, &id)) = tokens.iter().enumerate().find(|(_, &id)| id < 0 || id as usize >= c.input_dim) {
                    return Err(LstmError::IndexOutOfRange {
                        index: id as i64,
                        limit: c.input_dim,
                        position: format!("x[{}, {}] (embedding inputDim {})", k / t.max(1), k % t.max(1), c.input_dim),
                    });
                }
            }
            first => {
                let want_rank: &[usize] = if first.needs_sequence() { &[3] } else { &[2, 3] };
                if !want_rank.contains(&shape.len()) {
                    let expected = if want_rank == [3] { "[samples, timesteps, features]" } else { "[samples, features] or [samples, timesteps, features]" };
                    return Err(LstmError::shape("x", expected, shape));
                }
                let f = *shape.last().unwrap();
                if f == 0 {
                    return Err(LstmError::shape("x", "at least one feature", shape));
                }
                match self.config.input_dim {
                    Some(d) if self.is_built() && d != f => {
                        return Err(LstmError::shape("x features (last axis)", d, f));
                    }
                    _ => {}
                }
                if let Data::Floats(v, _) = x {
                    check_finite("x", v, shape)?;
                }
            }
        }
        Ok(())
    }

    /// Checks y against x and the loss: sample count, shape, finiteness, label range.
    pub fn check_target(&self, x: &DataRef, y: &DataRef) -> Result<()> {
        let loss = self.loss()?;
        let (xs, ys) = (x.shape(), y.shape());
        check_len("y", y)?;
        if ys.first() != xs.first() {
            return Err(LstmError::shape("y samples (first axis), to match x", xs.first().copied().unwrap_or(0), ys.first().copied().unwrap_or(0)));
        }
        let n = xs[0];
        // [B, T] is a sequence only when it is token ids for an embedding; otherwise 2-D data is [B, F].
        let t = if xs.len() >= 3 || (xs.len() == 2 && matches!(self.config.layers[0], LayerConfig::Embedding(_))) { Some(xs[1]) } else { None };
        let out = *self.layer_output_shapes(n, t).last().unwrap();
        let out_dims = out.dims();
        let y_len: usize = ys.iter().product();
        if let Data::Floats(v, _) = y {
            check_finite("y", v, ys)?;
        }
        if loss.kind == LossKind::SparseCategoricalCrossentropy {
            let rows = out.len() / out.f;
            if y_len != rows {
                let mut expected = out_dims.clone();
                expected.pop();
                return Err(LstmError::shape("y (class ids)", expected, ys));
            }
            for k in 0..y_len {
                let v = match y {
                    Data::Tokens(l, _) => l[k] as f64,
                    Data::Floats(f, _) => f[k] as f64,
                };
                if v.fract() != 0.0 {
                    return Err(LstmError::InvalidArgument(format!("class ids must be integers, got {v} at y[{k}]")));
                }
                if v < 0.0 || v >= out.f as f64 {
                    return Err(LstmError::IndexOutOfRange {
                        index: v as i64,
                        limit: out.f,
                        position: format!("y[{k}] (class id; the output has {} classes)", out.f),
                    });
                }
            }
        } else if y_len != out.len() {
            return Err(LstmError::shape("y, to match the model output", out_dims, ys));
        }
        Ok(())
    }

    pub(super) fn loss(&self) -> Result<&LossConfig> {
        self.compiled
            .as_ref()
            .map(|c| &c.loss)
            .ok_or_else(|| LstmError::InvalidConfig("the model is not compiled: call compile() before fit, evaluate or trainOnBatch".into()))
    }

    /// Checks a whole dataset once, so that the batches drawn from it need no checks.
    pub fn check_dataset(&mut self, x: &DataRef, y: &DataRef) -> Result<()> {
        self.check_input(x)?;
        self.check_target(x, y)
    }
}

pub(crate) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(LstmError::InvalidArgument("batchSize must be at least 1, got 0".into()));
    }
    Ok(())
}

/// The data's length must be the product of its shape (computed without overflow) → else `ShapeMismatch`.
fn check_len(what: &str, d: &DataRef) -> Result<()> {
    let shape = d.shape();
    match shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s)) {
        Some(n) if n == d.len() => Ok(()),
        Some(n) => Err(LstmError::shape(format!("{what} data length for its shape {shape:?}"), n, d.len())),
        None => Err(LstmError::shape(format!("{what} shape"), "a shape whose element count fits in memory", shape)),
    }
}

/// NaN or Inf anywhere → `NonFinite`, naming the first position.
pub fn check_finite(what: &str, v: &[f32], shape: &[usize]) -> Result<()> {
    if let Some((k, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(LstmError::NonFinite { what: what.into(), value, position: format!("{what}{:?}", unravel(k, shape)) });
    }
    Ok(())
}

pub(super) fn unravel(mut k: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (d, &s) in shape.iter().enumerate().rev() {
        if s > 0 {
            idx[d] = k % s;
            k /= s;
        }
    }
    idx
}

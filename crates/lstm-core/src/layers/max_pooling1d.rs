//! MaxPooling1D, Keras's: x `[B,T,F]` → y `[B,T',F]`, the maximum of each channel over windows of `poolSize` steps
//! every `strides`. `same` padding follows the Conv1D rule and pads with −∞ (a window's padded steps never win).
//! No mask passes through it (as Keras).

use super::conv1d::{geometry, Geometry};
use super::{room, steps, Backward, Built, FeatureShape, Forward, Layer, MaskOut};
use crate::config::MaxPooling1dConfig;
use crate::error::{LstmError, Result};
use crate::model::ActShape;
use rayon::prelude::*;

pub fn output_shape(c: &MaxPooling1dConfig, input: ActShape) -> ActShape {
    ActShape { t: input.t.map(|t| geometry(t, c.pool_size, c.stride(), c.padding).t_out), ..input }
}

/// y[b, t', j] = max of x[b, s, j] over the window's steps s inside the sequence; `argmax` keeps the winning step
/// (the first, on ties).
#[allow(clippy::too_many_arguments)]
pub fn max_pooling1d_forward(t: usize, f: usize, pool: usize, stride: usize, geo: Geometry, x: &[f32], argmax: &mut [u32], y: &mut [f32]) {
    let t_out = geo.t_out;
    y.par_chunks_mut(t_out * f).zip(argmax.par_chunks_mut(t_out * f)).enumerate().for_each(|(bi, (yb, ab))| {
        for to in 0..t_out {
            let lo = (to * stride).saturating_sub(geo.left);
            let hi = (to * stride + pool).saturating_sub(geo.left).min(t);
            let (yr, ar) = (&mut yb[to * f..(to + 1) * f], &mut ab[to * f..(to + 1) * f]);
            yr.copy_from_slice(&x[(bi * t + lo) * f..][..f]);
            ar.fill(lo as u32);
            for s in lo + 1..hi {
                for ((y, a), v) in yr.iter_mut().zip(ar.iter_mut()).zip(&x[(bi * t + s) * f..][..f]) {
                    if *v > *y {
                        *y = *v;
                        *a = s as u32;
                    }
                }
            }
        }
    });
}

/// dx[b, s, j] = the sum of dy over the windows whose maximum step s gave.
pub fn max_pooling1d_backward(t: usize, f: usize, t_out: usize, argmax: &[u32], dy: &[f32], dx: &mut [f32]) {
    dx.par_chunks_mut(t * f).enumerate().for_each(|(bi, dxb)| {
        dxb.fill(0.0);
        for k in 0..t_out * f {
            let j = k % f;
            dxb[argmax[bi * t_out * f + k] as usize * f + j] += dy[bi * t_out * f + k];
        }
    });
}

/// The MaxPooling1D layer; keeps the step each maximum came from for backward.
pub struct MaxPooling1d {
    config: MaxPooling1dConfig,
    index: usize,
    argmax: Vec<u32>,
    t_out: usize,
}

pub fn build(c: &MaxPooling1dConfig, index: usize, input: FeatureShape) -> Result<Built> {
    if !input.seq {
        return Err(LstmError::InvalidConfig(format!("layer {index} (maxPooling1d) needs a sequence input [B, T, F], but the layer before it outputs [B, F]")));
    }
    Ok(Built { layer: Box::new(MaxPooling1d { config: c.clone(), index, argmax: Vec::new(), t_out: 0 }), params: Vec::new(), output: input })
}

impl Layer for MaxPooling1d {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let c = &self.config;
        let shape = fw.shape;
        let t = steps(self.index, "maxPooling1d", shape)?;
        let geo = geometry(t, c.pool_size, c.stride(), c.padding);
        if geo.t_out == 0 && t > 0 {
            return Err(LstmError::InvalidArgument(format!(
                "layer {} (maxPooling1d): the input has {t} steps, fewer than poolSize {} with padding valid",
                self.index, c.pool_size
            )));
        }
        let out_shape = ActShape { t: Some(geo.t_out), ..shape };
        out.resize(out_shape.len(), 0.0);
        self.argmax.resize(out_shape.len(), 0);
        max_pooling1d_forward(t, shape.f, c.pool_size, c.stride(), geo, fw.x, &mut self.argmax, out);
        self.t_out = geo.t_out;
        Ok((out_shape, MaskOut::Drop))
    }

    fn reserve(&mut self, shape: ActShape, _training: bool) -> Result<()> {
        let c = &self.config;
        let geo = geometry(steps(self.index, "maxPooling1d", shape)?, c.pool_size, c.stride(), c.padding);
        room(&mut self.argmax, &[shape.b, geo.t_out, shape.f], self.index, "maxPooling1d", "argmax")
    }

    fn release(&mut self) {
        self.argmax = Vec::new();
    }

    fn stateful_unsupported(&self) -> Option<String> {
        (self.config.pool_size > 1 || self.config.stride() > 1)
            .then(|| "predictStep cannot step through a maxPooling1d with poolSize or strides above 1 (its windows span several steps)".into())
    }

    fn backward(&mut self, bw: Backward<'_>) {
        if let Some(dx) = bw.dx {
            max_pooling1d_backward(bw.shape.t.unwrap_or(0), bw.shape.f, self.t_out, &self.argmax, bw.dy, dx);
        }
    }
}

//! Global pooling over time: x `[B,T,F]` → y `[B,F]`, as Keras's GlobalAveragePooling1D and GlobalMaxPooling1D.
//! Pooling every step's output lets a classifier read the whole review rather than only the LSTM's last state.

use super::{room, steps, Backward, Built, FeatureShape, Forward, Layer, MaskOut};
use crate::config::LayerConfig;
use crate::error::{LstmError, Result};
use crate::model::ActShape;

/// y[b] = the mean of x[b, t] over the steps the mask keeps (all steps without a mask), as Keras. A sequence whose
/// steps are all masked gives zeros, where Keras would divide by zero.
pub fn global_average_pooling_forward(b: usize, t: usize, f: usize, x: &[f32], mask: Option<&[u8]>, y: &mut [f32]) {
    for bi in 0..b {
        let yb = &mut y[bi * f..(bi + 1) * f];
        yb.fill(0.0);
        let mut kept = 0usize;
        for tt in 0..t {
            if mask.is_some_and(|m| m[bi * t + tt] == 0) {
                continue;
            }
            kept += 1;
            for (y, x) in yb.iter_mut().zip(&x[(bi * t + tt) * f..][..f]) {
                *y += x;
            }
        }
        let scale = if kept == 0 { 0.0 } else { 1.0 / kept as f32 };
        yb.iter_mut().for_each(|y| *y *= scale);
    }
}

/// dx[b, t] = dy[b] / (kept steps of b) on the kept steps, 0 on the masked ones.
pub fn global_average_pooling_backward(b: usize, t: usize, f: usize, mask: Option<&[u8]>, dy: &[f32], dx: &mut [f32]) {
    for bi in 0..b {
        let kept = match mask {
            Some(m) => m[bi * t..(bi + 1) * t].iter().filter(|&&k| k != 0).count(),
            None => t,
        };
        let scale = if kept == 0 { 0.0 } else { 1.0 / kept as f32 };
        let dyb = &dy[bi * f..(bi + 1) * f];
        for tt in 0..t {
            let dxt = &mut dx[(bi * t + tt) * f..][..f];
            if mask.is_some_and(|m| m[bi * t + tt] == 0) {
                dxt.fill(0.0);
            } else {
                dxt.iter_mut().zip(dyb).for_each(|(dx, dy)| *dx = dy * scale);
            }
        }
    }
}

/// y[b, j] = max over t of x[b, t, j], over every step: Keras's GlobalMaxPooling1D ignores the mask (masked LSTM
/// steps output the carried state or zeros). `argmax` `[B,F]` keeps the step each maximum came from (the first, on
/// ties) for the backward pass.
pub fn global_max_pooling_forward(b: usize, t: usize, f: usize, x: &[f32], argmax: &mut [u32], y: &mut [f32]) {
    for bi in 0..b {
        let (yb, ab) = (&mut y[bi * f..(bi + 1) * f], &mut argmax[bi * f..(bi + 1) * f]);
        yb.copy_from_slice(&x[bi * t * f..][..f]);
        ab.fill(0);
        for tt in 1..t {
            for ((y, a), x) in yb.iter_mut().zip(ab.iter_mut()).zip(&x[(bi * t + tt) * f..][..f]) {
                if *x > *y {
                    *y = *x;
                    *a = tt as u32;
                }
            }
        }
    }
}

/// dx[b, t, j] = dy[b, j] where step t gave the maximum, 0 elsewhere.
pub fn global_max_pooling_backward(b: usize, t: usize, f: usize, argmax: &[u32], dy: &[f32], dx: &mut [f32]) {
    dx[..b * t * f].fill(0.0);
    for bi in 0..b {
        for j in 0..f {
            let tt = argmax[bi * f + j] as usize;
            dx[(bi * t + tt) * f + j] = dy[bi * f + j];
        }
    }
}

/// Which global pooling a [`GlobalPooling`] layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    Average,
    Max,
}

/// Global average or max pooling over time; max pooling keeps `argmax` `[B,F]`, the step each maximum came from.
pub struct GlobalPooling {
    pool: Pool,
    index: usize,
    argmax: Vec<u32>,
}

pub fn build(pool: Pool, config: &LayerConfig, index: usize, input: FeatureShape) -> Result<Built> {
    if !input.seq {
        return Err(LstmError::InvalidConfig(format!(
            "layer {index} ({}) pools over time and needs a sequence input [B, T, F], but the layer before it outputs [B, F]; give the LSTM returnSequences: true",
            config.kind()
        )));
    }
    Ok(Built { layer: Box::new(GlobalPooling { pool, index, argmax: Vec::new() }), params: Vec::new(), output: FeatureShape { f: input.f, seq: false } })
}

impl Layer for GlobalPooling {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let shape = fw.shape;
        let t = steps(self.index, "global pooling", shape)?;
        let out_shape = ActShape { t: None, ..shape };
        out.resize(out_shape.len(), 0.0);
        match self.pool {
            Pool::Average => global_average_pooling_forward(shape.b, t, shape.f, fw.x, fw.mask, out),
            Pool::Max => {
                self.argmax.resize(out_shape.len(), 0);
                global_max_pooling_forward(shape.b, t, shape.f, fw.x, &mut self.argmax, out);
            }
        }
        Ok((out_shape, MaskOut::Drop))
    }

    fn reserve(&mut self, shape: ActShape, _training: bool) -> Result<()> {
        if self.pool == Pool::Max {
            room(&mut self.argmax, &[shape.b, shape.f], self.index, "globalMaxPooling1d", "argmax")?;
        }
        Ok(())
    }

    fn release(&mut self) {
        self.argmax = Vec::new();
    }

    fn backward(&mut self, bw: Backward<'_>) {
        let Some(dx) = bw.dx else { return };
        let (b, t, f) = (bw.shape.b, bw.shape.t.unwrap_or(0), bw.shape.f);
        match self.pool {
            Pool::Average => global_average_pooling_backward(b, t, f, bw.mask, bw.dy, dx),
            Pool::Max => global_max_pooling_backward(b, t, f, &self.argmax, bw.dy, dx),
        }
    }
}

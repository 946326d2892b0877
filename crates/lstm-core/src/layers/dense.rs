//! Dense: x `[N,in]` → y `[N,U]` = act(x·Wᵀ + b), with W `[U,in]` as PyTorch. A 3-D input is flattened to N = B·T.

use super::{checked_mul, room, Backward, Built, FeatureShape, Forward, Layer, MaskOut, ParamSpec};
use crate::config::{Activation, DenseConfig};
use crate::error::Result;
use crate::kernels::act::{exp_fast, sigmoid_fast, tanh_fast};
use crate::kernels::gemm::{par_col_sums_add, par_gemm, Mat, Strides};
use crate::model::ActShape;
use crate::optim::LowRankGrad;
use rayon::prelude::*;

/// Writes the pre-activation `z` and the activation `y`.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(n: usize, inp: usize, units: usize, act: Activation, w: &[f32], b: &[f32], x: &[f32], z: &mut [f32], y: &mut [f32]) {
    for row in z.chunks_exact_mut(units) {
        row.copy_from_slice(b);
    }
    // z[N,U] += x[N,in] · Wᵀ[in,U]
    par_gemm(n, inp, units, 1.0, Mat::new(x, Strides::rows(inp)), Mat::new(w, Strides::transposed(inp)), 1.0, z, Strides::rows(units));
    activate(act, units, z, y);
}

pub fn activate(act: Activation, units: usize, z: &[f32], y: &mut [f32]) {
    match act {
        Activation::Linear => y.copy_from_slice(z),
        Activation::Relu => y.iter_mut().zip(z).for_each(|(y, z)| *y = z.max(0.0)),
        Activation::Sigmoid => y.iter_mut().zip(z).for_each(|(y, z)| *y = sigmoid_fast(*z)),
        Activation::Tanh => y.iter_mut().zip(z).for_each(|(y, z)| *y = tanh_fast(*z)),
        Activation::Softmax => y.par_chunks_mut(units).zip(z.par_chunks(units)).for_each(|(y, z)| {
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for (y, z) in y.iter_mut().zip(z) {
                *y = exp_fast(z - max);
                sum += *y;
            }
            let inv = 1.0 / sum;
            y.iter_mut().for_each(|y| *y *= inv);
        }),
    }
}

/// Turns dL/dy into dL/dz in place, from the activation's output `y`.
pub fn activation_backward(act: Activation, units: usize, y: &[f32], dy: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Relu => dy.iter_mut().zip(y).for_each(|(d, y)| *d = if *y > 0.0 { *d } else { 0.0 }),
        Activation::Sigmoid => dy.iter_mut().zip(y).for_each(|(d, y)| *d *= y * (1.0 - y)),
        Activation::Tanh => dy.iter_mut().zip(y).for_each(|(d, y)| *d *= 1.0 - y * y),
        Activation::Softmax => dy.chunks_exact_mut(units).zip(y.chunks_exact(units)).for_each(|(d, y)| {
            let dot: f32 = d.iter().zip(y).map(|(d, y)| d * y).sum();
            d.iter_mut().zip(y).for_each(|(d, y)| *d = y * (*d - dot));
        }),
    }
}

/// Given dz `[N,U]`: dW += dzᵀ·x (unless `dw` is `None`: the optimizer then forms it from dz and x), db += Σ_n dz,
/// and (when asked) dx = dz·W.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(n: usize, inp: usize, units: usize, w: &[f32], x: &[f32], dz: &[f32], dw: Option<&mut [f32]>, db: &mut [f32], dx: Option<&mut [f32]>) {
    // dW[U,in] += dzᵀ[U,N] · x[N,in]: one GEMM over all rows.
    if let Some(dw) = dw {
        par_gemm(units, n, inp, 1.0, Mat::new(dz, Strides::transposed(units)), Mat::new(x, Strides::rows(inp)), 1.0, dw, Strides::rows(inp));
    }
    par_col_sums_add(dz, n, units, db);
    if let Some(dx) = dx {
        // dx[N,in] = dz[N,U] · W[U,in]
        par_gemm(n, units, inp, 1.0, Mat::new(dz, Strides::rows(units)), Mat::new(w, Strides::rows(inp)), 0.0, dx, Strides::rows(inp));
    }
}

/// The dense layer: `weight` `[units, in]` and `bias` `[units]`. Keeps the pre-activation for backward and the loss.
pub struct Dense {
    index: usize,
    units: usize,
    activation: Activation,
    /// Pre-activation `[N,U]` of the last forward pass.
    z: Vec<f32>,
    /// The loss already gave dL/dz (softmax or sigmoid with cross-entropy), so backward skips the activation.
    grad_is_wrt_logits: bool,
}

pub fn build(c: &DenseConfig, index: usize, input: FeatureShape) -> Result<Built> {
    checked_mul(index, c.units, input.f)?;
    Ok(Built {
        layer: Box::new(Dense { index, units: c.units, activation: c.activation, z: Vec::new(), grad_is_wrt_logits: false }),
        params: vec![
            ParamSpec { name: "weight".into(), shape: vec![c.units, input.f], init: c.kernel_initializer.clone() },
            ParamSpec { name: "bias".into(), shape: vec![c.units], init: c.bias_initializer.clone() },
        ],
        output: FeatureShape { f: c.units, ..input },
    })
}

impl Layer for Dense {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let shape = ActShape { f: self.units, ..fw.shape };
        let rows = shape.b * shape.t.unwrap_or(1);
        self.z.resize(shape.len(), 0.0);
        out.resize(shape.len(), 0.0);
        dense_forward(rows, fw.shape.f, self.units, self.activation, fw.params.get(0), fw.params.get(1), fw.x, &mut self.z, out);
        Ok((shape, MaskOut::Keep))
    }

    fn backward(&mut self, bw: Backward<'_>) {
        let Backward { x, shape, y, dy, dx, params, ranges, mut grads, .. } = bw;
        if !self.grad_is_wrt_logits {
            activation_backward(self.activation, self.units, y, dy);
        }
        let rows = shape.b * shape.t.unwrap_or(1);
        let (w, b) = grads.split_at_mut(1);
        let db = b[0].as_deref_mut().expect("a dense bias gradient is stored");
        dense_backward(rows, shape.f, self.units, &params[ranges[0].clone()], x, dy, w[0].as_deref_mut(), db, dx);
    }

    fn reserve(&mut self, shape: ActShape, _training: bool) -> Result<()> {
        room(&mut self.z, &[shape.b, shape.t.unwrap_or(1), self.units], self.index, "dense", "pre-activations")
    }

    fn release(&mut self) {
        self.z = Vec::new();
    }

    fn low_rank_candidates(&self) -> Vec<usize> {
        vec![0]
    }

    fn low_rank_grads<'a>(&'a self, x: &'a [f32], shape: ActShape, dy: &'a [f32], grads: &mut [Option<LowRankGrad<'a>>]) {
        // dW = dzᵀ·x; backward left dz in dy.
        let (k, i) = (shape.b * shape.t.unwrap_or(1), shape.f);
        grads[0] = Some(LowRankGrad { k, n: i, g: dy, ldg: self.units, x, ldx: i });
    }

    fn logits(&self) -> Option<(Activation, &[f32])> {
        Some((self.activation, &self.z))
    }

    fn set_grad_is_wrt_logits(&mut self, yes: bool) {
        self.grad_is_wrt_logits = yes;
    }
}

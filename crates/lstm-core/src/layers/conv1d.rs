//! Conv1D on x `[B,T,C]` (channels last, as Keras) → y `[B,T',F]` = act(conv(x, W) + b), W `[F,C,k]` as PyTorch's
//! Conv1d. Padding by Keras's rules (zeros along time): `valid` none; `causal` d·(k−1) on the left; `same`
//! ceil(T/s) outputs with the smaller half of the padding on the left.
//!
//! As one GEMM over im2col windows: each output step's window, k taps of C channels, is copied into a row of
//! `cols` `[B·T', k·C]`, and y = cols · W_kᵀ with the weight reordered to W_k `[F, k·C]` (tap-major, so a tap's C
//! channels are one contiguous copy of an input row). Backward is two more GEMMs (dW_k = dzᵀ·cols, dcols = dz·W_k)
//! and the scatter of dcols back onto the input steps. No mask passes through a convolution (as Keras).

use super::dense::{activate, activation_backward};
use super::{checked_mul, room, steps, Backward, Built, FeatureShape, Forward, Layer, MaskOut, ParamSpec};
use crate::config::{Conv1dConfig, Padding};
use crate::error::{LstmError, Result};
use crate::kernels::gemm::{par_col_sums_add, par_gemm, Mat, Strides};
use crate::model::ActShape;
use rayon::prelude::*;

/// The time geometry of a convolution or pooling window: `t_out` output steps, window `span` = d·(k−1)+1 input
/// steps, `left` padded steps before the first input step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub t_out: usize,
    pub left: usize,
}

/// Keras's output length and left padding for `t` input steps, a window of `span` steps every `stride`.
pub fn geometry(t: usize, span: usize, stride: usize, padding: Padding) -> Geometry {
    match padding {
        Padding::Valid => Geometry { t_out: if t >= span { (t - span) / stride + 1 } else { 0 }, left: 0 },
        Padding::Same => {
            let t_out = t.div_ceil(stride);
            let total = if t_out == 0 { 0 } else { ((t_out - 1) * stride + span).saturating_sub(t) };
            Geometry { t_out, left: total / 2 }
        }
        Padding::Causal => Geometry { t_out: if t == 0 { 0 } else { (t - 1) / stride + 1 }, left: span - 1 },
    }
}

fn span(c: &Conv1dConfig) -> usize {
    c.dilation_rate * (c.kernel_size - 1) + 1
}

pub fn output_shape(c: &Conv1dConfig, input: ActShape) -> ActShape {
    ActShape { b: input.b, t: input.t.map(|t| geometry(t, span(c), c.strides, c.padding).t_out), f: c.filters }
}

/// The sizes of one convolution pass.
#[derive(Clone, Copy, Debug)]
pub struct ConvDims {
    pub b: usize,
    pub t: usize,
    /// Input channels.
    pub c: usize,
    pub k: usize,
    pub stride: usize,
    pub dilation: usize,
    pub geo: Geometry,
}

impl ConvDims {
    /// The input step tap `j` of output step `to` reads, if it is not padding.
    #[inline]
    fn source(&self, to: usize, j: usize) -> Option<usize> {
        (to * self.stride + j * self.dilation).checked_sub(self.geo.left).filter(|&s| s < self.t)
    }
}

/// W `[F,C,k]` → W_k `[F,k,C]`.
pub fn weight_to_taps(f: usize, c: usize, k: usize, w: &[f32], wk: &mut [f32]) {
    for fi in 0..f {
        for ci in 0..c {
            for j in 0..k {
                wk[(fi * k + j) * c + ci] = w[(fi * c + ci) * k + j];
            }
        }
    }
}

/// cols `[B·T', k·C]`: row (b, t') holds the k taps of its window, zeros for padding.
pub fn im2col(d: ConvDims, x: &[f32], cols: &mut [f32]) {
    let (c, k, t_out) = (d.c, d.k, d.geo.t_out);
    cols.par_chunks_mut(k * c).enumerate().for_each(|(row, dst)| {
        let (bi, to) = (row / t_out, row % t_out);
        for (j, tap) in dst.chunks_exact_mut(c).enumerate() {
            match d.source(to, j) {
                Some(s) => tap.copy_from_slice(&x[(bi * d.t + s) * c..][..c]),
                None => tap.fill(0.0),
            }
        }
    });
}

/// dx `[B,T,C]` = the sum over windows of dcols scattered back onto the steps they read (sample by sample, in a
/// fixed order).
pub fn col2im(d: ConvDims, dcols: &[f32], dx: &mut [f32]) {
    let (c, k, t_out) = (d.c, d.k, d.geo.t_out);
    dx.par_chunks_mut(d.t * c).enumerate().for_each(|(bi, dxb)| {
        dxb.fill(0.0);
        for to in 0..t_out {
            let row = &dcols[(bi * t_out + to) * k * c..][..k * c];
            for (j, tap) in row.chunks_exact(c).enumerate() {
                if let Some(s) = d.source(to, j) {
                    dxb[s * c..(s + 1) * c].iter_mut().zip(tap).for_each(|(a, g)| *a += g);
                }
            }
        }
    });
}

/// The Conv1D layer: `weight` `[F,C,k]` and `bias` `[F]`. Keeps the windows of its last forward pass.
pub struct Conv1d {
    config: Conv1dConfig,
    index: usize,
    /// The input windows `[B·T', k·C]` (overwritten by dcols in backward).
    cols: Vec<f32>,
    /// The pre-activation `[B·T', F]`.
    z: Vec<f32>,
    /// The weight reordered by tap `[F, k·C]`, and its gradient.
    wk: Vec<f32>,
    dwk: Vec<f32>,
    dims: Option<ConvDims>,
}

pub fn build(c: &Conv1dConfig, index: usize, input: FeatureShape) -> Result<Built> {
    if !input.seq {
        return Err(LstmError::InvalidConfig(format!("layer {index} (conv1d) needs a sequence input [B, T, C], but the layer before it outputs [B, F]")));
    }
    let ck = checked_mul(index, input.f, c.kernel_size)?;
    checked_mul(index, ck, c.filters)?;
    let layer = Conv1d { config: c.clone(), index, cols: Vec::new(), z: Vec::new(), wk: Vec::new(), dwk: Vec::new(), dims: None };
    Ok(Built {
        layer: Box::new(layer),
        params: vec![
            ParamSpec { name: "weight".into(), shape: vec![c.filters, input.f, c.kernel_size], init: c.kernel_initializer.clone() },
            ParamSpec { name: "bias".into(), shape: vec![c.filters], init: c.bias_initializer.clone() },
        ],
        output: FeatureShape { f: c.filters, seq: true },
    })
}

impl Layer for Conv1d {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let cfg = &self.config;
        let shape = fw.shape;
        let t = steps(self.index, "conv1d", shape)?;
        let geo = geometry(t, span(cfg), cfg.strides, cfg.padding);
        if geo.t_out == 0 && t > 0 {
            return Err(LstmError::InvalidArgument(format!(
                "layer {} (conv1d): the input has {t} steps, fewer than the window of {} steps (kernelSize {}, dilationRate {}) with padding valid",
                self.index,
                span(cfg),
                cfg.kernel_size,
                cfg.dilation_rate
            )));
        }
        let d = ConvDims { b: shape.b, t, c: shape.f, k: cfg.kernel_size, stride: cfg.strides, dilation: cfg.dilation_rate, geo };
        let (f, kc, rows) = (cfg.filters, d.k * d.c, d.b * geo.t_out);
        let out_shape = ActShape { b: shape.b, t: Some(geo.t_out), f };
        self.wk.resize(f * kc, 0.0);
        weight_to_taps(f, d.c, d.k, fw.params.get(0), &mut self.wk);
        self.cols.resize(rows * kc, 0.0);
        im2col(d, fw.x, &mut self.cols);
        self.z.resize(rows * f, 0.0);
        for row in self.z.chunks_exact_mut(f) {
            row.copy_from_slice(fw.params.get(1));
        }
        // z[B·T', F] += cols[B·T', k·C] · W_kᵀ[k·C, F]
        par_gemm(rows, kc, f, 1.0, Mat::new(&self.cols, Strides::rows(kc)), Mat::new(&self.wk, Strides::transposed(kc)), 1.0, &mut self.z, Strides::rows(f));
        out.resize(rows * f, 0.0);
        activate(cfg.activation, f, &self.z, out);
        self.dims = Some(d);
        Ok((out_shape, MaskOut::Drop))
    }

    fn reserve(&mut self, shape: ActShape, _training: bool) -> Result<()> {
        let cfg = &self.config;
        let t = steps(self.index, "conv1d", shape)?;
        let geo = geometry(t, span(cfg), cfg.strides, cfg.padding);
        // Backward reuses the windows' buffer for their gradients.
        room(&mut self.cols, &[shape.b, geo.t_out, cfg.kernel_size, shape.f], self.index, "conv1d", "input windows")?;
        room(&mut self.z, &[shape.b, geo.t_out, cfg.filters], self.index, "conv1d", "pre-activations")
    }

    fn release(&mut self) {
        (self.cols, self.z) = (Vec::new(), Vec::new());
    }

    fn stateful_unsupported(&self) -> Option<String> {
        (self.config.kernel_size > 1 || self.config.strides > 1)
            .then(|| "predictStep cannot step through a conv1d with kernelSize or strides above 1 (its windows span several steps)".into())
    }

    fn backward(&mut self, bw: Backward<'_>) {
        let Backward { y, dy, dx, mut grads, .. } = bw;
        let d = self.dims.expect("conv1d backward follows its forward");
        let (f, kc, rows) = (self.config.filters, d.k * d.c, d.b * d.geo.t_out);
        activation_backward(self.config.activation, f, y, dy);
        let dz: &[f32] = dy;
        // dW_k[F, k·C] = dzᵀ · cols, then back to PyTorch's [F, C, k].
        self.dwk.resize(f * kc, 0.0);
        par_gemm(f, rows, kc, 1.0, Mat::new(dz, Strides::transposed(f)), Mat::new(&self.cols, Strides::rows(kc)), 0.0, &mut self.dwk, Strides::rows(kc));
        let (gw, gb) = grads.split_at_mut(1);
        let dw = gw[0].as_deref_mut().expect("a conv1d weight gradient is stored");
        for fi in 0..f {
            for ci in 0..d.c {
                for j in 0..d.k {
                    dw[(fi * d.c + ci) * d.k + j] += self.dwk[(fi * d.k + j) * d.c + ci];
                }
            }
        }
        par_col_sums_add(dz, rows, f, gb[0].as_deref_mut().expect("a conv1d bias gradient is stored"));
        if let Some(dx) = dx {
            // dcols[B·T', k·C] = dz · W_k, into the windows' buffer (no longer needed), then scattered onto x.
            let dcols = &mut self.cols[..rows * kc];
            par_gemm(rows, f, kc, 1.0, Mat::new(dz, Strides::rows(f)), Mat::new(&self.wk, Strides::rows(kc)), 0.0, dcols, Strides::rows(kc));
            col2im(d, dcols, dx);
        }
    }
}
